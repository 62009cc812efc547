//! What every operation of one scenario run can reach ([`Ctx`]), and what
//! it gives back ([`OpResult`], from [`crate::outcome`]).
//!
//! This module sits below the operations: it depends only on leaf modules
//! (the console, the recorder, the background-load and undo types, Ctrl-C,
//! the timeouts), and every operation module depends on it, never the
//! other way round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kube::Client;

use crate::background::BackgroundLoad;
use crate::cancel::Cancel;
use crate::console::Console;
use crate::recorder::Recorder;
use crate::undo::Undo;
use report::LoadReport;
use scenario::bindings::Bindings;

pub use crate::timeouts::{DEFAULT_CLEANUP_TIMEOUT, DEFAULT_TIMEOUTS, timeout_for};

pub use crate::outcome::{Check, Observed, OpError, OpOutcome, OpResult};

/// The pods the last `kill-pod` or `evict` removed, for `expect: { podReplaced }`.
#[derive(Debug, Clone, Default)]
pub struct Kill {
    /// The label selector of the pods' owner (`deployment/NAME`).
    pub selector: String,
    /// `(name, uid)` of each pod removed.
    pub killed: Vec<(String, String)>,
    /// UIDs of every pod of the owner when the fault was injected.
    pub before: std::collections::BTreeSet<String>,
    /// `(name, why)` of each eviction the API server refused (429: a
    /// PodDisruptionBudget allowed no disruption). Those pods are in
    /// `killed` too: they were meant to go, and are still there.
    pub refused: Vec<(String, String)>,
}

pub struct Ctx {
    /// The operations' client: the kubeconfig's user, or the scenario's
    /// `runAs` ServiceAccount.
    pub client: Client,
    /// The kubeconfig's user, always: evidence, events and clean-up.
    pub admin: Client,
    pub namespace: String,
    pub bindings: Bindings,
    /// Folder of the scenario file: relative paths resolve here first.
    pub scenario_dir: PathBuf,
    pub repo_root: PathBuf,
    /// The operations' kubeconfig (under `runAs`, one that impersonates).
    pub kubeconfig: PathBuf,
    /// kubectl, for `script` (on PATH) and `apply: { kustomize }`.
    pub kubectl: Option<PathBuf>,
    pub recorder: Recorder,
    pub loads: Vec<LoadReport>,
    pub background: BTreeMap<String, BackgroundLoad>,
    pub console: Console,
    pub cancel: Cancel,
    /// Faults outside the namespace to revert at the end.
    pub undo: Vec<Undo>,
    /// The last pod kill or eviction.
    pub last_kill: Option<Kill>,
    /// The step now running (background loads remember it).
    pub step: String,
    /// Write `evidence.json` after every step, passed or failed.
    pub record_evidence: bool,
    /// A team's own template in place of the serving fixture.
    pub own_template: Option<std::sync::Arc<crate::own_template::OwnTemplate>>,
    /// The post-render plan of each revision of the team's Helm release in
    /// this namespace (revision `n` at `n - 1`), for rollouts and rollbacks.
    pub release_plans: Vec<crate::post_render::PostRender>,
    /// How to read a node's kernel (kind: `docker exec`), where the cluster allows.
    pub node_exec: Option<crate::node_kernel::NodeExec>,
    /// The image whose `load` command generates loads from inside the
    /// cluster (our mock server's); None: loads go through a port-forward.
    pub load_image: Option<String>,
    /// The serving pods' metrics scraped while loads ran.
    pub scraped: crate::server_metrics::Scraped,
    /// The GPUs of the scenario's pods, read from the dcgm-exporter while
    /// loads ran.
    pub gpu_scraped: crate::gpu_metrics::GpuScraped,
    /// Every container termination the scenario's `containerTerminated`
    /// checks have seen, kept from one check to the next.
    pub terminations: crate::terminations::Terminations,
}

impl Ctx {
    /// A path from a scenario: absolute, next to the scenario, or from the repository root.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        let beside = self.scenario_dir.join(p);
        if beside.exists() {
            beside
        } else {
            self.repo_root.join(p)
        }
    }
}
