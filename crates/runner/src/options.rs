//! What a run is asked to do ([`RunOptions`]), how it can fail before any
//! scenario runs ([`RunError`]), and the default concurrency.

use std::collections::BTreeSet;
use std::path::PathBuf;

use thiserror::Error;

use report::{ClusterInfo, ImageInfo};
use scenario::bindings::Bindings;
use scenario::model::{Capability, Timeouts};

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] k8s::K8sError),
    #[error("{0}")]
    Values(#[from] scenario::bindings::TemplateError),
}

pub struct RunOptions {
    pub kubeconfig: PathBuf,
    pub kubectl: Option<PathBuf>,
    /// The report folder; evidence goes to `artifacts/` inside it.
    pub report_dir: PathBuf,
    pub run_id: String,
    pub cluster: ClusterInfo,
    pub images: Vec<ImageInfo>,
    pub command: String,
    /// Leave namespaces in place after each scenario.
    pub keep: bool,
    /// Stop after the first scenario that fails (those already running finish).
    pub fail_fast: bool,
    /// How many scenario instances run at once (each in its own namespace).
    pub parallel: usize,
    pub quiet: bool,
    /// Suite-wide timeouts (scenarios and operations override them).
    pub timeouts: Timeouts,
    /// Run only the instances whose name (`scenario[entry]@variant`)
    /// contains one of these; empty: every instance.
    pub only: Vec<String>,
    /// `--set name=value` bindings, over every scenario's.
    pub set: Bindings,
    /// The serving profile's bindings, under every scenario's.
    pub profile_bindings: Bindings,
    /// What the cluster and the profile offer; scenarios and steps that
    /// require more are skipped.
    pub capabilities: BTreeSet<Capability>,
    /// Write a recording of the evidence (`evidence.json`) after every
    /// step, passed or failed (failed steps always get one).
    pub record_evidence: bool,
    /// A team's own template, applied where scenarios apply the serving
    /// template: every scenario runs once per variant (a chart's values
    /// files), with the variant's bindings under `profile_bindings`.
    /// Empty: the profile's `servingTemplate`.
    pub own_templates: Vec<std::sync::Arc<crate::own_template::OwnTemplate>>,
    /// How to read a node's kernel (`docker exec` on kind), so an exit code
    /// 137 the runtime did not label is judged on the kernel's OOM count.
    /// None: the API's word only.
    pub node_exec: Option<crate::node_kernel::NodeExec>,
    /// The image (on every node) whose `load` command runs a load from a
    /// pod in the scenario's namespace; None: every load goes through a
    /// port-forward from the host.
    pub load_image: Option<String>,
}

/// The default for `parallel`: scenarios mostly wait (for rollouts, model
/// loads, autoscalers), so two per core, between 2 and 8.
pub fn default_parallelism() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 2).clamp(2, 8)
}
