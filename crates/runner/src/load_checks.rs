//! The checks on a finished load, as pure functions of its report: no
//! failed request, some failed requests (of one status), every answer from
//! one version. Each needs `minRequests` sent to judge anything, and
//! observes the failures split into HTTP statuses and connection errors.

use std::collections::BTreeMap;

use report::{CheckKind, LoadReport};
use serde_json::{Value, json};

use crate::outcome::{Check, Observed, OpOutcome};
use scenario::model::{ExpectFailedRequests, ExpectServedBy, LoadRef};

/// Failed requests split: HTTP error statuses, their classes (`5xx`), and
/// requests that got no response (connection refused, reset, closed).
#[derive(Debug, Default, PartialEq)]
pub struct Failures {
    pub http: BTreeMap<String, u64>,
    pub classes: BTreeMap<String, u64>,
    pub connection: u64,
}

pub fn failures(r: &LoadReport) -> Failures {
    let mut f = Failures::default();
    for (key, n) in &r.by_status {
        match key.parse::<u16>() {
            Ok(code) if code >= 400 => {
                f.http.insert(key.clone(), *n);
                *f.classes.entry(format!("{}xx", code / 100)).or_insert(0) += n;
            }
            Ok(_) => {}
            Err(_) => f.connection += n,
        }
    }
    f
}

/// What every load check observes: counts, failures split, versions.
pub fn observation(r: &LoadReport) -> Value {
    let f = failures(r);
    json!({
        "load": r.name,
        "requests": r.requests,
        "succeeded": r.requests.saturating_sub(r.failures),
        "failed": r.failures,
        "httpErrors": f.http,
        "byStatusClass": f.classes,
        "connectionErrors": f.connection,
        "byVersion": r.by_version,
    })
}

/// `load X: 12 failed of 300 (HTTP 503×10, connection errors×2)`.
fn describe(r: &LoadReport) -> String {
    let f = failures(r);
    let mut parts: Vec<String> = f
        .http
        .iter()
        .map(|(s, n)| format!("HTTP {s}×{n}"))
        .collect();
    if f.connection > 0 {
        parts.push(format!("connection errors×{}", f.connection));
    }
    let split = if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    };
    let first = r
        .failed_samples
        .first()
        .map(|s| format!("; first at {}: {}", s.at, s.error))
        .unwrap_or_default();
    format!(
        "load {}: {} failed of {} sent{split}{first}",
        r.name, r.failures, r.requests
    )
}

pub(crate) fn observed(r: &LoadReport) -> Observed {
    Observed::new(describe(r), observation(r))
}

/// Not met when too few requests were sent to judge.
pub(crate) fn enough(check: &Check, r: &LoadReport, min_requests: u64) -> Option<OpOutcome> {
    (r.requests < min_requests).then(|| {
        let mut o = observed(r);
        o.text = format!(
            "load {} sent {} requests, fewer than the {min_requests} needed to judge",
            r.name, r.requests
        );
        check.clone().not_met(o)
    })
}

pub fn zero_failed(r: &LoadReport, x: &LoadRef) -> OpOutcome {
    let check = Check::new(
        CheckKind::ZeroFailedRequests,
        format!(
            "load {}: no failed request, of at least {} sent",
            r.name, x.min_requests
        ),
    );
    enough(&check, r, x.min_requests).unwrap_or_else(|| check.judge(r.failures == 0, observed(r)))
}

pub fn failed(r: &LoadReport, x: &ExpectFailedRequests) -> OpOutcome {
    let what = x
        .status
        .map(|s| format!(" with HTTP {s}"))
        .unwrap_or_default();
    let check = Check::new(
        CheckKind::FailedRequests,
        format!(
            "load {}: at least {} failed requests{what}, of at least {} sent",
            r.name, x.min, x.min_requests
        ),
    );
    if let Some(o) = enough(&check, r, x.min_requests) {
        return o;
    }
    let counted = match x.status {
        Some(code) => r.by_status.get(&code.to_string()).copied().unwrap_or(0),
        None => r.failures,
    };
    check.judge(counted >= x.min, observed(r))
}

pub fn served_by(r: &LoadReport, x: &ExpectServedBy) -> OpOutcome {
    let check = Check::new(
        CheckKind::ServedBy,
        format!(
            "load {}: every successful response from version {}, of at least {} sent",
            r.name, x.version, x.min_requests
        ),
    );
    if let Some(o) = enough(&check, r, x.min_requests) {
        return o;
    }
    let ours = r.by_version.get(&x.version).copied().unwrap_or(0);
    let others = r.by_version.iter().any(|(v, _)| *v != x.version);
    let versions: Vec<String> = r
        .by_version
        .iter()
        .map(|(v, n)| format!("{v}×{n}"))
        .collect();
    let mut o = observed(r);
    o.text = format!(
        "load {}: successful responses by version: {}",
        r.name,
        if versions.is_empty() {
            "none".to_string()
        } else {
            versions.join(", ")
        }
    );
    check.judge(ours > 0 && !others, o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use report::Percentiles;

    fn load(by_status: &[(&str, u64)], by_version: &[(&str, u64)]) -> LoadReport {
        let requests = by_status.iter().map(|(_, n)| n).sum();
        let ok: u64 = by_status
            .iter()
            .filter(|(s, _)| s.starts_with('2'))
            .map(|(_, n)| n)
            .sum();
        LoadReport {
            name: "during".into(),
            target: "service/m:8000".into(),
            request: "completions".into(),
            users: 1,
            started: Timestamp::UNIX_EPOCH,
            finished: Timestamp::UNIX_EPOCH,
            requests,
            failures: requests - ok,
            throughput_rps: 0.0,
            error_rate: 0.0,
            latency_ms: Percentiles::default(),
            ttft_ms: None,
            by_status: by_status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            failed_by_version: Default::default(),
            by_version: by_version
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            by_pod: BTreeMap::new(),
            buckets: Vec::new(),
            path: Default::default(),
            offered_rps: None,
            itl_ms: None,
            tpot_ms: None,
            output_tokens: 0,
            output_tokens_per_s: 0.0,
            goodput: None,
            stages: Vec::new(),
            saturation: None,
            server_view: None,
            mix: Vec::new(),
            failed_samples: Vec::new(),
        }
    }

    fn zero(min_requests: u64) -> LoadRef {
        LoadRef {
            load: "during".into(),
            min_requests,
        }
    }

    fn not_met(o: &OpOutcome) -> Option<&Observed> {
        match o {
            OpOutcome::NotMet { observed, .. } => Some(observed),
            OpOutcome::Passed { .. } => None,
        }
    }

    #[test]
    fn a_load_that_sent_nothing_proves_nothing() {
        let empty = load(&[], &[]);
        let o = zero_failed(&empty, &zero(1));
        let seen = not_met(&o).expect("not met");
        assert!(
            seen.text.contains("fewer than the 1 needed"),
            "{}",
            seen.text
        );
        assert_eq!(seen.value["requests"], 0);
        let few = load(&[("200", 5)], &[]);
        assert!(not_met(&zero_failed(&few, &zero(10))).is_some());
        assert!(not_met(&zero_failed(&few, &zero(5))).is_none());
        let f = ExpectFailedRequests {
            load: "during".into(),
            min: 0,
            status: None,
            min_requests: 1,
        };
        assert!(not_met(&failed(&empty, &f)).is_some(), "min 0 of nothing");
    }

    #[test]
    fn failures_are_split_into_statuses_and_connection_errors() {
        let r = load(
            &[("200", 10), ("503", 3), ("500", 1), ("no response", 2)],
            &[],
        );
        let o = zero_failed(&r, &zero(1));
        let seen = not_met(&o).expect("not met");
        assert_eq!(seen.value["failed"], 6);
        assert_eq!(seen.value["httpErrors"]["503"], 3);
        assert_eq!(seen.value["byStatusClass"]["5xx"], 4);
        assert_eq!(seen.value["connectionErrors"], 2);
        assert!(seen.text.contains("HTTP 503×3"), "{}", seen.text);
        assert!(seen.text.contains("connection errors×2"), "{}", seen.text);
    }

    #[test]
    fn failed_requests_count_the_named_status() {
        let r = load(&[("200", 10), ("503", 3)], &[]);
        let want = |status, min| ExpectFailedRequests {
            load: "during".into(),
            min,
            status,
            min_requests: 1,
        };
        assert!(not_met(&failed(&r, &want(Some(503), 3))).is_none());
        assert!(not_met(&failed(&r, &want(Some(500), 1))).is_some());
        assert!(not_met(&failed(&r, &want(None, 4))).is_some());
    }

    #[test]
    fn served_by_needs_every_answer_from_the_version() {
        let want = ExpectServedBy {
            load: "after".into(),
            version: "v2".into(),
            min_requests: 1,
        };
        let only = load(&[("200", 4)], &[("v2", 4)]);
        assert!(not_met(&served_by(&only, &want)).is_none());
        let mixed = load(&[("200", 4)], &[("v1", 1), ("v2", 3)]);
        let o = served_by(&mixed, &want);
        assert_eq!(not_met(&o).expect("not met").value["byVersion"]["v1"], 1);
        let none = load(&[("503", 4)], &[]);
        assert!(not_met(&served_by(&none, &want)).is_some());
    }
}
