//! `expect: { event: { reason, messageContains, involvedObject } }`: a
//! Kubernetes Event, watched until it appears or the timeout passes. A
//! `FailedScheduling` about pods (`involvedObject: Pod/NAME`) is judged
//! early when it no longer can come: every pod of that name has been
//! placed for [`PLACED_FOR`] (the scheduler records its failures before a
//! binding, and the grace lets a late write land), so a twin whose pod is
//! placed ends without waiting out the deadline. A twin's observation says whether the
//! pod was placed, or whether the ReplicaSets created their pods.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use report::CheckKind;
use serde_json::json;

use crate::context::{Check, Ctx, Observed, OpError, OpResult};
use crate::recorder;
use crate::watch::{self, Seen, Watched};
use scenario::model::ExpectEvent;

/// The one reason a placement settles: the scheduler's.
const SCHEDULING_FAILED: &str = "FailedScheduling";

/// How long the pods an event would be about stay placed before the
/// check stops waiting for it.
const PLACED_FOR: Duration = Duration::from_secs(5);

pub async fn event(ctx: &Ctx, e: &ExpectEvent, timeout: Duration) -> OpResult {
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let cfg = watcher::Config::default().fields(&format!("reason={}", e.reason));
    let want = e.message_contains.clone();
    let object = e.involved_object.clone();
    let expected = format!(
        "a {} event{}{}",
        e.reason,
        object
            .as_ref()
            .map(|o| format!(" for {o}"))
            .unwrap_or_default(),
        want.as_ref()
            .map(|m| format!(" whose message contains {m:?}"))
            .unwrap_or_default()
    );
    let check = Check::new(CheckKind::Event, expected);
    let judge = |events: &[Event]| judge_events(events, e, object.as_deref(), want.as_deref());
    // Only the scheduler's verdict is decided by a placement; a probe's or
    // the kubelet's events come after it.
    let placed = object
        .as_deref()
        .and_then(|o| o.strip_prefix("Pod/"))
        .filter(|_| e.reason == SCHEDULING_FAILED)
        .map(|prefix| placed_a_while(ctx, prefix, timeout));
    let what = format!("{} events", e.reason);
    let w = tokio::select! {
        w = watch::until(api.clone(), cfg, &what, timeout, judge) => w?,
        // The pods it would be about were placed and stayed placed: no
        // FailedScheduling-like event can come for them any more. One
        // last look at the events decides.
        () = async { match placed { Some(p) => p.await, None => std::future::pending().await } } => {
            let events = api
                .list(&ListParams::default().fields(&format!("reason={}", e.reason)))
                .await
                .map_err(OpError::api("listing events"))?;
            match judge(&events.items) {
                Seen::Held(o) => Watched::Held(o),
                Seen::NotYet(o) | Seen::Settled(o) => Watched::NotMet(o),
                Seen::Absent(t) | Seen::Unjudgeable(t) => Watched::NotMet(Observed::new(t, json!({}))),
            }
        }
    };
    let Watched::NotMet(mut observed) = w else {
        return Ok(w.judged(check));
    };
    // Say whether the pod the event would be about was placed after all:
    // a twin proves the scheduler placed it, not just that no event came.
    if let Some(prefix) = object.as_deref().and_then(|o| o.strip_prefix("Pod/")) {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let list = pods
            .list(&ListParams::default())
            .await
            .map_err(OpError::api("listing pods"))?;
        let ours: Vec<&Pod> = list
            .items
            .iter()
            .filter(|p| p.name_any().starts_with(prefix))
            .collect();
        let scheduled: Vec<String> = ours
            .iter()
            .filter(|p| is_placed(p))
            .map(|p| {
                format!(
                    "pod/{} on {}",
                    p.name_any(),
                    p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.clone())
                        .unwrap_or_default()
                )
            })
            .collect();
        if let Some(v) = observed.value.as_object_mut() {
            v.insert("pods".into(), json!(ours.len()));
            v.insert("podScheduled".into(), json!(!scheduled.is_empty()));
        }
        observed.text = format!(
            "{}; {}",
            observed.text,
            if scheduled.is_empty() {
                format!("{} pods of {prefix}, none scheduled", ours.len())
            } else {
                format!("scheduled: {}", scheduled.join(", "))
            }
        );
    }
    if let Some(prefix) = object
        .as_deref()
        .and_then(|o| o.strip_prefix("ReplicaSet/"))
    {
        replica_sets_created(ctx, prefix, &mut observed).await?;
    }
    Ok(check.not_met(observed))
}

/// Says whether the ReplicaSets the event would be about created every pod
/// they want (`status.replicas` up to `spec.replicas`): a twin proves
/// admission let the pods in, not just that no event came.
async fn replica_sets_created(
    ctx: &Ctx,
    prefix: &str,
    observed: &mut Observed,
) -> Result<(), OpError> {
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(OpError::api("listing replicasets"))?;
    let counts: Vec<(String, i32, i32)> = list
        .items
        .iter()
        .filter(|rs| rs.name_any().starts_with(prefix))
        .map(|rs| {
            let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let have = rs.status.as_ref().map_or(0, |s| s.replicas);
            (rs.name_any(), have, want)
        })
        .collect();
    let all_created = !counts.is_empty() && counts.iter().all(|(_, have, want)| have >= want);
    if let Some(v) = observed.value.as_object_mut() {
        v.insert("replicaSets".into(), json!(counts.len()));
        v.insert("podsCreated".into(), json!(all_created));
    }
    let each: Vec<String> = counts
        .iter()
        .map(|(name, have, want)| format!("replicaset/{name} created {have} of {want} pods"))
        .collect();
    observed.text = format!("{}; {}", observed.text, each.join(", "));
    Ok(())
}

/// The events of the check's reason against what it wants: one about the
/// object (by name prefix) whose message contains the words.
fn judge_events(
    events: &[Event],
    e: &ExpectEvent,
    object: Option<&str>,
    want: Option<&str>,
) -> Seen {
    let mut seen = Vec::new();
    for ev in events {
        let obj = recorder::event_object(ev);
        if let Some(o) = object
            && !obj
                .to_ascii_lowercase()
                .starts_with(&o.to_ascii_lowercase())
        {
            continue;
        }
        let msg = ev.message.clone().unwrap_or_default();
        if want.is_none_or(|w| msg.contains(w)) {
            return Seen::Held(Observed::new(
                format!("{} {obj}: {msg}", e.reason),
                json!({"reason": e.reason, "matching": 1, "object": obj, "message": msg}),
            ));
        }
        seen.push(msg);
    }
    let text = if seen.is_empty() {
        format!("no {} event", e.reason)
    } else {
        format!(
            "{} {} events, none containing {:?}: {}",
            seen.len(),
            e.reason,
            want.unwrap_or_default(),
            seen.join(" | ")
        )
    };
    Seen::NotYet(Observed::new(
        text,
        json!({"reason": e.reason, "matching": 0, "events": seen.len(), "messages": seen}),
    ))
}

/// Whether a pod is bound to a node.
fn is_placed(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "PodScheduled" && c.status == "True")
        })
}

/// Resolves once every pod named `prefix...` (at least one) has been
/// placed and [`PLACED_FOR`] has passed; never when they are not placed
/// within `timeout` (the event watch's deadline decides then).
async fn placed_a_while(ctx: &Ctx, prefix: &str, timeout: Duration) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let placed = watch::until(
        api,
        watcher::Config::default(),
        "pods",
        timeout,
        |pods: &[Pod]| {
            let ours: Vec<&Pod> = pods
                .iter()
                .filter(|p| p.name_any().starts_with(prefix))
                .collect();
            if !ours.is_empty() && ours.iter().all(|p| is_placed(p)) {
                Seen::Held(Observed::new("placed", json!({})))
            } else {
                Seen::NotYet(Observed::new("not placed", json!({})))
            }
        },
    )
    .await;
    match placed {
        Ok(Watched::Held(_)) => tokio::time::sleep(PLACED_FOR).await,
        _ => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, name: &str, message: &str) -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{name}.1")},
            "involvedObject": {"kind": kind, "name": name},
            "reason": "FailedScheduling",
            "message": message,
        }))
        .unwrap()
    }

    fn wanted(object: &str, contains: &str) -> ExpectEvent {
        serde_json::from_value(json!({
            "reason": "FailedScheduling",
            "involvedObject": object,
            "messageContains": contains,
        }))
        .unwrap()
    }

    #[test]
    fn an_event_holds_for_its_object_by_prefix_and_words() {
        let e = wanted("Pod/gpu-latecomer", "Insufficient nvidia.com/gpu");
        let judge = |events: &[Event]| {
            judge_events(
                events,
                &e,
                e.involved_object.as_deref(),
                e.message_contains.as_deref(),
            )
        };
        let other_pod = event(
            "Pod",
            "gpu-holder-1",
            "0/4 nodes: Insufficient nvidia.com/gpu",
        );
        let other_words = event("Pod", "gpu-latecomer-x", "0/4 nodes: untolerated taint");
        let ours = event(
            "Pod",
            "gpu-latecomer-x",
            "0/4 nodes: 2 Insufficient nvidia.com/gpu",
        );
        match judge(&[other_pod.clone(), other_words.clone()]) {
            Seen::NotYet(o) => {
                assert_eq!(o.value["matching"], 0);
                assert_eq!(o.value["events"], 1, "the other pod's event is not counted");
            }
            _ => panic!("not yet"),
        }
        assert!(matches!(
            judge(&[other_pod, other_words, ours]),
            Seen::Held(o) if o.value["object"] == "Pod/gpu-latecomer-x"
        ));
    }

    #[test]
    fn a_placement_settles_only_the_schedulers_verdict() {
        assert_eq!(SCHEDULING_FAILED, "FailedScheduling");
        let placed: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}
        }))
        .unwrap();
        let pending: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
        }))
        .unwrap();
        assert!(is_placed(&placed));
        assert!(!is_placed(&pending));
    }
}
