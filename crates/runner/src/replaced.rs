//! `expect: { podReplaced }`: the pods the last `kill-pod` or `evict`
//! removed are gone (by UID, not by name), and pods that did not exist
//! when the fault was injected are Ready in their place.
//!
//! When the API server refused the eviction of every pod the fault meant to
//! remove (a PodDisruptionBudget allowing none) and each is still there,
//! not terminating, nothing the fault started will remove them: the check
//! is not met at once instead of at its deadline.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use report::CheckKind;
use serde_json::json;

use crate::context::{Check, Ctx, Kill, Observed, OpError, OpResult};
use crate::watch::{self, Seen};
use scenario::model::ExpectPodReplaced;

fn ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && k8s::pod_ready(p)
}

/// Judges the pods of the killed pods' owner now.
pub(crate) fn judge(kill: &Kill, want: u32, pods: &[Pod]) -> Seen {
    let killed: BTreeSet<&str> = kill.killed.iter().map(|(_, uid)| uid.as_str()).collect();
    let still: Vec<String> = pods
        .iter()
        .filter(|p| p.uid().is_some_and(|u| killed.contains(u.as_str())))
        .map(|p| p.name_any())
        .collect();
    let new_ready: Vec<String> = pods
        .iter()
        .filter(|p| p.uid().is_some_and(|u| !kill.before.contains(&u)) && ready(p))
        .map(|p| p.name_any())
        .collect();
    let names: Vec<&str> = kill.killed.iter().map(|(n, _)| n.as_str()).collect();
    let refused: Vec<String> = kill
        .refused
        .iter()
        .map(|(n, why)| format!("pod/{n}: {why}"))
        .collect();
    let o = Observed::new(
        format!(
            "killed {}: {}; new Ready pods: {}{}",
            names.join(", "),
            if still.is_empty() {
                "gone".to_string()
            } else {
                format!("still there: {}", still.join(", "))
            },
            if new_ready.is_empty() {
                "none".to_string()
            } else {
                new_ready.join(", ")
            },
            if refused.is_empty() {
                String::new()
            } else {
                format!("; eviction refused: {}", refused.join("; "))
            }
        ),
        json!({
            "killed": names,
            "evictionRefused": !refused.is_empty(),
            "refusals": refused,
            "killedGone": still.is_empty(),
            "stillThere": still,
            "replacementsReady": new_ready.len(),
            "replacements": new_ready,
        }),
    );
    let all_refused = !kill.killed.is_empty()
        && kill
            .killed
            .iter()
            .all(|(n, _)| kill.refused.iter().any(|(r, _)| r == n));
    let none_terminating = pods
        .iter()
        .filter(|p| p.uid().is_some_and(|u| killed.contains(u.as_str())))
        .all(|p| p.metadata.deletion_timestamp.is_none());
    if still.is_empty() && new_ready.len() as u32 >= want {
        Seen::Held(o)
    } else if all_refused && still.len() == kill.killed.len() && none_terminating {
        Seen::Settled(o)
    } else {
        Seen::NotYet(o)
    }
}

pub async fn pod_replaced(ctx: &Ctx, x: &ExpectPodReplaced, timeout: Duration) -> OpResult {
    let kill = ctx.last_kill.clone().ok_or(OpError::bad(
        "podReplaced needs a kill-pod or evict fault earlier in the scenario",
    ))?;
    let want = x.min.unwrap_or(kill.killed.len() as u32);
    let check = Check::new(
        CheckKind::PodReplaced,
        format!(
            "{} gone (by UID) and {want} new pod(s) Ready",
            kill.killed
                .iter()
                .map(|(n, _)| format!("pod/{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let cfg = watcher::Config::default().labels(&kill.selector);
    let w = watch::until(
        api,
        cfg,
        "pods of the killed pods' owner",
        timeout,
        |pods: &[Pod]| judge(&kill, want, pods),
    )
    .await?;
    Ok(w.judged(check))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, uid: &str, ready: bool, deleting: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": uid,
                "deletionTimestamp": deleting.then_some("2026-12-01T00:00:00Z")},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .expect("a pod")
    }

    fn kill() -> Kill {
        Kill {
            selector: "app=m".into(),
            killed: vec![("m-a".into(), "uid-a".into())],
            before: ["uid-a".to_string(), "uid-b".to_string()].into(),
            refused: Vec::new(),
        }
    }

    #[test]
    fn replaced_means_the_uid_is_gone_and_a_new_pod_is_ready() {
        let k = kill();
        let other = pod("m-b", "uid-b", true, false);
        // Only the pod that was already there is Ready: nothing replaced it.
        assert!(matches!(
            judge(&k, 1, std::slice::from_ref(&other)),
            Seen::NotYet(_)
        ));
        // The killed pod is still terminating, though a new one is Ready.
        let Seen::NotYet(o) = judge(
            &k,
            1,
            &[
                pod("m-a", "uid-a", true, true),
                other.clone(),
                pod("m-c", "uid-c", true, false),
            ],
        ) else {
            panic!("not yet");
        };
        assert_eq!(o.value["killedGone"], false);
        assert_eq!(o.value["replacementsReady"], 1);
        // A new pod with the killed pod's name (a StatefulSet) is not the killed pod.
        assert!(matches!(
            judge(&k, 1, &[other, pod("m-a", "uid-new", true, false)]),
            Seen::Held(_)
        ));
    }

    #[test]
    fn a_refused_eviction_is_observed_as_such() {
        let mut k = kill();
        k.refused = vec![(
            "m-a".into(),
            "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        )];
        // Every eviction refused and the pod still there: nothing will
        // remove it, so the check is not met now.
        let Seen::Settled(o) = judge(
            &k,
            1,
            &[
                pod("m-a", "uid-a", true, false),
                pod("m-b", "uid-b", true, false),
            ],
        ) else {
            panic!("settled: the pod was never evicted");
        };
        assert_eq!(o.value["killedGone"], false);
        assert_eq!(o.value["evictionRefused"], true);
        assert!(
            o.text
                .contains("eviction refused: pod/m-a: Cannot evict pod"),
            "{}",
            o.text
        );
        // Terminating after all (something else deletes it): wait.
        assert!(matches!(
            judge(&k, 1, &[pod("m-a", "uid-a", true, true)]),
            Seen::NotYet(_)
        ));
        // A kill that went through says so too.
        let Seen::Held(o) = judge(&kill(), 1, &[pod("m-c", "uid-c", true, false)]) else {
            panic!("replaced");
        };
        assert_eq!(o.value["evictionRefused"], false);
    }
}
