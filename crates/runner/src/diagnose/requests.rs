//! Failed requests that no Kubernetes record explains: either the Service
//! had no endpoint at all (see the selector rule), or the inference service
//! answered with errors (by HTTP status; bodies are never read).

use super::{Found, request_line};
use crate::evidence::Evidence;
use report::{Decider, LoadReport};

pub fn rule(ev: &Evidence, loads: &[LoadReport]) -> Vec<Found> {
    let mut out = Vec::new();
    for l in loads.iter().filter(|l| l.failures > 0) {
        let no_response = l
            .failed_samples
            .iter()
            .filter(|f| f.status.is_none())
            .count();
        let statuses: Vec<String> = l
            .by_status
            .iter()
            .filter(|(k, _)| !k.starts_with('2'))
            .map(|(k, v)| format!("{v}× {k}"))
            .collect();
        // Which version answered with the errors (a canary's, say), when
        // the server reports one.
        let by_version = if l.failed_by_version.is_empty() {
            String::new()
        } else {
            let each: Vec<String> = l
                .failed_by_version
                .iter()
                .map(|(v, n)| format!("{n} from version {v}"))
                .collect();
            let ok: Vec<String> = l
                .by_version
                .iter()
                .map(|(v, n)| format!("{v}×{n}"))
                .collect();
            format!(
                "; error answers: {}; successful answers: {}",
                each.join(", "),
                if ok.is_empty() {
                    "none".to_string()
                } else {
                    ok.join(", ")
                }
            )
        };
        let head = format!(
            "{} of {} requests of load `{}` failed ({}{by_version}).",
            l.failures,
            l.requests,
            l.name,
            statuses.join(", ")
        );
        let evidence: Vec<String> = l
            .failed_samples
            .iter()
            .take(3)
            .map(|f| request_line(l, f))
            .collect();
        let empty = ev.services.iter().find(|s| {
            l.target.contains(&format!("/{}:", s.name))
                && s.ready.is_empty()
                && s.not_ready.is_empty()
        });
        match empty {
            Some(svc) if no_response > 0 => out.push(Found::new(
                Decider::ServiceSelector,
                format!(
                    "{head} {no_response} got no response while service/{} has no endpoint at all ({} pods match its selector).",
                    svc.name,
                    svc.matching_pods.len()
                ),
                evidence,
            )),
            _ => out.push(Found::new(
                Decider::Service,
                format!(
                    "{head} Kubernetes recorded nothing that explains them (no kill, restart, failing probe, rollout without capacity or empty Service): the inference service itself {}.",
                    if no_response > 0 {
                        "dropped connections or answered with errors"
                    } else {
                        "answered with errors"
                    }
                ),
                evidence,
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_answers_are_attributed_to_the_version_that_gave_them() {
        let l: LoadReport = serde_json::from_value(json!({
            "name": "analysis", "target": "service/llm:8000", "request": "completions", "users": 3,
            "started": "2026-12-02T10:00:00Z", "finished": "2026-12-02T10:00:10Z",
            "requests": 60, "failures": 20, "throughputRps": 6.0, "errorRate": 0.33,
            "latencyMs": {"p50": 1.0, "p95": 1.0, "p99": 1.0, "max": 1.0, "mean": 1.0},
            "byStatus": {"200": 40, "500": 20},
            "byVersion": {"v1": 40},
            "failedByVersion": {"v2": 20},
            "buckets": [],
        }))
        .expect("a load report");
        let found = rule(&Evidence::default(), &[l]);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].summary.starts_with(
                "20 of 60 requests of load `analysis` failed (20× 500; error answers: 20 from version v2; successful answers: v1×40)."
            ),
            "{}",
            found[0].summary
        );
    }
}
