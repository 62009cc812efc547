//! What the deciding controller did instead, when a check was not met and
//! no failure rule found anything: a negative twin whose defect is fixed
//! fails its check because Kubernetes did the right thing, and the report
//! says who did it, from the same evidence the failure rules read:
//! - an expected `FailedScheduling` event: the scheduler placed the pods
//!   (their `PodScheduled` condition and `Scheduled` events);
//! - an expected termination: no container was OOM-killed or terminated
//!   (state, restarts and memory limit per container);
//! - an expected stalled rollout: the rollout controller completed it
//!   (`Progressing` with reason `NewReplicaSetAvailable`, the new
//!   ReplicaSet's availability);
//! - an expected endpoint count: what the Service selects and which of
//!   those pods the readiness probe lets in;
//! - expected failed requests: every request was answered, and the
//!   readiness probe that held new pods back while they started, if any;
//! - an expected Job ending, or termination message: what the Job
//!   controller decided ([`super::job`]); for a probe's message (`mock-server
//!   probe`), which NetworkPolicies stood between it and the Service it
//!   asked ([`super::network`]);
//! - an expected replacement of a killed or evicted pod: the Eviction API
//!   refused (its PodDisruptionBudget), or the kubelet was still stopping
//!   the pod (from what the check observed through the API).

use serde_json::Value;

use super::{Found, plural};
use crate::evidence::{Evidence, PodInfo};
use report::{CheckKind, Decider, LoadReport};

/// What happened instead of what `check` expected; empty when the
/// evidence does not show it (the assertion is quoted then).
pub fn rule(
    check: CheckKind,
    observed: Option<&Value>,
    ev: &Evidence,
    loads: &[LoadReport],
) -> Vec<Found> {
    let found = match check {
        CheckKind::Event => {
            let reason = observed
                .and_then(|o| o.get("reason"))
                .and_then(Value::as_str);
            if reason == Some("FailedScheduling") {
                scheduled(ev)
            } else {
                None
            }
        }
        CheckKind::ContainerTerminated => not_terminated(ev),
        CheckKind::Condition => observed
            .and_then(|o| super::job::ended_instead(ev, o))
            .or_else(|| rollout_completed(ev)),
        CheckKind::Assert | CheckKind::Rollout => rollout_completed(ev),
        CheckKind::Access => observed.and_then(super::rbac::instead),
        CheckKind::TerminationMessage => observed.and_then(|o| {
            super::network::reach_instead(ev, o).or_else(|| super::job::message_instead(ev, o))
        }),
        CheckKind::Endpoints => endpoints(ev),
        CheckKind::FailedRequests => answered(ev, loads),
        CheckKind::PodReplaced => observed.and_then(still_there),
        _ => None,
    };
    found.into_iter().collect()
}

/// The pods the scheduler placed, with their `Scheduled` events.
fn scheduled(ev: &Evidence) -> Option<Found> {
    let placed: Vec<&PodInfo> = ev
        .pods
        .iter()
        .filter(|p| {
            p.node.is_some()
                && p.condition("PodScheduled")
                    .is_some_and(|c| c.status == "True")
        })
        .collect();
    if placed.is_empty() {
        return None;
    }
    let on: Vec<String> = placed
        .iter()
        .map(|p| format!("{} on {}", p.name, p.node.as_deref().unwrap_or("?")))
        .collect();
    let events: Vec<String> = ev
        .events
        .iter()
        .filter(|e| e.reason == "Scheduled")
        .rev()
        .take(5)
        .map(|e| e.render())
        .collect();
    Some(Found::new(
        Decider::Scheduler,
        format!(
            "The scheduler placed {} ({}): a node had the resources, tolerations and labels each pod asks for, so no FailedScheduling event was recorded.",
            plural(placed.len() as i64, "pod"),
            on.join(", ")
        ),
        events,
    ))
}

/// Containers that run, none terminated by the OOM killer.
fn not_terminated(ev: &Evidence) -> Option<Found> {
    let containers: Vec<(&PodInfo, &crate::evidence::ContainerInfo)> = ev
        .pods
        .iter()
        .flat_map(|p| p.containers.iter().map(move |c| (p, c)))
        .collect();
    if containers.is_empty() || containers.iter().any(|(_, c)| c.oom_kill().is_some()) {
        return None;
    }
    let lines: Vec<String> = containers
        .iter()
        .map(|(p, c)| {
            format!(
                "pod/{} container {}: {}, {}, memory limit {}{}",
                p.name,
                c.name,
                c.state.render(),
                plural(c.restarts, "restart"),
                c.memory_limit.as_deref().unwrap_or("(none)"),
                c.last_terminated
                    .as_ref()
                    .map(|t| format!(", last terminated {} (exit code {})", t.reason, t.exit_code))
                    .unwrap_or_default()
            )
        })
        .collect();
    let restarts: i32 = containers.iter().map(|(_, c)| c.restarts).sum();
    let mut limits: Vec<&str> = containers
        .iter()
        .map(|(_, c)| c.memory_limit.as_deref().unwrap_or("none"))
        .collect();
    limits.sort_unstable();
    limits.dedup();
    Some(Found::new(
        Decider::KernelOomKiller,
        format!(
            "The kernel's OOM killer ended no container: {} stayed within {} memory {} ({}; {} in all), and the kubelet recorded no OOMKilled termination.",
            plural(containers.len() as i64, "container"),
            if containers.len() == 1 {
                "its"
            } else {
                "their"
            },
            if limits.len() == 1 { "limit" } else { "limits" },
            limits.join(", "),
            plural(restarts, "restart"),
        ),
        lines,
    ))
}

/// Deployments whose rollout the controller completed.
fn rollout_completed(ev: &Evidence) -> Option<Found> {
    let done: Vec<_> = ev
        .deployments
        .iter()
        .filter(|d| {
            d.conditions.iter().any(|c| {
                c.type_ == "Progressing"
                    && c.status == "True"
                    && c.reason == "NewReplicaSetAvailable"
            })
        })
        .collect();
    if done.is_empty() {
        return None;
    }
    let mut evidence = Vec::new();
    let mut said = Vec::new();
    for d in &done {
        let newest = ev
            .replica_sets
            .iter()
            .filter(|r| r.deployment.as_deref() == Some(d.name.as_str()))
            .max_by_key(|r| r.revision);
        said.push(format!(
            "deployment/{} ({} of {} available{})",
            d.name,
            d.available,
            d.desired,
            newest
                .map(|r| format!(
                    ", revision {} in ReplicaSet {} with {} available",
                    r.revision, r.name, r.available
                ))
                .unwrap_or_default()
        ));
        evidence.extend(d.conditions.iter().map(|c| {
            format!(
                "deployment/{} {} ({}): {}",
                d.name,
                c.render(),
                c.reason,
                c.message
            )
        }));
    }
    Some(Found::new(
        Decider::RolloutController,
        format!(
            "The rollout controller completed {}: the new pods became available within the progress deadline, so it reported Progressing=True with reason NewReplicaSetAvailable, not a stall.",
            said.join(", ")
        ),
        evidence,
    ))
}

/// What each Service selects, and which of those pods are Ready.
fn endpoints(ev: &Evidence) -> Option<Found> {
    let services: Vec<_> = ev.services.iter().filter(|s| !s.ready.is_empty()).collect();
    if services.is_empty() {
        return None;
    }
    let mut said = Vec::new();
    let mut evidence = Vec::new();
    for s in &services {
        let selector: Vec<String> = s.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        said.push(format!(
            "service/{} selects {{{}}}, which {} match, and lists {} ready endpoint{}",
            s.name,
            selector.join(", "),
            plural(s.matching_pods.len() as i64, "pod"),
            s.ready.len(),
            if s.ready.len() == 1 { "" } else { "s" }
        ));
        evidence.push(format!(
            "service/{}: ready endpoints {}; not ready {}",
            s.name,
            s.ready.join(", "),
            if s.not_ready.is_empty() {
                "(none)".to_string()
            } else {
                s.not_ready.join(", ")
            }
        ));
    }
    let probes: Vec<String> = ev
        .pods
        .iter()
        .filter(|p| p.ready)
        .filter_map(|p| {
            p.containers.iter().find_map(|c| {
                c.readiness.as_ref().map(|r| {
                    format!(
                        "pod/{} container `{}`: readiness {}",
                        p.name,
                        c.name,
                        r.render()
                    )
                })
            })
        })
        .collect();
    let probe_said = if probes.is_empty() {
        "the pods have no readiness probe, so they count as Ready once started".to_string()
    } else {
        "the kubelet's readiness probe passes on each of those pods".to_string()
    };
    evidence.extend(probes);
    Some(Found::new(
        Decider::ServiceSelector,
        format!(
            "The endpoint controller lists the pods: {}; {probe_said}.",
            said.join("; ")
        ),
        evidence,
    ))
}

/// Loads whose every request was answered, and the readiness probes that
/// kept starting pods out of the Service meanwhile.
fn answered(ev: &Evidence, loads: &[LoadReport]) -> Option<Found> {
    let clean: Vec<&LoadReport> = loads
        .iter()
        .filter(|l| l.requests > 0 && l.failures == 0)
        .collect();
    if clean.is_empty() {
        return None;
    }
    let said: Vec<String> = clean
        .iter()
        .map(|l| {
            format!(
                "load {} ({} to {})",
                l.name,
                plural(l.requests as i64, "request"),
                l.target
            )
        })
        .collect();
    let mut evidence: Vec<String> = clean
        .iter()
        .map(|l| {
            let statuses: Vec<String> = l
                .by_status
                .iter()
                .map(|(s, n)| format!("{s}×{n}"))
                .collect();
            format!(
                "load {}: {} from {} to {}",
                l.name,
                statuses.join(", "),
                l.started,
                l.finished
            )
        })
        .collect();
    // Pods that became Ready while a clean load ran: their readiness probe
    // decided when they took traffic.
    let gated: Vec<(&PodInfo, String, jiff::Timestamp)> = ev
        .pods
        .iter()
        .filter_map(|p| {
            let ready = p.condition("Ready").filter(|c| c.status == "True")?;
            let at = ready.last_transition?;
            let during = clean.iter().any(|l| at >= l.started && at <= l.finished);
            let probe = p.containers.iter().find_map(|c| {
                c.readiness
                    .as_ref()
                    .map(|r| format!("container `{}`, {}", c.name, r.render()))
            })?;
            during.then_some((p, probe, at))
        })
        .collect();
    if gated.is_empty() {
        return Some(Found::new(
            Decider::Service,
            format!(
                "The inference service answered every request: {}, none failed.",
                said.join(", ")
            ),
            evidence,
        ));
    }
    let pods: Vec<&str> = gated.iter().map(|(p, _, _)| p.name.as_str()).collect();
    evidence.extend(
        gated
            .iter()
            .map(|(p, probe, at)| format!("pod/{} Ready at {at}; readiness of {probe}", p.name)),
    );
    Some(Found::new(
        Decider::KubeletProbes,
        format!(
            "No request failed ({}): {} became Ready while the load ran, and the kubelet's readiness probe of {}, kept {} out of the Service until the server could answer.",
            said.join(", "),
            pods.join(", "),
            gated[0].1,
            if pods.len() == 1 { "it" } else { "them" }
        ),
        evidence,
    ))
}

/// A killed or evicted pod still there: what the check saw the API answer.
fn still_there(observed: &Value) -> Option<Found> {
    let names = |key: &str| -> Vec<String> {
        observed
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    };
    let still = names("stillThere");
    if still.is_empty() {
        return None;
    }
    let refusals = names("refusals");
    if observed.get("evictionRefused") == Some(&Value::Bool(true)) {
        return Some(Found::new(
            Decider::DisruptionBudget,
            format!(
                "The Eviction API refused to evict {}: the PodDisruptionBudget allows no disruption now, so the pod stays and nothing replaces it (what a node drain would meet).",
                still.join(", ")
            ),
            refusals,
        ));
    }
    let replacements = names("replacements");
    Some(Found::new(
        Decider::Kubelet,
        format!(
            "The kubelet was still stopping {} when the check looked: a deleted pod keeps running its preStop hook and serving until its termination grace period ends{}.",
            still.join(", "),
            if replacements.is_empty() {
                String::new()
            } else {
                format!(
                    "; its replacement {} was already Ready",
                    replacements.join(", ")
                )
            }
        ),
        still
            .iter()
            .map(|p| format!("pod/{p}: deleted, still present"))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // The podReplaced observations of 08's twins in the clean-clone CI run
    // of 2026-12-02.
    #[test]
    fn a_refused_eviction_names_the_disruption_budget() {
        let observed = json!({"evictionRefused": true, "killed": ["mock-server-7bf974d68-742pw"], "killedGone": false, "refusals": ["pod/mock-server-7bf974d68-742pw: Cannot evict pod as it would violate the pod's disruption budget."], "replacements": [], "replacementsReady": 0, "stillThere": ["mock-server-7bf974d68-742pw"]});
        let f = rule(
            CheckKind::PodReplaced,
            Some(&observed),
            &Evidence::default(),
            &[],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].decider, Decider::DisruptionBudget);
        assert!(f[0].evidence[0].contains("violate the pod's disruption budget"));
    }

    #[test]
    fn a_pod_still_stopping_names_the_kubelet() {
        let observed = json!({"evictionRefused": false, "killed": ["mock-server-7b6b5847d4-rctjz"], "killedGone": false, "refusals": [], "replacements": ["mock-server-7b6b5847d4-rr9vf"], "replacementsReady": 1, "stillThere": ["mock-server-7b6b5847d4-rctjz"]});
        let f = rule(
            CheckKind::PodReplaced,
            Some(&observed),
            &Evidence::default(),
            &[],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].decider, Decider::Kubelet);
        assert!(
            f[0].summary
                .contains("still stopping mock-server-7b6b5847d4-rctjz")
        );
        let gone = json!({"killedGone": true, "stillThere": []});
        assert!(
            rule(
                CheckKind::PodReplaced,
                Some(&gone),
                &Evidence::default(),
                &[]
            )
            .is_empty()
        );
    }
}
