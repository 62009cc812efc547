//! The kind provider: clusters whose nodes are Docker containers, driven
//! through the `kind` binary (like kind's own docker provider under
//! `pkg/cluster/internal/providers/docker`).

pub mod config;
pub mod real_gpus;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{
    ClusterError, ClusterProvider, ClusterSpec, NodeInfo, cluster_dir, io_err, validate_name,
};
use environment::docker::Docker;
use environment::tools::exec::Cmd;

/// The Docker label kind puts on every node container.
pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
/// The Docker label naming a node's role.
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";

const CREATE_TIMEOUT: Duration = Duration::from_secs(1200);

/// Clusters made by `kind`.
#[derive(Debug, Clone)]
pub struct KindProvider {
    kind: PathBuf,
    docker: Docker,
}

impl KindProvider {
    /// A provider using the `kind` binary at `kind` and the engine behind
    /// `docker`.
    pub fn new(kind: PathBuf, docker: Docker) -> KindProvider {
        KindProvider { kind, docker }
    }

    /// A `kind` command that uses the same docker CLI and API version as
    /// `docker` (the engine may be older than the `docker` first on PATH).
    fn cmd(&self) -> Result<Cmd, ClusterError> {
        let mut c = Cmd::new(&self.kind);
        let bin = environment::workspace::cache_dir()
            .join("docker")
            .join("bin");
        std::fs::create_dir_all(&bin).map_err(io_err("creating the docker shim folder"))?;
        let link = bin.join("docker");
        if std::fs::read_link(&link).ok().as_deref() != Some(self.docker.cli()) {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(self.docker.cli(), &link)
                .map_err(io_err("linking the docker CLI"))?;
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin];
        dirs.extend(std::env::split_paths(&path));
        let joined = std::env::join_paths(dirs).map_err(|e| ClusterError::Io {
            what: "building PATH for kind".into(),
            source: std::io::Error::other(e),
        })?;
        c = c.env("PATH", joined);
        if let Some(v) = self.docker.api_version() {
            c = c.env("DOCKER_API_VERSION", v);
        }
        Ok(c)
    }

    fn kubeconfig_path(name: &str) -> PathBuf {
        cluster_dir(name).join("kubeconfig")
    }
}

impl ClusterProvider for KindProvider {
    fn provider_name(&self) -> &'static str {
        "kind"
    }

    fn create(&self, spec: &ClusterSpec) -> Result<(), ClusterError> {
        validate_name(&spec.name)?;
        let dir = cluster_dir(&spec.name);
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let config = dir.join("kind-config.yaml");
        std::fs::write(&config, config::render(spec))
            .map_err(io_err(format!("writing {}", config.display())))?;
        let mut c = self
            .cmd()?
            .args(["create", "cluster", "--name", &spec.name, "--config"])
            .arg(&config)
            .arg("--kubeconfig")
            .arg(Self::kubeconfig_path(&spec.name));
        if let Some(image) = &spec.node_image {
            c = c.args(["--image", image]);
        }
        if std::env::var_os("INFERBENCH_KIND_RETAIN").is_some() {
            c = c.arg("--retain");
        }
        c.timeout(CREATE_TIMEOUT).progress("kind create").run()?;
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), ClusterError> {
        self.cmd()?
            .args(["delete", "cluster", "--name", name, "--kubeconfig"])
            .arg(Self::kubeconfig_path(name))
            .timeout(Duration::from_secs(300))
            .progress("kind delete")
            .run()?;
        // kind leaves nothing behind; make sure of it.
        let left = self
            .docker
            .containers_with_label(&format!("{CLUSTER_LABEL}={name}"))?;
        if !left.is_empty() {
            let ids: Vec<&str> = left.iter().map(|c| c.id.as_str()).collect();
            self.docker
                .cmd()
                .args(["rm", "-f", "-v"])
                .args(&ids)
                .timeout(Duration::from_secs(120))
                .run()?;
        }
        Ok(())
    }

    fn exists(&self, name: &str) -> Result<bool, ClusterError> {
        Ok(self.list()?.iter().any(|c| c == name))
    }

    fn list(&self) -> Result<Vec<String>, ClusterError> {
        let out = self
            .cmd()?
            .args(["get", "clusters"])
            .timeout(Duration::from_secs(60))
            .run()?;
        Ok(out
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("No kind clusters"))
            .map(String::from)
            .collect())
    }

    fn kubeconfig(&self, name: &str) -> Result<PathBuf, ClusterError> {
        if !self.exists(name)? {
            return Err(ClusterError::NotFound(name.to_string()));
        }
        let text = self
            .cmd()?
            .args(["get", "kubeconfig", "--name", name])
            .timeout(Duration::from_secs(60))
            .run()?
            .stdout;
        let path = Self::kubeconfig_path(name);
        write_private(&path, &text)?;
        Ok(path)
    }

    fn load_image(&self, name: &str, image: &str) -> Result<(), ClusterError> {
        self.cmd()?
            .args(["load", "docker-image", image, "--name", name])
            .timeout(Duration::from_secs(900))
            .progress("kind load")
            .run()?;
        Ok(())
    }

    fn nodes(&self, name: &str) -> Result<Vec<NodeInfo>, ClusterError> {
        let containers = self
            .docker
            .containers_with_label(&format!("{CLUSTER_LABEL}={name}"))?;
        let mut nodes: Vec<NodeInfo> = containers
            .into_iter()
            .map(|c| NodeInfo {
                role: label_value(&c.labels, ROLE_LABEL).unwrap_or_default(),
                name: c.names,
                state: c.state,
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nodes)
    }
}

/// The value of `key` in docker's `a=b,c=d` label list.
fn label_value(labels: &str, key: &str) -> Option<String> {
    labels
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

fn write_private(path: &Path, text: &str) -> Result<(), ClusterError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(io_err(format!("writing {}", path.display())))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err(format!("chmod {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_label_lists() {
        let l = "io.x-k8s.kind.cluster=inferbench,io.x-k8s.kind.role=worker";
        assert_eq!(label_value(l, ROLE_LABEL).as_deref(), Some("worker"));
        assert_eq!(label_value(l, "missing"), None);
    }
}
