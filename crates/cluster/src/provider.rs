//! The provider interface: [`Provider`] names one, [`ClusterProvider`] is
//! what the provider-agnostic [`crate::up`] flow calls (modelled on kind's
//! `pkg/cluster/internal/providers`: one interface, one folder per
//! provider).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{ClusterError, ClusterSpec, DEFAULT_CLUSTER_NAME, NodeInfo, UpOptions};
use environment::docker::{Docker, EngineSetup};
use environment::tools::ToolSource;

/// Which provider makes a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// Docker containers as nodes (real kubelets, real pods).
    #[default]
    Kind,
    /// A local control plane and fake nodes driven by kwok: no Docker,
    /// hundreds of nodes, pods run nothing.
    Kwok,
}

/// The cluster name `up --provider kwok` uses when none is given (not the
/// kind default, whose folder would collide).
pub const KWOK_DEFAULT_NAME: &str = "inferbench-kwok";

impl Provider {
    /// `kind` or `kwok`.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Kind => "kind",
            Provider::Kwok => "kwok",
        }
    }

    /// The cluster name used when none is given.
    pub fn default_cluster_name(self) -> &'static str {
        match self {
            Provider::Kind => DEFAULT_CLUSTER_NAME,
            Provider::Kwok => KWOK_DEFAULT_NAME,
        }
    }

    /// The name a cluster called `name` gets from this provider: the kind
    /// default becomes kwok's default (both would share one cluster folder).
    pub fn cluster_name(self, name: &str) -> String {
        if name == DEFAULT_CLUSTER_NAME {
            self.default_cluster_name().to_string()
        } else {
            name.to_string()
        }
    }

    /// Whether the cluster's pods really run (containers, probes, kubelets).
    pub fn runs_containers(self) -> bool {
        match self {
            Provider::Kind => true,
            Provider::Kwok => false,
        }
    }

    /// Whether the provider can hand the host's GPUs to its nodes.
    pub fn supports_real_gpus(self) -> bool {
        self.runs_containers()
    }

    /// What a cluster of this provider leaves behind when `down` fails to
    /// remove everything (`containers`, `processes`).
    pub fn leftover_noun(self) -> &'static str {
        match self {
            Provider::Kind => "containers",
            Provider::Kwok => "processes",
        }
    }

    /// The provider of the existing cluster `name`, as its cluster folder
    /// says (kwok marks its folders); kind otherwise.
    pub fn of_cluster(name: &str) -> Provider {
        if crate::kwok::is_kwok_cluster(name) {
            Provider::Kwok
        } else {
            Provider::Kind
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Seconds per step of `up`, in order, printed as each step ends.
#[derive(Debug)]
pub struct Steps {
    done: Vec<(String, f64)>,
    since: Instant,
}

impl Steps {
    /// Starts the clock.
    pub fn start() -> Steps {
        Steps {
            done: Vec::new(),
            since: Instant::now(),
        }
    }

    /// Records `name` as taking the time since the previous step.
    pub fn step(&mut self, name: &str) {
        let now = Instant::now();
        let secs = (now - self.since).as_secs_f64();
        eprintln!("inferbench: {name} done in {secs:.1}s");
        self.done.push((name.to_string(), secs));
        self.since = now;
    }

    /// The steps so far.
    pub fn into_timings(self) -> Vec<(String, f64)> {
        self.done
    }
}

/// What [`ClusterProvider::prepare`] set up on this host for the cluster.
#[derive(Debug, Clone)]
pub struct HostSetup {
    /// Where the tools came from.
    pub tool_source: ToolSource,
    /// The kubectl binary that matches the cluster.
    pub kubectl: PathBuf,
    /// The Docker engine whose containers are the nodes (kind).
    pub docker: Option<Docker>,
    /// How the engine was made to run (kind).
    pub engine: Option<EngineSetup>,
    /// The node image (kind).
    pub node_image: Option<String>,
    /// The host's GPUs and which node gets which (`--gpus real`).
    pub host_gpus: Option<HostGpus>,
}

/// The host's NVIDIA GPUs, dealt to the GPU nodes (see
/// [`crate::real_gpus`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGpus {
    pub gpus: Vec<crate::real_gpus::HostGpu>,
    /// GPU indices per GPU node, in node order.
    pub assignment: Vec<Vec<u32>>,
}

/// Something that can create and delete clusters: what [`crate::up`],
/// [`crate::down`], [`crate::status`] and [`crate::exists`] call for every
/// provider.
///
/// A provider owns the machines (containers for kind; the control-plane
/// processes and the fake Node objects for kwok) and hands out a
/// kubeconfig. The functions without `self` work without the provider's
/// tools (`down` and `status` build nothing; `prepare` gets them).
pub trait ClusterProvider {
    /// Ensures what the provider needs on this host (kind: the Docker
    /// engine, the host's GPUs for `--gpus real`, kind and kubectl, the node
    /// image; kwok: etcd, Kubernetes and kwok), recording a step for each,
    /// and shapes `spec` to it (node image, GPU mounts).
    fn prepare(
        opts: &UpOptions,
        spec: &mut ClusterSpec,
        steps: &mut Steps,
    ) -> Result<(Self, HostSetup), ClusterError>
    where
        Self: Sized;

    /// Whether a cluster `name` of this provider is there, cheaply: no tool
    /// is built and no engine started (no engine, no kind cluster).
    fn is_present(name: &str) -> bool
    where
        Self: Sized;

    /// Deletes cluster `name` and checks what is left of it; builds a tool
    /// only when there is something to delete.
    fn tear_down(name: &str) -> Result<crate::DownReport, ClusterError>
    where
        Self: Sized;

    /// The provider's clusters and what they run on; starts and builds
    /// nothing.
    fn status() -> Result<crate::ClusterStatus, ClusterError>
    where
        Self: Sized;

    /// Which provider this is.
    fn provider(&self) -> Provider;

    /// The provider's name (`kind`, `kwok`).
    fn provider_name(&self) -> &'static str {
        self.provider().name()
    }

    /// Creates the cluster with all its nodes; fails if it exists.
    fn create(&self, spec: &ClusterSpec) -> Result<(), ClusterError>;

    /// Deletes the cluster and everything it runs on; no-op if absent.
    fn delete(&self, name: &str) -> Result<(), ClusterError>;

    /// Whether the cluster exists and can be used as it is (`up` reuses
    /// it rather than create it).
    fn exists(&self, name: &str) -> Result<bool, ClusterError>;

    /// Names of the clusters this provider knows.
    fn list(&self) -> Result<Vec<String>, ClusterError>;

    /// Writes the cluster's kubeconfig (external address) and returns its path.
    fn kubeconfig(&self, name: &str) -> Result<PathBuf, ClusterError>;

    /// Waits until every node of the cluster is Ready; `created`: the
    /// cluster was just made (kind then lets networking settle).
    fn wait_ready(&self, name: &str, timeout: Duration, created: bool) -> Result<(), ClusterError>;

    /// Makes a local image available on every node.
    fn load_image(&self, name: &str, image: &str) -> Result<(), ClusterError>;

    /// Makes a local image available on the nodes named (where only they
    /// run it); by default on every node.
    fn load_image_on(
        &self,
        name: &str,
        image: &str,
        _nodes: &[String],
    ) -> Result<(), ClusterError> {
        self.load_image(name, image)
    }

    /// The cluster's nodes.
    fn nodes(&self, name: &str) -> Result<Vec<NodeInfo>, ClusterError>;

    /// Nodes per pool (`cpu`, `gpu`) of a cluster this provider made, as it
    /// made them; `None` where it cannot tell.
    fn pool_sizes(&self, _name: &str) -> Option<std::collections::BTreeMap<String, u32>> {
        None
    }

    /// Restarts kube-apiserver on every control-plane node (its static
    /// pod comes back by itself). Used to heal an aggregated API whose
    /// connection went stale; providers that cannot do it say so.
    fn restart_api_server(&self, name: &str) -> Result<(), ClusterError> {
        Err(ClusterError::Unsupported(format!(
            "restarting kube-apiserver of {} cluster {name:?}",
            self.provider()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kwok_renames_the_default_cluster_only() {
        assert_eq!(
            Provider::Kwok.cluster_name(DEFAULT_CLUSTER_NAME),
            KWOK_DEFAULT_NAME
        );
        assert_eq!(Provider::Kwok.cluster_name("mine"), "mine");
        assert_eq!(
            Provider::Kind.cluster_name(DEFAULT_CLUSTER_NAME),
            DEFAULT_CLUSTER_NAME
        );
    }

    #[test]
    fn only_kind_runs_containers_and_real_gpus() {
        assert!(Provider::Kind.runs_containers() && Provider::Kind.supports_real_gpus());
        assert!(!Provider::Kwok.runs_containers() && !Provider::Kwok.supports_real_gpus());
    }
}
