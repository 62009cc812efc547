//! What every operation of one scenario run can reach ([`Ctx`]), and what
//! it gives back ([`OpResult`]).
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

/// What an operation returns: a detail line for the report, or the error
/// text the report quotes.
pub type OpResult = Result<Option<String>, String>;

pub struct Ctx {
    pub client: Client,
    pub namespace: String,
    pub bindings: Bindings,
    /// Folder of the scenario file: relative paths resolve here first.
    pub scenario_dir: PathBuf,
    pub repo_root: PathBuf,
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
