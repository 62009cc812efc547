//! VerticalPodAutoscalers (`up --with vpa`): `expect: { vpaRecommendation }`
//! watches one until the recommender has recommended for a container and
//! judges the container's memory limit against the bound named; at the end
//! of every scenario, each VPA of the namespace goes into the report
//! ([`sizing`]) beside the requests and limits its target asks for.
//!
//! The VPA is a custom resource, read as a dynamic object; its target
//! (`spec.targetRef`: a Deployment, StatefulSet, DaemonSet, ReplicaSet or
//! Job) is read once, when the check starts. Before it has usage, the
//! recommender recommends its floor (8 MiB here), which any limit covers:
//! the check judges only a recommendation resting on [`MIN_SAMPLES`] usage
//! samples, as the container's checkpoint
//! (`VerticalPodAutoscalerCheckpoint` `VPA-CONTAINER`) counts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Api, Client};
use report::{CheckKind, ContainerSizing, Recommendation, Resources};
use serde_json::{Value, json};

use crate::context::{Check, Ctx, Observed, OpResult};
use crate::watch::{self, Seen};
use scenario::model::ExpectVpaRecommendation;

/// The usage samples a recommendation must rest on to be judged (the
/// recommender takes one per container every 10 s).
pub const MIN_SAMPLES: u64 = 3;

/// The VPA's API (`autoscaling.k8s.io/v1`).
fn vpa_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("autoscaling.k8s.io", "v1", "VerticalPodAutoscaler"),
        "verticalpodautoscalers",
    )
}

/// The recommender's checkpoints (`autoscaling.k8s.io/v1`).
fn checkpoint_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            "autoscaling.k8s.io",
            "v1",
            "VerticalPodAutoscalerCheckpoint",
        ),
        "verticalpodautoscalercheckpoints",
    )
}

/// Watches checkpoint `name` and keeps its `status.totalSamplesCount` in
/// the counter, until the task is aborted.
fn count_samples(
    api: Api<DynamicObject>,
    name: String,
    count: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stream = watcher(api, watch::named(&name))
            .default_backoff()
            .applied_objects();
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            if let Ok(o) = item
                && let Some(n) = o.data["status"]["totalSamplesCount"].as_u64()
            {
                count.store(n, Ordering::Relaxed);
            }
        }
    })
}

/// A container of the target's pod template: its name, requests, limits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Container {
    name: String,
    requests: Resources,
    limits: Resources,
}

fn resources(v: &Value) -> Resources {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    Resources {
        cpu: text("cpu"),
        memory: text("memory"),
    }
}

/// The containers of a workload's pod template (a CronJob's through its
/// job template).
fn containers_of(workload: &Value) -> Vec<Container> {
    let spec = &workload["spec"];
    let template = if spec["template"].is_object() {
        &spec["template"]
    } else {
        &spec["jobTemplate"]["spec"]["template"]
    };
    check::workload::containers(&template["spec"])
        .into_iter()
        .filter(|c| !c.init)
        .map(|c| Container {
            name: c.name.to_string(),
            requests: resources(&c.value["resources"]["requests"]),
            limits: resources(&c.value["resources"]["limits"]),
        })
        .collect()
}

/// The VPA's target as `Kind/name`, and its containers; an error saying
/// what could not be read.
async fn target_of(
    client: &Client,
    namespace: &str,
    vpa: &Value,
) -> Result<(String, Vec<Container>), String> {
    let r = &vpa["spec"]["targetRef"];
    let (Some(api_version), Some(kind), Some(name)) = (
        r["apiVersion"].as_str(),
        r["kind"].as_str(),
        r["name"].as_str(),
    ) else {
        return Err("the VPA has no complete spec.targetRef (apiVersion, kind, name)".into());
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    let target = format!("{kind}/{name}");
    let object = api
        .get_opt(name)
        .await
        .map_err(|e| format!("reading its target {target}: {e}"))?
        .ok_or_else(|| format!("its target {target} does not exist"))?;
    let value = serde_json::to_value(&object).unwrap_or_default();
    Ok((target, containers_of(&value)))
}

/// The recommender's recommendation for `container`, when it made one.
fn recommendation_for(vpa: &Value, container: &str) -> Option<Recommendation> {
    vpa["status"]["recommendation"]["containerRecommendations"]
        .as_array()?
        .iter()
        .find(|r| r["containerName"] == container)
        .map(|r| Recommendation {
            target: resources(&r["target"]),
            lower_bound: resources(&r["lowerBound"]),
            upper_bound: resources(&r["upperBound"]),
        })
}

fn bytes(quantity: Option<&str>) -> Option<f64> {
    quantity.and_then(|q| scenario::limits::parse_quantity(q).ok())
}

/// The container the check is about: the one named, or the first.
fn chosen<'c>(x: &ExpectVpaRecommendation, containers: &'c [Container]) -> Option<&'c Container> {
    match &x.container {
        Some(name) => containers.iter().find(|c| &c.name == name),
        None => containers.first(),
    }
}

/// Judges one state of the VPA: `containers` are its target's, `samples`
/// the usage samples its recommendation rests on.
pub(crate) fn judge(
    x: &ExpectVpaRecommendation,
    vpa: &Value,
    target: &str,
    containers: &[Container],
    samples: u64,
) -> Seen {
    let Some(c) = chosen(x, containers) else {
        return Seen::Unjudgeable(format!(
            "{target}'s pod template has no container {}",
            x.container.as_deref().unwrap_or("at all")
        ));
    };
    let Some(rec) = recommendation_for(vpa, &c.name) else {
        return Seen::Unjudgeable(format!(
            "vpa/{} has no recommendation for container {} yet (the recommender writes one \
             every 10 s once metrics-server has the pod's usage; is `up --with vpa` running?)",
            x.vpa, c.name
        ));
    };
    if samples < MIN_SAMPLES {
        return Seen::Unjudgeable(format!(
            "vpa/{}'s recommendation for {} rests on {samples} usage samples, fewer than \
             {MIN_SAMPLES} (before usage, the recommender recommends its floor)",
            x.vpa, c.name
        ));
    }
    let bound = match x.memory_limit_covers {
        scenario::model::VpaBound::UpperBound => rec.upper_bound.memory.clone(),
        scenario::model::VpaBound::Target => rec.target.memory.clone(),
    };
    let Some(bound_bytes) = bytes(bound.as_deref()) else {
        return Seen::Unjudgeable(format!(
            "vpa/{}'s recommendation for {} has no memory {}",
            x.vpa,
            c.name,
            x.memory_limit_covers.field()
        ));
    };
    let limit_bytes = bytes(c.limits.memory.as_deref());
    let covers = limit_bytes.is_none_or(|l| l >= bound_bytes);
    let mib = |b: f64| (b / 1_048_576.0 * 10.0).round() / 10.0;
    let value = json!({
        "vpa": x.vpa,
        "target": target,
        "container": c.name,
        "memoryLimit": c.limits.memory,
        "memoryLimitMib": limit_bytes.map(mib),
        "memoryRequest": c.requests.memory,
        "bound": x.memory_limit_covers.field(),
        "boundMib": mib(bound_bytes),
        "recommendation": serde_json::to_value(&rec).unwrap_or(Value::Null),
        "samples": samples,
        "limitCovers": covers,
    });
    let in_mib = |q: &Option<String>| {
        bytes(q.as_deref()).map_or_else(|| "-".to_string(), |b| format!("{} MiB", mib(b)))
    };
    let text = format!(
        "{}: memory limit {} against the recommendation's {} {} MiB (target {}, lower bound {}, upper bound {})",
        c.name,
        c.limits
            .memory
            .as_deref()
            .map_or("none".to_string(), |l| format!(
                "{l} ({} MiB)",
                limit_bytes.map_or(0.0, mib)
            )),
        x.memory_limit_covers.field(),
        mib(bound_bytes),
        in_mib(&rec.target.memory),
        in_mib(&rec.lower_bound.memory),
        in_mib(&rec.upper_bound.memory),
    );
    let observed = Observed::new(text, value);
    if covers {
        Seen::Held(observed)
    } else {
        Seen::NotYet(observed)
    }
}

pub async fn recommendation(ctx: &Ctx, x: &ExpectVpaRecommendation, timeout: Duration) -> OpResult {
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &vpa_resource());
    let check = Check::new(
        CheckKind::VpaRecommendation,
        format!(
            "vpa/{}: {} memory limit at least the recommendation's {}",
            x.vpa,
            x.container.as_deref().unwrap_or("the first container's"),
            x.memory_limit_covers.field()
        ),
    );
    // The target, read once (its limits do not change under the check).
    let target = match api.get_opt(&x.vpa).await {
        Ok(Some(v)) => {
            let v = serde_json::to_value(&v).unwrap_or_default();
            Some(target_of(&ctx.client, &ctx.namespace, &v).await)
        }
        _ => None,
    };
    // The samples behind the recommendation, from the container's checkpoint.
    let samples = Arc::new(AtomicU64::new(0));
    let counting = match &target {
        Some(Ok((_, containers))) => chosen(x, containers).map(|c| {
            count_samples(
                Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &checkpoint_resource()),
                format!("{}-{}", x.vpa, c.name),
                samples.clone(),
            )
        }),
        _ => None,
    };
    let w = watch::until(
        api,
        watch::named(&x.vpa),
        &format!("vpa/{}", x.vpa),
        timeout,
        |vpas: &[DynamicObject]| match (vpas.first(), &target) {
            (None, _) => Seen::Absent(format!("vpa/{} does not exist", x.vpa)),
            (Some(_), None) => Seen::Unjudgeable(format!(
                "vpa/{} appeared after the check started: its target was not read",
                x.vpa
            )),
            (Some(_), Some(Err(why))) => Seen::Unjudgeable(format!("vpa/{}: {why}", x.vpa)),
            (Some(v), Some(Ok((name, containers)))) => {
                let v = serde_json::to_value(v).unwrap_or_default();
                judge(x, &v, name, containers, samples.load(Ordering::Relaxed))
            }
        },
    )
    .await;
    if let Some(task) = counting {
        task.abort();
    }
    Ok(w?.judged(check))
}

/// Every VPA of `namespace` with its target's containers: one row per
/// container, with the recommendation when there is one. Nothing when the
/// cluster has no VPA (the API is not served) or the namespace none.
pub async fn sizing(client: &Client, namespace: &str) -> Vec<ContainerSizing> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &vpa_resource());
    let Ok(list) = api.list(&ListParams::default()).await else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for v in list.items {
        let name = v.metadata.name.clone().unwrap_or_default();
        let v = serde_json::to_value(&v).unwrap_or_default();
        let Ok((target, containers)) = target_of(client, namespace, &v).await else {
            continue;
        };
        for c in containers {
            let recommendation = recommendation_for(&v, &c.name);
            let upper = recommendation
                .as_ref()
                .and_then(|r| bytes(r.upper_bound.memory.as_deref()));
            rows.push(ContainerSizing {
                vpa: name.clone(),
                target: target.clone(),
                memory_limit_below_upper_bound: matches!(
                    (bytes(c.limits.memory.as_deref()), upper),
                    (Some(l), Some(u)) if l < u
                ),
                recommendation,
                container: c.name,
                requests: c.requests,
                limits: c.limits,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenario::model::VpaBound;

    fn vpa(upper: &str) -> Value {
        json!({
            "metadata": {"name": "server"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "server"}},
            "status": {"recommendation": {"containerRecommendations": [{
                "containerName": "server",
                "target": {"cpu": "15m", "memory": "94371840"},
                "lowerBound": {"cpu": "10m", "memory": "80Mi"},
                "upperBound": {"cpu": "40m", "memory": upper},
                "uncappedTarget": {"cpu": "15m", "memory": "94371840"}
            }]}}
        })
    }

    fn deployment(limit: Option<&str>) -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "server", "resources": {
                "requests": {"cpu": "50m", "memory": "32Mi"},
                "limits": limit.map(|l| json!({"memory": l})).unwrap_or(json!({}))
            }},
            {"name": "sidecar"}
        ]}}}})
    }

    fn expect(container: Option<&str>, bound: VpaBound) -> ExpectVpaRecommendation {
        ExpectVpaRecommendation {
            vpa: "server".into(),
            container: container.map(String::from),
            memory_limit_covers: bound,
        }
    }

    #[test]
    fn a_limit_below_the_upper_bound_is_not_met_on_the_numbers() {
        let c = containers_of(&deployment(Some("96Mi")));
        let x = expect(None, VpaBound::UpperBound);
        match judge(&x, &vpa("200Mi"), "Deployment/server", &c, 6) {
            Seen::NotYet(o) => {
                assert_eq!(o.value["limitCovers"], false);
                assert_eq!(o.value["memoryLimitMib"], 96.0);
                assert_eq!(o.value["boundMib"], 200.0);
                assert_eq!(o.value["container"], "server");
            }
            other => panic!("{other:?}"),
        }
        // The same limit covers the target (90 MiB).
        let x = expect(Some("server"), VpaBound::Target);
        assert!(matches!(
            judge(&x, &vpa("200Mi"), "Deployment/server", &c, 6),
            Seen::Held(_)
        ));
        // And a roomy limit covers the upper bound.
        let c = containers_of(&deployment(Some("512Mi")));
        let x = expect(None, VpaBound::UpperBound);
        assert!(matches!(
            judge(&x, &vpa("200Mi"), "Deployment/server", &c, 6),
            Seen::Held(_)
        ));
    }

    #[test]
    fn no_recommendation_yet_cannot_be_judged_and_no_limit_is_covered() {
        let c = containers_of(&deployment(Some("96Mi")));
        let x = expect(Some("sidecar"), VpaBound::UpperBound);
        assert!(matches!(
            judge(&x, &vpa("200Mi"), "Deployment/server", &c, 6),
            Seen::Unjudgeable(why) if why.contains("no recommendation for container sidecar")
        ));
        let x = expect(Some("nope"), VpaBound::UpperBound);
        assert!(matches!(
            judge(&x, &vpa("200Mi"), "Deployment/server", &c, 6),
            Seen::Unjudgeable(why) if why.contains("no container nope")
        ));
        let c = containers_of(&deployment(None));
        let x = expect(None, VpaBound::UpperBound);
        match judge(&x, &vpa("200Mi"), "Deployment/server", &c, 6) {
            Seen::Held(o) => assert_eq!(o.value["memoryLimit"], Value::Null),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_recommendation_on_too_few_samples_is_not_judged() {
        // The recommender's floor before usage: any limit would cover it.
        let c = containers_of(&deployment(Some("96Mi")));
        let x = expect(None, VpaBound::UpperBound);
        assert!(matches!(
            judge(&x, &vpa("8Mi"), "Deployment/server", &c, MIN_SAMPLES - 1),
            Seen::Unjudgeable(why) if why.contains("usage samples")
        ));
    }

    #[test]
    fn containers_of_a_cronjob_come_through_its_job_template() {
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "train", "resources": {"limits": {"memory": "1Gi"}}}
        ]}}}}}});
        let c = containers_of(&cron);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].limits.memory.as_deref(), Some("1Gi"));
    }
}
