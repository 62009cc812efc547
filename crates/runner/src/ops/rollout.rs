//! `rollout`: a new image, environment or resources for one container of
//! a Deployment (or a StatefulSet: [`super::statefulset`]), as a strategic
//! merge patch with a change cause.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::target::{deployment_name, statefulset_name};
use crate::context::{Ctx, OpError, OpResult};
use scenario::model::Rollout;

pub async fn rollout(ctx: &mut Ctx, r: &Rollout) -> OpResult {
    if let Some(sts) = statefulset_name(&r.target)? {
        return super::statefulset::rollout(ctx, &sts, r).await;
    }
    let name = deployment_name(&r.target)?;
    if let Some(own) = ctx.own_template.clone()
        && let Some(rel) = own.helm.as_ref().filter(|h| h.post_renderer.is_some())
        && own.server() == name
    {
        return release_upgrade(ctx, rel, &name, r).await;
    }
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let d = api
        .get(&name)
        .await
        .map_err(OpError::api(format!("reading deployment/{name}")))?;
    let containers = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let (patch, changes) = template_patch(&format!("deployment/{name}"), &containers, r)?;
    api.patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map_err(OpError::api(format!("patching deployment/{name}")))?;
    let msg = format!("deployment/{name}: {}", changes.join(", "));
    super::on_rollout_timeline(ctx, "rollout", "Deployment", &name, msg)
}

/// The strategic merge patch of a pod template (with a change cause) that
/// gives one container of `what` the rollout's image, environment or
/// resources, and the changes in words.
pub(super) fn template_patch(
    what: &str,
    containers: &[k8s_openapi::api::core::v1::Container],
    r: &Rollout,
) -> Result<(Value, Vec<String>), OpError> {
    let container = match &r.container {
        Some(c) => containers
            .iter()
            .find(|x| &x.name == c)
            .ok_or(OpError::BadInput(format!("{what} has no container {c:?}")))?,
        None => containers
            .first()
            .ok_or(OpError::BadInput(format!("{what} has no containers")))?,
    };
    let mut patch_container = json!({ "name": container.name });
    let mut changes = Vec::new();
    if let Some(image) = &r.image {
        patch_container["image"] = json!(image);
        changes.push(format!("image={image}"));
    }
    if !r.env.is_empty() {
        let env: Vec<Value> = r
            .env
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        patch_container["env"] = Value::Array(env);
        changes.extend(r.env.iter().map(|(k, v)| format!("{k}={v}")));
    }
    if let Some(res) = &r.resources {
        patch_container["resources"] = res.clone();
        changes.push(format!("resources={res}"));
    }
    let cause = format!("inferbench rollout: {}", changes.join(", "));
    let patch = json!({
        "metadata": { "annotations": { "kubernetes.io/change-cause": cause } },
        "spec": { "template": { "spec": { "containers": [patch_container] } } }
    });
    Ok((patch, changes))
}

/// A new version of a team's chart, as teams ship one: `helm upgrade` with
/// the last revision's patches and the changed environment, image or
/// resources (post-render patches on the release's workload).
async fn release_upgrade(
    ctx: &mut Ctx,
    rel: &crate::own_template::HelmRelease,
    name: &str,
    r: &Rollout,
) -> OpResult {
    let mut plan = ctx.release_plans.last().cloned().ok_or(OpError::BadInput(format!(
        "deployment/{name} is a Helm release's workload and this scenario installed no release yet: apply the serving template first"
    )))?;
    let mut changes: Vec<String> = Vec::new();
    if let Some(image) = &r.image {
        plan.image = Some(image.clone());
        changes.push(format!("image={image}"));
    }
    plan.env.extend(r.env.clone());
    changes.extend(r.env.iter().map(|(k, v)| format!("{k}={v}")));
    if let Some(res) = &r.resources {
        plan.merge_resources(res)
            .map_err(|e| OpError::BadInput(format!("rollout of deployment/{name}: {e}")))?;
        changes.push(format!("resources={res}"));
    }
    let said = super::helm::upgrade(ctx, rel, &plan).await?;
    ctx.release_plans.push(plan);
    let msg = format!(
        "deployment/{name}: {} through helm {said}",
        changes.join(", ")
    );
    super::on_rollout_timeline(ctx, "rollout", "Deployment", name, msg)
}
