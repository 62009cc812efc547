//! What `down` and `status` do for kind, without the kind binary unless
//! there is a cluster to delete: Docker's labels say which containers are
//! whose.

use super::{CLUSTER_LABEL, KindProvider, ROLE_LABEL, label_value};
use crate::{
    ClusterError, ClusterProvider, ClusterStatus, ClusterSummary, DownReport, EngineStatus,
    NodeImageStatus, NodeInfo, Provider, cluster_dir,
};
use environment::docker::Docker;
use environment::node_image;
use environment::tools::{ToolSource, Toolchain};

/// Whether a kind cluster of this name has containers (a cheap check that
/// builds no tool and starts no engine: no engine, no cluster).
pub fn is_present(name: &str) -> bool {
    Docker::detect()
        .containers_with_label(&format!("{CLUSTER_LABEL}={name}"))
        .is_ok_and(|c| !c.is_empty())
}

/// Deletes the cluster `name` and checks that none of its containers is
/// left. Starts no engine and builds nothing when there is nothing to do.
pub fn tear_down(name: &str) -> Result<DownReport, ClusterError> {
    let docker = Docker::detect();
    let report = |existed, leftovers| DownReport {
        provider: Provider::Kind,
        name: name.to_string(),
        existed,
        leftovers,
    };
    if !docker.engine_running() {
        return Ok(report(false, Vec::new()));
    }
    let label = format!("{CLUSTER_LABEL}={name}");
    let existed = !docker.containers_with_label(&label)?.is_empty();
    if existed {
        let tools = Toolchain::new(ToolSource::from_env()?);
        let provider = KindProvider::new(tools.kind()?, docker.clone());
        provider.delete(name)?;
    }
    let _ = std::fs::remove_file(KindProvider::kubeconfig_path(name));
    let leftovers = docker
        .containers_with_label(&label)?
        .into_iter()
        .map(|c| c.names)
        .collect();
    Ok(report(existed, leftovers))
}

/// The engine, node image, cached tools, kind clusters and their nodes.
/// Starts and builds nothing.
pub fn status() -> Result<ClusterStatus, ClusterError> {
    let docker = Docker::detect();
    let running = docker.engine_running();
    let reference = node_image::node_image_reference();
    let mut clusters = Vec::new();
    let mut present = false;
    let mut server_version = None;
    if running {
        server_version = docker.server_version().ok();
        present = docker.image_exists(&reference)?;
        let all = docker.containers_with_label(CLUSTER_LABEL)?;
        let mut names: Vec<String> = all
            .iter()
            .filter_map(|c| label_value(&c.labels, CLUSTER_LABEL))
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let mut nodes: Vec<NodeInfo> = all
                .iter()
                .filter(|c| label_value(&c.labels, CLUSTER_LABEL).as_deref() == Some(&name))
                .map(|c| NodeInfo {
                    name: c.names.clone(),
                    role: label_value(&c.labels, ROLE_LABEL).unwrap_or_default(),
                    state: c.status.clone(),
                })
                .collect();
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            let dir = cluster_dir(&name);
            let kc = dir.join("kubeconfig");
            clusters.push(ClusterSummary {
                kubeconfig: kc.exists().then_some(kc),
                name,
                dir,
                server: None,
                components: Vec::new(),
                nodes,
                nodes_error: None,
            });
        }
    }
    Ok(ClusterStatus {
        provider: Provider::Kind,
        engine: Some(EngineStatus {
            running,
            server_version,
        }),
        node_image: Some(NodeImageStatus { reference, present }),
        cached_tools: crate::status::cached_tools(),
        clusters,
    })
}
