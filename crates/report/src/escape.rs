//! Escaping for XML and HTML (the same rules serve both), and for Markdown
//! table cells and code fences. [`Html`] is the escaper of the HTML page's
//! templates (`askama.toml` names it), so the page and its SVG charts
//! escape alike.

use std::fmt;

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

/// The escaper of the HTML templates: as [`xml_attr`], but tab, newline
/// and carriage return stay as they are (HTML keeps them in attribute
/// values), so that one escaper is safe in text and in quoted attributes.
#[derive(Debug, Clone, Copy)]
pub struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: fmt::Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        write_escaped(&mut dest, s, Context::Html)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Text,
    Attribute,
    Html,
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let context = if attribute {
        Context::Attribute
    } else {
        Context::Text
    };
    let _ = write_escaped(&mut out, s, context);
    out
}

fn write_escaped(out: &mut impl fmt::Write, s: &str, context: Context) -> fmt::Result {
    let quotes = context != Context::Text;
    for c in s.chars() {
        match c {
            '&' => out.write_str("&amp;")?,
            '<' => out.write_str("&lt;")?,
            '>' => out.write_str("&gt;")?,
            '"' if quotes => out.write_str("&quot;")?,
            '\'' if quotes => out.write_str("&#39;")?,
            '\n' | '\r' | '\t' if context == Context::Attribute => {
                write!(out, "&#{};", u32::from(c))?;
            }
            '\n' | '\r' | '\t' => out.write_char(c)?,
            c if forbidden_in_xml(c) => out.write_char('\u{FFFD}')?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// Characters XML 1.0 forbids: control characters but tab, newline and
/// carriage return, U+FFFE and U+FFFF.
pub fn forbidden_in_xml(c: char) -> bool {
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
    fn the_template_escaper_is_safe_in_text_and_attributes() {
        let mut out = String::new();
        askama::filters::Escaper::write_escaped_str(
            &Html,
            &mut out,
            "<a href=\"x\">'&'\n\u{7}</a>",
        )
        .expect("writes");
        assert_eq!(
            out,
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;\n\u{FFFD}&lt;/a&gt;"
        );
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
