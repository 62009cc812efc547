//! The `inject` action: faults a platform team wants its templates to
//! survive. Pod deletion and eviction go through the API as a node drain
//! or an operator would; mock-server faults go to its `/admin/config`, and
//! fake-GPU faults to gpu-fakes' admin API, both through the API server's
//! pod proxy (no port-forward, no in-cluster client needed).

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, EvictParams, ListParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use std::time::Duration;

use crate::context::{Ctx, Kill, OpError, OpOutcome, OpResult};
use crate::ops::split_target;
use report::TimelineSource;
use scenario::model::Inject;

pub use crate::undo::Undo;

mod drain;
mod gpu;

/// Where gpu-fakes runs and listens for fault injection.
const GPU_FAKES_NAMESPACE: &str = "gpu-fakes";
const GPU_FAKES_SELECTOR: &str = "app.kubernetes.io/name=gpu-fakes";
const GPU_FAKES_ADMIN_PORT: u16 = 9400;
/// The mock server's port in our fixtures.
const MOCK_PORT: u16 = 8000;

fn param_u64(i: &Inject, key: &str) -> Option<u64> {
    i.params.get(key).and_then(Value::as_u64)
}

/// The pods a target names, and how to find their siblings.
struct Targeted {
    /// Running (not terminating) pods, by name.
    pods: Vec<Pod>,
    /// A label selector for the target's pods (its owner's).
    selector: String,
    /// UIDs of every pod the selector matched, terminating ones too.
    all: std::collections::BTreeSet<String>,
}

/// A label selector (`k=v,...`) for `labels`, without the Deployment
/// controller's `pod-template-hash`.
pub(crate) fn selector_of(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "pod-template-hash")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Running pods the target names: `pod/x`, or `deployment/x` (its selector).
async fn target_pods(ctx: &Ctx, i: &Inject) -> Result<Targeted, OpError> {
    let target = i.target.as_deref().ok_or_else(|| {
        OpError::BadInput(format!(
            "inject {} needs a target (pod/NAME, deployment/NAME, statefulset/NAME or job/NAME)",
            i.fault
        ))
    })?;
    let (kind, name) = split_target(target)?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let selector = match kind.as_str() {
        "pod" | "pods" | "po" => {
            let p = pods
                .get(&name)
                .await
                .map_err(OpError::api(format!("reading pod/{name}")))?;
            selector_of(&p.labels().clone())
        }
        "deployment" | "deploy" => {
            let d = Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.namespace)
                .get(&name)
                .await
                .map_err(OpError::api(format!("reading deployment/{name}")))?;
            selector_of(
                &d.spec
                    .and_then(|s| s.selector.match_labels)
                    .unwrap_or_default(),
            )
        }
        "job" | "jobs" => {
            let j = Api::<Job>::namespaced(ctx.client.clone(), &ctx.namespace)
                .get(&name)
                .await
                .map_err(OpError::api(format!("reading job/{name}")))?;
            selector_of(
                &j.spec
                    .and_then(|s| s.selector)
                    .and_then(|s| s.match_labels)
                    .unwrap_or_default(),
            )
        }
        "statefulset" | "sts" => {
            let s = Api::<StatefulSet>::namespaced(ctx.client.clone(), &ctx.namespace)
                .get(&name)
                .await
                .map_err(OpError::api(format!("reading statefulset/{name}")))?;
            selector_of(
                &s.spec
                    .and_then(|s| s.selector.match_labels)
                    .unwrap_or_default(),
            )
        }
        other => {
            return Err(OpError::BadInput(format!(
                "inject target kind {other:?}: use pod/NAME, deployment/NAME, statefulset/NAME or job/NAME"
            )));
        }
    };
    let mut found = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(OpError::api(format!("listing pods of {target}")))?
        .items;
    let all = found.iter().filter_map(|p| p.uid()).collect();
    if kind.starts_with("po") {
        found.retain(|p| p.name_any() == name);
    }
    found.retain(|p| p.metadata.deletion_timestamp.is_none());
    found.sort_by_key(|p| p.name_any());
    if found.is_empty() {
        return Err(OpError::NeverAppeared(format!(
            "{target} has no running pods to inject {} into",
            i.fault
        )));
    }
    Ok(Targeted {
        pods: found,
        selector,
        all,
    })
}

async fn proxy(
    ctx: &Ctx,
    namespace: &str,
    pod: &str,
    port: u16,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<String, OpError> {
    let req = http::Request::builder()
        .method(method)
        .uri(format!(
            "/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path}"
        ))
        .header("content-type", "application/json")
        .body(body)
        .map_err(OpError::bad)?;
    direct(ctx)
        .await?
        .request_text(req)
        .await
        .map_err(OpError::api(format!("{method} {path} on pod/{pod}")))
}

/// A client that does not retry 429 and 503: a refused eviction and a pod's
/// own 503 are answers, not an API server under load.
async fn direct(ctx: &Ctx) -> Result<kube::Client, OpError> {
    Ok(k8s::connect_direct(&ctx.kubeconfig).await?)
}

/// Reverts `undo` (best effort: the fault's pod may be gone).
pub async fn revert(ctx: &Ctx, undo: &Undo) -> Result<(), OpError> {
    match undo {
        Undo::Proxy {
            namespace,
            pod,
            port,
            path,
            ..
        } => proxy(ctx, namespace, pod, *port, "POST", path, Vec::new())
            .await
            .map(|_| ()),
        Undo::Uncordon { node } => drain::cordon(ctx, node, false).await,
    }
}

pub async fn inject(ctx: &mut Ctx, i: &Inject) -> OpResult {
    let count = param_u64(i, "count").unwrap_or(1) as usize;
    let msg = match i.fault.as_str() {
        "kill-pod" | "evict" => {
            let targeted = target_pods(ctx, i).await?;
            let api: Api<Pod> = Api::namespaced(direct(ctx).await?, &ctx.namespace);
            let mut done = Vec::new();
            let mut killed = Vec::new();
            let mut refused = Vec::new();
            for p in targeted.pods.iter().take(count) {
                let name = p.name_any();
                if i.fault == "evict" {
                    // Refusals are retried for a while, as `kubectl drain`
                    // does: a budget's status lags a pod that just became
                    // Ready, so the first answer may be a stale refusal.
                    let patience =
                        Duration::from_secs(param_u64(i, "timeoutSeconds").unwrap_or(10));
                    let until = std::time::Instant::now() + patience;
                    loop {
                        match api.evict(&name, &EvictParams::default()).await {
                            Ok(_) => break,
                            Err(kube::Error::Api(e))
                                if e.code == 429 && std::time::Instant::now() < until =>
                            {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            // The Eviction API's answer when a disruption
                            // budget allows none: an observation
                            // (`podReplaced` judges it), not an error of the
                            // harness.
                            Err(kube::Error::Api(e)) if e.code == 429 => {
                                refused.push((name.clone(), e.message.clone()));
                                break;
                            }
                            Err(e) => {
                                return Err(OpError::api(format!("evicting pod/{name}"))(e));
                            }
                        }
                    }
                } else {
                    let grace = u32::try_from(param_u64(i, "gracePeriodSeconds").unwrap_or(0))
                        .map_err(|_| {
                            OpError::bad("params.gracePeriodSeconds: at most 4294967295 seconds")
                        })?;
                    let dp = DeleteParams {
                        grace_period_seconds: Some(grace),
                        ..DeleteParams::default()
                    };
                    api.delete(&name, &dp)
                        .await
                        .map_err(OpError::api(format!("deleting pod/{name}")))?;
                }
                killed.push((name.clone(), p.uid().unwrap_or_default()));
                done.push(format!("pod/{name}"));
            }
            let refusals: Vec<String> = refused
                .iter()
                .map(|(n, why)| format!("pod/{n} refused: {why}"))
                .collect();
            ctx.last_kill = Some(Kill {
                selector: targeted.selector.clone(),
                killed,
                before: targeted.all.clone(),
                refused,
            });
            if refusals.is_empty() {
                format!("{}: {}", i.fault, done.join(", "))
            } else {
                format!("{}: {}", i.fault, refusals.join("; "))
            }
        }
        "mock-config" | "fail-readiness" | "fill-memory" => {
            let patch = match i.fault.as_str() {
                "fail-readiness" => json!({ "force_unready": i.params.get("value").and_then(Value::as_bool).unwrap_or(true) }),
                "fill-memory" => {
                    let bytes = i
                        .params
                        .get("bytes")
                        .ok_or(OpError::bad("fill-memory needs params.bytes (e.g. 512Mi)"))
                        .and_then(|v| {
                            scenario::limits::bytes(v)
                                .map_err(|m| OpError::bad(format!("params.bytes: {m}")))
                        })?;
                    json!({ "memory_per_request_bytes": bytes })
                }
                _ => Value::Object(i.params.get("patch").and_then(Value::as_object).cloned().ok_or(OpError::bad("mock-config needs params.patch, a JSON merge patch of the mock's config"))?),
            };
            let pods = target_pods(ctx, i).await?.pods;
            let port = match i.params.get("port") {
                Some(v) => scenario::limits::port(v)
                    .map_err(|m| OpError::bad(format!("params.port: {m}")))?,
                None => MOCK_PORT,
            };
            let body = serde_json::to_vec(&patch).map_err(OpError::bad)?;
            let mut done = Vec::new();
            for p in pods.iter().take(if i.fault == "fill-memory" {
                count
            } else {
                usize::MAX
            }) {
                let name = p.name_any();
                proxy(
                    ctx,
                    &ctx.namespace,
                    &name,
                    port,
                    "PATCH",
                    "/admin/config",
                    body.clone(),
                )
                .await?;
                if i.fault == "fill-memory" {
                    // One request makes the mock hold the ballast; the answer
                    // may never come if the kernel kills the container first.
                    // The model the server says it serves (a team's chart
                    // names its own), else the scenario's binding.
                    let served = proxy(
                        ctx,
                        &ctx.namespace,
                        &name,
                        port,
                        "GET",
                        "/v1/models",
                        Vec::new(),
                    )
                    .await
                    .ok()
                    .and_then(|body| load::models::parse_model_list(&body).ok())
                    .and_then(|ids| ids.into_iter().next());
                    let model = served.unwrap_or_else(|| {
                        ctx.bindings
                            .get("model")
                            .and_then(Value::as_str)
                            .unwrap_or("mock-llm")
                            .to_string()
                    });
                    let req = serde_json::to_vec(
                        &json!({"model": model, "prompt": "fill", "max_tokens": 1}),
                    )
                    .unwrap_or_default();
                    let _ = proxy(
                        ctx,
                        &ctx.namespace,
                        &name,
                        port,
                        "POST",
                        "/v1/completions",
                        req,
                    )
                    .await;
                }
                done.push(format!("pod/{name}"));
            }
            format!("{} {} on {}", i.fault, patch, done.join(", "))
        }
        "gpu-unhealthy" => gpu::unhealthy(ctx, i).await?,
        "gpu-xid" => gpu::xid(ctx, i).await?,
        "drain" => drain::drain(ctx, i).await?,
        other => return Err(OpError::BadInput(format!("unknown fault {other:?}"))),
    };
    ctx.recorder.note(
        TimelineSource::Fault,
        &i.fault,
        i.target.clone(),
        msg.clone(),
        true,
    );
    Ok(OpOutcome::done(msg))
}
