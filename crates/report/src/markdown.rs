//! `report.md`: the run in Markdown, for people (pull requests, chat) and
//! for the GitHub Actions job summary ([`write_step_summary`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::escape::{md_cell, md_code, md_code_block};
use super::format::{block_label, duration, first_line, seconds_between, utc};
use super::junit::PASSED_UNEXPECTEDLY;
use super::{OperationReport, Outcome, ReportError, RunReport, ScenarioReport, StepReport};

mod gpus;
mod loads;
mod sizing;

use loads::write_loads;

/// The variable GitHub Actions sets to the job summary file of a step.
pub const STEP_SUMMARY_ENV: &str = "GITHUB_STEP_SUMMARY";
/// GitHub rejects step summaries over 1 MiB; stay under it.
const STEP_SUMMARY_LIMIT: usize = 1000 * 1024;

/// Renders the run as Markdown.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    write_header(&mut out, report);
    write_environment(&mut out, report);
    write_templates(&mut out, report);
    write_scenario_table(&mut out, report);
    write_failures(&mut out, report);
    write_loads(&mut out, report);
    gpus::write_gpus(&mut out, report);
    sizing::write_sizing(&mut out, report);
    out
}

/// Appends the Markdown report to the file `$GITHUB_STEP_SUMMARY` names,
/// when it is set (in GitHub Actions); returns that file.
pub fn write_step_summary(report: &RunReport) -> Result<Option<PathBuf>, ReportError> {
    let Some(path) = std::env::var_os(STEP_SUMMARY_ENV).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    append_step_summary(&path, report)?;
    Ok(Some(path))
}

/// Appends the Markdown report to `path`, cut short (with a note) where it
/// would pass GitHub's size limit for step summaries.
pub fn append_step_summary(path: &Path, report: &RunReport) -> Result<(), ReportError> {
    let text = truncate_for_summary(render(report), STEP_SUMMARY_LIMIT);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(ReportError::io("opening step summary", path))?;
    file.write_all(text.as_bytes())
        .map_err(ReportError::io("appending to step summary", path))
}

fn truncate_for_summary(text: String, limit: usize) -> String {
    const NOTE: &str =
        "\n\n*Summary cut short (GitHub's size limit); report.md holds all of it.*\n";
    if text.len() <= limit {
        return text;
    }
    let mut budget = limit.saturating_sub(NOTE.len());
    while !text.is_char_boundary(budget) {
        budget -= 1;
    }
    let cut = text[..budget].rfind('\n').unwrap_or(0);
    format!("{}{NOTE}", &text[..cut])
}

fn write_header(out: &mut String, report: &RunReport) {
    let _ = writeln!(
        out,
        "# inferbench run {}: {}\n",
        md_code(&report.run_id),
        report.outcome.label()
    );
    let failed: Vec<String> = report
        .scenarios
        .iter()
        .filter(|s| !s.outcome.is_success())
        .map(|s| md_code(&s.name))
        .collect();
    let total = report.scenarios.len();
    let _ = if failed.is_empty() {
        writeln!(
            out,
            "**Verdict: {}.** All {total} scenarios succeeded.",
            report.outcome.label()
        )
    } else {
        writeln!(
            out,
            "**Verdict: {}.** {} of {total} scenarios failed: {}.",
            report.outcome.label(),
            failed.len(),
            failed.join(", ")
        )
    };
    let _ = writeln!(
        out,
        "Started {}, took {}.\n",
        utc(report.started),
        duration(seconds_between(report.started, report.finished))
    );
    if let Some(reason) = &report.interrupted {
        let _ = writeln!(out, "> **Interrupted:** {}\n", md_cell(reason));
    }
}

fn write_environment(out: &mut String, report: &RunReport) {
    let c = &report.cluster;
    out.push_str("## Environment\n\n| | |\n|---|---|\n");
    let _ = writeln!(
        out,
        "| Cluster | {} ({}), Kubernetes {} |",
        md_code(&c.name),
        md_cell(&c.provider),
        md_cell(&c.kubernetes_version)
    );
    let _ = writeln!(out, "| GPUs | {} |", md_cell(&c.gpu_kind));
    let pools: Vec<String> = c.node_pools.iter().map(node_pool).collect();
    let _ = writeln!(out, "| Node pools | {} |", md_cell(&pools.join("; ")));
    let commit = report
        .harness
        .git_commit
        .as_ref()
        .map(|c| format!(", commit {}", md_code(c)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "| Harness | {}{commit} |",
        md_cell(&report.harness.version)
    );
    let _ = writeln!(
        out,
        "| Command | {} |",
        md_cell(&md_code(&report.harness.command))
    );
    for image in &report.images {
        let id = image
            .id
            .as_ref()
            .map(|id| format!(" {}", md_code(id)))
            .unwrap_or_default();
        let _ = writeln!(out, "| Image | {}{id} |", md_code(&image.name));
    }
    out.push('\n');
}

/// The team's template: per variant what ran and what the static checks found.
fn write_templates(out: &mut String, report: &RunReport) {
    if report.templates.is_empty() {
        return;
    }
    out.push_str("## Template\n\n| Variant | Source | Target | Served by | Installed with | Findings |\n|---|---|---|---|---|---|\n");
    for t in &report.templates {
        let count = |s: &str| t.findings.iter().filter(|f| f.severity == s).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} error(s), {} warning(s), {} info |",
            md_cell(t.variant.as_deref().unwrap_or("")),
            md_cell(&t.source),
            md_cell(&t.target),
            md_cell(&t.served_by),
            md_cell(&t.installed_with),
            count("error"),
            count("warning"),
            count("info")
        );
    }
    out.push('\n');
    let findings: Vec<_> = report
        .templates
        .iter()
        .flat_map(|t| t.findings.iter().map(move |f| (t, f)))
        .filter(|(_, f)| f.severity != "info")
        .collect();
    if findings.is_empty() {
        return;
    }
    out.push_str(
        "| Variant | Severity | Rule | Object | Where | Finding |\n|---|---|---|---|---|---|\n",
    );
    for (t, f) in findings {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            md_cell(t.variant.as_deref().unwrap_or("")),
            md_cell(&f.severity),
            md_code(&f.rule),
            md_code(&f.object),
            md_cell(&format!("{}:{}", f.file, f.line)),
            md_cell(&f.message)
        );
    }
    out.push('\n');
}

fn node_pool(p: &super::NodePoolInfo) -> String {
    let nodes = if p.nodes == 1 { "node" } else { "nodes" };
    let mut text = format!("{}: {} {nodes}", p.name, p.nodes);
    if p.gpus_per_node > 0 {
        let _ = write!(text, " × {} nvidia.com/gpu", p.gpus_per_node);
        if let Some(product) = &p.gpu_product {
            let _ = write!(text, " ({product})");
        }
    }
    text
}

fn write_scenario_table(out: &mut String, report: &RunReport) {
    out.push_str("## Scenarios\n\n");
    if report.scenarios.is_empty() {
        out.push_str("No scenario ran.\n\n");
        return;
    }
    out.push_str("| Scenario | Matrix entry | Outcome | Duration | Error |\n");
    out.push_str("|---|---|---|---:|---|\n");
    for s in &report.scenarios {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            md_code(&s.name),
            md_cell(s.matrix_entry.as_deref().unwrap_or("")),
            outcome_text(s.outcome),
            duration(seconds_between(s.started, s.finished)),
            md_cell(first_line(s.error.as_deref().unwrap_or("")))
        );
    }
    out.push('\n');
}

/// Outcomes that need attention in bold.
fn outcome_text(outcome: Outcome) -> String {
    if outcome.is_success() {
        outcome.label().to_string()
    } else {
        format!("**{}**", outcome.label())
    }
}

fn write_failures(out: &mut String, report: &RunReport) {
    let failed: Vec<&ScenarioReport> = report
        .scenarios
        .iter()
        .filter(|s| !s.outcome.is_success())
        .collect();
    if failed.is_empty() {
        return;
    }
    out.push_str("## Failures\n\n");
    for s in failed {
        write_failure(out, s);
    }
}

fn write_failure(out: &mut String, s: &ScenarioReport) {
    let _ = writeln!(out, "### {}: {}\n", md_code(&s.name), s.outcome.label());
    let _ = writeln!(
        out,
        "File {}, namespace {}.\n",
        md_code(&s.file),
        md_code(&s.namespace)
    );
    if s.outcome == Outcome::PassedUnexpectedly {
        let step = s.expected_failure.as_ref().map_or("?", |e| e.step.as_str());
        let _ = writeln!(
            out,
            "{PASSED_UNEXPECTEDLY}: step {} was meant to fail and did not.\n",
            md_code(step)
        );
    }
    for d in &s.diagnoses {
        let _ = writeln!(
            out,
            "**Diagnosis: {}** (step {}). {}\n",
            d.decider.label(),
            md_code(&d.step),
            d.summary
        );
        if !d.evidence.is_empty() {
            out.push_str("Evidence:\n\n");
            out.push_str(&md_code_block("text", &d.evidence.join("\n")));
            out.push('\n');
        }
    }
    if let Some(step) = s.steps.iter().find(|st| st.outcome == Outcome::Failed) {
        write_failing_step(out, step);
    } else if let Some(error) = &s.error {
        out.push_str(&md_code_block("text", error));
        out.push('\n');
    }
    write_artifacts(out, s);
}

fn write_failing_step(out: &mut String, step: &StepReport) {
    let failed_op = step
        .operations
        .iter()
        .find(|o| o.outcome == Outcome::Failed);
    let _ = match failed_op {
        Some(op) => writeln!(
            out,
            "Failing step {} (attempts: {}), {} operation {}: {}\n",
            md_code(&step.name),
            step.attempts,
            block_label(op.block),
            md_code(&op.kind),
            op.description
        ),
        None => writeln!(
            out,
            "Failing step {} (attempts: {}):\n",
            md_code(&step.name),
            step.attempts
        ),
    };
    if let Some(op) = failed_op {
        write_expected_observed(out, op);
    }
    let error = failed_op
        .and_then(|op| op.error.as_deref())
        .or(step.error.as_deref());
    if let Some(error) = error {
        out.push_str(&md_code_block("text", error));
        out.push('\n');
    }
}

/// The check's expected and observed values side by side, and how it failed.
fn write_expected_observed(out: &mut String, op: &OperationReport) {
    if op.expected.is_none() && op.observed.is_none() {
        if let Some(kind) = op.failure {
            let _ = writeln!(out, "Failure: {}.\n", kind.label());
        }
        return;
    }
    out.push_str("| Check | Failure | Expected | Observed |\n|---|---|---|---|\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} |\n",
        op.check.map(|c| md_code(c.name())).unwrap_or_default(),
        op.failure.map(|f| f.label()).unwrap_or(""),
        md_cell(op.expected.as_deref().unwrap_or("")),
        md_cell(op.observed.as_deref().unwrap_or(""))
    );
}

fn write_artifacts(out: &mut String, s: &ScenarioReport) {
    if s.artifacts.is_empty() {
        return;
    }
    out.push_str("Artifacts:\n\n");
    for a in &s.artifacts {
        let _ = writeln!(
            out,
            "- [{}](<{}>): {}",
            a.path.replace(['[', ']'], "_"),
            a.path.replace(['<', '>'], "_"),
            a.description
        );
    }
    out.push('\n');
}
