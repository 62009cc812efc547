//! What every operation of one scenario run can reach.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::Client;

use super::console::Console;
use super::loads::BackgroundLoad;
use super::recorder::Recorder;
use report::LoadReport;
use scenario::bindings::Bindings;
use scenario::model::Timeouts;

/// Timeouts when neither the operation, the scenario nor the suite sets one.
pub const DEFAULT_TIMEOUTS: [(&str, Duration); 11] = [
    ("apply", Duration::from_secs(30)),
    ("assert", Duration::from_secs(60)),
    ("wait", Duration::from_secs(180)),
    ("rollout", Duration::from_secs(30)),
    ("rollback", Duration::from_secs(30)),
    ("scale", Duration::from_secs(30)),
    ("load", Duration::from_secs(600)),
    ("inject", Duration::from_secs(30)),
    ("expect", Duration::from_secs(120)),
    ("script", Duration::from_secs(120)),
    ("sleep", Duration::from_secs(3600)),
];

/// How long namespace deletion may take at the end of a scenario.
pub const DEFAULT_CLEANUP_TIMEOUT: Duration = Duration::from_secs(120);

pub fn timeout_for(kind: &str, scenario: &Timeouts, suite: &Timeouts) -> Duration {
    let pick = |t: &Timeouts| match kind {
        "apply" => t.apply,
        "assert" => t.assert,
        "wait" => t.wait,
        "rollout" | "rollback" | "scale" => t.rollout,
        "load" => t.load,
        "expect" => t.expect,
        "script" => t.script,
        _ => None,
    };
    pick(scenario)
        .or_else(|| pick(suite))
        .or_else(|| {
            DEFAULT_TIMEOUTS
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, d)| *d)
        })
        .unwrap_or(Duration::from_secs(60))
}

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
    pub cancel: super::Cancel,
    /// Faults outside the namespace to revert at the end.
    pub undo: Vec<super::inject::Undo>,
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
