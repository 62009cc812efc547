//! `rollout`, `rollback`, `scale` and `wait: { rollout }` of a StatefulSet.
//!
//! A StatefulSet rolls its pods one at a time, from the highest ordinal
//! down, each Ready before the next (with `OrderedReady`), and keeps its
//! revisions as ControllerRevisions. A rollout is the same strategic merge
//! patch of the pod template as a Deployment's; a rollback applies the
//! earlier ControllerRevision's data (the pod template it recorded), as
//! `kubectl rollout undo statefulset` does; the wait holds when every pod
//! runs the update revision and is Ready, and otherwise reports which
//! pods (by ordinal) run which revision.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use report::CheckKind;
use serde_json::{Value, json};

use crate::context::{Check, Ctx, Observed, OpError, OpResult};
use crate::watch::{self, Seen};
use scenario::model::{Rollback, Rollout, Scale};

fn api(ctx: &Ctx) -> Api<StatefulSet> {
    Api::namespaced(ctx.client.clone(), &ctx.namespace)
}

async fn get(ctx: &Ctx, name: &str) -> Result<StatefulSet, OpError> {
    api(ctx)
        .get(name)
        .await
        .map_err(OpError::api(format!("reading statefulset/{name}")))
}

pub async fn rollout(ctx: &mut Ctx, name: &str, r: &Rollout) -> OpResult {
    let s = get(ctx, name).await?;
    let containers = s
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let (patch, changes) =
        super::rollout::template_patch(&format!("statefulset/{name}"), &containers, r)?;
    api(ctx)
        .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map_err(OpError::api(format!("patching statefulset/{name}")))?;
    let msg = format!("statefulset/{name}: {}", changes.join(", "));
    super::on_rollout_timeline(ctx, "rollout", "StatefulSet", name, msg)
}

pub async fn scale(ctx: &mut Ctx, name: &str, s: &Scale) -> OpResult {
    api(ctx)
        .patch_scale(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": s.replicas}})),
        )
        .await
        .map_err(OpError::api(format!("scaling statefulset/{name}")))?;
    let msg = format!("statefulset/{name} scaled to {}", s.replicas);
    super::on_rollout_timeline(ctx, "scale", "StatefulSet", name, msg)
}

/// The StatefulSet's ControllerRevisions, oldest first.
async fn revisions(ctx: &Ctx, s: &StatefulSet) -> Result<Vec<ControllerRevision>, OpError> {
    let uid = s.uid().unwrap_or_default();
    let mut revs: Vec<ControllerRevision> =
        Api::<ControllerRevision>::namespaced(ctx.client.clone(), &ctx.namespace)
            .list(&ListParams::default())
            .await
            .map_err(OpError::api("listing controller revisions"))?
            .items
            .into_iter()
            .filter(|r| r.owner_references().iter().any(|o| o.uid == uid))
            .collect();
    revs.sort_by_key(|r| r.revision);
    Ok(revs)
}

pub async fn rollback(ctx: &mut Ctx, name: &str, r: &Rollback) -> OpResult {
    let s = get(ctx, name).await?;
    let revs = revisions(ctx, &s).await?;
    let update = s
        .status
        .as_ref()
        .and_then(|st| st.update_revision.clone())
        .unwrap_or_default();
    let current = revs
        .iter()
        .find(|r| r.name_any() == update)
        .map_or(i64::MAX, |r| r.revision);
    let numbers: Vec<i64> = revs.iter().map(|r| r.revision).collect();
    let target = match r.to_revision {
        Some(want) => revs.iter().find(|r| r.revision as u64 == want).ok_or_else(|| {
            OpError::BadInput(format!(
                "statefulset/{name} has no revision {want}; it has {numbers:?}"
            ))
        })?,
        None => revs
            .iter()
            .rev()
            .find(|r| r.revision < current)
            .ok_or_else(|| {
                OpError::BadInput(format!(
                    "statefulset/{name} has no revision before {current} to roll back to (it has {numbers:?})"
                ))
            })?,
    };
    let data: Value = target
        .data
        .as_ref()
        .map(|d| d.0.clone())
        .ok_or_else(|| OpError::bad("the controller revision holds no data"))?;
    api(ctx)
        .patch(name, &PatchParams::default(), &Patch::Strategic(&data))
        .await
        .map_err(OpError::api(format!(
            "rolling statefulset/{name} back to revision {}",
            target.revision
        )))?;
    let msg = format!(
        "statefulset/{name}: rolled back from revision {current} to revision {} ({})",
        target.revision,
        target.name_any()
    );
    super::on_rollout_timeline(ctx, "rollback", "StatefulSet", name, msg)
}

/// Where the rollout stands, as data.
fn seen(name: &str, s: &StatefulSet) -> (bool, String, Value) {
    let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = s.status.clone().unwrap_or_default();
    let observed = st.observed_generation.unwrap_or(0) >= s.metadata.generation.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    let ready = st.ready_replicas.unwrap_or(0);
    let (cur, upd) = (
        st.current_revision.clone().unwrap_or_default(),
        st.update_revision.clone().unwrap_or_default(),
    );
    let done = observed && updated == want && ready == want && st.replicas == want && cur == upd;
    let text = if done {
        format!("statefulset/{name} rolled out: {ready} replicas Ready on revision {upd}")
    } else {
        format!("statefulset/{name}: {updated} of {want} on revision {upd}, {ready} Ready")
    };
    let value = json!({
        "statefulSet": name,
        "replicas": want,
        "updated": updated,
        "ready": ready,
        "currentRevision": cur,
        "updateRevision": upd,
    });
    (done, text, value)
}

pub async fn wait_rollout(ctx: &mut Ctx, name: &str, timeout: Duration) -> OpResult {
    let check = Check::new(CheckKind::Rollout, format!("statefulset/{name} rolled out"));
    let w = watch::until(
        api(ctx),
        watch::named(name),
        &format!("rollout of statefulset/{name}"),
        timeout,
        |ss: &[StatefulSet]| {
            let Some(s) = ss.first() else {
                return Seen::Absent(format!("statefulset/{name} does not exist"));
            };
            let (done, text, value) = seen(name, s);
            if done {
                Seen::Held(Observed::new(text, value))
            } else {
                Seen::NotYet(Observed::new(text, value))
            }
        },
    )
    .await?;
    match w {
        watch::Watched::Held(o) => Ok(check.judge(true, o)),
        watch::Watched::NotMet(mut o) => {
            // Which pods the controller replaced, in ordinal order: a
            // StatefulSet replaces the highest ordinal first and stops at
            // a pod that does not become Ready.
            let upd = o.value["updateRevision"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let s = get(ctx, name).await?;
            let selector = crate::inject::selector_of(
                &s.spec
                    .and_then(|s| s.selector.match_labels)
                    .unwrap_or_default(),
            );
            let mut pods = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace)
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(OpError::api(format!("listing pods of statefulset/{name}")))?
                .items;
            pods.sort_by_key(|p| {
                p.name_any()
                    .rsplit('-')
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    .unwrap_or(u32::MAX)
            });
            let on_update: Vec<String> = pods
                .iter()
                .filter(|p| p.labels().get("controller-revision-hash") == Some(&upd))
                .map(|p| p.name_any())
                .collect();
            let each: Vec<String> = pods
                .iter()
                .map(|p| {
                    let ready = k8s::pod_ready(p);
                    format!(
                        "{} {} ({})",
                        p.name_any(),
                        p.labels()
                            .get("controller-revision-hash")
                            .map_or("?", |v| v.as_str()),
                        if ready { "Ready" } else { "not Ready" }
                    )
                })
                .collect();
            if let Some(v) = o.value.as_object_mut() {
                v.insert("updatedPods".into(), json!(on_update));
            }
            o.text = format!("{}; pods: {}", o.text, each.join(", "));
            Ok(check.not_met(o))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(generation: i64, status: Value) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": { "name": "llm", "generation": generation },
            "spec": {
                "replicas": 2,
                "serviceName": "llm",
                "selector": { "matchLabels": { "app": "llm" } },
                "template": {}
            },
            "status": status,
        }))
        .expect("a StatefulSet")
    }

    #[test]
    fn rolled_out_only_when_every_pod_is_ready_on_the_update_revision() {
        let done = sts(
            2,
            json!({ "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                    "currentRevision": "llm-b", "updateRevision": "llm-b" }),
        );
        let (ok, text, value) = seen("llm", &done);
        assert!(ok, "{text}");
        assert_eq!(value["updated"], 2);

        // One pod replaced and not Ready: the controller stops there.
        let stuck = sts(
            2,
            json!({ "observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "readyReplicas": 1,
                    "currentRevision": "llm-a", "updateRevision": "llm-b" }),
        );
        let (ok, text, value) = seen("llm", &stuck);
        assert!(!ok);
        assert_eq!(text, "statefulset/llm: 1 of 2 on revision llm-b, 1 Ready");
        assert_eq!(value["currentRevision"], "llm-a");

        // The controller has not seen the new spec yet.
        let stale = sts(
            3,
            json!({ "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                    "currentRevision": "llm-b", "updateRevision": "llm-b" }),
        );
        assert!(!seen("llm", &stale).0);
    }

    #[test]
    fn statefulset_targets_are_told_from_deployments() {
        use super::super::target::statefulset_name;
        assert_eq!(
            statefulset_name("statefulset/llm").unwrap(),
            Some("llm".into())
        );
        assert_eq!(statefulset_name("sts/llm").unwrap(), Some("llm".into()));
        assert_eq!(statefulset_name("deployment/llm").unwrap(), None);
        assert!(statefulset_name("llm").is_err());
    }
}
