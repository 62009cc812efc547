//! Running scenarios against a cluster: one fresh namespace per scenario
//! (or matrix entry), steps with `try` / `catch` / `finally`, the default
//! evidence collection on failure, negative twins judged by where they
//! fail, and cleanup on success, failure and Ctrl-C (unless kept).
//!
//! The plan (which instances, which bindings) comes from
//! [`scenario::plan`]; this module executes it: [`suite`] runs the
//! instances (concurrently, `parallel` at a time), [`instance`] one scenario,
//! [`step`] one step and its operations, [`verdict`] judges the outcome.
//! The result is a [`RunReport`]; writing it to files is [`report`]'s job.

pub mod console;
pub mod context;
pub mod diagnose;
pub mod evidence;
pub mod expect;
pub mod forwarder;
pub mod inject;
mod instance;
pub mod loads;
pub mod matching;
pub mod ops;
pub mod recorder;
mod step;
mod suite;
pub mod verdict;
pub mod watch;

use std::collections::BTreeSet;
use std::path::PathBuf;

use thiserror::Error;

use report::{ClusterInfo, ImageInfo};
use scenario::bindings::Bindings;
use scenario::model::{Capability, Timeouts};

pub use report::RunReport;
pub use suite::{new_run_id, run};
pub use verdict::{Failure, verdict};

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] k8s::K8sError),
    #[error("{0}")]
    Values(#[from] scenario::bindings::TemplateError),
}

/// Ctrl-C, seen by every operation.
#[derive(Clone)]
pub struct Cancel(tokio::sync::watch::Receiver<bool>);

impl Cancel {
    /// A sender that cancels (send `true`) and the receiver operations hold.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Cancel) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Cancel(rx))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn cancelled(&mut self) {
        let _ = self.0.wait_for(|c| *c).await;
    }
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
    /// `--set name=value` bindings, over every scenario's.
    pub set: Bindings,
    /// The serving profile's bindings, under every scenario's.
    pub profile_bindings: Bindings,
    /// What the cluster and the profile offer; scenarios and steps that
    /// require more are skipped.
    pub capabilities: BTreeSet<Capability>,
}

/// The default for `parallel`: scenarios mostly wait (for rollouts, model
/// loads, autoscalers), so two per core, between 2 and 8.
pub fn default_parallelism() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 2).clamp(2, 8)
}
