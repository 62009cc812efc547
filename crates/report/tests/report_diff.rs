//! Comparing runs: the fixture run against changed copies of itself.

use std::path::Path;

use report::diff::{self, ChangeKind, DiffOptions, Metric, Verdict};
use report::{Outcome, RunReport, ScenarioReport, json};

const ROLLING: &str = "rolling-update[chat-stream]";
const GPU: &str = "gpu-scheduling[two-gpus-per-pod]";
const OOM: &str = "large-payload-oom";

fn fixture() -> RunReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/run.json");
    json::read(&path).expect("the fixture run reads")
}

fn scenario<'a>(report: &'a mut RunReport, name: &str) -> &'a mut ScenarioReport {
    report
        .scenarios
        .iter_mut()
        .find(|s| s.name == name)
        .expect("scenario in fixture")
}

/// Run B: the rolling update now fails and is slower with more errors, the
/// GPU scenario passes, the OOM scenario is gone, a new one passes.
fn regressed() -> RunReport {
    let mut b = fixture();
    b.run_id = "20261124-090000-cd34".to_string();
    let rolling = scenario(&mut b, ROLLING);
    rolling.outcome = Outcome::Failed;
    rolling.error = Some(
        "expect failed: error rate of load `steady` is 2.4% (89 of 3710 requests), above the limit 1%"
            .to_string(),
    );
    let load = &mut rolling.loads[0];
    load.latency_ms.p95 *= 1.5;
    load.latency_ms.p99 *= 1.1;
    load.error_rate = 0.024;
    let gpu = scenario(&mut b, GPU);
    gpu.outcome = Outcome::Passed;
    gpu.error = None;
    b.scenarios.retain(|s| s.name != OOM);
    let mut added = b.scenarios[0].clone();
    added.name = "hpa-scale-up".to_string();
    added.outcome = Outcome::Passed;
    added.error = None;
    added.loads.clear();
    b.scenarios.push(added);
    b
}

#[test]
fn a_run_against_itself_changes_nothing() {
    let run = fixture();
    let d = diff::diff(&run, &run, &DiffOptions::default());
    assert!(!d.is_regression());
    assert!(d.scenarios.is_empty());
    assert!(d.unmatched_loads.is_empty());
    assert_eq!(d.loads.len(), 3);
    assert!(
        d.loads
            .iter()
            .flat_map(|l| &l.metrics)
            .all(|m| m.verdict == Verdict::Unchanged)
    );
}

#[test]
fn finds_every_kind_of_change() {
    let d = diff::diff(&fixture(), &regressed(), &DiffOptions::default());
    let kind_of = |name: &str| {
        d.scenarios
            .iter()
            .find(|c| c.scenario == name)
            .map(|c| (c.kind, c.regression))
    };
    assert_eq!(kind_of(ROLLING), Some((ChangeKind::NewlyFailing, true)));
    assert_eq!(kind_of(GPU), Some((ChangeKind::NewlyPassing, false)));
    assert_eq!(kind_of(OOM), Some((ChangeKind::Missing, false)));
    assert_eq!(kind_of("hpa-scale-up"), Some((ChangeKind::Added, false)));

    let steady = d
        .loads
        .iter()
        .find(|l| l.scenario == ROLLING)
        .expect("rolling update's load compared");
    let verdict = |metric: Metric| {
        steady
            .metrics
            .iter()
            .find(|m| m.metric == metric)
            .map(|m| m.verdict)
    };
    assert_eq!(verdict(Metric::P50), Some(Verdict::Unchanged));
    assert_eq!(verdict(Metric::P95), Some(Verdict::Regression));
    assert_eq!(
        verdict(Metric::P99),
        Some(Verdict::Unchanged),
        "+10% is within 20%"
    );
    assert_eq!(verdict(Metric::ErrorRate), Some(Verdict::Regression));
    // Newly failing, p95 and error rate.
    assert_eq!(d.regressions, 3);
}

#[test]
fn renders_text_markdown_and_json() {
    let d = diff::diff(&fixture(), &regressed(), &DiffOptions::default());
    insta::assert_snapshot!("report_diff_text", d.to_text());
    insta::assert_snapshot!("report_diff_markdown", d.to_markdown());
    insta::assert_json_snapshot!("report_diff_json", d);
}

#[test]
fn threshold_is_exclusive() {
    let a = fixture();
    let mut b = fixture();
    let p50 = a.scenarios[0].loads[0].latency_ms.p50;
    b.scenarios[0].loads[0].latency_ms.p50 = p50 * 1.19;
    let options = DiffOptions::default();
    assert!(!diff::diff(&a, &b, &options).is_regression());
    b.scenarios[0].loads[0].latency_ms.p50 = p50 * 1.21;
    assert!(diff::diff(&a, &b, &options).is_regression());
    let lenient = DiffOptions {
        latency_threshold_pct: 25.0,
        ..options
    };
    assert!(!diff::diff(&a, &b, &lenient).is_regression());
}

#[test]
fn faster_is_an_improvement_not_a_regression() {
    let a = fixture();
    let mut b = fixture();
    b.scenarios[0].loads[0].latency_ms.p99 /= 2.0;
    let d = diff::diff(&a, &b, &DiffOptions::default());
    assert!(!d.is_regression());
    assert!(d.to_text().contains("improved"), "{}", d.to_text());
}

#[test]
fn strict_counts_missing_and_newly_skipped_scenarios() {
    let a = fixture();
    let mut b = fixture();
    b.scenarios.retain(|s| s.name != OOM);
    scenario(&mut b, ROLLING).outcome = Outcome::Skipped;
    let relaxed = diff::diff(&a, &b, &DiffOptions::default());
    assert!(!relaxed.is_regression(), "{}", relaxed.to_text());
    let strict = DiffOptions {
        strict: true,
        ..DiffOptions::default()
    };
    assert_eq!(diff::diff(&a, &b, &strict).regressions, 2);
}

#[test]
fn an_added_failing_scenario_regresses() {
    let a = fixture();
    let mut b = fixture();
    let mut extra = b.scenarios[2].clone();
    extra.name = "gpu-scheduling[four-gpus-per-pod]".to_string();
    b.scenarios.push(extra);
    let d = diff::diff(&a, &b, &DiffOptions::default());
    assert_eq!(d.regressions, 1);
    assert_eq!(d.scenarios[0].kind, ChangeKind::Added);
}

#[test]
fn loads_only_one_run_has_are_listed() {
    let a = fixture();
    let mut b = fixture();
    scenario(&mut b, OOM).loads[0].name = "huge-prompts".to_string();
    let d = diff::diff(&a, &b, &DiffOptions::default());
    let kinds: Vec<_> = d
        .unmatched_loads
        .iter()
        .map(|u| (u.load.as_str(), u.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("big-prompts", ChangeKind::Missing),
            ("huge-prompts", ChangeKind::Added)
        ]
    );
}

#[test]
fn repeated_names_match_by_occurrence() {
    let mut a = fixture();
    let twin = a.scenarios[0].loads[0].clone();
    a.scenarios[0].loads.push(twin);
    let mut b = a.clone();
    b.scenarios[0].loads[1].latency_ms.p50 *= 2.0;
    let d = diff::diff(&a, &b, &DiffOptions::default());
    assert_eq!(d.regressions, 1);
    let regressed: Vec<_> = d
        .loads
        .iter()
        .filter(|l| l.metrics.iter().any(|m| m.verdict == Verdict::Regression))
        .map(|l| l.load.as_str())
        .collect();
    assert_eq!(regressed, ["steady#2"]);
}
