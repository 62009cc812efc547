//! `status` for every provider, behind `cargo xtask status`.

use std::path::PathBuf;

use crate::kind::KindProvider;
use crate::kwok::KwokProvider;
use crate::{ClusterError, ClusterProvider, NodeInfo, Provider};

/// What exists for one provider.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterStatus {
    pub provider: Provider,
    /// The Docker engine, for a provider that needs one (kind).
    pub engine: Option<EngineStatus>,
    /// The node image, for a provider that boots one (kind).
    pub node_image: Option<NodeImageStatus>,
    /// Tools in the cache (`name version`).
    pub cached_tools: Vec<String>,
    pub clusters: Vec<ClusterSummary>,
}

/// The Docker engine in [`ClusterStatus`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineStatus {
    pub running: bool,
    pub server_version: Option<String>,
}

/// The node image in [`ClusterStatus`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeImageStatus {
    pub reference: String,
    pub present: bool,
}

/// One cluster in [`ClusterStatus`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterSummary {
    pub name: String,
    /// The cluster folder.
    pub dir: PathBuf,
    pub kubeconfig: Option<PathBuf>,
    /// The API server's address, where the provider records it (kwok).
    pub server: Option<String>,
    /// Processes the cluster runs on this host (kwok's control plane).
    pub components: Vec<ComponentStatus>,
    pub nodes: Vec<NodeInfo>,
    /// Why the nodes could not be listed, if they could not.
    pub nodes_error: Option<String>,
}

/// A process of a cluster in [`ClusterSummary`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentStatus {
    pub name: String,
    pub pid: u32,
    pub running: bool,
    /// Resident memory, while it runs.
    pub rss_mib: Option<f64>,
}

/// What exists for `provider`: clusters, nodes, and (kind) the engine and
/// node image. Starts and builds nothing.
pub fn status(provider: Provider) -> Result<ClusterStatus, ClusterError> {
    match provider {
        Provider::Kind => KindProvider::status(),
        Provider::Kwok => KwokProvider::status(),
    }
}

/// `cluster` or `kwok cluster`: how messages name a provider's cluster.
pub(crate) fn cluster_word(provider: Provider) -> &'static str {
    match provider {
        Provider::Kind => "cluster",
        Provider::Kwok => "kwok cluster",
    }
}

/// The tools in the cache, `name version` each.
pub(crate) fn cached_tools() -> Vec<String> {
    let tools_root = environment::workspace::cache_dir().join("tools");
    let mut cached = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&tools_root) {
        for e in entries.flatten() {
            if let Ok(versions) = std::fs::read_dir(e.path()) {
                for v in versions.flatten() {
                    if v.path().join(".complete").exists() || v.path().join("bin").is_dir() {
                        cached.push(format!(
                            "{} {}",
                            e.file_name().to_string_lossy(),
                            v.file_name().to_string_lossy()
                        ));
                    }
                }
            }
        }
    }
    cached.sort();
    cached
}

/// A cluster with more nodes than this is shown as a count per pool.
const NODES_LISTED: usize = 12;

impl std::fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(e) = &self.engine {
            let state = match (e.running, &e.server_version) {
                (true, Some(v)) => format!("running ({v})"),
                (true, None) => "running".to_string(),
                _ => "not running".to_string(),
            };
            writeln!(f, "docker engine: {state}")?;
        }
        if let Some(i) = &self.node_image {
            let built = if i.present { "built" } else { "not built" };
            writeln!(f, "node image: {} ({built})", i.reference)?;
        }
        writeln!(
            f,
            "cached tools: {}",
            if self.cached_tools.is_empty() {
                "none".to_string()
            } else {
                self.cached_tools.join(", ")
            }
        )?;
        let what = cluster_word(self.provider);
        if self.clusters.is_empty() {
            writeln!(f, "{what}s: none")?;
        }
        for c in &self.clusters {
            match &c.server {
                Some(server) => writeln!(f, "{what} {} ({server}):", c.name)?,
                None => writeln!(f, "{what} {}:", c.name)?,
            }
            write_cluster(f, c)?;
        }
        Ok(())
    }
}

fn write_cluster(f: &mut std::fmt::Formatter<'_>, c: &ClusterSummary) -> std::fmt::Result {
    for p in &c.components {
        writeln!(
            f,
            "  {:<26} pid {:<8} {:<8} {}",
            p.name,
            p.pid,
            if p.running { "running" } else { "stopped" },
            p.rss_mib.map(|m| format!("{m:.0} MiB")).unwrap_or_default()
        )?;
    }
    if c.nodes.len() <= NODES_LISTED {
        for n in &c.nodes {
            writeln!(f, "  {:<40} {:<14} {}", n.name, n.role, n.state)?;
        }
    } else {
        let ready = c.nodes.iter().filter(|n| n.state == "Ready").count();
        writeln!(f, "  nodes: {} ({ready} Ready)", c.nodes.len())?;
        let mut pools: Vec<&str> = c.nodes.iter().map(|n| n.role.as_str()).collect();
        pools.sort();
        pools.dedup();
        for pool in pools {
            let n = c.nodes.iter().filter(|x| x.role == pool).count();
            writeln!(f, "    pool {pool}: {n}")?;
        }
    }
    if let Some(e) = &c.nodes_error {
        writeln!(f, "  nodes unknown: {e}")?;
    }
    if let Some(k) = &c.kubeconfig {
        writeln!(f, "  kubeconfig: {}", k.display())?;
    }
    if !c.components.is_empty() {
        writeln!(f, "  logs: {}", c.dir.join("logs").display())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, pool: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            role: pool.into(),
            state: "Ready".into(),
        }
    }

    #[test]
    fn status_prints_what_each_provider_has() {
        let kind = ClusterStatus {
            provider: Provider::Kind,
            engine: Some(EngineStatus {
                running: true,
                server_version: Some("28.0".into()),
            }),
            node_image: Some(NodeImageStatus {
                reference: "inferbench/node:v1".into(),
                present: true,
            }),
            cached_tools: vec!["kind v0.30".into()],
            clusters: vec![ClusterSummary {
                name: "inferbench".into(),
                dir: "/c/inferbench".into(),
                kubeconfig: Some("/c/inferbench/kubeconfig".into()),
                server: None,
                components: Vec::new(),
                nodes: vec![node("inferbench-control-plane", "control-plane")],
                nodes_error: None,
            }],
        }
        .to_string();
        assert!(
            kind.starts_with(
                "docker engine: running (28.0)\nnode image: inferbench/node:v1 (built)\n"
            ),
            "{kind}"
        );
        assert!(
            kind.contains("cluster inferbench:\n  inferbench-control-plane"),
            "{kind}"
        );
        let kwok = ClusterStatus {
            provider: Provider::Kwok,
            engine: None,
            node_image: None,
            cached_tools: Vec::new(),
            clusters: vec![ClusterSummary {
                name: "k".into(),
                dir: "/c/k".into(),
                kubeconfig: Some("/c/k/kubeconfig".into()),
                server: Some("https://127.0.0.1:6443".into()),
                components: vec![ComponentStatus {
                    name: "etcd".into(),
                    pid: 7,
                    running: true,
                    rss_mib: Some(120.4),
                }],
                nodes: (0..20)
                    .map(|i| node(&format!("k-gpu-{i}"), "gpu"))
                    .collect(),
                nodes_error: None,
            }],
        }
        .to_string();
        assert!(!kwok.contains("docker engine"), "{kwok}");
        assert!(
            kwok.contains("kwok cluster k (https://127.0.0.1:6443):"),
            "{kwok}"
        );
        assert!(kwok.contains("120 MiB"), "{kwok}");
        assert!(
            kwok.contains("  nodes: 20 (20 Ready)\n    pool gpu: 20\n"),
            "{kwok}"
        );
        assert!(kwok.contains("  logs: /c/k/logs"), "{kwok}");
    }
}
