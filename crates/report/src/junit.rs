//! `junit.xml`: JUnit XML as GitHub test reporters (dorny/test-reporter,
//! mikepenz/action-junit-report), GitLab and Jenkins read it.
//!
//! A negative twin that failed as expected is a pass (with a note in
//! `system-out`); one that passed is a failure, since its assertion cannot
//! fail. Failure bodies carry the error and the diagnoses, so the CI page
//! explains the failure without opening the report.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::escape::{xml_attr, xml_text};
use super::format::{block_label, millis, percent, seconds_between};
use super::{Diagnosis, LoadReport, Outcome, RunReport, ScenarioReport, StepReport};

/// What one JUnit testcase stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Granularity {
    /// One testsuite for the run, one testcase per scenario.
    #[default]
    Scenario,
    /// One testsuite per scenario, one testcase per step.
    Step,
}

/// The message of a negative twin that passed.
pub const PASSED_UNEXPECTEDLY: &str = "negative twin passed: its assertion cannot fail";

/// Renders the run as JUnit XML.
pub fn render(report: &RunReport, granularity: Granularity) -> String {
    let suites = match granularity {
        Granularity::Scenario => vec![run_suite(report)],
        Granularity::Step => report.scenarios.iter().map(scenario_suite).collect(),
    };
    write_document(report, &suites)
}

struct Suite {
    name: String,
    timestamp: Timestamp,
    time: f64,
    properties: Vec<(&'static str, String)>,
    cases: Vec<Case>,
    system_out: Option<String>,
}

struct Case {
    name: String,
    classname: String,
    file: String,
    time: f64,
    verdict: Verdict,
    system_out: Option<String>,
}

enum Verdict {
    Pass,
    Skip(Option<String>),
    Fail {
        kind: &'static str,
        message: String,
        body: String,
    },
}

impl Suite {
    fn count(&self, pick: fn(&Verdict) -> bool) -> usize {
        self.cases.iter().filter(|c| pick(&c.verdict)).count()
    }
    fn failures(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Fail { .. }))
    }
    fn skipped(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Skip(_)))
    }
}

fn run_suite(report: &RunReport) -> Suite {
    let mut properties = vec![
        ("run", report.run_id.clone()),
        ("cluster", report.cluster.name.clone()),
        ("provider", report.cluster.provider.clone()),
        ("kubernetes", report.cluster.kubernetes_version.clone()),
        ("gpus", report.cluster.gpu_kind.clone()),
        ("harness", report.harness.version.clone()),
        ("command", report.harness.command.clone()),
    ];
    if let Some(commit) = &report.harness.git_commit {
        properties.push(("commit", commit.clone()));
    }
    if let Some(reason) = &report.interrupted {
        properties.push(("interrupted", reason.clone()));
    }
    Suite {
        name: format!("inferbench run {}", report.run_id),
        timestamp: report.started,
        time: seconds_between(report.started, report.finished),
        properties,
        cases: report.scenarios.iter().map(scenario_case).collect(),
        system_out: None,
    }
}

fn scenario_case(s: &ScenarioReport) -> Case {
    let notes = [negative_twin_note(s), loads_note(&s.loads)];
    Case {
        name: s.name.clone(),
        classname: "inferbench".to_string(),
        file: s.file.clone(),
        time: seconds_between(s.started, s.finished),
        verdict: scenario_verdict(s),
        system_out: join_notes(notes),
    }
}

fn scenario_verdict(s: &ScenarioReport) -> Verdict {
    match s.outcome {
        Outcome::Passed | Outcome::FailedAsExpected => Verdict::Pass,
        Outcome::Skipped => Verdict::Skip(s.error.clone()),
        Outcome::Failed => Verdict::Fail {
            kind: "failed",
            message: s.error.clone().unwrap_or_else(|| "failed".to_string()),
            body: failure_body(s.error.as_deref(), failing_step(s), &s.diagnoses, s),
        },
        Outcome::PassedUnexpectedly => Verdict::Fail {
            kind: "passedUnexpectedly",
            message: passed_unexpectedly_message(s),
            body: failure_body(None, None, &s.diagnoses, s),
        },
    }
}

fn scenario_suite(s: &ScenarioReport) -> Suite {
    let mut cases: Vec<Case> = s.steps.iter().map(|step| step_case(s, step)).collect();
    let scenario_failed = !s.outcome.is_success();
    if scenario_failed
        && !cases
            .iter()
            .any(|c| matches!(c.verdict, Verdict::Fail { .. }))
    {
        // The failure is not any one step's (or the scenario has no steps):
        // keep it visible as a testcase of its own.
        cases.push(Case {
            name: "scenario verdict".to_string(),
            classname: s.name.clone(),
            system_out: None,
            ..scenario_case(s)
        });
    }
    let mut properties = vec![("file", s.file.clone()), ("namespace", s.namespace.clone())];
    if let Some(entry) = &s.matrix_entry {
        properties.push(("matrixEntry", entry.clone()));
    }
    for (key, value) in &s.values {
        properties.push(("value", format!("{key}={value}")));
    }
    Suite {
        name: s.name.clone(),
        timestamp: s.started,
        time: seconds_between(s.started, s.finished),
        properties,
        cases,
        system_out: loads_note(&s.loads),
    }
}

fn step_case(s: &ScenarioReport, step: &StepReport) -> Case {
    let expected_to_fail = s
        .expected_failure
        .as_ref()
        .is_some_and(|e| e.step == step.name);
    let outcome = if expected_to_fail && s.outcome == Outcome::PassedUnexpectedly {
        Outcome::PassedUnexpectedly
    } else {
        step.outcome
    };
    let diagnoses = step_diagnoses(s, step);
    let verdict = match outcome {
        Outcome::Passed | Outcome::FailedAsExpected => Verdict::Pass,
        Outcome::Skipped => Verdict::Skip(step.error.clone()),
        Outcome::Failed => Verdict::Fail {
            kind: "failed",
            message: step.error.clone().unwrap_or_else(|| "failed".to_string()),
            body: failure_body(step.error.as_deref(), Some(step), &diagnoses, s),
        },
        Outcome::PassedUnexpectedly => Verdict::Fail {
            kind: "passedUnexpectedly",
            message: passed_unexpectedly_message(s),
            body: failure_body(None, None, &diagnoses, s),
        },
    };
    let note = (outcome == Outcome::FailedAsExpected).then(|| negative_twin_note(s));
    Case {
        name: step.name.clone(),
        classname: s.name.clone(),
        file: s.file.clone(),
        time: seconds_between(step.started, step.finished),
        verdict,
        system_out: note.flatten(),
    }
}

/// The diagnoses of `step`; the scenario's first failing step also takes
/// those naming no step of the scenario, so none is lost.
fn step_diagnoses(s: &ScenarioReport, step: &StepReport) -> Vec<Diagnosis> {
    let is_first_failure = failing_step(s).is_some_and(|f| f.name == step.name);
    s.diagnoses
        .iter()
        .filter(|d| {
            d.step == step.name
                || (is_first_failure && !s.steps.iter().any(|other| other.name == d.step))
        })
        .cloned()
        .collect()
}

fn failing_step(s: &ScenarioReport) -> Option<&StepReport> {
    s.steps.iter().find(|step| {
        matches!(
            step.outcome,
            Outcome::Failed | Outcome::PassedUnexpectedly | Outcome::FailedAsExpected
        )
    })
}

fn passed_unexpectedly_message(s: &ScenarioReport) -> String {
    let Some(expected) = &s.expected_failure else {
        return PASSED_UNEXPECTEDLY.to_string();
    };
    let mut message = format!(
        "{PASSED_UNEXPECTEDLY} (step `{}` was meant to fail",
        expected.step
    );
    if let Some(text) = &expected.message_contains {
        let _ = write!(message, " with an error containing {text:?}");
    }
    message.push(')');
    message
}

fn negative_twin_note(s: &ScenarioReport) -> Option<String> {
    if s.outcome != Outcome::FailedAsExpected {
        return None;
    }
    let step = s.expected_failure.as_ref().map_or("?", |e| e.step.as_str());
    let error = s.error.as_deref().unwrap_or("(no error text)");
    Some(format!(
        "negative twin failed as expected at step `{step}`: {error}"
    ))
}

fn loads_note(loads: &[LoadReport]) -> Option<String> {
    let lines: Vec<String> = loads
        .iter()
        .map(|l| {
            format!(
                "load `{}`: {} requests, {} failed ({}), p50 {}, p95 {}, p99 {}",
                l.name,
                l.requests,
                l.failures,
                percent(l.error_rate),
                millis(l.latency_ms.p50),
                millis(l.latency_ms.p95),
                millis(l.latency_ms.p99)
            )
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn join_notes<const N: usize>(notes: [Option<String>; N]) -> Option<String> {
    let present: Vec<String> = notes.into_iter().flatten().collect();
    (!present.is_empty()).then(|| present.join("\n"))
}

/// Error, failing operation, diagnoses with evidence, artifacts.
fn failure_body(
    error: Option<&str>,
    step: Option<&StepReport>,
    diagnoses: &[Diagnosis],
    s: &ScenarioReport,
) -> String {
    let mut body = String::new();
    if let Some(error) = error {
        let _ = writeln!(body, "{error}\n");
    }
    if let Some(step) = step {
        write_failing_operation(&mut body, step);
    }
    for d in diagnoses {
        let _ = writeln!(
            body,
            "Diagnosis ({}, step `{}`):\n{}",
            d.decider.label(),
            d.step,
            d.summary
        );
        for line in &d.evidence {
            let _ = writeln!(body, "  | {line}");
        }
        body.push('\n');
    }
    if !s.artifacts.is_empty() {
        body.push_str("Artifacts (in the report folder):\n");
        for a in &s.artifacts {
            let _ = writeln!(body, "  {}: {}", a.path, a.description);
        }
    }
    body.trim_end().to_string()
}

fn write_failing_operation(body: &mut String, step: &StepReport) {
    let failed = step
        .operations
        .iter()
        .find(|op| matches!(op.outcome, Outcome::Failed | Outcome::FailedAsExpected));
    let _ = match failed {
        Some(op) => writeln!(
            body,
            "Failing step `{}` (attempts: {}), {} operation `{}`: {}\n",
            step.name,
            step.attempts,
            block_label(op.block),
            op.kind,
            op.description
        ),
        None => writeln!(
            body,
            "Failing step `{}` (attempts: {})\n",
            step.name, step.attempts
        ),
    };
}

fn write_document(report: &RunReport, suites: &[Suite]) -> String {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(Suite::failures).sum();
    let skipped: usize = suites.iter().map(Suite::skipped).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">",
        xml_attr(&format!("inferbench {}", report.run_id)),
        seconds_between(report.started, report.finished),
    );
    for suite in suites {
        write_suite(&mut out, suite);
    }
    out.push_str("</testsuites>\n");
    out
}

fn write_suite(out: &mut String, suite: &Suite) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
        xml_attr(&suite.name),
        suite.cases.len(),
        suite.failures(),
        suite.skipped(),
        suite.time,
        suite.timestamp.strftime("%Y-%m-%dT%H:%M:%S"),
    );
    if !suite.properties.is_empty() {
        out.push_str("    <properties>\n");
        for (name, value) in &suite.properties {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                xml_attr(name),
                xml_attr(value)
            );
        }
        out.push_str("    </properties>\n");
    }
    for case in &suite.cases {
        write_case(out, case);
    }
    if let Some(text) = &suite.system_out {
        let _ = writeln!(out, "    <system-out>{}</system-out>", xml_text(text));
    }
    out.push_str("  </testsuite>\n");
}

fn write_case(out: &mut String, case: &Case) {
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\"",
        xml_attr(&case.name),
        xml_attr(&case.classname),
        xml_attr(&case.file),
        case.time,
    );
    if matches!(case.verdict, Verdict::Pass) && case.system_out.is_none() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    match &case.verdict {
        Verdict::Pass => {}
        Verdict::Skip(None) => out.push_str("      <skipped/>\n"),
        Verdict::Skip(Some(message)) => {
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml_attr(message));
        }
        Verdict::Fail {
            kind,
            message,
            body,
        } => {
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{kind}\">{}</failure>",
                xml_attr(message),
                xml_text(body)
            );
        }
    }
    if let Some(text) = &case.system_out {
        let _ = writeln!(out, "      <system-out>{}</system-out>", xml_text(text));
    }
    out.push_str("    </testcase>\n");
}
