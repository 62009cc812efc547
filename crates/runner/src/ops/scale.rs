//! `scale`: a Deployment's replicas, through its scale subresource.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::target::{deployment_name, statefulset_name};
use crate::context::{Ctx, OpError, OpResult};
use scenario::model::Scale;

pub async fn scale(ctx: &mut Ctx, s: &Scale) -> OpResult {
    if let Some(sts) = statefulset_name(&s.target)? {
        return super::statefulset::scale(ctx, &sts, s).await;
    }
    let name = deployment_name(&s.target)?;
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    api.patch_scale(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": s.replicas}})),
    )
    .await
    .map_err(OpError::api(format!("scaling deployment/{name}")))?;
    let msg = format!("deployment/{name} scaled to {}", s.replicas);
    super::on_rollout_timeline(ctx, "scale", "Deployment", &name, msg)
}
