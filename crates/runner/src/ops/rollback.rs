//! `rollback`: a Deployment back to an earlier revision (the previous one
//! by default), from the pod template of that revision's ReplicaSet.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};

use super::target::{deployment_name, statefulset_name};
use crate::context::{Ctx, OpError, OpResult};
use scenario::model::Rollback;

fn revision_of(meta: &kube::api::ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get("deployment.kubernetes.io/revision")?
        .parse()
        .ok()
}

pub async fn rollback(ctx: &mut Ctx, r: &Rollback) -> OpResult {
    if let Some(sts) = statefulset_name(&r.target)? {
        return super::statefulset::rollback(ctx, &sts, r).await;
    }
    let name = deployment_name(&r.target)?;
    // A team's chart goes back as teams take it back: `helm rollback`.
    if let Some(own) = ctx.own_template.clone()
        && let Some(rel) = own.helm.as_ref().filter(|h| h.post_renderer.is_some())
        && own.server() == name
    {
        let said = super::helm::rollback(ctx, rel, r.to_revision).await?;
        // Helm's rollback is a new revision with the old one's manifest.
        let back = match r.to_revision {
            Some(n) => (n as usize).checked_sub(1),
            None => ctx.release_plans.len().checked_sub(2),
        };
        if let Some(plan) = back.and_then(|i| ctx.release_plans.get(i)).cloned() {
            ctx.release_plans.push(plan);
        }
        let msg = format!("deployment/{name}: helm {said}");
        return super::on_rollout_timeline(ctx, "rollback", "Deployment", &name, msg);
    }
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut d = api
        .get(&name)
        .await
        .map_err(OpError::api(format!("reading deployment/{name}")))?;
    let current = revision_of(&d.metadata).unwrap_or(0);
    let uid = d.uid().unwrap_or_default();
    let rss: Vec<ReplicaSet> = Api::<ReplicaSet>::namespaced(ctx.client.clone(), &ctx.namespace)
        .list(&ListParams::default())
        .await
        .map_err(OpError::api("listing replica sets"))?
        .items
        .into_iter()
        .filter(|rs| rs.owner_references().iter().any(|o| o.uid == uid))
        .collect();
    let mut revisions: Vec<(i64, &ReplicaSet)> = rss
        .iter()
        .filter_map(|rs| revision_of(&rs.metadata).map(|v| (v, rs)))
        .collect();
    revisions.sort_by_key(|(v, _)| *v);
    let target = match r.to_revision {
        Some(want) => {
            revisions
                .iter()
                .find(|(v, _)| *v as u64 == want)
                .ok_or(OpError::BadInput(format!(
                    "deployment/{name} has no revision {want}; it has {:?}",
                    revisions.iter().map(|(v, _)| v).collect::<Vec<_>>()
                )))?
        }
        None => revisions
            .iter()
            .rev()
            .find(|(v, _)| *v < current)
            .ok_or(OpError::BadInput(format!(
                "deployment/{name} has no revision before {current} to roll back to"
            )))?,
    };
    let (rev, rs) = (target.0, target.1);
    let mut template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .ok_or(OpError::bad("the replica set has no pod template"))?;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove("pod-template-hash");
    }
    if let Some(spec) = d.spec.as_mut() {
        spec.template = template;
    }
    api.replace(&name, &PostParams::default(), &d)
        .await
        .map_err(OpError::api(format!(
            "rolling deployment/{name} back to revision {rev}"
        )))?;
    let msg = format!(
        "deployment/{name}: rolled back from revision {current} to revision {rev} ({})",
        rs.name_any()
    );
    super::on_rollout_timeline(ctx, "rollback", "Deployment", &name, msg)
}
