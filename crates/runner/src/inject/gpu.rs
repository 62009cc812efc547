//! Faults of fake GPUs, through gpu-fakes' admin API on the node's agent
//! pod (reached through the API server's pod proxy):
//!
//! - `gpu-unhealthy` (`params: { gpu }`): the GPU turns Unhealthy; the
//!   device plugin reports it to the kubelet and the DRA driver withdraws
//!   its devices from the node's ResourceSlice.
//! - `gpu-xid` (`params: { gpu, xid }`): the GPU raises an XID error; a
//!   critical one (all but 13, 31, 43, 45, 68, 109) makes it Unhealthy, as
//!   NVIDIA's device plugin rules, an application's one (13, say) does not.
//!
//! The node is the target's pod's (or `params.node`); both faults are
//! undone (the GPU Healthy again) when the scenario ends.

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::Value;

use super::{GPU_FAKES_ADMIN_PORT, GPU_FAKES_NAMESPACE, GPU_FAKES_SELECTOR, proxy, target_pods};
use crate::context::{Ctx, OpError};
use crate::undo::Undo;
use scenario::model::Inject;

/// A number parameter, written as a number or as a string of digits (a
/// binding renders to one).
fn param_number(i: &Inject, key: &str) -> Result<Option<u64>, OpError> {
    match i.params.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| OpError::bad(format!("params.{key}: expected a whole number, got {n}"))),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| {
                OpError::bad(format!("params.{key}: expected a whole number, got {s:?}"))
            })
        }
        Some(other) => Err(OpError::bad(format!(
            "params.{key}: expected a whole number, got {other}"
        ))),
    }
}

/// The gpu-fakes agent pod of the fault's node, and the node's name.
async fn agent(ctx: &Ctx, i: &Inject) -> Result<(String, String), OpError> {
    let node = match i.params.get("node").and_then(Value::as_str) {
        Some(n) => Some(n.to_string()),
        None if i.target.is_some() => target_pods(ctx, i)
            .await?
            .pods
            .first()
            .and_then(|p| p.spec.as_ref()?.node_name.clone()),
        None => None,
    };
    let agents: Api<Pod> = Api::namespaced(ctx.client.clone(), GPU_FAKES_NAMESPACE);
    let mut lp = ListParams::default().labels(GPU_FAKES_SELECTOR);
    if let Some(n) = &node {
        lp = lp.fields(&format!("spec.nodeName={n}"));
    }
    let agent = agents
        .list(&lp)
        .await
        .map_err(OpError::api("listing gpu-fakes pods"))?
        .items
        .into_iter()
        .min_by_key(|p| p.name_any())
        .ok_or_else(|| {
            OpError::NeverAppeared(format!(
                "no gpu-fakes pod{} (is this a cluster with fake GPUs?)",
                node.as_ref()
                    .map(|n| format!(" on node {n}"))
                    .unwrap_or_default()
            ))
        })?;
    let on = agent
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    Ok((agent.name_any(), on))
}

/// POSTs `path` to the agent and schedules GPU `gpu` Healthy again.
async fn post_and_undo(
    ctx: &mut Ctx,
    agent: &str,
    on: &str,
    gpu: u64,
    path: &str,
) -> Result<String, OpError> {
    let answer = proxy(
        ctx,
        GPU_FAKES_NAMESPACE,
        agent,
        GPU_FAKES_ADMIN_PORT,
        "POST",
        path,
        Vec::new(),
    )
    .await?;
    ctx.undo.push(Undo::Proxy {
        namespace: GPU_FAKES_NAMESPACE.into(),
        pod: agent.to_string(),
        port: GPU_FAKES_ADMIN_PORT,
        path: format!("/admin/gpus/{gpu}/healthy"),
        what: format!("gpu {gpu} on node {on} healthy again"),
    });
    Ok(answer.trim().to_string())
}

/// `gpu-unhealthy`.
pub(super) async fn unhealthy(ctx: &mut Ctx, i: &Inject) -> Result<String, OpError> {
    let gpu = param_number(i, "gpu")?.unwrap_or(0);
    let (agent, on) = agent(ctx, i).await?;
    post_and_undo(
        ctx,
        &agent,
        &on,
        gpu,
        &format!("/admin/gpus/{gpu}/unhealthy"),
    )
    .await?;
    Ok(format!("gpu {gpu} on node {on} marked Unhealthy"))
}

/// `gpu-xid`.
pub(super) async fn xid(ctx: &mut Ctx, i: &Inject) -> Result<String, OpError> {
    let gpu = param_number(i, "gpu")?.unwrap_or(0);
    let code = param_number(i, "xid")?
        .ok_or_else(|| OpError::bad("gpu-xid needs params.xid (e.g. 79, a critical XID)"))?;
    let (agent, on) = agent(ctx, i).await?;
    let said = post_and_undo(
        ctx,
        &agent,
        &on,
        gpu,
        &format!("/admin/gpus/{gpu}/xid/{code}"),
    )
    .await?;
    Ok(format!("node {on}: {said}"))
}
