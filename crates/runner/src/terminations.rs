//! What `expect: { containerTerminated }` remembers while it watches: each
//! container's terminations, one per restart, as the kubelet reported them.
//!
//! A pod status shows only the last termination (`lastState`), and the
//! reason it gives is not always the first one reported: when the kernel's
//! OOM event reaches containerd after the task's exit, the kubelet records
//! that termination as `Error` (exit code 137) and keeps it so. A check
//! that read only the current `lastState` would then forget the OOM kill it
//! saw one restart earlier. The history keeps every termination the watch
//! saw, keyed by restart, so "terminated with OOMKilled, restarted at least
//! twice" is judged on everything observed, and the report lists it all.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::ResourceExt;
use serde_json::{Value, json};

/// One termination: the kubelet's reason and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    pub reason: String,
    pub exit_code: i32,
}

/// One container's terminations by the restart they ended (1 = the first).
#[derive(Debug, Default, Clone)]
pub struct ContainerHistory {
    pub terminations: BTreeMap<i32, Termination>,
    pub restarts: i32,
}

impl ContainerHistory {
    pub fn any(&self, reason: &str) -> bool {
        self.terminations.values().any(|t| t.reason == reason)
    }

    /// `last terminated OOMKilled (exit code 137), 1 restarts`, or with
    /// more than one seen, `terminated OOMKilled (137), Error (137), 2 restarts`.
    fn describe(&self) -> String {
        let all: Vec<&Termination> = self.terminations.values().collect();
        match all.as_slice() {
            [] => format!("last terminated never, {} restarts", self.restarts),
            [t] => format!(
                "last terminated {} (exit code {}), {} restarts",
                t.reason, t.exit_code, self.restarts
            ),
            many => format!(
                "terminated {}, {} restarts",
                many.iter()
                    .map(|t| format!("{} ({})", t.reason, t.exit_code))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.restarts
            ),
        }
    }
}

/// Every container the watch has seen, by pod and container name.
#[derive(Debug, Default)]
pub struct Terminations {
    containers: BTreeMap<(String, String), ContainerHistory>,
}

impl Terminations {
    /// Adds what the pods' statuses show now; earlier terminations stay.
    pub fn record(&mut self, pods: &[Pod]) {
        for p in pods {
            let statuses = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_deref())
                .unwrap_or_default();
            for c in statuses {
                let h = self
                    .containers
                    .entry((p.name_any(), c.name.clone()))
                    .or_default();
                record_status(h, c);
            }
        }
    }

    /// The containers of `pods` (those the watch sees now), with their history.
    pub fn current<'a>(
        &'a self,
        pods: &'a [Pod],
    ) -> impl Iterator<Item = (String, String, &'a ContainerHistory)> + 'a {
        pods.iter().flat_map(move |p| {
            let pod = p.name_any();
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_deref())
                .unwrap_or_default()
                .iter()
                .filter_map(move |c| {
                    self.containers
                        .get(&(pod.clone(), c.name.clone()))
                        .map(|h| (pod.clone(), c.name.clone(), h))
                })
        })
    }

    /// Every termination seen, as data twins match on.
    pub fn to_json(&self) -> Vec<Value> {
        self.containers
            .iter()
            .flat_map(|((pod, container), h)| {
                h.terminations.iter().map(move |(restart, t)| {
                    json!({
                        "pod": pod,
                        "container": container,
                        "restart": restart,
                        "reason": t.reason,
                        "exitCode": t.exit_code,
                    })
                })
            })
            .collect()
    }
}

/// `pod/NAME container C: <history>`.
pub fn line(pod: &str, container: &str, h: &ContainerHistory) -> String {
    format!("pod/{pod} container {container}: {}", h.describe())
}

fn record_status(h: &mut ContainerHistory, c: &ContainerStatus) {
    h.restarts = h.restarts.max(c.restart_count);
    let of = |s: Option<&k8s_openapi::api::core::v1::ContainerState>| {
        s.and_then(|s| s.terminated.as_ref()).map(|t| Termination {
            reason: t.reason.clone().unwrap_or_else(|| "unknown".into()),
            exit_code: t.exit_code,
        })
    };
    // `lastState` ended the run that `restartCount` restarted; a container
    // terminated now (not yet restarted) ended the next one.
    if let Some(t) = of(c.last_state.as_ref())
        && c.restart_count > 0
    {
        h.terminations.entry(c.restart_count).or_insert(t);
    }
    if let Some(t) = of(c.state.as_ref()) {
        h.terminations.insert(c.restart_count + 1, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(restarts: i32, last: Option<(&str, i32)>, now: Option<(&str, i32)>) -> Pod {
        let state = |t: Option<(&str, i32)>| match t {
            Some((reason, code)) => json!({"terminated": {"reason": reason, "exitCode": code}}),
            None => json!({"running": {}}),
        };
        serde_json::from_value(json!({
            "metadata": {"name": "mock-server-abc"},
            "status": {"containerStatuses": [{
                "name": "server", "image": "x", "imageID": "", "ready": false,
                "restartCount": restarts,
                "lastState": last.map_or(json!({}), |l| state(Some(l))),
                "state": state(now),
            }]}
        }))
        .unwrap()
    }

    fn seen(t: &Terminations, pods: &[Pod]) -> Vec<String> {
        t.current(pods).map(|(p, c, h)| line(&p, &c, h)).collect()
    }

    #[test]
    fn an_oom_kill_reported_before_a_later_error_is_remembered() {
        let mut t = Terminations::default();
        let first = [pod(1, Some(("OOMKilled", 137)), None)];
        t.record(&first);
        let second = [pod(2, Some(("Error", 137)), None)];
        t.record(&second);
        let (_, _, h) = t.current(&second).next().unwrap();
        assert!(h.any("OOMKilled"));
        assert_eq!(h.restarts, 2);
        assert_eq!(
            seen(&t, &second),
            [
                "pod/mock-server-abc container server: terminated OOMKilled (137), Error (137), 2 restarts"
            ]
        );
        assert_eq!(t.to_json().len(), 2);
    }

    #[test]
    fn a_container_never_killed_has_no_termination() {
        let mut t = Terminations::default();
        let pods = [pod(0, None, None)];
        t.record(&pods);
        let (_, _, h) = t.current(&pods).next().unwrap();
        assert!(!h.any("OOMKilled"));
        assert_eq!(
            seen(&t, &pods),
            ["pod/mock-server-abc container server: last terminated never, 0 restarts"]
        );
    }

    #[test]
    fn the_same_termination_seen_twice_counts_once() {
        let mut t = Terminations::default();
        // Terminated now, then restarted: the same kill moves to lastState.
        t.record(&[pod(0, None, Some(("OOMKilled", 137)))]);
        let after = [pod(1, Some(("OOMKilled", 137)), None)];
        t.record(&after);
        assert_eq!(
            seen(&t, &after),
            [
                "pod/mock-server-abc container server: last terminated OOMKilled (exit code 137), 1 restarts"
            ]
        );
    }

    #[test]
    fn only_errors_do_not_count_as_an_oom_kill() {
        let mut t = Terminations::default();
        t.record(&[pod(1, Some(("Error", 1)), None)]);
        let pods = [pod(2, Some(("Error", 1)), None)];
        t.record(&pods);
        let (_, _, h) = t.current(&pods).next().unwrap();
        assert!(!h.any("OOMKilled"));
        assert!(h.any("Error"));
    }
}
