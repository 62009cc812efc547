//! The report as JSON (paths relative to the base, like the text form).

use std::path::Path;

use serde_json::json;

use super::display_path;
use crate::error::CheckError;
use crate::finding::{ObjectRef, Report, Severity};

pub fn render(report: &Report, base: &Path) -> Result<String, CheckError> {
    let obj = |o: &ObjectRef| json!({"object": o.object, "file": display_path(&o.file, base), "line": o.line});
    let value = json!({
        "checked": report.checked.iter().map(obj).collect::<Vec<_>>(),
        "serving": report.serving.iter().map(obj).collect::<Vec<_>>(),
        "summary": {
            "errors": report.count(Severity::Error),
            "warnings": report.count(Severity::Warning),
            "info": report.count(Severity::Info),
        },
        "findings": report.findings.iter().map(|f| json!({
            "rule": f.rule,
            "severity": f.severity,
            "object": f.object,
            "file": display_path(&f.file, base),
            "line": f.line,
            "message": f.message,
            "fix": f.fix,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).map_err(|e| CheckError::Render {
        format: "json",
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_snapshot() {
        let json = super::render(
            &crate::render::fixture::report(),
            std::path::Path::new("/repo"),
        )
        .expect("renders");
        insta::assert_snapshot!(json);
    }
}
