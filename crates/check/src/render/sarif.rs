//! SARIF 2.1.0 for GitHub code scanning: every rule in
//! `runs[0].tool.driver.rules`, one result per finding with a
//! repository-relative `artifactLocation.uri` and `region.startLine`.

use std::path::Path;

use serde_json::json;

use super::display_path;
use crate::error::CheckError;
use crate::finding::{Report, Severity};
use crate::rules::RULES;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

pub fn render(report: &Report, base: &Path) -> Result<String, CheckError> {
    let rules: Vec<_> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.help},
                "help": {"text": r.help},
                "defaultConfiguration": {"level": level(r.severity)},
            })
        })
        .collect();
    let results: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule,
                "ruleIndex": RULES.iter().position(|r| r.id == f.rule),
                "level": level(f.severity),
                "message": {"text": format!("{}: {} (fix: {})", f.object, f.message, f.fix)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": display_path(&f.file, base)},
                        "region": {"startLine": f.line.max(1)},
                    },
                    "logicalLocations": [{"name": f.object, "kind": "object"}],
                }],
            })
        })
        .collect();
    let value = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "inferbench-check",
                "informationUri": "https://github.com/inferbench/inferbench",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&value).map_err(|e| CheckError::Render {
        format: "sarif",
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sarif_snapshot() {
        let sarif = super::render(
            &crate::render::fixture::report(),
            std::path::Path::new("/repo"),
        )
        .expect("renders");
        insta::assert_snapshot!(sarif);
    }
}
