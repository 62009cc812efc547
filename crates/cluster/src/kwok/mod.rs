//! The kwok provider: a real control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler) run as local child processes,
//! and [kwok](https://kwok.sigs.k8s.io) playing the kubelet of fake nodes.
//! No Docker, no containers: a cluster of hundreds of GPU nodes fits on a
//! laptop, because a fake node is only a Node object whose status kwok keeps
//! Ready, and a fake pod only a Pod object kwok marks Running.
//!
//! What it shows: scheduling (resources, taints, tolerations, selectors),
//! controllers, the API server and etcd under load. What it cannot: no
//! container runs, so no probes, processes, OOM kills, real traffic,
//! kubelet or device plugin (the `nvidia.com/gpu` capacity is written into
//! the Node objects by the harness).
//!
//! Everything of a cluster lives in `cluster_dir(name)`: `kwok.json` (the
//! state: ports and pids), `kubeconfig`, `pki/`, `etcd/`, `logs/<component>.log`
//! and `pids/<component>.pid`. `down` stops the processes by pid file (and
//! any of our binaries still naming that folder), then removes the folder.
//!
//! [`KwokProvider`] is the [`crate::ClusterProvider`]; [`status`] holds
//! its `down` and `status`, which need no binary.

mod args;
pub mod bench;
pub mod bench_dra;
mod control_plane;
pub mod nodes;
mod pki;
pub mod process;
mod provider;
mod state;
pub mod status;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ClusterError;
use environment::tools::{ToolError, Toolchain};
use k8s::K8sError;

pub use control_plane::{ControlPlane, KwokOptions};
pub use nodes::GpuShape;
pub use provider::KwokProvider;
pub use state::{ComponentState, Ports, State};
pub use status::is_kwok_cluster;

/// The annotation kwok selects the nodes it manages by (`=fake`).
pub const NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// The value of [`NODE_ANNOTATION`] on our fake nodes.
pub const NODE_ANNOTATION_VALUE: &str = "fake";
/// The extended resource GPU nodes advertise.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// The file in the cluster folder that marks a kwok cluster.
pub const STATE_FILE: &str = "kwok.json";

/// Errors of the kwok provider.
#[derive(Debug, thiserror::Error)]
pub enum KwokError {
    #[error("generating the cluster's certificates: {0}")]
    Pki(#[from] rcgen::Error),
    #[error("could not start {component} ({program}): {source}")]
    Spawn {
        component: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{component} exited during start-up ({status}); read its log {}{}",
        .log.display(),
        tail_suffix(.tail)
    )]
    Exited {
        component: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "{component}: {what} did not happen within {}s; read its log {}{}",
        .after.as_secs(),
        .log.display(),
        tail_suffix(.tail)
    )]
    NotReady {
        component: String,
        what: String,
        after: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("{what} did not happen within {}s{}", .after.as_secs(), tail_suffix(.detail))]
    Timeout {
        what: String,
        after: Duration,
        detail: String,
    },
    #[error(
        "kwok cluster {name:?} exists and runs ({}); use it, or delete it with \
         `cargo xtask down --provider kwok --name {name}`",
        .dir.display()
    )]
    Exists { name: String, dir: PathBuf },
    #[error(
        "cluster state {} is unreadable ({detail}); delete the cluster with \
         `cargo xtask down --provider kwok --name <name>`",
        .path.display()
    )]
    State { path: PathBuf, detail: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Kubernetes API: {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    K8s(#[from] K8sError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("processes of cluster {name:?} survived SIGKILL: {pids:?}")]
    Survivors { name: String, pids: Vec<u32> },
    #[error("invalid option: {0}")]
    Invalid(String),
}

fn tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{}", tail.trim_end())
    }
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> KwokError {
    let what = what.into();
    move |source| KwokError::Io { what, source }
}

pub(crate) fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> KwokError {
    let what = what.into();
    move |source| KwokError::Api { what, source }
}

/// Runs `fut` to completion on a fresh current-thread runtime. The kwok
/// provider's blocking API is built on it, so it must not be called from
/// inside a tokio runtime.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, KwokError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_err("starting a tokio runtime"))?;
    Ok(rt.block_on(fut))
}

/// [`block_on`] with a time limit: `None` when `fut` took longer.
pub(crate) fn block_on_within<F: std::future::Future>(
    limit: Duration,
    fut: F,
) -> Result<Option<F::Output>, KwokError> {
    // The timer must be made inside the runtime.
    block_on(async move { tokio::time::timeout(limit, fut).await.ok() })
}

/// The programs a kwok cluster runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kwok: PathBuf,
    pub kubectl: PathBuf,
}

impl Binaries {
    /// The pinned binaries: Kubernetes and etcd built from the Go module
    /// proxy (cached), kwok from `tools`' source.
    pub fn from_toolchain(tools: &Toolchain) -> Result<Binaries, ToolError> {
        let k8s = tools.kubernetes()?;
        let etcd = tools.etcd()?;
        Ok(Binaries {
            etcd: etcd.join("etcd"),
            kube_apiserver: k8s.join("kube-apiserver"),
            kube_controller_manager: k8s.join("kube-controller-manager"),
            kube_scheduler: k8s.join("kube-scheduler"),
            kubectl: k8s.join("kubectl"),
            kwok: tools.kwok()?,
        })
    }
}

/// Names of the kwok clusters under `clusters_root` (folders holding
/// [`STATE_FILE`]); kind's folders beside them are not listed.
pub fn list_in(clusters_root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(clusters_root)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join(STATE_FILE).is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl From<KwokError> for ClusterError {
    fn from(e: KwokError) -> Self {
        ClusterError::Kwok(Box::new(e))
    }
}
