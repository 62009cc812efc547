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
        let head = format!(
            "{} of {} requests of load `{}` failed ({}).",
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
