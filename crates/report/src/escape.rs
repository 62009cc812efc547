//! Escaping for XML and HTML (the same rules serve both), and for Markdown
//! table cells and code fences.

use std::fmt::Write as _;

/// Text content of an element: `&`, `<`, `>` escaped; characters XML 1.0
/// forbids (control characters but tab, newline and carriage return,
/// U+FFFE, U+FFFF) replaced by U+FFFD.
pub fn xml_text(s: &str) -> String {
    escape(s, false)
}

/// An attribute value in double quotes: as [`xml_text`], plus quotes, and
/// tab/newline/carriage return as character references so that parsers
/// keep them instead of normalizing them to spaces.
pub fn xml_attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&#39;"),
            '\n' | '\r' | '\t' if attribute => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\n' | '\r' | '\t' => out.push(c),
            c if forbidden_in_xml(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn forbidden_in_xml(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

/// A Markdown table cell: one line, pipes escaped.
pub fn md_cell(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.replace('|', "\\|")
}

/// Inline code that survives backticks inside `s`.
pub fn md_code(s: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A fenced code block that survives backtick fences inside `s`.
pub fn md_code_block(lang: &str, s: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(s).max(2) + 1);
    format!("{fence}{lang}\n{}\n{fence}\n", s.trim_end_matches('\n'))
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_forbidden_characters() {
        assert_eq!(xml_text("a<b & c>\"d\""), "a&lt;b &amp; c&gt;\"d\"");
        assert_eq!(xml_attr("x=\"1\"\n'y'"), "x=&quot;1&quot;&#10;&#39;y&#39;");
        assert_eq!(xml_text("bell\u{7}esc\u{1b}"), "bell\u{FFFD}esc\u{FFFD}");
        assert_eq!(xml_text("line\nnext\ttab"), "line\nnext\ttab");
    }

    #[test]
    fn markdown_cells_and_code() {
        assert_eq!(md_cell("a | b\nc"), "a \\| b c");
        assert_eq!(md_code("plain"), "`plain`");
        assert_eq!(md_code("load `steady`"), "`` load `steady` ``");
        assert_eq!(
            md_code_block("text", "x\n```\ny\n"),
            "````text\nx\n```\ny\n````\n"
        );
    }
}
