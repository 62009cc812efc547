//! `wait`: a Deployment's rollout to complete (or fail for good), or a
//! resource's condition to become True, by watching.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use kube::{Api, ResourceExt};
use report::CheckKind;
use serde_json::{Value, json};

use super::assert::conditions;
use super::target::{deployment_name, split_target, statefulset_name};
use crate::context::{Check, Ctx, Observed, OpError, OpResult};
use crate::watch::{self, Seen};
use scenario::model::Wait;

/// `Some(reason)` when the Deployment's rollout can no longer complete:
/// `Progressing` is False with `ProgressDeadlineExceeded`, for the current
/// generation, recorded since `since` (a condition from before the wait,
/// e.g. of the stalled rollout a rollback just replaced, says nothing about
/// the rollout now under way: the controller only rewrites it once the new
/// ReplicaSet makes progress).
fn rollout_failed(d: &Deployment, since: Timestamp) -> Option<String> {
    let status = d.status.as_ref()?;
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
                && c.last_update_time.as_ref().is_none_or(|t| t.0 >= since)
        })
        .map(|c| {
            format!(
                "deployment {} exceeded its progress deadline: {}",
                d.name_any(),
                c.message.clone().unwrap_or_default()
            )
        })
}

fn rollout_seen(name: &str, d: &Deployment, since: Timestamp) -> Value {
    let s = d.status.clone().unwrap_or_default();
    json!({
        "deployment": name,
        "replicas": d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        "updated": s.updated_replicas.unwrap_or(0),
        "available": s.available_replicas.unwrap_or(0),
        "progressDeadlineExceeded": rollout_failed(d, since).is_some(),
        "conditions": conditions(&serde_json::to_value(d).unwrap_or_default()),
    })
}

pub async fn wait(ctx: &mut Ctx, w: &Wait, timeout: Duration) -> OpResult {
    if let Some(target) = &w.rollout {
        if let Some(sts) = statefulset_name(target)? {
            return super::statefulset::wait_rollout(ctx, &sts, timeout).await;
        }
        let name = deployment_name(target)?;
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let check = Check::new(CheckKind::Rollout, format!("deployment/{name} rolled out"));
        let mut failed = None;
        let what = format!("rollout of deployment/{name}");
        // Condition times have whole seconds: one stamped in the second the
        // wait starts may be the stalled rollout's a rollback just replaced
        // (its deadline passing as the rollback went in), so count from the
        // next second.
        let since = Timestamp::from_second(Timestamp::now().as_second() + 1)
            .unwrap_or_else(|_| Timestamp::now());
        let result = watch::until(
            api,
            watch::named(&name),
            &what,
            timeout,
            |ds: &[Deployment]| {
                let Some(d) = ds.first() else {
                    return Seen::Absent(format!("deployment/{name} does not exist"));
                };
                let value = rollout_seen(&name, d, since);
                let s = d.status.clone().unwrap_or_default();
                if k8s::rollout_complete(Some(d)) {
                    return Seen::Held(Observed::new(
                        format!(
                            "deployment/{name} rolled out: {} replicas available",
                            s.available_replicas.unwrap_or(0)
                        ),
                        value,
                    ));
                }
                if let Some(why) = rollout_failed(d, since) {
                    // Final: the rollout controller gave up; stop watching.
                    failed = Some(Observed::new(why.clone(), value));
                    return Seen::Held(Observed::text(why));
                }
                Seen::NotYet(Observed::new(
                    format!(
                        "deployment/{name}: {} of {} updated, {} available",
                        s.updated_replicas.unwrap_or(0),
                        d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                        s.available_replicas.unwrap_or(0)
                    ),
                    value,
                ))
            },
        )
        .await?;
        if let Some(o) = failed {
            return Ok(check.not_met(o));
        }
        return Ok(result.judged(check));
    }
    let (Some(resource), Some(condition)) = (&w.resource, &w.condition) else {
        return Err(OpError::bad(
            "wait needs rollout, or resource with condition",
        ));
    };
    let (kind, name) = split_target(resource)?;
    let ar = resolve_kind(ctx, &kind).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &ar);
    let check = Check::new(CheckKind::Condition, format!("{resource} is {condition}"));
    let result = watch::until(
        api,
        watch::named(&name),
        &format!("{resource} {condition}"),
        timeout,
        |objs: &[DynamicObject]| {
            let Some(o) = objs.first() else {
                return Seen::Absent(format!("{resource} does not exist"));
            };
            let conds = o
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let found = conds.iter().find(|c| c["type"] == condition.as_str());
            let holding: Vec<&str> = conds
                .iter()
                .filter(|c| c["status"] == "True")
                .filter_map(|c| c["type"].as_str())
                .collect();
            let value = json!({
                "object": resource,
                "condition": condition,
                "status": found.map(|c| c["status"].clone()),
                "reason": found.map(|c| c["reason"].clone()),
                "holding": holding,
            });
            let why = |c: &Value| match (c["reason"].as_str(), c["message"].as_str()) {
                (Some(r), Some(m)) => format!(" ({r}: {m})"),
                (Some(r), None) => format!(" ({r})"),
                _ => String::new(),
            };
            if let Some(end) = settled_instead(&kind, condition, &conds) {
                return Seen::Settled(Observed::new(
                    format!(
                        "{resource} is {}{}: it will not be {condition}",
                        end["type"].as_str().unwrap_or_default(),
                        why(end)
                    ),
                    value,
                ));
            }
            match found {
                Some(c) if c["status"] == "True" => Seen::Held(Observed::new(
                    format!("{resource} is {condition}{}", why(c)),
                    value,
                )),
                Some(c) => Seen::NotYet(Observed::new(
                    format!(
                        "{resource} condition {condition} is {} ({}: {})",
                        c["status"], c["reason"], c["message"]
                    ),
                    value,
                )),
                None => Seen::NotYet(Observed::new(
                    format!("{resource} has no {condition} condition yet"),
                    value,
                )),
            }
        },
    )
    .await?;
    Ok(result.judged(check))
}

/// A Job's terminal condition other than the one waited for: a Job that
/// is Complete will never be Failed, and the other way round.
fn settled_instead<'c>(kind: &str, condition: &str, conds: &'c [Value]) -> Option<&'c Value> {
    const JOB_ENDS: [&str; 2] = ["Complete", "Failed"];
    if kind != "job" || !JOB_ENDS.contains(&condition) {
        return None;
    }
    conds.iter().find(|c| {
        c["status"] == "True"
            && c["type"] != condition
            && JOB_ENDS.contains(&c["type"].as_str().unwrap_or_default())
    })
}

/// Finds the API resource for a short kind name (`deployment`, `hpa`, `pod`).
async fn resolve_kind(ctx: &Ctx, kind: &str) -> Result<kube::discovery::ApiResource, OpError> {
    let (group, version, kind) = match kind {
        "deployment" | "deploy" | "deployments" => ("apps", "v1", "Deployment"),
        "statefulset" | "sts" => ("apps", "v1", "StatefulSet"),
        "pod" | "pods" | "po" => ("", "v1", "Pod"),
        "service" | "svc" => ("", "v1", "Service"),
        "hpa" | "horizontalpodautoscaler" => ("autoscaling", "v2", "HorizontalPodAutoscaler"),
        "job" => ("batch", "v1", "Job"),
        "pvc" | "persistentvolumeclaim" => ("", "v1", "PersistentVolumeClaim"),
        other => {
            return Err(OpError::BadInput(format!(
                "unknown kind {other:?}: use deployment, statefulset, pod, service, hpa, job or pvc"
            )));
        }
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    kube::discovery::pinned_kind(&ctx.client, &gvk)
        .await
        .map(|(ar, _)| ar)
        .map_err(OpError::api(format!("the cluster does not serve {kind}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stalled(at: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "m", "generation": 3},
            "status": {"observedGeneration": 3, "conditions": [{
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"m-1\" has timed out progressing.",
                "lastUpdateTime": at, "lastTransitionTime": at
            }]}
        }))
        .expect("a deployment")
    }

    #[test]
    fn a_deadline_from_before_the_wait_is_not_this_rollouts() {
        let since: Timestamp = "2026-12-01T10:00:00Z".parse().expect("time");
        assert!(rollout_failed(&stalled("2026-12-01T09:59:00Z"), since).is_none());
        assert!(rollout_failed(&stalled("2026-12-01T10:00:20Z"), since).is_some());
    }
}
