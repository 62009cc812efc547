//! `file:line: severity[rule] Kind/name: message (fix: ...)`, grouped by file.

use std::fmt::Write;
use std::path::Path;

use super::display_path;
use crate::finding::{Report, Severity};

pub fn render(report: &Report, base: &Path) -> String {
    let mut out = String::new();
    let serving: Vec<&str> = report.serving.iter().map(|o| o.object.as_str()).collect();
    let _ = writeln!(
        out,
        "checked {} object(s); serving: {}",
        report.checked.len(),
        if serving.is_empty() {
            "none".to_string()
        } else {
            serving.join(", ")
        }
    );
    let mut findings: Vec<_> = report.findings.iter().collect();
    findings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut current: Option<&Path> = None;
    for f in findings {
        if current != Some(f.file.as_path()) {
            current = Some(f.file.as_path());
            let _ = writeln!(out, "\n{}", display_path(&f.file, base));
        }
        let _ = writeln!(
            out,
            "  {}:{}: {}[{}] {}: {} (fix: {})",
            display_path(&f.file, base),
            f.line,
            f.severity.as_str(),
            f.rule,
            f.object,
            f.message,
            f.fix
        );
    }
    let _ = writeln!(
        out,
        "\n{} error(s), {} warning(s), {} info",
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info)
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_snapshot() {
        let text = super::render(
            &crate::render::fixture::report(),
            std::path::Path::new("/repo"),
        );
        insta::assert_snapshot!(text);
    }
}
