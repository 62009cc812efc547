//! Fake nodes: Node objects made by the harness, labelled, tainted and
//! sized like the kind GPU pool (GPU feature discovery labels, the
//! `nvidia.com/gpu` taint and extended resource), annotated for kwok to
//! keep them Ready.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, Taint as K8sTaint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};

use super::{GPU_RESOURCE, KwokError, NODE_ANNOTATION, NODE_ANNOTATION_VALUE, api_err};
use crate::{ClusterSpec, GPU_PRESENT_LABEL, NodeInfo, NodePool, NodeRole, POOL_LABEL};

/// What one GPU-pool node has (what GPU feature discovery would label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuShape {
    /// `nvidia.com/gpu` capacity and allocatable.
    pub gpus_per_node: u32,
    /// `nvidia.com/gpu.product`.
    pub product: String,
    /// `nvidia.com/gpu.memory`, MiB per GPU.
    pub memory_mib: u64,
}

impl Default for GpuShape {
    /// An 8-GPU H100 node, with the product name and memory that gpu-fakes
    /// labels on kind.
    fn default() -> Self {
        GpuShape {
            gpus_per_node: 8,
            product: "NVIDIA-H100-80GB-HBM3".to_string(),
            memory_mib: 81559,
        }
    }
}

/// Capacity of every fake node besides GPUs.
const CPU: &str = "64";
const MEMORY: &str = "512Gi";
const PODS: &str = "110";

/// Whether `pool` is the GPU pool (labelled `nvidia.com/gpu.present=true`).
fn is_gpu_pool(pool: &NodePool) -> bool {
    pool.labels.get(GPU_PRESENT_LABEL).map(String::as_str) == Some("true")
}

/// `<cluster>-<pool>-<index>`.
pub fn node_name(cluster: &str, pool: &str, index: u32) -> String {
    format!("{cluster}-{pool}-{index}")
}

/// The Node objects for `spec`'s worker pools (the control-plane pool has
/// none: the control plane runs as local processes).
pub fn node_objects(spec: &ClusterSpec, gpu: &GpuShape) -> Vec<Node> {
    spec.pools
        .iter()
        .filter(|p| p.role == NodeRole::Worker)
        .flat_map(|pool| {
            (0..pool.count).map(move |i| {
                fake_node(
                    &node_name(&spec.name, &pool.name, i),
                    pool,
                    is_gpu_pool(pool).then_some(gpu),
                )
            })
        })
        .collect()
}

/// One fake node of `pool`; `gpu` for GPU-pool nodes.
pub fn fake_node(name: &str, pool: &NodePool, gpu: Option<&GpuShape>) -> Node {
    let mut labels = pool.labels.clone();
    for (k, v) in [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("type", "kwok"),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    labels.insert(POOL_LABEL.to_string(), pool.name.clone());
    let mut resources: BTreeMap<String, Quantity> =
        [("cpu", CPU), ("memory", MEMORY), ("pods", PODS)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect();
    if let Some(g) = gpu {
        labels.insert("nvidia.com/gpu.product".into(), g.product.clone());
        labels.insert("nvidia.com/gpu.count".into(), g.gpus_per_node.to_string());
        labels.insert("nvidia.com/gpu.memory".into(), g.memory_mib.to_string());
        resources.insert(GPU_RESOURCE.into(), Quantity(g.gpus_per_node.to_string()));
    }
    let taints: Vec<K8sTaint> = pool
        .taints
        .iter()
        .map(|t| K8sTaint {
            key: t.key.clone(),
            value: Some(t.value.clone()),
            effect: t.effect.clone(),
            time_added: None,
        })
        .collect();
    let mut node = Node::default();
    node.metadata.name = Some(name.to_string());
    node.metadata.labels = Some(labels);
    node.metadata.annotations = Some(
        [
            (
                NODE_ANNOTATION.to_string(),
                NODE_ANNOTATION_VALUE.to_string(),
            ),
            ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
        ]
        .into(),
    );
    node.spec = Some(NodeSpec {
        taints: (!taints.is_empty()).then_some(taints),
        ..NodeSpec::default()
    });
    node.status = Some(NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        ..NodeStatus::default()
    });
    node
}

/// Creates `nodes`, `concurrency` requests at a time; nodes that exist
/// already are left as they are.
pub async fn create_nodes(
    client: &Client,
    nodes: Vec<Node>,
    concurrency: usize,
) -> Result<(), KwokError> {
    let api: Api<Node> = Api::all(client.clone());
    futures::stream::iter(nodes.into_iter().map(|n| {
        let api = api.clone();
        async move {
            let name = n.metadata.name.clone().unwrap_or_default();
            match api.create(&PostParams::default(), &n).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(api_err(format!("creating node {name}"))(e)),
            }
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect::<Vec<()>>()
    .await?;
    Ok(())
}

/// Whether `node` has condition Ready=True.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until every node in `names` is Ready; returns how long it took.
pub async fn wait_ready(
    client: &Client,
    names: &[String],
    timeout: Duration,
) -> Result<Duration, KwokError> {
    let api: Api<Node> = Api::all(client.clone());
    let want: HashSet<&str> = names.iter().map(String::as_str).collect();
    let start = Instant::now();
    let lp = ListParams::default().labels("type=kwok");
    loop {
        let ready = match tokio::time::timeout(Duration::from_secs(10), api.list(&lp)).await {
            Ok(Ok(list)) => list
                .items
                .iter()
                .filter(|n| is_ready(n))
                .filter(|n| n.metadata.name.as_deref().is_some_and(|x| want.contains(x)))
                .count(),
            Ok(Err(_)) | Err(_) => 0,
        };
        if ready == want.len() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(KwokError::Timeout {
                what: format!("all {} fake nodes Ready", want.len()),
                after: timeout,
                detail: format!(
                    "{ready} of {} are Ready; kwok marks them: read its log (logs/kwok.log in the cluster folder)",
                    want.len()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until every fake node (label `type=kwok`) is Ready.
pub async fn wait_all_ready(client: &Client, timeout: Duration) -> Result<Duration, KwokError> {
    let api: Api<Node> = Api::all(client.clone());
    let names: Vec<String> = api
        .list(&ListParams::default().labels("type=kwok"))
        .await
        .map_err(api_err("listing nodes"))?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    wait_ready(client, &names, timeout).await
}

/// Every node as a [`NodeInfo`] (role: its pool; state: Ready/NotReady).
pub async fn node_infos(client: &Client) -> Result<Vec<NodeInfo>, KwokError> {
    let api: Api<Node> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(api_err("listing nodes"))?;
    let mut infos: Vec<NodeInfo> = list
        .items
        .iter()
        .map(|n| NodeInfo {
            name: n.metadata.name.clone().unwrap_or_default(),
            role: n
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POOL_LABEL).cloned())
                .unwrap_or_default(),
            state: if is_ready(n) { "Ready" } else { "NotReady" }.to_string(),
        })
        .collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(infos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GPU_TAINT_KEY;

    #[test]
    fn gpu_nodes_look_like_the_kind_gpu_pool() {
        let spec = ClusterSpec::new("k", 1, 2).expect("spec");
        let nodes = node_objects(&spec, &GpuShape::default());
        let names: Vec<&str> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .collect();
        assert_eq!(names, vec!["k-cpu-0", "k-gpu-0", "k-gpu-1"]);
        let gpu = &nodes[1];
        let labels = gpu.metadata.labels.as_ref().expect("labels");
        assert_eq!(labels[POOL_LABEL], "gpu");
        assert_eq!(labels[GPU_PRESENT_LABEL], "true");
        assert_eq!(labels["nvidia.com/gpu.count"], "8");
        assert_eq!(labels["nvidia.com/gpu.product"], "NVIDIA-H100-80GB-HBM3");
        assert_eq!(labels["nvidia.com/gpu.memory"], "81559");
        assert_eq!(
            gpu.metadata.annotations.as_ref().expect("annotations")[NODE_ANNOTATION],
            "fake"
        );
        let taints = gpu
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .expect("taints");
        assert_eq!(taints[0].key, GPU_TAINT_KEY);
        assert_eq!(taints[0].effect, "NoSchedule");
        let status = gpu.status.as_ref().expect("status");
        for r in [&status.capacity, &status.allocatable] {
            assert_eq!(r.as_ref().expect("resources")[GPU_RESOURCE].0, "8");
        }
        let cpu = &nodes[0];
        assert!(cpu.spec.as_ref().and_then(|s| s.taints.as_ref()).is_none());
        let alloc = cpu
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .expect("alloc");
        assert!(!alloc.contains_key(GPU_RESOURCE));
        assert!(
            !cpu.metadata
                .labels
                .as_ref()
                .expect("labels")
                .contains_key(GPU_PRESENT_LABEL)
        );
    }
}
