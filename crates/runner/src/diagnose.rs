//! One paragraph per failure, following Kubernetes' own evidence chain:
//! which controller decided (scheduler, kubelet probes, kernel OOM killer,
//! rollout controller, Service selector, autoscaler) and what it recorded.
//! Rules read [`Evidence`] and the loads' failed requests; each rule that
//! finds its controller's record adds a [`Diagnosis`]. When none does, the
//! scenario's own assertion is quoted.

use std::collections::BTreeMap;

use crate::evidence::Evidence;
use report::{Decider, Diagnosis, LoadReport};

/// Explains the failure of `step` (whose error is `error`).
pub fn diagnose(step: &str, error: &str, ev: &Evidence, loads: &[LoadReport]) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    let mut add = |decider: Decider, summary: String, evidence: Vec<String>| {
        out.push(Diagnosis {
            step: step.to_string(),
            decider,
            summary,
            evidence,
        });
    };
    if let Some((s, e)) = scheduler(ev) {
        add(Decider::Scheduler, s, e);
    }
    let ooms = oom_kills(ev, loads);
    let oom_killed = !ooms.is_empty();
    for (s, e) in ooms {
        add(Decider::KernelOomKiller, s, e);
    }
    if let Some((s, e)) = rollout_stalled(ev) {
        add(Decider::RolloutController, s, e);
    }
    for (s, e) in selector_drift(ev) {
        add(Decider::ServiceSelector, s, e);
    }
    if let Some((s, e)) = autoscaler(ev, error) {
        add(Decider::Autoscaler, s, e);
    }
    for (decider, s, e) in failed_requests(ev, loads) {
        // Requests cut off by an OOM kill are explained by the kill.
        if oom_killed && decider == Decider::RolloutController {
            continue;
        }
        add(decider, s, e);
    }
    if out.is_empty() {
        out.push(Diagnosis {
            step: step.to_string(),
            decider: Decider::Assertion,
            summary: format!(
                "The scenario's assertion failed and Kubernetes recorded nothing that explains it (no FailedScheduling, OOMKilled, stalled rollout or empty Service). The assertion said: {}",
                first_line(error)
            ),
            evidence: warnings(ev, 5),
        });
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn warnings(ev: &Evidence, n: usize) -> Vec<String> {
    ev.events
        .iter()
        .filter(|e| e.warning)
        .rev()
        .take(n)
        .map(|e| e.render())
        .collect()
}

fn scheduler(ev: &Evidence) -> Option<(String, Vec<String>)> {
    let failed: Vec<_> = ev
        .events
        .iter()
        .filter(|e| e.reason == "FailedScheduling")
        .collect();
    let last = failed.last()?;
    let pending: Vec<&str> = ev
        .pods
        .iter()
        .filter(|p| p.phase == "Pending" && p.node.is_none())
        .map(|p| p.name.as_str())
        .collect();
    let hint = if last.message.contains("Insufficient nvidia.com/gpu") {
        " The GPU pool has fewer free `nvidia.com/gpu` than the pod requests: lower the request, add GPU nodes, or free GPUs held by other pods."
    } else if last.message.contains("untolerated taint") {
        " The only nodes with room are tainted and the pod does not tolerate the taint: add the toleration (GPU nodes carry `nvidia.com/gpu`)."
    } else if last.message.contains("node affinity/selector") {
        " No node carries the labels the pod's nodeSelector or affinity asks for: check the label names against the nodes'."
    } else {
        ""
    };
    Some((
        format!(
            "The scheduler could not place {} ({}): it recorded `{}`.{hint} The pod stays Pending until that changes{}.",
            last.object,
            if pending.is_empty() {
                "it was placed later".to_string()
            } else {
                format!("still Pending: {}", pending.join(", "))
            },
            last.message,
            if failed.len() > 1 {
                format!("; the scheduler said so {} times", failed.len())
            } else {
                String::new()
            }
        ),
        failed.iter().rev().take(3).map(|e| e.render()).collect(),
    ))
}

fn oom_kills(ev: &Evidence, loads: &[LoadReport]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for pod in &ev.pods {
        for c in &pod.containers {
            let Some(t) = c
                .last_terminated
                .as_ref()
                .filter(|t| t.reason == "OOMKilled")
            else {
                continue;
            };
            let mut summary = format!(
                "The kernel's OOM killer ended container `{}` of pod {} (reason OOMKilled, exit code {}{}): it used more memory than its limit of {}. The kubelet restarted it ({} restart{} so far).",
                c.name,
                pod.name,
                t.exit_code,
                t.finished_at
                    .map(|f| format!(", at {f}"))
                    .unwrap_or_default(),
                c.memory_limit
                    .as_deref()
                    .unwrap_or("(no limit: the node ran out)"),
                c.restarts,
                if c.restarts == 1 { "" } else { "s" }
            );
            let mut evidence = vec![format!(
                "pod/{} container {}: last terminated {} (exit code {})",
                pod.name, c.name, t.reason, t.exit_code
            )];
            // The request in flight when the process died.
            let culprit = loads
                .iter()
                .flat_map(|l| l.failed_samples.iter().map(move |f| (l, f)))
                .filter(|(_, f)| f.status.is_none())
                .min_by_key(|(_, f)| {
                    t.finished_at
                        .map(|fin| (fin.as_millisecond() - f.at.as_millisecond()).abs())
                        .unwrap_or(0)
                });
            if let Some((load, f)) = culprit {
                summary.push_str(&format!(
                    " The request in flight was sent by load `{}` at {} with a {}-byte body, and got no response: {}.",
                    load.name, f.at, f.request_bytes, f.error
                ));
                evidence.push(format!(
                    "load {}: request at {} ({} bytes) failed: {}",
                    load.name, f.at, f.request_bytes, f.error
                ));
            }
            evidence.extend(
                ev.events
                    .iter()
                    .filter(|e| e.object.ends_with(&pod.name) && e.warning)
                    .take(3)
                    .map(|e| e.render()),
            );
            out.push((summary, evidence));
        }
    }
    out
}

fn rollout_stalled(ev: &Evidence) -> Option<(String, Vec<String>)> {
    for d in &ev.deployments {
        let Some((_, _, reason, message)) = d.conditions.iter().find(|(t, s, r, _)| {
            t == "Progressing" && s == "False" && r == "ProgressDeadlineExceeded"
        }) else {
            continue;
        };
        let newest = d.history.last();
        let probes: Vec<String> = ev
            .events
            .iter()
            .filter(|e| e.reason == "Unhealthy")
            .rev()
            .take(2)
            .map(|e| e.render())
            .collect();
        let mut summary = format!(
            "The Deployment controller gave up on the rollout of deployment/{}: condition Progressing=False, reason {reason}: `{message}`.",
            d.name
        );
        if let Some((rev, rs, _, version, ready)) = newest {
            summary.push_str(&format!(
                " Its newest revision {rev} ({rs}, version `{version}`) has {ready} pods ready, so the old revision keeps serving."
            ));
        }
        if !probes.is_empty() {
            summary.push_str(" The kubelet's readiness probe kept failing on the new pods, which is why they never became Ready.");
        }
        let mut evidence = vec![format!(
            "deployment/{} condition Progressing=False {reason}: {message}",
            d.name
        )];
        evidence.extend(d.history.iter().map(|(rev, rs, img, v, r)| {
            format!("revision {rev}: {rs} {img} version={v} ready={r}")
        }));
        evidence.extend(probes);
        return Some((summary, evidence));
    }
    None
}

fn selector_drift(ev: &Evidence) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for s in &ev.services {
        if s.selector.is_empty()
            || !s.ready.is_empty()
            || !s.matching_pods.is_empty()
            || ev.pods.is_empty()
        {
            continue;
        }
        let sel: Vec<String> = s.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut carried: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &ev.pods {
            for k in s.selector.keys() {
                if let Some(v) = p.labels.get(k) {
                    carried
                        .entry(format!("{k}={v}"))
                        .or_default()
                        .push(p.name.clone());
                }
            }
        }
        let pods_say = if carried.is_empty() {
            "no pod carries any of those label keys".to_string()
        } else {
            format!(
                "the pods carry {}",
                carried.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        out.push((
            format!(
                "service/{} selects {{{}}}, but no pod in the namespace has those labels ({pods_say}). The endpoint controller therefore publishes no endpoints for it, and every connection to the Service fails although the pods themselves are Ready. Make the Service's selector and the pod template's labels agree.",
                s.name,
                sel.join(", ")
            ),
            vec![
                format!("service/{} selector {{{}}}: ready endpoints (none), matching pods (none)", s.name, sel.join(",")),
                format!(
                    "pods: {}",
                    ev.pods
                        .iter()
                        .map(|p| format!("{} {{{}}}", p.name, p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ],
        ));
    }
    out
}

fn autoscaler(ev: &Evidence, error: &str) -> Option<(String, Vec<String>)> {
    if !error.contains("hpa") && !error.contains("HPA") {
        return None;
    }
    let h = ev.hpas.first()?;
    Some((
        format!(
            "The horizontal pod autoscaler hpa/{} has {} replicas (desired {}, bounds {}..{}); its conditions say: {}.",
            h.name,
            h.current,
            h.desired,
            h.min,
            h.max,
            if h.conditions.is_empty() {
                "nothing yet".to_string()
            } else {
                h.conditions.join("; ")
            }
        ),
        h.conditions.clone(),
    ))
}

fn failed_requests(ev: &Evidence, loads: &[LoadReport]) -> Vec<(Decider, String, Vec<String>)> {
    let mut out = Vec::new();
    for l in loads.iter().filter(|l| l.failures > 0) {
        let loading = l
            .failed_samples
            .iter()
            .filter(|f| f.status == Some(503) && f.error.contains("still loading"))
            .count();
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
            .map(|f| {
                format!(
                    "{} {}{}: {}",
                    f.at,
                    f.status
                        .map(|s| format!("HTTP {s}"))
                        .unwrap_or_else(|| "no response".into()),
                    f.pod
                        .as_ref()
                        .map(|p| format!(" from {p}"))
                        .unwrap_or_default(),
                    f.error
                )
            })
            .collect();
        if loading > 0 {
            let pods: Vec<String> = unique(l.failed_samples.iter().filter_map(|f| f.pod.clone()));
            out.push((
                Decider::KubeletProbes,
                format!(
                    "{head} Pods {} answered 503 `The model is still loading` while the Service was routing to them: the kubelet's readiness probe reported them Ready before the model had loaded, so the endpoint controller added them to the Service too early. Point the readiness probe at an endpoint that is only healthy once the model is loaded (the mock's `/health/ready`, vLLM's `/v1/models`).",
                    if pods.is_empty() { "(unnamed)".to_string() } else { pods.join(", ") }
                ),
                evidence,
            ));
        } else if no_response > 0
            && let Some(svc) = ev.services.iter().find(|s| {
                l.target.contains(&format!("/{}:", s.name))
                    && s.ready.is_empty()
                    && s.matching_pods.is_empty()
            })
        {
            out.push((
                Decider::ServiceSelector,
                format!(
                    "{head} They got no response because service/{} had no endpoint to send them to: its selector matches no pod (see the Service selector diagnosis).",
                    svc.name
                ),
                evidence,
            ));
        } else if no_response > 0 {
            let gap = ev
                .deployments
                .iter()
                .map(|d| {
                    format!(
                        "deployment/{} now has {}/{} ready",
                        d.name, d.ready, d.replicas
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            out.push((
                Decider::RolloutController,
                format!(
                    "{head} {no_response} of the quoted failures got no response at all: at that moment the Service had no ready endpoint, or the pod serving the request was stopped mid-request. During a rollout this means the strategy let capacity drop to zero (maxUnavailable too high for the replica count, or no maxSurge) or pods were stopped without draining ({gap})."
                ),
                evidence,
            ));
        } else {
            out.push((
                Decider::Service,
                format!("{head} The inference service itself answered with errors."),
                evidence,
            ));
        }
    }
    out
}

fn unique(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = it.collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{EventLine, PodInfo, ServiceInfo};

    #[test]
    fn failed_scheduling_is_the_schedulers_decision() {
        let ev = Evidence {
            events: vec![EventLine {
                warning: true,
                reason: "FailedScheduling".into(),
                object: "Pod/big-0".into(),
                message: "0/4 nodes are available: 2 Insufficient nvidia.com/gpu.".into(),
                ..EventLine::default()
            }],
            pods: vec![PodInfo {
                name: "big-0".into(),
                phase: "Pending".into(),
                ..PodInfo::default()
            }],
            ..Evidence::default()
        };
        let d = diagnose("schedule", "timed out", &ev, &[]);
        assert_eq!(d[0].decider, Decider::Scheduler);
        assert!(
            d[0].summary.contains("Insufficient nvidia.com/gpu"),
            "{}",
            d[0].summary
        );
        assert!(d[0].summary.contains("still Pending: big-0"));
    }

    #[test]
    fn a_service_matching_no_pod_is_selector_drift() {
        let ev = Evidence {
            pods: vec![PodInfo {
                name: "m-1".into(),
                labels: [("app".to_string(), "mock-v2".to_string())].into(),
                ..PodInfo::default()
            }],
            services: vec![ServiceInfo {
                name: "m".into(),
                selector: [("app".to_string(), "mock".to_string())].into(),
                ..ServiceInfo::default()
            }],
            ..Evidence::default()
        };
        let d = diagnose("verify", "no endpoints", &ev, &[]);
        assert_eq!(d[0].decider, Decider::ServiceSelector);
        assert!(
            d[0].summary.contains("the pods carry app=mock-v2"),
            "{}",
            d[0].summary
        );
    }

    #[test]
    fn nothing_recorded_quotes_the_assertion() {
        let d = diagnose(
            "verify",
            "expected 3 replicas\nmore",
            &Evidence::default(),
            &[],
        );
        assert_eq!(d[0].decider, Decider::Assertion);
        assert!(d[0].summary.ends_with("expected 3 replicas"));
    }
}
