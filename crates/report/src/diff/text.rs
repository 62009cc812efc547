//! [`ReportDiff`] as plain text for a terminal and as Markdown for a CI
//! summary.

use std::fmt::Write as _;

use super::{
    ChangeKind, LoadComparison, Metric, MetricChange, ReportDiff, ScenarioChange, Verdict,
};
use crate::Outcome;
use crate::escape::{md_cell, md_code};
use crate::format::first_line;

impl ReportDiff {
    /// Metric changes beyond the thresholds, with their load.
    fn notable_metrics(&self) -> impl Iterator<Item = (&LoadComparison, &MetricChange)> {
        self.loads.iter().flat_map(|l| {
            l.metrics
                .iter()
                .filter(|m| m.verdict != Verdict::Unchanged)
                .map(move |m| (l, m))
        })
    }

    fn verdict_line(&self) -> String {
        if self.is_regression() {
            format!(
                "{} regression(s): run {} is worse than run {}.",
                self.regressions, self.after.run_id, self.before.run_id
            )
        } else {
            format!(
                "No regressions: run {} is not worse than run {}.",
                self.after.run_id, self.before.run_id
            )
        }
    }

    fn thresholds_line(&self) -> String {
        format!(
            "latency +{}%, error rate +{} percentage points{}",
            self.options.latency_threshold_pct,
            self.options.error_rate_threshold_pp,
            if self.options.strict {
                ", strict (missing or newly skipped scenarios regress)"
            } else {
                ""
            }
        )
    }

    /// Plain text for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "A: run {} ({})\nB: run {} ({})\nThresholds: {}\n",
            self.before.run_id,
            self.before.outcome.label(),
            self.after.run_id,
            self.after.outcome.label(),
            self.thresholds_line()
        );
        out.push_str("\nScenarios:\n");
        if self.scenarios.is_empty() {
            out.push_str("  no outcome changed\n");
        }
        for c in &self.scenarios {
            let _ = writeln!(
                out,
                "  {:<11} {}: {}",
                scenario_tag(c),
                c.scenario,
                change_text(c)
            );
        }
        let _ = writeln!(out, "\nLoads ({} compared):", self.loads.len());
        let mut any = false;
        for (l, m) in self.notable_metrics() {
            any = true;
            let _ = writeln!(
                out,
                "  {:<11} {} / {}: {}",
                tag(
                    m.verdict == Verdict::Regression,
                    m.verdict == Verdict::Improvement
                ),
                l.scenario,
                l.load,
                metric_text(m)
            );
        }
        for u in &self.unmatched_loads {
            any = true;
            let _ = writeln!(
                out,
                "  {:<11} {} / {}",
                kind_label(u.kind),
                u.scenario,
                u.load
            );
        }
        if !any {
            out.push_str("  no change beyond the thresholds\n");
        }
        let _ = writeln!(out, "\n{}", self.verdict_line());
        out
    }

    /// Markdown, e.g. for a pull request comment or a job summary.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "## inferbench: run {} compared with run {}\n\n**{}**\n\nThresholds: {}.\n\n",
            md_code(&self.after.run_id),
            md_code(&self.before.run_id),
            self.verdict_line(),
            self.thresholds_line()
        );
        if !self.scenarios.is_empty() {
            out.push_str("| | Scenario | Change | Error in B |\n|---|---|---|---|\n");
            for c in &self.scenarios {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    scenario_tag(c),
                    md_code(&c.scenario),
                    md_cell(&change_text_without_error(c)),
                    md_cell(first_line(c.error.as_deref().unwrap_or("")))
                );
            }
            out.push('\n');
        }
        if !self.loads.is_empty() {
            out.push_str(
                "| Scenario | Load | p50 | p95 | p99 | Error rate |\n|---|---|---|---|---|---|\n",
            );
            for l in &self.loads {
                let cells: Vec<String> = l.metrics.iter().map(metric_cell).collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    md_code(&l.scenario),
                    md_code(&l.load),
                    cells.join(" | ")
                );
            }
            out.push('\n');
        }
        for u in &self.unmatched_loads {
            let _ = writeln!(
                out,
                "- load {} of {}: {}",
                md_code(&u.load),
                md_code(&u.scenario),
                kind_label(u.kind)
            );
        }
        out
    }
}

fn tag(regression: bool, improvement: bool) -> &'static str {
    match (regression, improvement) {
        (true, _) => "REGRESSION",
        (false, true) => "improved",
        _ => "changed",
    }
}

fn scenario_tag(c: &ScenarioChange) -> &'static str {
    match c.kind {
        _ if c.regression => "REGRESSION",
        ChangeKind::NewlyPassing => "improved",
        ChangeKind::Missing => "missing",
        ChangeKind::Added => "added",
        _ => "changed",
    }
}

fn kind_label(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::NewlyFailing => "newly failing",
        ChangeKind::NewlyPassing => "newly passing",
        ChangeKind::OutcomeChanged => "outcome changed",
        ChangeKind::Missing => "missing in B",
        ChangeKind::Added => "added in B",
    }
}

fn outcome_or_none(outcome: Option<Outcome>) -> &'static str {
    outcome.map_or("absent", Outcome::label)
}

fn change_text_without_error(c: &ScenarioChange) -> String {
    format!(
        "{} ({} -> {})",
        kind_label(c.kind),
        outcome_or_none(c.before),
        outcome_or_none(c.after)
    )
}

fn change_text(c: &ScenarioChange) -> String {
    let mut text = change_text_without_error(c);
    if let Some(error) = c.error.as_deref().filter(|_| c.regression) {
        let _ = write!(text, ": {}", first_line(error));
    }
    text
}

/// `p95 171 ms -> 240 ms (+40.4%)`.
fn metric_text(m: &MetricChange) -> String {
    format!(
        "{} {} -> {}{}",
        m.metric.label(),
        m.metric.show(m.before),
        m.metric.show(m.after),
        change_suffix(m)
    )
}

fn change_suffix(m: &MetricChange) -> String {
    match (m.change, m.metric) {
        (None, _) => String::new(),
        (Some(c), Metric::ErrorRate) => format!(" ({c:+.2} pp)"),
        (Some(c), _) => format!(" ({c:+.1}%)"),
    }
}

/// `171 ms -> 240 ms (+40.4%) **regression**`.
fn metric_cell(m: &MetricChange) -> String {
    let mark = match m.verdict {
        Verdict::Regression => " **regression**",
        Verdict::Improvement => " improved",
        Verdict::Unchanged => "",
    };
    format!(
        "{} -> {}{}{mark}",
        m.metric.show(m.before),
        m.metric.show(m.after),
        change_suffix(m)
    )
}
