//! `junit.xml`: JUnit XML as GitHub test reporters (dorny/test-reporter,
//! mikepenz/action-junit-report), GitLab and Jenkins read it, built as a
//! [`quick_junit::Report`] and written by quick-junit (the model and writer
//! of cargo-nextest's JUnit output).
//!
//! A negative twin that failed as expected is a pass (with a note in
//! `system-out`); one that passed is a failure, since its assertion cannot
//! fail. Failure bodies carry the error and the diagnoses, so the CI page
//! explains the failure without opening the report.

use std::fmt::Write as _;
use std::time::Duration;

use jiff::Timestamp;
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite, XmlString};

use super::escape::forbidden_in_xml;
use super::format::{block_label, millis, percent};
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

/// Renders the run as JUnit XML: a [`quick_junit::Report`], serialized by
/// quick-junit (which counts tests, failures and skips per suite and run).
pub fn render(report: &RunReport, granularity: Granularity) -> String {
    let mut junit = quick_junit::Report::new(xml(format!("inferbench {}", report.run_id)));
    junit.set_time(elapsed(report.started, report.finished));
    match granularity {
        Granularity::Scenario => junit.add_test_suite(run_suite(report)),
        Granularity::Step => junit.add_test_suites(report.scenarios.iter().map(scenario_suite)),
    };
    let written = junit
        .to_string()
        .expect("serializing JUnit XML into memory cannot fail");
    keep_whitespace_in_attributes(&written)
}

/// Text as quick-junit's [`XmlString`] keeps it. `XmlString` deletes ANSI
/// escape sequences, control characters, tabs and carriage returns; this
/// keeps what our other formats keep: characters XML forbids become
/// U+FFFD (so a stray escape sequence stays visible), a tab a space, and
/// a carriage return (alone or before a newline) a newline, as XML
/// parsers read it in text anyway.
fn xml(text: impl AsRef<str>) -> XmlString {
    let text = text.as_ref();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push(' '),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' => out.push('\n'),
            // C1 controls, which XmlString would delete too.
            c if forbidden_in_xml(c) || ('\u{80}'..='\u{9f}').contains(&c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    XmlString::new(out)
}

/// quick-xml writes a newline inside an attribute value as it is, and XML
/// parsers turn it into a space; as a character reference it survives, so
/// a multi-line failure message reads back as it was. Inside a tag (from
/// `<` to `>`) a newline can only be part of an attribute value: the writer
/// escapes `<` and `>` in values and text, and breaks lines only between
/// elements.
fn keep_whitespace_in_attributes(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut in_tag = false;
    for c in xml.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            '\n' if in_tag => {
                out.push_str("&#10;");
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Duration from `from` to `to`, never negative.
fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or_default()
}

/// A timestamp as quick-junit takes it: chrono's, in UTC, to the
/// nanosecond (quick-junit writes milliseconds).
fn utc(at: Timestamp) -> chrono::DateTime<chrono::FixedOffset> {
    // jiff's fraction has the sign of the seconds; chrono's is never negative.
    let (seconds, nanos) = match at.subsec_nanosecond() {
        n if n < 0 => (at.as_second() - 1, n + 1_000_000_000),
        n => (at.as_second(), n),
    };
    chrono::DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0))
        .unwrap_or_default()
        .fixed_offset()
}

fn property(name: &str, value: impl AsRef<str>) -> Property {
    Property::new(xml(name), xml(value))
}

fn run_suite(report: &RunReport) -> TestSuite {
    let mut suite = TestSuite::new(xml(format!("inferbench run {}", report.run_id)));
    suite
        .set_timestamp(utc(report.started))
        .set_time(elapsed(report.started, report.finished));
    suite.add_properties([
        property("run", &report.run_id),
        property("cluster", &report.cluster.name),
        property("provider", &report.cluster.provider),
        property("kubernetes", &report.cluster.kubernetes_version),
        property("gpus", &report.cluster.gpu_kind),
        property("harness", &report.harness.version),
        property("command", &report.harness.command),
    ]);
    if let Some(commit) = &report.harness.git_commit {
        suite.add_property(property("commit", commit));
    }
    if let Some(reason) = &report.interrupted {
        suite.add_property(property("interrupted", reason));
    }
    suite.add_test_cases(report.scenarios.iter().map(scenario_case));
    suite
}

fn scenario_case(s: &ScenarioReport) -> TestCase {
    let notes = [negative_twin_note(s), loads_note(&s.loads)];
    test_case(
        &s.name,
        "inferbench",
        s,
        elapsed(s.started, s.finished),
        scenario_status(s),
        join_notes(notes),
    )
}

fn test_case(
    name: &str,
    classname: &str,
    s: &ScenarioReport,
    time: Duration,
    status: TestCaseStatus,
    system_out: Option<String>,
) -> TestCase {
    let mut case = TestCase::new(xml(name), status);
    case.set_classname(xml(classname)).set_time(time);
    case.extra.insert(xml("file"), xml(&s.file));
    if let Some(text) = system_out {
        case.set_system_out(xml(text));
    }
    case
}

fn skipped(message: Option<&str>) -> TestCaseStatus {
    let mut status = TestCaseStatus::skipped();
    if let Some(message) = message {
        status.set_message(xml(message));
    }
    status
}

fn failure(kind: &str, message: &str, body: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_message(xml(message))
        .set_type(xml(kind))
        .set_description(xml(body));
    status
}

fn is_failure(case: &TestCase) -> bool {
    matches!(case.status, TestCaseStatus::NonSuccess { .. })
}

fn scenario_status(s: &ScenarioReport) -> TestCaseStatus {
    match s.outcome {
        Outcome::Passed | Outcome::FailedAsExpected => TestCaseStatus::success(),
        Outcome::Skipped => skipped(s.error.as_deref()),
        Outcome::Failed => failure(
            "failed",
            s.error.as_deref().unwrap_or("failed"),
            &failure_body(s.error.as_deref(), failing_step(s), &s.diagnoses, s),
        ),
        Outcome::PassedUnexpectedly => failure(
            "passedUnexpectedly",
            &passed_unexpectedly_message(s),
            &failure_body(None, None, &s.diagnoses, s),
        ),
    }
}

fn scenario_suite(s: &ScenarioReport) -> TestSuite {
    let mut cases: Vec<TestCase> = s.steps.iter().map(|step| step_case(s, step)).collect();
    if !s.outcome.is_success() && !cases.iter().any(is_failure) {
        // The failure is not any one step's (or the scenario has no steps):
        // keep it visible as a testcase of its own.
        cases.push(test_case(
            "scenario verdict",
            &s.name,
            s,
            elapsed(s.started, s.finished),
            scenario_status(s),
            None,
        ));
    }
    let mut suite = TestSuite::new(xml(&s.name));
    suite
        .set_timestamp(utc(s.started))
        .set_time(elapsed(s.started, s.finished));
    suite.add_properties([
        property("file", &s.file),
        property("namespace", &s.namespace),
    ]);
    if let Some(entry) = &s.matrix_entry {
        suite.add_property(property("matrixEntry", entry));
    }
    for (key, value) in &s.values {
        suite.add_property(property("value", format!("{key}={value}")));
    }
    suite.add_test_cases(cases);
    if let Some(text) = loads_note(&s.loads) {
        suite.set_system_out(xml(text));
    }
    suite
}

fn step_case(s: &ScenarioReport, step: &StepReport) -> TestCase {
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
    let status = match outcome {
        Outcome::Passed | Outcome::FailedAsExpected => TestCaseStatus::success(),
        Outcome::Skipped => skipped(step.error.as_deref()),
        Outcome::Failed => failure(
            "failed",
            step.error.as_deref().unwrap_or("failed"),
            &failure_body(step.error.as_deref(), Some(step), &diagnoses, s),
        ),
        Outcome::PassedUnexpectedly => failure(
            "passedUnexpectedly",
            &passed_unexpectedly_message(s),
            &failure_body(None, None, &diagnoses, s),
        ),
    };
    let note = (outcome == Outcome::FailedAsExpected).then(|| negative_twin_note(s));
    test_case(
        &step.name,
        &s.name,
        s,
        elapsed(step.started, step.finished),
        status,
        note.flatten(),
    )
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
    if let Some(check) = expected.check {
        let _ = write!(message, " with its {} check not met", check.name());
    }
    let _ = write!(message, ", observing {}", expected.observed);
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
    if let Some(op) = failed {
        if let Some(kind) = op.failure {
            let check = op
                .check
                .map(|c| format!(" ({})", c.name()))
                .unwrap_or_default();
            let _ = writeln!(body, "Failure: {}{check}", kind.label());
        }
        if let Some(expected) = &op.expected {
            let _ = writeln!(body, "Expected: {expected}");
        }
        if let Some(observed) = &op.observed {
            let _ = writeln!(body, "Observed: {observed}");
        }
        if op.failure.is_some() || op.expected.is_some() || op.observed.is_some() {
            body.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_what_xml_string_would_delete_visible() {
        let text = xml("a\u{1b}[31mb\tc\r\nd\re\u{85}f\u{7}");
        assert_eq!(text.as_str(), "a\u{FFFD}[31mb c\nd\ne\u{FFFD}f\u{FFFD}");
    }

    #[test]
    fn newlines_in_attribute_values_become_references() {
        let written = "<?xml version=\"1.0\"?>\n<a m=\"x\ny\">t\nu</a>\n";
        assert_eq!(
            keep_whitespace_in_attributes(written),
            "<?xml version=\"1.0\"?>\n<a m=\"x&#10;y\">t\nu</a>\n"
        );
    }

    #[test]
    fn timestamps_convert_exactly() {
        for at in ["2026-11-23T16:30:05.42Z", "1969-12-31T23:59:59.25Z"] {
            let at: Timestamp = at.parse().expect("timestamp");
            let nanos = i64::try_from(at.as_nanosecond()).ok();
            assert_eq!(utc(at).timestamp_nanos_opt(), nanos, "{at}");
        }
    }
}
