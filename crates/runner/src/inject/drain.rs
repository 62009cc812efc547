//! `inject: drain`: what `kubectl drain` does to a node, for the
//! scenario's own pods. The node is cordoned (unschedulable; undone when
//! the scenario ends), then each of the scenario's pods on it is evicted
//! through the Eviction API. An eviction a PodDisruptionBudget refuses
//! (429) is tried again every 2 s, as `kubectl drain` does, until it goes
//! or `params.timeoutSeconds` (default 30) has passed: the pods still
//! refused then are the blocked drain, and `expect: podReplaced` observes
//! them. Pods of other namespaces stay where they are, since concurrent
//! scenarios share the cluster (a scenario that drains declares
//! `exclusive: [gpus]`: the cordon takes the node's GPUs from everyone).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{EvictParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::{direct, param_u64, target_pods};
use crate::context::{Ctx, Kill, OpError};
use crate::undo::Undo;
use scenario::model::Inject;

/// How long a drain keeps retrying refused evictions, unless the step says.
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two rounds of evictions (kubectl drain waits 5 s; our budgets
/// are fresh pods that become Ready within seconds).
const RETRY: Duration = Duration::from_secs(2);

/// Marks `node` unschedulable (`cordon`) or schedulable again.
pub(super) async fn cordon(ctx: &Ctx, node: &str, unschedulable: bool) -> Result<(), OpError> {
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let patch = json!({ "spec": { "unschedulable": unschedulable } });
    nodes
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(OpError::api(format!(
            "{} node {node}",
            if unschedulable {
                "cordoning"
            } else {
                "uncordoning"
            }
        )))
}

/// A pod a drain leaves alone: a DaemonSet's (it would come straight back)
/// or a static pod's mirror (the kubelet owns it).
fn left_alone(p: &Pod) -> bool {
    let daemon = p.owner_references().iter().any(|o| o.kind == "DaemonSet");
    let mirror = p.annotations().contains_key("kubernetes.io/config.mirror");
    daemon || mirror || p.metadata.deletion_timestamp.is_some()
}

/// Cordons the node (params.node, or the node of the target's first pod)
/// and evicts the scenario's pods on it; what happened, in one line.
pub(super) async fn drain(ctx: &mut Ctx, i: &Inject) -> Result<String, OpError> {
    let wait = param_u64(i, "timeoutSeconds").map_or(DEFAULT_DRAIN_TIMEOUT, Duration::from_secs);
    let targeted = target_pods(ctx, i).await?;
    let node = match i.params.get("node").and_then(Value::as_str) {
        Some(n) => n.to_string(),
        None => targeted
            .pods
            .iter()
            .find_map(|p| p.spec.as_ref()?.node_name.clone())
            .ok_or_else(|| {
                OpError::NeverAppeared(
                    "the target's pods are on no node yet: there is no node to drain".into(),
                )
            })?,
    };
    cordon(ctx, &node, true).await?;
    ctx.undo.push(Undo::Uncordon { node: node.clone() });
    let api: Api<Pod> = Api::namespaced(direct(ctx).await?, &ctx.namespace);
    let mut pending: Vec<(String, String)> = api
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(OpError::api(format!("listing the pods on node {node}")))?
        .items
        .iter()
        .filter(|p| !left_alone(p))
        .map(|p| (p.name_any(), p.uid().unwrap_or_default()))
        .collect();
    let attempted = pending.clone();
    let mut evicted = Vec::new();
    let mut refused: BTreeMap<String, String> = BTreeMap::new();
    let deadline = Instant::now() + wait;
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        let mut still = Vec::new();
        for (name, uid) in pending {
            match api.evict(&name, &EvictParams::default()).await {
                Ok(_) => {
                    refused.remove(&name);
                    evicted.push(format!("pod/{name}"));
                }
                // A disruption budget allows none now: try again later.
                Err(kube::Error::Api(e)) if e.code == 429 => {
                    refused.insert(name.clone(), e.message.clone());
                    still.push((name, uid));
                }
                // Gone already (its owner replaced it, or it ended).
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    refused.remove(&name);
                }
                Err(e) => return Err(OpError::api(format!("evicting pod/{name}"))(e)),
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() + RETRY > deadline {
            break;
        }
        tokio::time::sleep(RETRY).await;
    }
    let blocked: Vec<String> = refused
        .iter()
        .map(|(n, why)| format!("pod/{n} refused: {why}"))
        .collect();
    ctx.last_kill = Some(Kill {
        selector: targeted.selector,
        killed: attempted.clone(),
        before: targeted.all,
        refused: refused.into_iter().collect(),
    });
    let mut msg = format!(
        "drain: node {node} cordoned; {} of {} pod(s) of this namespace evicted in {rounds} round(s)",
        evicted.len(),
        attempted.len()
    );
    if !evicted.is_empty() {
        msg.push_str(&format!(" ({})", evicted.join(", ")));
    }
    if !blocked.is_empty() {
        msg.push_str(&format!(
            "; still refused after {}s: {}",
            wait.as_secs(),
            blocked.join("; ")
        ));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::left_alone;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pod(meta: serde_json::Value) -> Pod {
        serde_json::from_value(json!({ "metadata": meta })).expect("a pod")
    }

    #[test]
    fn a_drain_leaves_daemonset_mirror_and_terminating_pods() {
        assert!(!left_alone(&pod(json!({"name": "server-1"}))));
        assert!(left_alone(&pod(
            json!({"name": "agent", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "gpu-fakes", "uid": "u"}]})
        )));
        assert!(left_alone(&pod(json!({"name": "etcd",
            "annotations": {"kubernetes.io/config.mirror": "x"}}))));
        assert!(left_alone(&pod(json!({"name": "old",
            "deletionTimestamp": "2026-12-01T00:00:00Z"}))));
        assert!(!left_alone(&pod(
            json!({"name": "server-2", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "server-abc", "uid": "u"}]})
        )));
    }
}
