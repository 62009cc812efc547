//! The kubelet's readiness probes, from the pods' probe specs, their
//! `Ready` conditions and the kubelet's `Unhealthy` events:
//! - [`readiness_failing`]: pods not Ready whose readiness probe keeps
//!   failing (so they get no traffic, and a rollout waits for them);
//! - [`ready_too_early`]: requests answered with HTTP 5xx shortly after
//!   pods became Ready, so the probe passed before the server could serve.

use jiff::{SignedDuration, Timestamp};

use super::{Found, failed, liveness, names, plural, request_line};
use crate::evidence::{EventLine, Evidence, PodInfo, ProbeInfo};
use report::{Decider, LoadReport};

/// How long after a pod became Ready a 5xx still counts against its probe.
pub const AFTER_READY: SignedDuration = SignedDuration::from_secs(60);

fn readiness_failure(e: &EventLine) -> bool {
    e.reason == "Unhealthy" && e.message.starts_with("Readiness probe failed")
}

/// The readiness probe of `pod`'s first container that has one.
fn readiness_of(pod: &PodInfo) -> Option<(&str, &ProbeInfo)> {
    pod.containers
        .iter()
        .find_map(|c| c.readiness.as_ref().map(|r| (c.name.as_str(), r)))
}

pub fn readiness_failing(ev: &Evidence) -> Option<Found> {
    let killed = liveness::killed_before_ready(ev);
    let failing: Vec<(&PodInfo, Vec<&EventLine>)> = ev
        .pods
        .iter()
        .filter(|p| !p.ready && !killed.iter().any(|k| k.pod.name == p.name))
        // A pod that has ended is not held back by its probe, and a Job's
        // pods get no traffic: their readiness gates nothing.
        .filter(|p| !matches!(p.phase.as_str(), "Succeeded" | "Failed"))
        .filter(|p| !p.owner.as_deref().is_some_and(|o| o.starts_with("Job/")))
        .map(|p| {
            (
                p,
                ev.pod_events(&p.name)
                    .filter(|e| readiness_failure(e))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, events)| !events.is_empty())
        .collect();
    let (first, events) = failing.first()?;
    let pods: Vec<&PodInfo> = failing.iter().map(|(p, _)| *p).collect();
    let failures: i32 = failing
        .iter()
        .flat_map(|(_, e)| e.iter().map(|e| e.count.max(1)))
        .sum();
    let probe = readiness_of(first)
        .map(|(c, r)| format!(" of container `{c}`, {},", r.render()))
        .unwrap_or_default();
    let last = events.last().map(|e| e.message.as_str()).unwrap_or("");
    Some(Found::new(
        Decider::KubeletProbes,
        format!(
            "The kubelet's readiness probe{probe} keeps failing on {} {} ({}; the last said `{last}`), so {} not Ready: the endpoint controller sends {} no traffic and a rollout waits for {}. Either the server never becomes healthy on that endpoint (read the pods' logs) or the probe asks the wrong path or port.",
            if pods.len() == 1 { "pod" } else { "pods" },
            names(&pods),
            plural(failures, "failure"),
            if pods.len() == 1 { "it is" } else { "they are" },
            if pods.len() == 1 { "it" } else { "them" },
            if pods.len() == 1 { "it" } else { "them" },
        ),
        failing
            .iter()
            .filter_map(|(_, e)| e.last().map(|e| e.render()))
            .take(3)
            .collect(),
    ))
}

/// A pod becoming Ready: when, who (a pod's name, or a ReplicaSet's
/// whose pods are gone), and a pod whose readiness probe it passed.
#[derive(Debug, Clone)]
struct Moment<'a> {
    probe_of: &'a PodInfo,
    at: Timestamp,
    who: String,
}

/// When pods with a readiness probe became Ready: their current `Ready`
/// condition, and each rise of their ReplicaSet's ready count the recorder
/// saw (a pod whose readiness flapped later keeps only its last
/// transition), with a pod of that ReplicaSet for its probe.
fn ready_moments(ev: &Evidence) -> Vec<Moment<'_>> {
    let mut moments: Vec<Moment<'_>> = ev
        .pods
        .iter()
        .filter(|p| p.ready && readiness_of(p).is_some())
        .filter_map(|p| {
            Some(Moment {
                probe_of: p,
                at: p.condition("Ready")?.last_transition?,
                who: p.name.clone(),
            })
        })
        .collect();
    for rs in &ev.replica_sets {
        // Only ReplicaSets whose pods are gone (a rollout replaced them):
        // the pods still there say themselves when they became Ready. A pod
        // of the same Deployment gives the probe.
        let owner = format!("ReplicaSet/{}", rs.name);
        if ev
            .pods
            .iter()
            .any(|p| p.owner.as_deref() == Some(owner.as_str()))
        {
            continue;
        }
        let siblings: Vec<String> = ev
            .replica_sets
            .iter()
            .filter(|r| r.deployment.is_some() && r.deployment == rs.deployment)
            .map(|r| format!("ReplicaSet/{}", r.name))
            .collect();
        let with_probe = |owners: &[&str]| {
            ev.pods.iter().find(|p| {
                p.owner.as_deref().is_some_and(|o| owners.contains(&o)) && readiness_of(p).is_some()
            })
        };
        let sibling_names: Vec<&str> = siblings.iter().map(String::as_str).collect();
        let Some(pod) = with_probe(&sibling_names) else {
            continue;
        };
        for w in rs.history.windows(2) {
            if w[1].ready > w[0].ready {
                moments.push(Moment {
                    probe_of: pod,
                    at: w[1].at,
                    who: format!("a pod of ReplicaSet {}", rs.name),
                });
            }
        }
    }
    moments
}

/// Whether requests of `loads` succeeded after `last`: from the per-second
/// buckets where the load kept them, else from its totals. A server that
/// took traffic before it could serve recovers once its model is loaded;
/// one that fails every request (an injected or real server fault) does
/// not, and its errors are not the probe's doing.
fn recovered_after(loads: &[&LoadReport], last: Timestamp) -> bool {
    loads.iter().any(|l| {
        if l.buckets.is_empty() {
            return l.requests > l.failures;
        }
        l.buckets.iter().any(|b| {
            let start = SignedDuration::try_from_secs_f64(b.offset_s)
                .ok()
                .and_then(|d| l.started.checked_add(d).ok());
            start.is_some_and(|start| start > last) && b.requests > b.failures
        })
    })
}

pub fn ready_too_early(ev: &Evidence, loads: &[LoadReport]) -> Option<Found> {
    let moments = ready_moments(ev);
    let within = |at: Timestamp, t: Timestamp| {
        let d = at.duration_since(t);
        d >= SignedDuration::ZERO && d <= AFTER_READY
    };
    let server_errors: Vec<_> = failed(loads)
        .filter(|(_, f)| f.status.is_some_and(|s| s >= 500))
        .filter(|(_, f)| moments.iter().any(|m| within(f.at, m.at)))
        .collect();
    let (_, first_error) = server_errors.first()?;
    let last = server_errors.last().map_or(first_error.at, |(_, f)| f.at);
    let erring: Vec<&LoadReport> = server_errors.iter().map(|(l, _)| *l).collect();
    if !recovered_after(&erring, last) {
        return None;
    }
    // Each error is laid at the door of the pod that became Ready last
    // before it.
    let mut culprits: Vec<&Moment<'_>> = server_errors
        .iter()
        .filter_map(|(_, f)| {
            moments
                .iter()
                .filter(|m| within(f.at, m.at))
                .max_by_key(|m| m.at)
        })
        .collect();
    culprits.sort_by_key(|m| (m.who.clone(), m.at));
    culprits.dedup_by_key(|m| m.who.clone());
    let (container, probe) = culprits.first().and_then(|m| readiness_of(m.probe_of))?;
    let became: Vec<String> = culprits
        .iter()
        .map(|m| format!("{} at {}", m.who, m.at))
        .collect();
    let statuses: Vec<String> = {
        let mut s: Vec<String> = server_errors
            .iter()
            .filter_map(|(_, f)| f.status.map(|s| s.to_string()))
            .collect();
        s.sort();
        s.dedup();
        s
    };
    Some(Found::new(
        Decider::KubeletProbes,
        format!(
            "{} {} answered HTTP {} between {} and {}, within {}s after pods became Ready ({}), and requests succeeded again afterwards: the kubelet's readiness probe of container `{container}`, {}, passed while the server could not serve yet, so the endpoint controller added the pods to the Service too early. Point the readiness probe at an endpoint that succeeds only once the model is loaded and the server answers requests.",
            plural(server_errors.len() as i64, "request"),
            if server_errors.len() == 1 {
                "was"
            } else {
                "were"
            },
            statuses.join("/"),
            first_error.at,
            last,
            AFTER_READY.as_secs(),
            became.join(", "),
            probe.render(),
        ),
        server_errors
            .iter()
            .take(3)
            .map(|(l, f)| request_line(l, f))
            .chain(
                culprits
                    .iter()
                    .map(|m| format!("{} became Ready at {}", m.who, m.at)),
            )
            .collect(),
    ))
}
