//! `helm lint`'s own findings on a chart, beside ours.

use std::path::Path;

use super::{Context, Rule};
use crate::finding::{Finding, Severity};

/// The rule's entry for the reports (SARIF's rule table); its findings
/// come from the pinned Helm ([`crate::lint`]), not from the objects.
pub const RULE: Rule = Rule {
    id: "helm-lint",
    severity: Severity::Warning,
    summary: "`helm lint` finds nothing wrong with the chart",
    help: "Helm's own checks of a chart (Chart.yaml fields, template syntax, values schema). Run `helm lint CHART -f VALUES` to see them where Helm reports them; `[ERROR]` lines fail `helm install` or `helm package` too.",
    run,
};

fn run(_: &Context<'_>) -> Vec<Finding> {
    Vec::new()
}

/// `helm lint` output (`[ERROR] templates/x.yaml: message`, with tab-led
/// continuation lines) as findings against the chart in `chart_dir`.
pub fn parse(chart_dir: &Path, chart: &str, output: &str) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for line in output.lines() {
        if let Some(more) = line.strip_prefix('\t') {
            if let Some(last) = out.last_mut() {
                last.message.push_str("; ");
                last.message.push_str(more.trim());
            }
            continue;
        }
        let Some((severity, rest)) = [
            ("[ERROR] ", Severity::Error),
            ("[WARNING] ", Severity::Warning),
            ("[INFO] ", Severity::Info),
        ]
        .iter()
        .find_map(|(tag, s)| line.strip_prefix(tag).map(|rest| (*s, rest))) else {
            continue;
        };
        let (place, message) = rest.split_once(": ").unwrap_or(("", rest));
        out.push(Finding {
            rule: RULE.id,
            severity,
            object: format!("chart {chart}"),
            file: chart_dir.join(place.trim_end_matches('/')),
            line: 1,
            message: format!("helm lint: {}", message.trim()),
            fix: RULE.help.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Helm v3.22 printed for a chart with a bad version.
    const BROKEN: &str = "==> Linting /c/llm\n[ERROR] Chart.yaml: version 'notsemver' is not a valid SemVer\n[INFO] Chart.yaml: icon is recommended\n[ERROR] templates/: validation: chart.metadata.version \"notsemver\" is invalid\n[ERROR] : unable to load chart\n\tvalidation: chart.metadata.version \"notsemver\" is invalid\n\nError: 1 chart(s) linted, 1 chart(s) failed\n";

    #[test]
    fn every_tagged_line_is_a_finding_with_its_place_and_severity() {
        let f = parse(Path::new("/c/llm"), "llm", BROKEN);
        let got: Vec<(Severity, String, String)> = f
            .iter()
            .map(|f| (f.severity, f.file.display().to_string(), f.message.clone()))
            .collect();
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(got[0].0, Severity::Error);
        assert_eq!(got[0].1, "/c/llm/Chart.yaml");
        assert_eq!(got[1].0, Severity::Info);
        assert_eq!(got[2].1, "/c/llm/templates");
        assert!(
            got[3].2.ends_with(
                "unable to load chart; validation: chart.metadata.version \"notsemver\" is invalid"
            ),
            "continuation lines join the finding: {}",
            got[3].2
        );
    }

    #[test]
    fn a_clean_chart_has_none() {
        let clean = "==> Linting llm\n\n1 chart(s) linted, 0 chart(s) failed\n";
        assert!(parse(Path::new("llm"), "llm", clean).is_empty());
    }
}
