//! [`KindProvider`]: clusters whose nodes are Docker containers, driven
//! through the `kind` binary (like kind's own docker provider under
//! `pkg/cluster/internal/providers/docker`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CLUSTER_LABEL, ROLE_LABEL, config, label_value, real_gpus};
use crate::kubectl::Kubectl;
use crate::{
    ClusterError, ClusterProvider, ClusterSpec, ClusterStatus, DownReport, GpuMode, HostGpus,
    HostSetup, NodeInfo, Provider, Steps, UpOptions, cluster_dir, io_err, validate_name,
};
use environment::docker::{Docker, ensure_engine};
use environment::node_image;
use environment::tools::exec::Cmd;
use environment::tools::{ToolSource, Toolchain, versions};

const CREATE_TIMEOUT: Duration = Duration::from_secs(1200);
/// A new cluster's nodes are Ready before kube-proxy and the CNI have
/// programmed every node; `up` gives them this long.
const SETTLE: Duration = Duration::from_secs(5);

/// Clusters made by `kind`.
#[derive(Debug, Clone)]
pub struct KindProvider {
    kind: PathBuf,
    docker: Docker,
    /// For [`ClusterProvider::wait_ready`].
    kubectl: Option<PathBuf>,
}

impl KindProvider {
    /// `kind load docker-image` onto `nodes` (every node when None), unless
    /// they hold the image already: kind asks crictl whether a node has it,
    /// and our nodes have no crictl, so kind would copy it on every `up`.
    fn load(&self, name: &str, image: &str, nodes: Option<&[String]>) -> Result<(), ClusterError> {
        if self.on_nodes(name, image, nodes)? {
            match nodes {
                None => eprintln!("inferbench: {image} is on every node already"),
                Some(n) => eprintln!("inferbench: {image} is on {} already", n.join(", ")),
            }
            return Ok(());
        }
        let mut cmd = self.cmd()?;
        cmd = cmd.args(["load", "docker-image", image, "--name", name]);
        if let Some(n) = nodes {
            cmd = cmd.arg("--nodes").arg(n.join(","));
        }
        cmd.timeout(Duration::from_secs(900))
            .progress("kind load")
            .run()?;
        Ok(())
    }

    /// A provider using the `kind` binary at `kind` and the engine behind
    /// `docker`.
    pub fn new(kind: PathBuf, docker: Docker) -> KindProvider {
        KindProvider {
            kind,
            docker,
            kubectl: None,
        }
    }

    /// The kubectl that waits for the nodes ([`ClusterProvider::wait_ready`]).
    pub fn with_kubectl(mut self, kubectl: PathBuf) -> KindProvider {
        self.kubectl = Some(kubectl);
        self
    }

    /// The engine whose containers are the nodes.
    pub fn docker(&self) -> &Docker {
        &self.docker
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

    pub(crate) fn kubeconfig_path(name: &str) -> PathBuf {
        cluster_dir(name).join("kubeconfig")
    }
}

/// `--gpus real`: checks the host, then gives each GPU worker its GPUs
/// (kind extra mounts, nvkind-style). The GPU pool shrinks to the number
/// of GPUs when there are fewer.
fn plan_real_gpus(
    docker: &Docker,
    spec: &mut ClusterSpec,
    workers: u32,
) -> Result<HostGpus, ClusterError> {
    let gpus = real_gpus::preflight(docker)?;
    let assignment = real_gpus::assign(&gpus, workers);
    let cache = real_gpus::host_model_cache();
    if let Some(pool) = spec
        .pools
        .iter_mut()
        .find(|p| p.labels.contains_key(crate::GPU_PRESENT_LABEL))
    {
        pool.count = assignment.len() as u32;
        pool.mounts = assignment
            .iter()
            .map(|ix| real_gpus::node_mounts(ix, cache.as_ref()))
            .collect();
    }
    eprintln!(
        "inferbench: {} GPUs on this host, {} GPU nodes: {:?}",
        gpus.len(),
        assignment.len(),
        assignment
    );
    Ok(HostGpus { gpus, assignment })
}

impl ClusterProvider for KindProvider {
    /// The Docker engine (started or installed when needed), the host's
    /// GPUs (`--gpus real`; checked before minutes of tool builds), kind and
    /// kubectl, the node image.
    fn prepare(
        opts: &UpOptions,
        spec: &mut ClusterSpec,
        steps: &mut Steps,
    ) -> Result<(Self, HostSetup), ClusterError> {
        let (docker, engine) = ensure_engine()?;
        steps.step("docker engine");
        let host_gpus = if opts.gpus == GpuMode::Real {
            let plan = plan_real_gpus(&docker, spec, opts.gpu_workers)?;
            steps.step("GPU preflight");
            Some(plan)
        } else {
            None
        };
        let source = match opts.tool_source {
            Some(s) => s,
            None => ToolSource::from_env()?,
        };
        let tools = Toolchain::new(source);
        // kind and Kubernetes build side by side (cold: each spends minutes
        // downloading modules and linking on one core).
        let (kind, kubectl) = std::thread::scope(|s| {
            let kind = s.spawn(|| tools.kind());
            let kubectl = tools.kubectl();
            let kind = kind
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (kind, kubectl)
        });
        let (kind, kubectl) = (kind?, kubectl?);
        steps.step("tools");
        let image = match source {
            ToolSource::Download => versions::KIND_NODE_IMAGE_OFFICIAL.to_string(),
            ToolSource::BuildFromGoProxy => node_image::ensure_node_image(&docker, &tools)?,
        };
        spec.node_image = Some(image.clone());
        steps.step("node image");
        let host = HostSetup {
            tool_source: source,
            kubectl: kubectl.clone(),
            docker: Some(docker.clone()),
            engine: Some(engine),
            node_image: Some(image),
            host_gpus,
        };
        Ok((KindProvider::new(kind, docker).with_kubectl(kubectl), host))
    }

    fn is_present(name: &str) -> bool {
        super::status::is_present(name)
    }

    fn tear_down(name: &str) -> Result<DownReport, ClusterError> {
        super::status::tear_down(name)
    }

    fn status() -> Result<ClusterStatus, ClusterError> {
        super::status::status()
    }

    fn provider(&self) -> Provider {
        Provider::Kind
    }

    fn create(&self, spec: &ClusterSpec) -> Result<(), ClusterError> {
        validate_name(&spec.name)?;
        eprintln!(
            "inferbench: creating kind cluster {:?} ({} nodes, image {})",
            spec.name,
            spec.node_count(),
            spec.node_image.as_deref().unwrap_or("kind's default")
        );
        super::host_limits::ensure();
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

    fn pool_sizes(&self, name: &str) -> Option<std::collections::BTreeMap<String, u32>> {
        let text = std::fs::read_to_string(cluster_dir(name).join("kind-config.yaml")).ok()?;
        Some(config::pool_sizes(&text))
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

    fn wait_ready(&self, name: &str, timeout: Duration, created: bool) -> Result<(), ClusterError> {
        let kubectl = self.kubectl.clone().ok_or_else(|| {
            ClusterError::Unsupported("waiting for kind nodes needs kubectl (with_kubectl)".into())
        })?;
        Kubectl::new(kubectl, Self::kubeconfig_path(name)).wait_nodes_ready(timeout)?;
        if created {
            std::thread::sleep(SETTLE);
        }
        Ok(())
    }

    fn load_image(&self, name: &str, image: &str) -> Result<(), ClusterError> {
        self.load(name, image, None)
    }

    fn load_image_on(&self, name: &str, image: &str, nodes: &[String]) -> Result<(), ClusterError> {
        self.load(name, image, Some(nodes))
    }

    fn restart_api_server(&self, name: &str) -> Result<(), ClusterError> {
        for node in self.nodes(name)? {
            if node.role != "control-plane" {
                continue;
            }
            // The kubelet starts the static pod's container again.
            self.docker
                .cmd()
                .args(["exec", &node.name, "pkill", "-f", "^kube-apiserver "])
                .timeout(Duration::from_secs(30))
                .run()?;
        }
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

impl KindProvider {
    /// Whether every node of cluster `name` holds `image` with the ID the
    /// local engine has for it (containerd's manifest names the config
    /// digest, which is Docker's image ID).
    /// Whether the image is on each of `nodes` (every node: `None`).
    fn on_nodes(
        &self,
        name: &str,
        image: &str,
        nodes: Option<&[String]>,
    ) -> Result<bool, ClusterError> {
        let Ok(id) = self.docker.image_id(image) else {
            return Ok(false);
        };
        let script = r#"d=$(ctr -n k8s.io images ls "name==$1" | awk 'NR==2{print $3}'); [ -n "$d" ] && ctr -n k8s.io content get "$d""#;
        let reference = containerd_reference(image);
        for node in self.nodes(name)? {
            if nodes.is_some_and(|n| !n.contains(&node.name)) {
                continue;
            }
            let out = self
                .docker
                .cmd()
                .args(["exec", &node.name, "sh", "-c", script, "sh", &reference])
                .timeout(Duration::from_secs(30))
                .run_unchecked()?;
            if !out.status.success() || config_digest(&out.stdout).as_deref() != Some(id.as_str()) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The name containerd files a Docker image under: `inferbench/x:dev` is
/// `docker.io/inferbench/x:dev`, `busybox` is `docker.io/library/busybox`.
fn containerd_reference(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    let has_registry =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    }
}

/// The config digest an image manifest (JSON) names.
fn config_digest(manifest: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(manifest).ok()?;
    v["config"]["digest"].as_str().map(String::from)
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
    use super::{config_digest, containerd_reference};

    #[test]
    fn containerd_names_images_with_their_registry() {
        assert_eq!(
            containerd_reference("inferbench/gpu-fakes:dev"),
            "docker.io/inferbench/gpu-fakes:dev"
        );
        assert_eq!(
            containerd_reference("busybox:1"),
            "docker.io/library/busybox:1"
        );
        assert_eq!(
            containerd_reference("registry.k8s.io/pause:3.10"),
            "registry.k8s.io/pause:3.10"
        );
        assert_eq!(
            containerd_reference("localhost:5000/x:y"),
            "localhost:5000/x:y"
        );
    }

    #[test]
    fn the_manifest_names_the_image_id() {
        let manifest =
            r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:c5e9"},"layers":[]}"#;
        assert_eq!(config_digest(manifest).as_deref(), Some("sha256:c5e9"));
        assert_eq!(config_digest("ctr: not found"), None);
    }
}
