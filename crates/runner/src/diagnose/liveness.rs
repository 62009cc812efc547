//! The kubelet's liveness probe killed a container before its model had
//! loaded: `Killing` events (and `Unhealthy` liveness failures) for the
//! pod, restarts, and a readiness that never passed (the pod's `Ready`
//! condition has not turned True since before the first kill).

use super::{Found, plural};
use crate::evidence::{ContainerInfo, EventLine, Evidence, PodInfo};
use report::Decider;

/// A container the liveness probe killed before it was ever Ready.
pub struct Killed<'a> {
    pub pod: &'a PodInfo,
    pub container: &'a ContainerInfo,
    /// The kubelet's `Killing` and liveness `Unhealthy` events, oldest first.
    pub events: Vec<&'a EventLine>,
}

fn liveness_event(e: &EventLine, container: &str) -> bool {
    let about_container = e
        .field_path
        .as_deref()
        .is_none_or(|f| f.contains(&format!("{{{container}}}")));
    about_container
        && ((e.reason == "Killing" && e.message.contains("liveness"))
            || (e.reason == "Unhealthy" && e.message.starts_with("Liveness probe failed")))
}

/// The containers killed by their liveness probe before the pod was ever Ready.
pub fn killed_before_ready(ev: &Evidence) -> Vec<Killed<'_>> {
    let mut out = Vec::new();
    for pod in &ev.pods {
        if pod.ready {
            continue;
        }
        for c in &pod.containers {
            if c.liveness.is_none() {
                continue;
            }
            let events: Vec<&EventLine> = ev
                .pod_events(&pod.name)
                .filter(|e| liveness_event(e, &c.name))
                .collect();
            let Some(first_kill) = events
                .iter()
                .filter(|e| e.reason == "Killing")
                .map(|e| e.first_at.unwrap_or(e.at))
                .min()
            else {
                continue;
            };
            // Ready since the kill would have moved the condition's
            // transition past it.
            let never_ready = pod.condition("Ready").is_none_or(|r| {
                r.status != "True" && r.last_transition.is_none_or(|t| t <= first_kill)
            });
            if never_ready && (c.restarts > 0 || !events.is_empty()) {
                out.push(Killed {
                    pod,
                    container: c,
                    events,
                });
            }
        }
    }
    out
}

pub fn rule(ev: &Evidence) -> Vec<Found> {
    killed_before_ready(ev)
        .into_iter()
        .map(|k| {
            let (pod, c) = (k.pod, k.container);
            let live = c.liveness.clone().unwrap_or_default();
            let kills: i32 = k
                .events
                .iter()
                .filter(|e| e.reason == "Killing")
                .map(|e| e.count.max(1))
                .sum();
            let readiness = c
                .readiness
                .as_ref()
                .map(|r| format!(" Its readiness probe {} never passed.", r.render()))
                .unwrap_or_default();
            let startup = if c.startup.is_some() {
                "Lengthen its startupProbe (failureThreshold × periodSeconds) to cover the model's load time."
            } else {
                "Add a startupProbe whose failureThreshold × periodSeconds covers the model's load time (liveness only starts once it passes), or raise the liveness probe's initialDelaySeconds."
            };
            Found::new(
                Decider::KubeletProbes,
                format!(
                    "The kubelet's liveness probe {} killed container `{}` of pod {} before its model had loaded ({}, {}): the probe gives the container {}s (initial delay + period × failure threshold) before the first kill, and the pod has not been Ready since.{readiness} {startup}",
                    live.render(),
                    c.name,
                    pod.name,
                    plural(kills, "kill"),
                    plural(c.restarts, "restart"),
                    live.grace_seconds(),
                ),
                std::iter::once(format!(
                    "pod/{} container {}: {}, {}; {}",
                    pod.name,
                    c.name,
                    c.state.render(),
                    plural(c.restarts, "restart"),
                    pod.condition("Ready").map_or("no Ready condition".into(), |r| format!(
                        "{} since {}",
                        r.render(),
                        r.last_transition.map(|t| t.to_string()).unwrap_or_default()
                    ))
                ))
                .chain(k.events.iter().rev().take(3).map(|e| e.render()))
                .collect(),
            )
        })
        .collect()
}
