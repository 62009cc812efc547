//! Clusters: the [`ClusterProvider`] trait, the cluster shape inferbench
//! wants (a control plane, CPU workers and a GPU pool), and [`up`] /
//! [`down`] / [`status`] / [`exists`] behind `cargo xtask up|down|status`,
//! one flow for every [`Provider`].
//!
//! Modelled on kind's `pkg/cluster/internal/providers` and
//! `create/actions`: one interface, one folder per provider ([`kind`]:
//! Docker containers as nodes; [`kwok`]: a local control plane and fake
//! nodes, no Docker), and a provider-agnostic `up`: the provider prepares
//! the host, the cluster is reused or created, its nodes become Ready, then
//! the [`addons`] that apply run in order.
//!
//! It builds on the env crate (Docker, tools, node image, our images) and
//! the k8s helpers, and must not depend on the scenario, runner or report
//! crates.

pub mod addons;
mod component;
pub mod describe;
pub mod device_plugins;
mod down;
pub mod gpu_api;
pub mod kind;
pub mod kubectl;
pub mod kwok;
mod provider;
mod status;
mod up;

use std::collections::BTreeMap;
use std::path::PathBuf;

use environment::docker::DockerError;
use environment::images::ImageError;
use environment::node_image::NodeImageError;
use environment::tools::ToolError;
use environment::tools::exec::ExecError;

pub use component::Component;
pub use describe::{ClusterDescription, GpuKind, PoolDescription, describe};
pub use down::{DownReport, down, exists};
pub use gpu_api::{GpuApi, GpuPartitioning};
pub use kind::real_gpus;
pub use kwok::GpuShape;
pub use provider::{ClusterProvider, HostGpus, HostSetup, KWOK_DEFAULT_NAME, Provider, Steps};
pub use status::{
    ClusterStatus, ClusterSummary, ComponentStatus, EngineStatus, NodeImageStatus, status,
};
pub use up::{UpOptions, UpReport, up};

/// The cluster name used when none is given.
pub const DEFAULT_CLUSTER_NAME: &str = "inferbench";
/// Label every inferbench node carries, naming its pool.
pub const POOL_LABEL: &str = "inferbench.dev/pool";
/// The label GPU nodes carry (GPU feature discovery's name).
pub const GPU_PRESENT_LABEL: &str = "nvidia.com/gpu.present";
/// The taint key GPU nodes carry.
pub const GPU_TAINT_KEY: &str = "nvidia.com/gpu";

/// Errors from cluster providers, `up`, `down` and the add-ons.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Docker(Box<DockerError>),
    #[error(transparent)]
    Tool(Box<ToolError>),
    #[error(transparent)]
    NodeImage(Box<NodeImageError>),
    #[error(transparent)]
    Exec(Box<ExecError>),
    #[error("cluster {0:?} does not exist")]
    NotFound(String),
    #[error("invalid cluster name {0:?}: use lowercase letters, digits and '-' (at most 40)")]
    BadName(String),
    #[error("{what} did not happen within {secs}s{}", detail_suffix(.detail))]
    Timeout {
        what: String,
        secs: u64,
        detail: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unexpected output from {what}: {detail}")]
    Parse { what: String, detail: String },
    #[error("this host is not ready for real GPUs (--gpus real):\n{0}")]
    GpuHost(String),
    #[error(transparent)]
    Image(Box<ImageError>),
    #[error(transparent)]
    Kwok(Box<kwok::KwokError>),
    #[error(transparent)]
    K8s(Box<k8s::K8sError>),
    #[error(
        "forbidden: this kubeconfig's user may not {what} (403); it needs {permission}: {source}"
    )]
    Forbidden {
        what: String,
        permission: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("Kubernetes API: {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{0}")]
    Unsupported(String),
}

macro_rules! boxed_from {
    ($($source:ty => $variant:ident),* $(,)?) => {
        $(impl From<$source> for ClusterError {
            fn from(e: $source) -> Self {
                ClusterError::$variant(Box::new(e))
            }
        })*
    };
}

boxed_from!(
    DockerError => Docker,
    ToolError => Tool,
    NodeImageError => NodeImage,
    ExecError => Exec,
    ImageError => Image,
    k8s::K8sError => K8s,
);

fn detail_suffix(detail: &str) -> String {
    if detail.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{}", detail.trim())
    }
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// A taint on a node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

/// What a node pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    ControlPlane,
    Worker,
}

/// A host path mounted into a node container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExtraMount {
    pub host_path: String,
    pub container_path: String,
}

/// Where the GPU pool's GPUs come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuMode {
    /// inferbench's gpu-fakes (device plugin, labels, exporter): no GPU needed.
    #[default]
    Fake,
    /// The host's NVIDIA GPUs, handed to the nodes the way nvkind does.
    Real,
}

/// A group of identical nodes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodePool {
    pub name: String,
    pub role: NodeRole,
    pub count: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// Mounts per node, by index within the pool (a node past the end has none).
    pub mounts: Vec<Vec<ExtraMount>>,
}

impl NodePool {
    fn new(name: &str, role: NodeRole, count: u32) -> NodePool {
        let mut labels = BTreeMap::new();
        labels.insert(POOL_LABEL.to_string(), name.to_string());
        NodePool {
            name: name.to_string(),
            role,
            count,
            labels,
            taints: Vec::new(),
            mounts: Vec::new(),
        }
    }

    /// The control-plane pool (one node).
    pub fn control_plane() -> NodePool {
        NodePool::new("control-plane", NodeRole::ControlPlane, 1)
    }

    /// Untainted CPU workers.
    pub fn cpu(count: u32) -> NodePool {
        NodePool::new("cpu", NodeRole::Worker, count)
    }

    /// Workers labelled and tainted the way GPU nodes are
    /// (`nvidia.com/gpu.present=true`, `nvidia.com/gpu=present:NoSchedule`).
    pub fn gpu(count: u32) -> NodePool {
        let mut p = NodePool::new("gpu", NodeRole::Worker, count);
        p.labels
            .insert(GPU_PRESENT_LABEL.to_string(), "true".to_string());
        p.taints.push(Taint {
            key: GPU_TAINT_KEY.to_string(),
            value: "present".to_string(),
            effect: "NoSchedule".to_string(),
        });
        p
    }
}

/// The cluster to create.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterSpec {
    pub name: String,
    /// Node image; `None` lets the provider choose its default.
    pub node_image: Option<String>,
    pub pools: Vec<NodePool>,
}

impl ClusterSpec {
    /// One control plane, `cpu` CPU workers and `gpu` GPU-pool workers.
    pub fn new(name: &str, cpu: u32, gpu: u32) -> Result<ClusterSpec, ClusterError> {
        validate_name(name)?;
        let mut pools = vec![NodePool::control_plane()];
        if cpu > 0 {
            pools.push(NodePool::cpu(cpu));
        }
        if gpu > 0 {
            pools.push(NodePool::gpu(gpu));
        }
        Ok(ClusterSpec {
            name: name.to_string(),
            node_image: None,
            pools,
        })
    }

    /// inferbench's default: 1 control plane, 1 CPU worker, 2 GPU workers.
    pub fn default_named(name: &str) -> Result<ClusterSpec, ClusterError> {
        ClusterSpec::new(name, 1, 2)
    }

    /// How many nodes the spec makes.
    pub fn node_count(&self) -> u32 {
        self.pools.iter().map(|p| p.count).sum()
    }
}

/// Checks that `name` can name a cluster (and its containers).
pub fn validate_name(name: &str) -> Result<(), ClusterError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ClusterError::BadName(name.to_string()))
    }
}

/// A node of a running cluster, as its provider sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub role: String,
    /// Provider-level state (for kind, the container's state).
    pub state: String,
}

/// Where per-cluster files (kubeconfig, rendered config) live.
pub fn cluster_dir(name: &str) -> PathBuf {
    environment::workspace::cache_dir()
        .join("clusters")
        .join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_has_the_gpu_pool() {
        let s = ClusterSpec::default_named("inferbench").expect("valid");
        assert_eq!(s.node_count(), 4);
        let gpu = s.pools.iter().find(|p| p.name == "gpu").expect("gpu pool");
        assert_eq!(gpu.count, 2);
        assert_eq!(
            gpu.labels.get(GPU_PRESENT_LABEL).map(String::as_str),
            Some("true")
        );
        assert_eq!(gpu.taints[0].effect, "NoSchedule");
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("inferbench-2").is_ok());
        assert!(validate_name("Bad_Name").is_err());
        assert!(validate_name("").is_err());
    }
}
