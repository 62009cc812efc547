//! What a running cluster offers, read from its API: node pools, their
//! GPUs and where the GPUs come from. `run` reports it, and scenarios are
//! matched against it (containers, fake or real GPUs).

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::{ClusterError, GPU_PRESENT_LABEL, POOL_LABEL, Provider};

/// Where a cluster's GPUs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuKind {
    /// No node has or claims a GPU.
    None,
    /// inferbench's gpu-fakes (a device plugin for GPUs that do not exist).
    Fake,
    /// Real GPUs behind a device plugin.
    Real,
    /// Written into fake nodes (kwok): schedulable, never usable.
    Simulated,
}

impl GpuKind {
    /// `none`, `fake`, `real`, `simulated` (as reports spell it).
    pub fn as_str(self) -> &'static str {
        match self {
            GpuKind::None => "none",
            GpuKind::Fake => "fake",
            GpuKind::Real => "real",
            GpuKind::Simulated => "simulated",
        }
    }

    /// What GPUs a cluster has: GPU nodes (`any_gpu`), gpu-fakes installed
    /// (`fakes`), made by `provider` (`None`: not ours).
    pub fn of(any_gpu: bool, fakes: bool, provider: Option<Provider>) -> GpuKind {
        match (any_gpu, fakes, provider) {
            (false, _, _) => GpuKind::None,
            (true, _, Some(Provider::Kwok)) => GpuKind::Simulated,
            (true, true, _) => GpuKind::Fake,
            (true, false, _) => GpuKind::Real,
        }
    }
}

/// One node pool (by [`POOL_LABEL`]; `default` for unlabelled nodes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolDescription {
    pub name: String,
    pub nodes: u32,
    /// The most `nvidia.com/gpu` any node of the pool can allocate.
    pub gpus_per_node: u32,
    /// `nvidia.com/gpu.product` of a node of the pool.
    pub gpu_product: Option<String>,
}

/// What a cluster is made of.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterDescription {
    /// The provider that made it; `None` for a cluster inferbench did not
    /// make (a kubeconfig given by hand).
    pub provider: Option<Provider>,
    /// `unknown (...)` when the API server would not say.
    pub kubernetes_version: String,
    pub pools: Vec<PoolDescription>,
    pub gpu_kind: GpuKind,
}

impl ClusterDescription {
    /// Whether pods really run (assumed for a cluster we did not make).
    pub fn runs_containers(&self) -> bool {
        self.provider.is_none_or(Provider::runs_containers)
    }
}

/// Reads the cluster behind `kubeconfig`, made by `provider` (`None`: not
/// by inferbench).
pub async fn describe(
    kubeconfig: &Path,
    provider: Option<Provider>,
) -> Result<ClusterDescription, ClusterError> {
    let client = k8s::connect(kubeconfig).await?;
    let kubernetes_version = client
        .apiserver_version()
        .await
        .map(|v| v.git_version)
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| ClusterError::Api {
            what: "listing nodes".into(),
            source: Box::new(e),
        })?
        .items;
    let (pools, any_gpu) = pools_of(&nodes);
    let fakes = Api::<Namespace>::all(client)
        .get_opt("gpu-fakes")
        .await
        .ok()
        .flatten()
        .is_some();
    Ok(ClusterDescription {
        provider,
        kubernetes_version,
        pools,
        gpu_kind: GpuKind::of(any_gpu, fakes, provider),
    })
}

/// The pools of `nodes`, and whether any node has or claims a GPU.
fn pools_of(nodes: &[Node]) -> (Vec<PoolDescription>, bool) {
    let mut pools: BTreeMap<String, PoolDescription> = BTreeMap::new();
    let mut any_gpu = false;
    for n in nodes {
        let labels = n.labels();
        let pool = labels
            .get(POOL_LABEL)
            .cloned()
            .unwrap_or_else(|| "default".into());
        let gpus = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get("nvidia.com/gpu"))
            .and_then(|q| q.0.parse::<u32>().ok())
            .unwrap_or(0);
        any_gpu |= gpus > 0 || labels.contains_key(GPU_PRESENT_LABEL);
        let entry = pools.entry(pool.clone()).or_insert(PoolDescription {
            name: pool,
            nodes: 0,
            gpus_per_node: 0,
            gpu_product: labels.get("nvidia.com/gpu.product").cloned(),
        });
        entry.nodes += 1;
        entry.gpus_per_node = entry.gpus_per_node.max(gpus);
    }
    (pools.into_values().collect(), any_gpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSpec, kwok};

    #[test]
    fn gpu_kind_follows_the_provider_and_gpu_fakes() {
        assert_eq!(GpuKind::of(false, true, None), GpuKind::None);
        assert_eq!(
            GpuKind::of(true, true, Some(Provider::Kwok)),
            GpuKind::Simulated
        );
        assert_eq!(GpuKind::of(true, true, Some(Provider::Kind)), GpuKind::Fake);
        assert_eq!(GpuKind::of(true, false, None), GpuKind::Real);
    }

    #[test]
    fn pools_count_nodes_and_gpus() {
        let spec = ClusterSpec::new("c", 1, 2).expect("spec");
        let nodes = kwok::nodes::node_objects(&spec, &kwok::GpuShape::default());
        let (pools, any_gpu) = pools_of(&nodes);
        assert!(any_gpu);
        let names: Vec<(&str, u32, u32)> = pools
            .iter()
            .map(|p| (p.name.as_str(), p.nodes, p.gpus_per_node))
            .collect();
        assert_eq!(names, [("cpu", 1, 0), ("gpu", 2, 8)]);
        assert_eq!(
            pools[1].gpu_product.as_deref(),
            Some("NVIDIA-H100-80GB-HBM3")
        );
    }

    #[test]
    fn only_kwok_clusters_run_no_containers() {
        let d = |provider| ClusterDescription {
            provider,
            kubernetes_version: String::new(),
            pools: Vec::new(),
            gpu_kind: GpuKind::None,
        };
        assert!(d(None).runs_containers());
        assert!(d(Some(Provider::Kind)).runs_containers());
        assert!(!d(Some(Provider::Kwok)).runs_containers());
    }
}
