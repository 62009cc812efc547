//! Comparing two runs: which scenarios started or stopped failing, appeared
//! or disappeared, and which loads got slower or less reliable beyond a
//! threshold. [`ReportDiff::regressions`] above zero means the second run
//! is worse (what `cargo xtask report diff` turns into its exit code, to
//! gate a promotion).

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::{millis, percent};
use super::{LoadReport, Outcome, RunReport, ScenarioReport};

mod text;

/// What counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffOptions {
    /// A latency percentile more than this many percent above the first
    /// run's is a regression.
    pub latency_threshold_pct: f64,
    /// An error rate more than this many percentage points above the first
    /// run's is a regression (points, not percent: 0% to 0.5% is no
    /// infinite increase).
    pub error_rate_threshold_pp: f64,
    /// Scenarios missing from the second run, or skipped there while they
    /// ran in the first, are regressions too.
    pub strict: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            latency_threshold_pct: 20.0,
            error_rate_threshold_pp: 1.0,
            strict: false,
        }
    }
}

/// The differences between run `before` (A) and run `after` (B).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDiff {
    pub before: RunRef,
    pub after: RunRef,
    pub options: DiffOptions,
    /// Regressions among `scenarios` and `loads`.
    pub regressions: usize,
    /// Scenarios whose outcome changed, or that only one run has.
    pub scenarios: Vec<ScenarioChange>,
    /// Every load both runs have (matched by scenario and load name).
    pub loads: Vec<LoadComparison>,
    /// Loads of a scenario both runs have, found in only one of them.
    pub unmatched_loads: Vec<UnmatchedLoad>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRef {
    pub run_id: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// Succeeded in A, fails in B.
    NewlyFailing,
    /// Failed in A, succeeds in B.
    NewlyPassing,
    /// Another change of outcome (e.g. passed to skipped).
    OutcomeChanged,
    /// In A, not in B.
    Missing,
    /// In B, not in A.
    Added,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioChange {
    pub scenario: String,
    pub kind: ChangeKind,
    pub before: Option<Outcome>,
    pub after: Option<Outcome>,
    /// B's error for this scenario, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub regression: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadComparison {
    pub scenario: String,
    pub load: String,
    pub metrics: Vec<MetricChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    P50,
    P95,
    P99,
    ErrorRate,
}

impl Metric {
    pub fn label(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error rate",
        }
    }

    fn value(self, load: &LoadReport) -> f64 {
        match self {
            Metric::P50 => load.latency_ms.p50,
            Metric::P95 => load.latency_ms.p95,
            Metric::P99 => load.latency_ms.p99,
            Metric::ErrorRate => load.error_rate,
        }
    }

    fn show(self, value: f64) -> String {
        match self {
            Metric::ErrorRate => percent(value),
            _ => millis(value),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Regression,
    Improvement,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricChange {
    pub metric: Metric,
    pub before: f64,
    pub after: f64,
    /// Percent of `before` for latencies, percentage points for the error
    /// rate; absent when `before` gives no base (a latency of 0).
    pub change: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedLoad {
    pub scenario: String,
    pub load: String,
    /// `Missing` (only in A) or `Added` (only in B).
    pub kind: ChangeKind,
}

/// Compares run `before` (A) with run `after` (B).
pub fn diff(before: &RunReport, after: &RunReport, options: &DiffOptions) -> ReportDiff {
    let a = keyed(&before.scenarios, |s| &s.name);
    let b = keyed(&after.scenarios, |s| &s.name);
    let mut scenarios = Vec::new();
    let mut loads = Vec::new();
    let mut unmatched_loads = Vec::new();
    for (key, sa) in &a {
        match find(&b, key) {
            Some(sb) => {
                scenarios.extend(outcome_change(sa, sb, options));
                let (matched, unmatched) = compare_loads(sa, sb, options);
                loads.extend(matched);
                unmatched_loads.extend(unmatched);
            }
            None => scenarios.push(missing(sa, options)),
        }
    }
    scenarios.extend(
        b.iter()
            .filter(|(key, _)| find(&a, key).is_none())
            .map(|(_, sb)| added(sb)),
    );
    let regressions = scenarios.iter().filter(|c| c.regression).count()
        + loads
            .iter()
            .flat_map(|l| &l.metrics)
            .filter(|m| m.verdict == Verdict::Regression)
            .count();
    ReportDiff {
        before: run_ref(before),
        after: run_ref(after),
        options: *options,
        regressions,
        scenarios,
        loads,
        unmatched_loads,
    }
}

fn run_ref(report: &RunReport) -> RunRef {
    RunRef {
        run_id: report.run_id.clone(),
        outcome: report.outcome,
    }
}

/// Items with their matching key: the name, or `name#2` for a repeated
/// name's second occurrence; in their original order.
fn keyed<T>(items: &[T], name: fn(&T) -> &str) -> Vec<(String, &T)> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    items
        .iter()
        .map(|item| {
            let n = seen.entry(name(item)).or_default();
            *n += 1;
            let key = match *n {
                1 => name(item).to_string(),
                n => format!("{}#{n}", name(item)),
            };
            (key, item)
        })
        .collect()
}

fn find<'a, T>(items: &[(String, &'a T)], key: &str) -> Option<&'a T> {
    items.iter().find(|(k, _)| k == key).map(|(_, item)| *item)
}

fn outcome_change(
    a: &ScenarioReport,
    b: &ScenarioReport,
    options: &DiffOptions,
) -> Option<ScenarioChange> {
    if a.outcome == b.outcome {
        return None;
    }
    let kind = match (a.outcome.is_success(), b.outcome.is_success()) {
        (true, false) => ChangeKind::NewlyFailing,
        (false, true) => ChangeKind::NewlyPassing,
        _ => ChangeKind::OutcomeChanged,
    };
    let newly_skipped = b.outcome == Outcome::Skipped && a.outcome != Outcome::Skipped;
    let regression = kind == ChangeKind::NewlyFailing || (options.strict && newly_skipped);
    Some(ScenarioChange {
        scenario: b.name.clone(),
        kind,
        before: Some(a.outcome),
        after: Some(b.outcome),
        error: b.error.clone(),
        regression,
    })
}

fn missing(a: &ScenarioReport, options: &DiffOptions) -> ScenarioChange {
    ScenarioChange {
        scenario: a.name.clone(),
        kind: ChangeKind::Missing,
        before: Some(a.outcome),
        after: None,
        error: None,
        regression: options.strict,
    }
}

/// A scenario only B has is a regression when it fails there.
fn added(b: &ScenarioReport) -> ScenarioChange {
    ScenarioChange {
        scenario: b.name.clone(),
        kind: ChangeKind::Added,
        before: None,
        after: Some(b.outcome),
        error: b.error.clone(),
        regression: !b.outcome.is_success(),
    }
}

fn compare_loads(
    a: &ScenarioReport,
    b: &ScenarioReport,
    options: &DiffOptions,
) -> (Vec<LoadComparison>, Vec<UnmatchedLoad>) {
    let la = keyed(&a.loads, |l| &l.name);
    let lb = keyed(&b.loads, |l| &l.name);
    let mut matched = Vec::new();
    let mut unmatched = Vec::new();
    for (key, load_a) in &la {
        match find(&lb, key) {
            Some(load_b) => matched.push(LoadComparison {
                scenario: b.name.clone(),
                load: key.clone(),
                metrics: compare_metrics(load_a, load_b, options),
            }),
            None => unmatched.push(UnmatchedLoad {
                scenario: a.name.clone(),
                load: key.clone(),
                kind: ChangeKind::Missing,
            }),
        }
    }
    for (key, _) in lb.iter().filter(|(key, _)| find(&la, key).is_none()) {
        unmatched.push(UnmatchedLoad {
            scenario: b.name.clone(),
            load: key.clone(),
            kind: ChangeKind::Added,
        });
    }
    (matched, unmatched)
}

fn compare_metrics(a: &LoadReport, b: &LoadReport, options: &DiffOptions) -> Vec<MetricChange> {
    [Metric::P50, Metric::P95, Metric::P99, Metric::ErrorRate]
        .into_iter()
        .map(|metric| {
            let (before, after) = (metric.value(a), metric.value(b));
            let (change, threshold) = match metric {
                Metric::ErrorRate => (
                    Some((after - before) * 100.0),
                    options.error_rate_threshold_pp,
                ),
                _ => (
                    (before > 0.0).then(|| (after - before) / before * 100.0),
                    options.latency_threshold_pct,
                ),
            };
            let verdict = match change {
                Some(c) if c > threshold => Verdict::Regression,
                Some(c) if c < -threshold => Verdict::Improvement,
                _ => Verdict::Unchanged,
            };
            MetricChange {
                metric,
                before,
                after,
                change,
                verdict,
            }
        })
        .collect()
}

impl ReportDiff {
    /// Whether B is worse than A.
    pub fn is_regression(&self) -> bool {
        self.regressions > 0
    }
}
