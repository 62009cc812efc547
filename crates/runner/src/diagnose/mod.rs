//! One paragraph per failure, following Kubernetes' own evidence chain:
//! which controller decided (scheduler, kubelet and its probes, kernel OOM
//! killer, rollout controller, Job controller, admission, Service
//! selector, autoscaler) and
//! what it recorded. Rules read only [`Evidence`] (objects, their specs and
//! states, events) and the loads' measured requests (times and HTTP
//! statuses, never response bodies), so they hold for vLLM, the mock
//! server and a team's own server alike. Each rule that finds its
//! controller's record adds a [`Diagnosis`]. When none does and a check
//! was not met, [`instead`] says what the deciding controller did instead
//! (a negative twin's fixed defect); failing that, the scenario's own
//! assertion is quoted.
//!
//! One file per rule: [`scheduler`], [`image_pull`], [`quota`], [`oom`],
//! [`liveness`], [`crashloop`], [`probes`] (readiness failing, Ready too
//! early), [`rollout`] (stalled, capacity dropped), [`selector`],
//! [`autoscaler`], [`job`] (the Job controller's verdicts), [`requests`]
//! (failed requests nothing else explains),
//! [`instead`] (what was decided instead of what a check expected).

pub mod autoscaler;
pub mod crashloop;
pub mod image_pull;
pub mod instead;
pub mod job;
pub mod liveness;
pub mod network;
pub mod oom;
pub mod probes;
pub mod quota;
pub mod rbac;
pub mod requests;
pub mod rollout;
pub mod scheduler;
pub mod selector;

use crate::evidence::{EventLine, Evidence, PodInfo};
use crate::verdict::Failure;
use report::{CheckKind, Decider, Diagnosis, FailedRequest, FailureKind, LoadReport};

/// What one rule found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub decider: Decider,
    pub summary: String,
    pub evidence: Vec<String>,
}

impl Found {
    pub fn new(decider: Decider, summary: String, evidence: Vec<String>) -> Found {
        Found {
            decider,
            summary,
            evidence,
        }
    }
}

/// Explains the failure of `step` (`None`: a scenario that detected what
/// it looked for). The failure's error text is only quoted when no rule
/// found anything; no rule reads it.
pub fn diagnose(
    step: &str,
    failure: Option<&Failure>,
    ev: &Evidence,
    loads: &[LoadReport],
) -> Vec<Diagnosis> {
    // Requests explain only a check about requests: a load from an
    // earlier step that met injected 500s says nothing about why a
    // Service has endpoints or a pod was placed.
    let loads = match failure.and_then(|f| f.check) {
        Some(check) if !about_requests(check) => &[][..],
        _ => loads,
    };
    let mut found = findings(ev, loads);
    if found.is_empty()
        && let Some(f) = failure
        && f.kind == FailureKind::NotMet
        && let Some(check) = f.check
    {
        found = instead::rule(check, f.observed.as_ref(), ev, loads);
    }
    let assertion = failure.map(|f| f.error.as_str()).unwrap_or_default();
    if found.is_empty() {
        found.push(Found::new(
            Decider::Assertion,
            format!(
                "The scenario's assertion failed and Kubernetes recorded nothing that explains it (no FailedScheduling, image pull failure, FailedCreate, OOMKilled, crash loop, failing probe, stalled rollout, empty Service or limited autoscaler). The assertion said: {}",
                assertion.lines().next().unwrap_or("")
            ),
            warnings(ev, 5),
        ));
    }
    found
        .into_iter()
        .map(|f| Diagnosis {
            step: step.to_string(),
            decider: f.decider,
            summary: f.summary,
            evidence: f.evidence,
        })
        .collect()
}

/// Whether `check` judges requests (a load's answers), so that the
/// request rules may explain it.
fn about_requests(check: CheckKind) -> bool {
    matches!(
        check,
        CheckKind::ZeroFailedRequests
            | CheckKind::FailedRequests
            | CheckKind::ServedBy
            | CheckKind::Load
            | CheckKind::Script
    )
}

/// What every rule found, in the order of Kubernetes' evidence chain
/// (admission and scheduling first, then the kubelet, then controllers).
pub fn findings(ev: &Evidence, loads: &[LoadReport]) -> Vec<Found> {
    let mut out = Vec::new();
    out.extend(quota::rule(ev));
    out.extend(scheduler::rule(ev));
    out.extend(image_pull::rule(ev));
    let ooms = oom::rule(ev, loads);
    let oom_killed = !ooms.is_empty();
    out.extend(ooms);
    out.extend(liveness::rule(ev));
    out.extend(crashloop::rule(ev));
    out.extend(job::failed(ev));
    out.extend(probes::readiness_failing(ev));
    let too_early = probes::ready_too_early(ev, loads);
    let explained_requests = too_early.is_some();
    out.extend(too_early);
    out.extend(rollout::stalled(ev));
    // Requests cut off by an OOM kill are explained by the kill.
    let capacity = if oom_killed {
        Vec::new()
    } else {
        rollout::capacity_dropped(ev, loads)
    };
    let explained_requests = explained_requests || oom_killed || !capacity.is_empty();
    out.extend(capacity);
    let drift = selector::rule(ev);
    let explained_requests = explained_requests || !drift.is_empty();
    out.extend(drift);
    out.extend(autoscaler::rule(ev));
    if !explained_requests {
        out.extend(requests::rule(ev, loads));
    }
    out
}

/// The last `n` warning events, newest first.
fn warnings(ev: &Evidence, n: usize) -> Vec<String> {
    ev.events
        .iter()
        .filter(|e| e.warning)
        .rev()
        .take(n)
        .map(EventLine::render)
        .collect()
}

/// `n` thing`s`.
fn plural(n: impl Into<i64>, word: &str) -> String {
    let n = n.into();
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The names of `pods`, comma-separated.
fn names(pods: &[&PodInfo]) -> String {
    pods.iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every failed request of `loads`, with its load.
fn failed(loads: &[LoadReport]) -> impl Iterator<Item = (&LoadReport, &FailedRequest)> {
    loads
        .iter()
        .flat_map(|l| l.failed_samples.iter().map(move |f| (l, f)))
}

/// One failed request as an evidence line.
fn request_line(load: &LoadReport, f: &FailedRequest) -> String {
    format!(
        "load {}: request at {} ({} bytes): {}{}",
        load.name,
        f.at,
        f.request_bytes,
        f.status
            .map(|s| format!("HTTP {s}"))
            .unwrap_or_else(|| "no response".into()),
        if f.error.is_empty() {
            String::new()
        } else {
            format!(" ({})", f.error.lines().next().unwrap_or(""))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_met(error: &str, check: report::CheckKind) -> Failure {
        Failure {
            step: "verify".into(),
            error: error.into(),
            kind: FailureKind::NotMet,
            check: Some(check),
            observed: None,
        }
    }

    #[test]
    fn nothing_recorded_quotes_the_assertion() {
        let f = not_met("expected 3 replicas\nmore", report::CheckKind::Assert);
        let d = diagnose("verify", Some(&f), &Evidence::default(), &[]);
        assert_eq!(d[0].decider, Decider::Assertion);
        assert!(d[0].summary.ends_with("expected 3 replicas"));
    }

    #[test]
    fn no_rule_reads_the_assertion() {
        let ev = Evidence::default();
        for (text, check) in [
            (
                "expected event FailedScheduling Insufficient nvidia.com/gpu",
                report::CheckKind::Event,
            ),
            (
                "expected a container terminated with OOMKilled",
                report::CheckKind::ContainerTerminated,
            ),
            ("hpa/m replicas not in 2..2", report::CheckKind::HpaReplicas),
            (
                "503 The model is still loading",
                report::CheckKind::FailedRequests,
            ),
        ] {
            let d = diagnose("s", Some(&not_met(text, check)), &ev, &[]);
            assert_eq!(d.len(), 1, "{text}");
            assert_eq!(d[0].decider, Decider::Assertion, "{text}");
        }
    }
}
