//! What `down` and `status` do for kwok clusters: by the cluster folders
//! and the processes that name them, without any binary.

use std::time::Duration;

use super::control_plane::shutdown;
use super::{KwokError, STATE_FILE, State, list_in, process};
use crate::{
    ClusterError, ClusterStatus, ClusterSummary, ComponentStatus, DownReport, Provider, cluster_dir,
};

/// The file in a cluster folder that says which provider made it.
pub(crate) const PROVIDER_FILE: &str = "provider";

/// Whether the cluster folder of `name` was made by the kwok provider.
pub fn is_kwok_cluster(name: &str) -> bool {
    std::fs::read_to_string(cluster_dir(name).join(PROVIDER_FILE))
        .map(|s| s.trim() == "kwok")
        .unwrap_or(false)
}

/// Stops every process of kwok cluster `name` and removes its folder.
pub fn tear_down(name: &str) -> Result<DownReport, ClusterError> {
    let dir = cluster_dir(name);
    let existed = dir.join(STATE_FILE).is_file() || !process::processes_of(&dir).is_empty();
    delete_dir(name)?;
    Ok(DownReport {
        provider: Provider::Kwok,
        name: name.to_string(),
        existed,
        leftovers: process::processes_of(&dir)
            .iter()
            .map(|p| format!("{} (pid {})", p.component, p.pid))
            .collect(),
    })
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

/// The kwok clusters that exist, their processes and nodes; starts and
/// builds nothing.
pub fn status() -> Result<ClusterStatus, ClusterError> {
    let root = environment::workspace::cache_dir().join("clusters");
    let mut clusters = Vec::new();
    for name in list_in(&root) {
        let dir = cluster_dir(&name);
        let state = State::load(&dir).ok().flatten();
        let live = process::processes_of(&dir);
        let components: Vec<ComponentStatus> = state
            .as_ref()
            .map(|s| {
                s.components
                    .iter()
                    .map(|c| ComponentStatus {
                        name: c.name.clone(),
                        pid: c.pid,
                        running: process::alive(c.pid, &dir),
                        rss_mib: live.iter().find(|p| p.pid == c.pid).map(|p| p.rss_mib),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let api_up = components
            .iter()
            .any(|c| c.name == "kube-apiserver" && c.running);
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
        clusters.push(ClusterSummary {
            server: state.as_ref().map(State::server),
            name,
            dir,
            kubeconfig: Some(kubeconfig),
            components,
            nodes,
            nodes_error,
        });
    }
    Ok(ClusterStatus {
        provider: Provider::Kwok,
        engine: None,
        node_image: None,
        cached_tools: crate::status::cached_tools(),
        clusters,
    })
}
