//! A thin `kubectl` wrapper bound to one kubeconfig, with timeouts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ClusterError;
use environment::tools::exec::{Cmd, Output};

/// `kubectl --kubeconfig PATH ...`.
#[derive(Debug, Clone)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(bin: PathBuf, kubeconfig: PathBuf) -> Kubectl {
        Kubectl { bin, kubeconfig }
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kubectl command (default timeout two minutes).
    pub fn cmd(&self) -> Cmd {
        Cmd::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .timeout(Duration::from_secs(120))
    }

    /// Runs kubectl with `args`; returns stdout.
    pub fn run(&self, args: &[&str]) -> Result<String, ClusterError> {
        Ok(self.cmd().args(args).run()?.stdout)
    }

    /// `kubectl apply -f -` of `manifest`.
    pub fn apply(&self, manifest: &str) -> Result<String, ClusterError> {
        Ok(self
            .cmd()
            .args(["apply", "-f", "-"])
            .stdin_bytes(manifest.as_bytes().to_vec())
            .run()?
            .stdout)
    }

    /// `kubectl wait --for=condition=Ready nodes --all`, retried until the
    /// deadline (it fails at once while no node is registered).
    pub fn wait_nodes_ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        let start = Instant::now();
        let mut last: Option<Output> = None;
        while start.elapsed() < timeout {
            let left = timeout.saturating_sub(start.elapsed()).as_secs().max(1);
            let out = self
                .cmd()
                .args(["wait", "--for=condition=Ready", "nodes", "--all"])
                .arg(format!("--timeout={left}s"))
                .timeout(Duration::from_secs(left + 30))
                .run_unchecked()?;
            if out.status.success() {
                return Ok(());
            }
            last = Some(out);
            std::thread::sleep(Duration::from_secs(2));
        }
        let nodes = self
            .run(&["get", "nodes", "-o", "wide"])
            .unwrap_or_default();
        Err(ClusterError::Timeout {
            what: "all nodes Ready".into(),
            secs: timeout.as_secs(),
            detail: format!("{}\n{nodes}", last.map(|o| o.stderr).unwrap_or_default()),
        })
    }

    /// `kubectl rollout status` of a deployment.
    pub fn wait_rollout(
        &self,
        namespace: &str,
        deployment: &str,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        self.wait_rollout_of(namespace, &format!("deployment/{deployment}"), timeout)
    }

    /// `kubectl rollout status` of `kind/name` (a deployment, daemonset or statefulset).
    pub fn wait_rollout_of(
        &self,
        namespace: &str,
        resource: &str,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        let out = self
            .cmd()
            .args(["-n", namespace, "rollout", "status", resource])
            .arg(format!("--timeout={}s", timeout.as_secs()))
            .timeout(timeout + Duration::from_secs(30))
            .run_unchecked()?;
        if out.status.success() {
            return Ok(());
        }
        let pods = self
            .run(&["-n", namespace, "get", "pods", "-o", "wide"])
            .unwrap_or_default();
        let events = self
            .run(&["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"])
            .unwrap_or_default();
        Err(ClusterError::Timeout {
            what: format!("{resource} in {namespace} rolled out"),
            secs: timeout.as_secs(),
            detail: format!(
                "{}{}\n{pods}\n{}",
                out.stdout,
                out.stderr,
                tail_lines(&events, 20)
            ),
        })
    }

    /// Retries `f` until it returns `Ok(Some(_))` or `timeout` passes.
    pub fn poll<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Kubectl) -> Result<Option<T>, ClusterError>,
    ) -> Result<T, ClusterError> {
        let start = Instant::now();
        let mut last_err = String::new();
        loop {
            match f(self) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last_err = e.to_string(),
            }
            if start.elapsed() >= timeout {
                return Err(ClusterError::Timeout {
                    what: what.to_string(),
                    secs: timeout.as_secs(),
                    detail: last_err,
                });
            }
            std::thread::sleep(Duration::from_secs(3));
        }
    }
}

fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
