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
//!
//! When containerd loses the OOM event altogether, `Error` (137) is all the
//! API ever says. Where the harness can read a node (see
//! [`crate::node_kernel`]), the kernel's log names the containers its OOM
//! killer ended; a termination of one of those is marked as an OOM kill
//! the kernel logged (`kernelOomKill` in the data).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::ResourceExt;
use serde_json::{Value, json};

/// One termination: the kubelet's reason and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    pub reason: String,
    pub exit_code: i32,
    /// The runtime's container ID (without `containerd://`).
    pub container_id: Option<String>,
    /// The kubelet said `Error` (137), and the kernel logged an OOM kill
    /// in that container.
    pub kernel_oom: bool,
}

impl Termination {
    fn unlabelled_kill(&self) -> bool {
        self.reason == "Error" && self.exit_code == 137
    }

    fn describe(&self, long: bool) -> String {
        match (self.kernel_oom, long) {
            (false, true) => format!("{} (exit code {})", self.reason, self.exit_code),
            (false, false) => format!("{} ({})", self.reason, self.exit_code),
            (true, true) => format!(
                "{} (exit code {}; the kernel logged an OOM kill in it)",
                self.reason, self.exit_code
            ),
            (true, false) => format!(
                "{} ({}, OOM kill in the kernel's log)",
                self.reason, self.exit_code
            ),
        }
    }
}

/// What the kernel of a pod's node said about the pod's OOM kills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelAnswer {
    /// `Error` (137) terminations of the pod when it was read.
    pub at: usize,
    /// The pod's containers (by ID) the kernel logged OOM kills in, or why
    /// its log could not be read.
    pub killed: Result<BTreeSet<String>, String>,
}

/// One container's terminations by the restart they ended (1 = the first).
#[derive(Debug, Default, Clone)]
pub struct ContainerHistory {
    pub terminations: BTreeMap<i32, Termination>,
    pub restarts: i32,
}

impl ContainerHistory {
    /// Whether a termination had `reason` (`OOMKilled` includes the kills
    /// only the kernel counted).
    pub fn any(&self, reason: &str) -> bool {
        self.terminations
            .values()
            .any(|t| t.reason == reason || (reason == "OOMKilled" && t.kernel_oom))
    }

    /// `last terminated OOMKilled (exit code 137), 1 restarts`, or with
    /// more than one seen, `terminated OOMKilled (137), Error (137), 2 restarts`.
    fn describe(&self) -> String {
        let all: Vec<&Termination> = self.terminations.values().collect();
        match all.as_slice() {
            [] => format!("last terminated never, {} restarts", self.restarts),
            [t] => format!(
                "last terminated {}, {} restarts",
                t.describe(true),
                self.restarts
            ),
            many => format!(
                "terminated {}, {} restarts",
                many.iter()
                    .map(|t| t.describe(false))
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
    /// What the kernel said of each pod asked so far, by pod name.
    kernel: BTreeMap<String, KernelAnswer>,
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

    /// The pods whose `Error` (137) terminations the kernel should be
    /// asked about: `(pod, node, uid)`, once per new such termination.
    pub fn kernel_questions(&self, pods: &[Pod]) -> Vec<(String, String, String)> {
        pods.iter()
            .filter_map(|p| {
                let pod = p.name_any();
                let node = p.spec.as_ref()?.node_name.clone()?;
                let uid = p.metadata.uid.clone()?;
                let unlabelled = self.unlabelled(&pod);
                let asked = self.kernel.get(&pod).map_or(0, |k| k.at);
                (unlabelled > asked).then_some((pod, node, uid))
            })
            .collect()
    }

    /// Records what the kernel said for `pod`, and marks each `Error`
    /// (137) termination of a container it logged an OOM kill in.
    pub fn kernel_answer(&mut self, pod: &str, killed: Result<BTreeSet<String>, String>) {
        let at = self.unlabelled(pod);
        if let Ok(ids) = &killed {
            for ((p, _), h) in self.containers.iter_mut() {
                if p != pod {
                    continue;
                }
                for t in h.terminations.values_mut() {
                    t.kernel_oom = t.unlabelled_kill()
                        && t.container_id.as_ref().is_some_and(|id| ids.contains(id));
                }
            }
        }
        self.kernel
            .insert(pod.to_string(), KernelAnswer { at, killed });
    }

    /// What the kernel said, by pod, as data: `{pod: [container IDs]}` or
    /// `{pod: "why not"}`.
    pub fn kernel_json(&self) -> Value {
        self.kernel
            .iter()
            .map(|(pod, k)| {
                let v = match &k.killed {
                    Ok(ids) => json!(ids),
                    Err(e) => json!(e),
                };
                (pod.clone(), v)
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    fn of_pod<'a>(&'a self, pod: &'a str) -> impl Iterator<Item = &'a ContainerHistory> + 'a {
        self.containers
            .iter()
            .filter(move |((p, _), _)| p == pod)
            .map(|(_, h)| h)
    }

    fn unlabelled(&self, pod: &str) -> usize {
        self.of_pod(pod)
            .flat_map(|h| h.terminations.values())
            .filter(|t| t.unlabelled_kill())
            .count()
    }

    /// Whether any container of `pods` was OOM-killed (as the kubelet
    /// said, or as only the kernel logged).
    pub fn oom_killed(&self, pods: &BTreeSet<String>) -> bool {
        self.containers
            .iter()
            .any(|((pod, _), h)| pods.contains(pod) && h.any("OOMKilled"))
    }

    /// Every termination seen of the containers of `pods`, as data twins
    /// match on.
    pub fn to_json(&self, pods: &BTreeSet<String>) -> Vec<Value> {
        self.containers
            .iter()
            .filter(|((pod, _), _)| pods.contains(pod))
            .flat_map(|((pod, container), h)| {
                h.terminations.iter().map(move |(restart, t)| {
                    json!({
                        "pod": pod,
                        "container": container,
                        "restart": restart,
                        "reason": t.reason,
                        "exitCode": t.exit_code,
                        "kernelOomKill": t.kernel_oom,
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
            container_id: t
                .container_id
                .as_deref()
                .map(|id| id.rsplit("://").next().unwrap_or(id).to_string()),
            kernel_oom: false,
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
        // The same termination seen again keeps what the kernel said of it.
        let slot = h
            .terminations
            .entry(c.restart_count + 1)
            .or_insert_with(|| t.clone());
        if (&slot.reason, slot.exit_code, &slot.container_id)
            != (&t.reason, t.exit_code, &t.container_id)
        {
            *slot = t;
        }
    }
}

#[cfg(test)]
mod tests {
    impl Terminations {
        fn pods(&self) -> BTreeSet<String> {
            self.containers.keys().map(|(p, _)| p.clone()).collect()
        }
    }

    use super::*;

    fn pod(restarts: i32, last: Option<(&str, i32)>, now: Option<(&str, i32)>) -> Pod {
        let state = |t: Option<(&str, i32)>| match t {
            Some((reason, code)) => json!({"terminated": {"reason": reason, "exitCode": code}}),
            None => json!({"running": {}}),
        };
        serde_json::from_value(json!({
            "metadata": {"name": "mock-server-abc", "uid": "u-1"},
            "spec": {"nodeName": "gpu-worker", "containers": []},
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
        assert_eq!(t.to_json(&t.pods()).len(), 2);
    }

    #[test]
    fn a_termination_the_status_later_forgets_is_kept_for_those_pods_only() {
        let mut t = Terminations::default();
        t.record(&[pod(1, Some(("OOMKilled", 137)), None)]);
        // The kubelet's next status has the restart but no lastState.
        let later = [pod(1, None, None)];
        t.record(&later);
        assert_eq!(
            seen(&t, &later),
            [
                "pod/mock-server-abc container server: last terminated OOMKilled (exit code 137), 1 restarts"
            ]
        );
        assert!(t.oom_killed(&t.pods()));
        let other: BTreeSet<String> = ["another-pod".to_string()].into();
        assert!(!t.oom_killed(&other));
        assert!(t.to_json(&other).is_empty());
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

    /// A pod whose container ran as `ids[0]`, then `ids[1]`, ...: the
    /// last termination in `lastState`.
    fn killed_pod(restarts: i32, reason: &str, id: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "mock-server-abc", "uid": "u-1"},
            "spec": {"nodeName": "gpu-worker", "containers": []},
            "status": {"containerStatuses": [{
                "name": "server", "image": "x", "imageID": "", "ready": true,
                "restartCount": restarts,
                "lastState": {"terminated": {"reason": reason, "exitCode": 137,
                              "containerID": format!("containerd://{id}")}},
                "state": {"running": {}},
            }]}
        }))
        .unwrap()
    }

    fn ids(list: &[&str]) -> Result<BTreeSet<String>, String> {
        Ok(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn an_error_137_is_an_oom_kill_only_where_the_kernel_logged_one_in_that_container() {
        let mut t = Terminations::default();
        let pods = [killed_pod(1, "Error", "aaa1")];
        t.record(&pods);
        assert_eq!(
            t.kernel_questions(&pods),
            [(
                "mock-server-abc".to_string(),
                "gpu-worker".to_string(),
                "u-1".to_string()
            )]
        );
        // The kernel logged a kill in another container: an Error stays one.
        t.kernel_answer("mock-server-abc", ids(&["bbb2"]));
        assert!(
            t.kernel_questions(&pods).is_empty(),
            "asked once per termination"
        );
        let (_, _, h) = t.current(&pods).next().unwrap();
        assert!(!h.any("OOMKilled"));

        // The second run (bbb2) ends with Error (137) too: asked again,
        // and only that termination is the kernel's OOM kill.
        let pods = [killed_pod(2, "Error", "bbb2")];
        t.record(&pods);
        assert_eq!(t.kernel_questions(&pods).len(), 1);
        t.kernel_answer("mock-server-abc", ids(&["bbb2"]));
        let (_, _, h) = t.current(&pods).next().unwrap();
        assert!(h.any("OOMKilled"));
        assert_eq!(
            seen(&t, &pods),
            [
                "pod/mock-server-abc container server: terminated Error (137), Error (137, OOM kill in the kernel's log), 2 restarts"
            ]
        );
        let json = t.to_json(&t.pods());
        assert_eq!(json[0]["kernelOomKill"], false);
        assert_eq!(json[1]["kernelOomKill"], true);
        assert_eq!(t.kernel_json(), json!({"mock-server-abc": ["bbb2"]}));
    }

    #[test]
    fn a_kill_the_kubelet_labelled_is_not_marked_and_an_unreadable_log_marks_nothing() {
        let mut t = Terminations::default();
        let pods = [killed_pod(1, "OOMKilled", "aaa1")];
        t.record(&pods);
        assert!(t.kernel_questions(&pods).is_empty(), "nothing to ask");
        let pods = [killed_pod(2, "Error", "bbb2")];
        t.record(&pods);
        t.kernel_answer("mock-server-abc", Err("dmesg: not permitted".into()));
        let (_, _, h) = t.current(&pods).next().unwrap();
        assert!(h.any("OOMKilled"), "the first kill was labelled");
        assert_eq!(t.to_json(&t.pods())[1]["kernelOomKill"], false);
        assert_eq!(
            t.kernel_json(),
            json!({"mock-server-abc": "dmesg: not permitted"})
        );
    }

    #[test]
    fn a_mark_survives_the_same_termination_seen_again() {
        let mut t = Terminations::default();
        t.record(&[killed_pod(1, "Error", "aaa1")]);
        t.kernel_answer("mock-server-abc", ids(&["aaa1"]));
        t.record(&[killed_pod(1, "Error", "aaa1")]);
        assert_eq!(t.to_json(&t.pods())[0]["kernelOomKill"], true);
    }
}
