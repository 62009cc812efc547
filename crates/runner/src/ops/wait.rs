//! `wait`: a Deployment's rollout to complete (or fail for good), or a
//! resource's condition to become True, by watching.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use kube::{Api, ResourceExt};
use serde_json::Value;

use super::target::{deployment_name, split_target};
use crate::context::{Ctx, OpResult};
use crate::watch;
use scenario::model::Wait;

/// `Some(reason)` when the Deployment's rollout can no longer complete.
fn rollout_failed(d: &Deployment) -> Option<String> {
    let status = d.status.as_ref()?;
    // A condition from before the latest change (e.g. a rollback just
    // made) says nothing about the rollout now under way.
    if status.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        return None;
    }
    let conds = status.conditions.as_ref()?;
    conds
        .iter()
        .find(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
        .map(|c| {
            format!(
                "deployment {} exceeded its progress deadline: {}",
                d.name_any(),
                c.message.clone().unwrap_or_default()
            )
        })
}

pub async fn wait(ctx: &mut Ctx, w: &Wait, timeout: Duration) -> OpResult {
    if let Some(target) = &w.rollout {
        let name = deployment_name(target)?;
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let mut failed = None;
        let result = watch::until(api, watch::named(&name), timeout, |ds: &[Deployment]| {
            let d = ds
                .first()
                .ok_or(format!("deployment/{name} does not exist"))?;
            if k8s::rollout_complete(Some(d)) {
                let s = d.status.clone().unwrap_or_default();
                return Ok(format!(
                    "deployment/{name} rolled out: {} replicas available",
                    s.available_replicas.unwrap_or(0)
                ));
            }
            if let Some(why) = rollout_failed(d) {
                failed = Some(why.clone());
                return Ok(String::new());
            }
            let s = d.status.clone().unwrap_or_default();
            Err(format!(
                "deployment/{name}: {} of {} updated, {} available",
                s.updated_replicas.unwrap_or(0),
                d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                s.available_replicas.unwrap_or(0)
            ))
        })
        .await
        .map_err(|e| format!("rollout of deployment/{name} did not complete {e}"))?;
        if let Some(why) = failed {
            return Err(why);
        }
        return Ok(Some(result));
    }
    let (Some(resource), Some(condition)) = (&w.resource, &w.condition) else {
        return Err("wait needs rollout, or resource with condition".into());
    };
    let (kind, name) = split_target(resource)?;
    let ar = resolve_kind(ctx, &kind).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &ar);
    let detail = watch::until(
        api,
        watch::named(&name),
        timeout,
        |objs: &[DynamicObject]| {
            let o = objs.first().ok_or(format!("{resource} does not exist"))?;
            let conds = o
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            match conds.iter().find(|c| c["type"] == condition.as_str()) {
                Some(c) if c["status"] == "True" => Ok(format!("{resource} is {condition}")),
                Some(c) => Err(format!(
                    "{resource} condition {condition} is {} ({}: {})",
                    c["status"], c["reason"], c["message"]
                )),
                None => Err(format!("{resource} has no {condition} condition yet")),
            }
        },
    )
    .await
    .map_err(|e| format!("{resource} did not become {condition} {e}"))?;
    Ok(Some(detail))
}

/// Finds the API resource for a short kind name (`deployment`, `hpa`, `pod`).
async fn resolve_kind(ctx: &Ctx, kind: &str) -> Result<kube::discovery::ApiResource, String> {
    let (group, version, kind) = match kind {
        "deployment" | "deploy" | "deployments" => ("apps", "v1", "Deployment"),
        "statefulset" | "sts" => ("apps", "v1", "StatefulSet"),
        "pod" | "pods" | "po" => ("", "v1", "Pod"),
        "service" | "svc" => ("", "v1", "Service"),
        "hpa" | "horizontalpodautoscaler" => ("autoscaling", "v2", "HorizontalPodAutoscaler"),
        "job" => ("batch", "v1", "Job"),
        "pvc" | "persistentvolumeclaim" => ("", "v1", "PersistentVolumeClaim"),
        other => {
            return Err(format!(
                "unknown kind {other:?}: use deployment, statefulset, pod, service, hpa, job or pvc"
            ));
        }
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    kube::discovery::pinned_kind(&ctx.client, &gvk)
        .await
        .map(|(ar, _)| ar)
        .map_err(|e| format!("the cluster does not serve {kind}: {e}"))
}
