//! `up`, `down` and `status` for kwok clusters: what
//! `cargo xtask up|down|status --provider kwok` runs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::control_plane::shutdown;
use super::process::{self, ProcessInfo};
use super::{Binaries, KwokError, KwokOptions, KwokProvider, State, list_in};
use crate::{ClusterError, ClusterProvider, ClusterSpec, NodeInfo, cluster_dir, validate_name};
use environment::tools::{ToolSource, Toolchain};

/// The cluster name `up --provider kwok` uses when none is given (not the
/// kind default, whose folder would collide).
pub const DEFAULT_NAME: &str = "inferbench-kwok";

/// What `up` should make.
#[derive(Debug, Clone)]
pub struct KwokUpOptions {
    /// Cluster name (reused while its processes run).
    pub name: String,
    /// Fake CPU nodes.
    pub cpu_nodes: u32,
    /// Fake GPU nodes.
    pub gpu_nodes: u32,
    /// Where kwok comes from; `None`: [`ToolSource::from_env`]. Kubernetes
    /// and etcd are always built from the Go module proxy (cached).
    pub tool_source: Option<ToolSource>,
    pub options: KwokOptions,
}

impl Default for KwokUpOptions {
    fn default() -> Self {
        KwokUpOptions {
            name: DEFAULT_NAME.to_string(),
            cpu_nodes: 1,
            gpu_nodes: 2,
            tool_source: None,
            options: KwokOptions::default(),
        }
    }
}

/// What `up` did.
#[derive(Debug, Clone)]
pub struct KwokUpReport {
    pub name: String,
    /// False when a running cluster was reused.
    pub created: bool,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub nodes: Vec<NodeInfo>,
    /// Seconds per step, in order.
    pub timings: Vec<(String, f64)>,
}

impl KwokUpReport {
    /// Human instructions: how to reach the cluster, and what it is not.
    pub fn how_to_reach(&self) -> String {
        format!(
            "kwok cluster {:?} is {} ({} fake nodes; control plane as local processes, logs in {}).\n\
             Reach it with:\n  export KUBECONFIG={}\n  {} get nodes -L nvidia.com/gpu.present\n\
             Its pods run nothing (no containers, probes, kubelet or device plugin): use it for scheduling and scale.\n\
             Delete it with: cargo xtask down --provider kwok --name {}\n",
            self.name,
            if self.created { "up" } else { "up (reused)" },
            self.nodes.len(),
            self.dir.join("logs").display(),
            self.kubeconfig.display(),
            self.kubectl.display(),
            self.name,
        )
    }
}

/// Creates (or reuses, while it runs) the kwok cluster `opts.name`.
pub fn up(opts: &KwokUpOptions) -> Result<KwokUpReport, ClusterError> {
    let mut timings = Vec::new();
    let mut t = Instant::now();
    let mut step = |name: &str, timings: &mut Vec<(String, f64)>| {
        let s = t.elapsed().as_secs_f64();
        eprintln!("inferbench: {name} done in {s:.1}s");
        timings.push((name.to_string(), s));
        t = Instant::now();
    };
    let spec = ClusterSpec::new(&opts.name, opts.cpu_nodes, opts.gpu_nodes)?;
    let source = match opts.tool_source {
        Some(s) => s,
        None => ToolSource::from_env()?,
    };
    let bins = Binaries::from_toolchain(&Toolchain::new(source))?;
    step("tools", &mut timings);
    let provider = KwokProvider::new(bins.clone(), opts.options.clone());
    let created = if KwokProvider::is_running(&spec.name) {
        eprintln!("inferbench: reusing kwok cluster {:?}", spec.name);
        false
    } else {
        provider.create(&spec)?;
        true
    };
    step("cluster", &mut timings);
    let nodes = provider.nodes(&spec.name)?;
    Ok(KwokUpReport {
        name: spec.name.clone(),
        created,
        dir: cluster_dir(&spec.name),
        kubeconfig: provider.kubeconfig(&spec.name)?,
        kubectl: bins.kubectl,
        nodes,
        timings,
    })
}

/// What `down` did.
#[derive(Debug, Clone, PartialEq)]
pub struct KwokDownReport {
    pub name: String,
    pub existed: bool,
    /// Processes of the cluster still running afterwards (should be none).
    pub leftover_processes: Vec<ProcessInfo>,
}

/// Stops every process of kwok cluster `name` and removes its folder.
pub fn down(name: &str) -> Result<KwokDownReport, ClusterError> {
    validate_name(name)?;
    let dir = cluster_dir(name);
    let existed = dir.join(super::STATE_FILE).is_file() || !process::processes_of(&dir).is_empty();
    delete_dir(name)?;
    Ok(KwokDownReport {
        name: name.to_string(),
        existed,
        leftover_processes: process::processes_of(&dir),
    })
}

/// Whether the cluster folder of `name` was made by the kwok provider.
pub fn is_kwok_cluster(name: &str) -> bool {
    std::fs::read_to_string(cluster_dir(name).join("provider"))
        .map(|s| s.trim() == "kwok")
        .unwrap_or(false)
}

/// Stops the processes of kwok cluster `name` and removes its folder;
/// refuses a folder another provider made.
pub(crate) fn delete_dir(name: &str) -> Result<(), KwokError> {
    let dir = cluster_dir(name);
    if !dir.exists() {
        return Ok(());
    }
    if !is_kwok_cluster(name) {
        return Err(KwokError::Invalid(format!(
            "{} is not a kwok cluster's folder; delete that cluster with `cargo xtask down --provider kind --name {name}`",
            dir.display()
        )));
    }
    shutdown(name, &dir, true)
}

/// One kwok cluster in [`KwokStatus`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct KwokClusterInfo {
    pub name: String,
    pub dir: PathBuf,
    pub server: Option<String>,
    pub kubeconfig: PathBuf,
    /// The recorded components: (name, pid, running).
    pub components: Vec<(String, u32, bool)>,
    /// Live processes with their memory.
    pub processes: Vec<ProcessInfo>,
    pub nodes: Vec<NodeInfo>,
    /// Why the nodes could not be listed, if they could not.
    pub nodes_error: Option<String>,
}

/// The kwok clusters that exist.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KwokStatus {
    pub clusters: Vec<KwokClusterInfo>,
}

/// What exists; starts and builds nothing.
pub fn status() -> Result<KwokStatus, ClusterError> {
    let root = environment::workspace::cache_dir().join("clusters");
    let mut clusters = Vec::new();
    for name in list_in(&root) {
        let dir = cluster_dir(&name);
        let state = State::load(&dir).ok().flatten();
        let components: Vec<(String, u32, bool)> = state
            .as_ref()
            .map(|s| {
                s.components
                    .iter()
                    .map(|c| (c.name.clone(), c.pid, process::alive(c.pid, &dir)))
                    .collect()
            })
            .unwrap_or_default();
        let api_up = components
            .iter()
            .any(|(n, _, alive)| n == "kube-apiserver" && *alive);
        let kubeconfig = dir.join("kubeconfig");
        let (nodes, nodes_error) = if api_up {
            let kc = kubeconfig.clone();
            let listed = super::block_on(async move {
                tokio::time::timeout(Duration::from_secs(15), async {
                    let client = k8s::connect(&kc).await?;
                    super::nodes::node_infos(&client).await
                })
                .await
            });
            match listed {
                Ok(Ok(Ok(n))) => (n, None),
                Ok(Ok(Err(e))) => (Vec::new(), Some(e.to_string())),
                Ok(Err(_)) => (
                    Vec::new(),
                    Some("the API server did not answer within 15s".into()),
                ),
                Err(e) => (Vec::new(), Some(e.to_string())),
            }
        } else {
            (
                Vec::new(),
                Some("kube-apiserver is not running".to_string()),
            )
        };
        clusters.push(KwokClusterInfo {
            server: state.as_ref().map(State::server),
            processes: process::processes_of(&dir),
            name,
            dir,
            kubeconfig,
            components,
            nodes,
            nodes_error,
        });
    }
    Ok(KwokStatus { clusters })
}

impl std::fmt::Display for KwokStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.clusters.is_empty() {
            return writeln!(f, "kwok clusters: none");
        }
        for c in &self.clusters {
            writeln!(
                f,
                "kwok cluster {} ({}):",
                c.name,
                c.server.as_deref().unwrap_or("no state")
            )?;
            for (name, pid, alive) in &c.components {
                let rss = c
                    .processes
                    .iter()
                    .find(|p| p.pid == *pid)
                    .map(|p| format!("{:.0} MiB", p.rss_mib))
                    .unwrap_or_default();
                writeln!(
                    f,
                    "  {:<26} pid {:<8} {:<8} {rss}",
                    name,
                    pid,
                    if *alive { "running" } else { "stopped" }
                )?;
            }
            let ready = c.nodes.iter().filter(|n| n.state == "Ready").count();
            writeln!(f, "  nodes: {} ({ready} Ready)", c.nodes.len())?;
            let mut pools: Vec<&str> = c.nodes.iter().map(|n| n.role.as_str()).collect();
            pools.sort();
            pools.dedup();
            for pool in pools {
                let n = c.nodes.iter().filter(|x| x.role == pool).count();
                writeln!(f, "    pool {pool}: {n}")?;
            }
            if let Some(e) = &c.nodes_error {
                writeln!(f, "  nodes unknown: {e}")?;
            }
            writeln!(f, "  kubeconfig: {}", c.kubeconfig.display())?;
            writeln!(f, "  logs: {}", c.dir.join("logs").display())?;
        }
        Ok(())
    }
}
