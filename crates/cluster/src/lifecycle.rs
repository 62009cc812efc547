//! `up`, `down` and `status`: the cluster lifecycle behind
//! `cargo xtask up|down|status`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::kind::KindProvider;
use crate::kind::real_gpus;
use crate::kubectl::Kubectl;
use crate::{ClusterError, ClusterProvider, ClusterSpec, GpuMode, NodeInfo, cluster_dir};
use environment::docker::{Docker, EngineSetup, ensure_engine};
use environment::node_image;
use environment::tools::{ToolSource, Toolchain, versions};

const METRICS_SERVER_MANIFEST: &str = include_str!("../assets/manifests/metrics-server.yaml");

/// What `up` should make.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Cluster name (reused when it exists).
    pub name: String,
    /// Untainted CPU workers.
    pub cpu_workers: u32,
    /// Workers in the GPU pool (labelled and tainted like GPU nodes).
    pub gpu_workers: u32,
    /// Where tools come from; `None`: [`ToolSource::from_env`].
    pub tool_source: Option<ToolSource>,
    /// Skip building and loading the mock-server image.
    pub skip_mock_server: bool,
    /// Skip the fake GPUs (device plugin, labels, exporter) on the GPU pool.
    pub skip_gpu_fakes: bool,
    /// Fake GPUs (gpu-fakes) or the host's NVIDIA GPUs (nvkind-style).
    pub gpus: GpuMode,
    /// How long nodes and add-ons may take to become ready.
    pub ready_timeout: Duration,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            name: super::DEFAULT_CLUSTER_NAME.to_string(),
            cpu_workers: 1,
            gpu_workers: 2,
            tool_source: None,
            skip_mock_server: false,
            skip_gpu_fakes: false,
            gpus: GpuMode::Fake,
            ready_timeout: Duration::from_secs(600),
        }
    }
}

/// What `up` did.
#[derive(Debug, Clone)]
pub struct UpReport {
    pub name: String,
    /// False when an existing cluster was reused.
    pub created: bool,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub node_image: String,
    pub tool_source: ToolSource,
    pub engine: EngineSetup,
    pub mock_server_image: Option<String>,
    /// The gpu-fakes image, when the fake GPUs were installed.
    pub gpu_fakes_image: Option<String>,
    pub nodes: Vec<NodeInfo>,
    /// Seconds per step, in order.
    pub timings: Vec<(String, f64)>,
}

impl UpReport {
    /// Human instructions: how to reach the cluster.
    pub fn how_to_reach(&self) -> String {
        let mut s = format!(
            "cluster {:?} is {} ({} nodes, node image {}).\n\
             Reach it with:\n  export KUBECONFIG={}\n  {} get nodes -L nvidia.com/gpu.present\n",
            self.name,
            if self.created { "up" } else { "up (reused)" },
            self.nodes.len(),
            self.node_image,
            self.kubeconfig.display(),
            self.kubectl.display(),
        );
        if let Some(img) = &self.mock_server_image {
            s.push_str(&format!(
                "The mock-server image {img} is loaded on every node.\n"
            ));
        }
        if self.gpu_fakes_image.is_some() {
            s.push_str(
                "Fake GPUs: the gpu-fakes DaemonSet (namespace gpu-fakes) advertises nvidia.com/gpu on the GPU pool.\n",
            );
        }
        s.push_str(&format!(
            "Delete it with: cargo xtask down --name {}\n",
            self.name
        ));
        s
    }
}

/// What `down` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownReport {
    pub name: String,
    pub existed: bool,
    /// Containers of the cluster still present afterwards (should be none).
    pub leftover_containers: Vec<String>,
}

/// What exists.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterStatus {
    pub engine_running: bool,
    pub docker_server_version: Option<String>,
    pub clusters: Vec<ClusterInfo>,
    pub node_image: String,
    pub node_image_present: bool,
    pub cached_tools: Vec<String>,
}

/// One cluster in [`ClusterStatus`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterInfo {
    pub name: String,
    pub nodes: Vec<NodeInfo>,
    pub kubeconfig: Option<PathBuf>,
}

impl std::fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "docker engine: {}",
            match (&self.engine_running, &self.docker_server_version) {
                (true, Some(v)) => format!("running ({v})"),
                (true, None) => "running".to_string(),
                _ => "not running".to_string(),
            }
        )?;
        writeln!(
            f,
            "node image: {} ({})",
            self.node_image,
            if self.node_image_present {
                "built"
            } else {
                "not built"
            }
        )?;
        writeln!(
            f,
            "cached tools: {}",
            if self.cached_tools.is_empty() {
                "none".to_string()
            } else {
                self.cached_tools.join(", ")
            }
        )?;
        if self.clusters.is_empty() {
            writeln!(f, "clusters: none")?;
        }
        for c in &self.clusters {
            writeln!(f, "cluster {}:", c.name)?;
            for n in &c.nodes {
                writeln!(f, "  {:<40} {:<14} {}", n.name, n.role, n.state)?;
            }
            if let Some(k) = &c.kubeconfig {
                writeln!(f, "  kubeconfig: {}", k.display())?;
            }
        }
        Ok(())
    }
}

struct Timer(Vec<(String, f64)>, Instant);

impl Timer {
    fn step(&mut self, name: &str) {
        let now = Instant::now();
        self.0
            .push((name.to_string(), (now - self.1).as_secs_f64()));
        eprintln!(
            "inferbench: {name} done in {:.1}s",
            (now - self.1).as_secs_f64()
        );
        self.1 = now;
    }
}

/// Creates (or reuses, by name) a kind cluster with a GPU pool, installs
/// metrics-server, builds and loads the mock-server image.
pub fn up(opts: &UpOptions) -> Result<UpReport, ClusterError> {
    let mut t = Timer(Vec::new(), Instant::now());
    let mut spec = ClusterSpec::new(&opts.name, opts.cpu_workers, opts.gpu_workers)?;
    let (docker, engine) = ensure_engine()?;
    t.step("docker engine");
    // Real GPUs: check the host first, then give each GPU worker its GPUs.
    let real = if opts.gpus == GpuMode::Real {
        let gpus = real_gpus::preflight(&docker)?;
        let assignment = real_gpus::assign(&gpus, opts.gpu_workers);
        let cache = real_gpus::host_model_cache();
        if let Some(pool) = spec
            .pools
            .iter_mut()
            .find(|p| p.labels.contains_key(super::GPU_PRESENT_LABEL))
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
        t.step("GPU preflight");
        Some((gpus, assignment))
    } else {
        None
    };
    let source = match opts.tool_source {
        Some(s) => s,
        None => ToolSource::from_env()?,
    };
    let tools = Toolchain::new(source);
    let kind = tools.kind()?;
    let kubectl_bin = tools.kubectl()?;
    t.step("tools");
    let node_image = match source {
        ToolSource::Download => versions::KIND_NODE_IMAGE_OFFICIAL.to_string(),
        ToolSource::BuildFromGoProxy => node_image::ensure_node_image(&docker, &tools)?,
    };
    t.step("node image");
    let provider = KindProvider::new(kind, docker.clone());
    let created = if provider.exists(&spec.name)? {
        eprintln!("inferbench: reusing cluster {:?}", spec.name);
        false
    } else {
        eprintln!(
            "inferbench: creating kind cluster {:?} ({} nodes, image {node_image})",
            spec.name,
            spec.node_count()
        );
        let mut spec = spec.clone();
        spec.node_image = Some(node_image.clone());
        provider.create(&spec)?;
        true
    };
    t.step("cluster");
    let kubeconfig = provider.kubeconfig(&spec.name)?;
    let kubectl = Kubectl::new(kubectl_bin.clone(), kubeconfig.clone());
    kubectl.wait_nodes_ready(opts.ready_timeout)?;
    if created {
        // A new cluster's nodes are Ready before kube-proxy and the CNI
        // have programmed every node; give them a moment.
        std::thread::sleep(Duration::from_secs(5));
    }
    t.step("nodes ready");
    install_metrics_server(&kubectl, opts.ready_timeout)?;
    t.step("metrics-server");
    let mock_server_image = if opts.skip_mock_server {
        None
    } else {
        let image = environment::images::build_mock_server_image(&docker)?;
        provider.load_image(&spec.name, &image)?;
        Some(image)
    };
    t.step("mock-server image");
    if let Some((gpus, assignment)) = &real {
        let all: Vec<u32> = gpus.iter().map(|g| g.index).collect();
        let nodes = real_gpus::gpu_node_names(&kubectl)?;
        if created {
            for (node, mine) in nodes.iter().zip(assignment) {
                real_gpus::setup_node(&docker, node, mine, &all)?;
            }
        }
        real_gpus::install_device_plugin(&kubectl, assignment, gpus, opts.ready_timeout)?;
        t.step("NVIDIA runtime and device plugin");
    }
    let gpu_fakes_image = if opts.skip_gpu_fakes || opts.gpu_workers == 0 || real.is_some() {
        None
    } else {
        let image = environment::images::build_gpu_fakes_image(&docker)?;
        provider.load_image(&spec.name, &image)?;
        let image_id = docker.image_id(&image)?;
        install_gpu_fakes(&kubectl, opts.gpu_workers, &image_id, opts.ready_timeout)?;
        Some(image)
    };
    t.step("gpu-fakes");
    let nodes = provider.nodes(&spec.name)?;
    Ok(UpReport {
        name: spec.name,
        created,
        kubeconfig,
        kubectl: kubectl_bin,
        node_image,
        tool_source: source,
        engine,
        mock_server_image,
        gpu_fakes_image,
        nodes,
        timings: t.0,
    })
}

/// Templates written for real GPU nodes ask for `runtimeClassName: nvidia`
/// (NVIDIA's runtime in containerd); on fake GPUs that name maps to runc.
pub const FAKE_NVIDIA_RUNTIME_CLASS: &str = "apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: nvidia
  labels:
    app.kubernetes.io/part-of: inferbench
    inferbench.dev/gpus: fake
handler: runc
";

/// The gpu-fakes DaemonSet and its RBAC, as rendered into fixtures.
pub fn gpu_fakes_manifest_path() -> PathBuf {
    environment::workspace::repo_root()
        .join("fixtures")
        .join("gpu-fakes")
        .join("gpu-fakes.yaml")
}

/// The pod-template annotation that carries the ID of the image a
/// workload runs. Our images keep one tag (`:dev`) across rebuilds, so
/// without it `up` on a reused cluster would leave pods running the old
/// image; a new ID changes the template and rolls the pods.
pub const IMAGE_ID_ANNOTATION: &str = "inferbench.dev/image-id";

/// The gpu-fakes DaemonSet's name in its manifest.
const GPU_FAKES_DAEMONSET: &str = "gpu-fakes-gpu";

/// Applies the gpu-fakes DaemonSet (its pods annotated with `image_id`, see
/// [`IMAGE_ID_ANNOTATION`]) and waits until every GPU-pool node advertises
/// a non-zero `nvidia.com/gpu` (or `.shared` / MIG) allocatable.
pub fn install_gpu_fakes(
    kubectl: &Kubectl,
    gpu_nodes: u32,
    image_id: &str,
    timeout: Duration,
) -> Result<(), ClusterError> {
    let path = gpu_fakes_manifest_path();
    let manifest = std::fs::read_to_string(&path)
        .map_err(super::io_err(format!("reading {}", path.display())))?;
    let manifest = annotate_pod_template(
        &manifest,
        "DaemonSet",
        GPU_FAKES_DAEMONSET,
        IMAGE_ID_ANNOTATION,
        image_id,
    )
    .map_err(|detail| ClusterError::Parse {
        what: path.display().to_string(),
        detail: format!(
            "{detail}; regenerate it with `cargo run -p gpu-fakes -- render-manifests > \
             fixtures/gpu-fakes/gpu-fakes.yaml`"
        ),
    })?;
    kubectl.apply(&manifest)?;
    kubectl.apply(FAKE_NVIDIA_RUNTIME_CLASS)?;
    kubectl.wait_rollout_of(
        "gpu-fakes",
        &format!("daemonset/{GPU_FAKES_DAEMONSET}"),
        timeout,
    )?;
    kubectl.poll("the GPU pool to advertise nvidia.com/gpu", timeout, |k| {
        let out = k.run(&[
            "get",
            "nodes",
            "-l",
            "nvidia.com/gpu.present=true",
            "-o",
            "jsonpath={range .items[*]}{.status.allocatable}{\"\\n\"}{end}",
        ])?;
        let advertised = out.lines().filter(|l| l.contains("nvidia.com/")).count();
        Ok((advertised as u32 >= gpu_nodes).then_some(()))
    })
}

/// Sets annotation `key: value` on the pod template of the `kind` named
/// `name` in a multi-document manifest; the other documents are kept as
/// they are. The error says what was missing.
pub fn annotate_pod_template(
    manifest: &str,
    kind: &str,
    name: &str,
    key: &str,
    value: &str,
) -> Result<String, String> {
    use yaml_serde::Value;
    let mut out = Vec::new();
    let mut found = false;
    for doc in k8s::split_documents(manifest) {
        let mut v: Value =
            yaml_serde::from_str(doc).map_err(|e| format!("a document does not parse: {e}"))?;
        let is_it = v.get("kind").and_then(Value::as_str) == Some(kind)
            && v.get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                == Some(name);
        if !is_it {
            out.push(doc.trim_end().to_string());
            continue;
        }
        let template = v
            .get_mut("spec")
            .and_then(|s| s.get_mut("template"))
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| format!("{kind} {name} has no spec.template"))?;
        let metadata = template
            .entry(Value::from("metadata"))
            .or_insert_with(|| Value::Mapping(Default::default()));
        let metadata = metadata
            .as_mapping_mut()
            .ok_or_else(|| format!("{kind} {name}: spec.template.metadata is not a mapping"))?;
        let annotations = metadata
            .entry(Value::from("annotations"))
            .or_insert_with(|| Value::Mapping(Default::default()));
        let annotations = annotations.as_mapping_mut().ok_or_else(|| {
            format!("{kind} {name}: spec.template.metadata.annotations is not a mapping")
        })?;
        annotations.insert(Value::from(key), Value::from(value));
        let text = yaml_serde::to_string(&v).map_err(|e| e.to_string())?;
        out.push(text.trim_end().to_string());
        found = true;
    }
    if !found {
        return Err(format!("no {kind} named {name}"));
    }
    Ok(out.join("\n---\n") + "\n")
}

/// Applies metrics-server (with `--kubelet-insecure-tls`) and waits until
/// the metrics API answers with node metrics.
///
/// The `APIService` is registered only once the Deployment is available:
/// registered earlier, kube-apiserver may dial the Service's ClusterIP before
/// kube-proxy has programmed it, and keep that connection (on hosts whose
/// egress is intercepted by a transparent proxy it even succeeds, and the
/// metrics API then answers 404 for the life of the API server).
pub fn install_metrics_server(kubectl: &Kubectl, timeout: Duration) -> Result<(), ClusterError> {
    let (workload, apiservice) = split_apiservice(&metrics_server_manifest());
    kubectl.apply(&workload)?;
    kubectl.wait_rollout("kube-system", "metrics-server", timeout)?;
    kubectl.apply(&apiservice)?;
    wait_metrics_api(kubectl, timeout)
}

/// Polls the metrics API until it lists node metrics.
pub fn wait_metrics_api(kubectl: &Kubectl, timeout: Duration) -> Result<(), ClusterError> {
    kubectl.poll(
        "the metrics API (metrics.k8s.io) to list nodes",
        timeout,
        |k| {
            let out = k
                .cmd()
                .args(["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"])
                .timeout(Duration::from_secs(30))
                .run()?;
            let v: serde_json::Value =
                serde_json::from_str(&out.stdout).map_err(|e| ClusterError::Parse {
                    what: "metrics API".into(),
                    detail: e.to_string(),
                })?;
            Ok(v["items"]
                .as_array()
                .filter(|items| !items.is_empty())
                .map(|_| ()))
        },
    )
}

/// Splits a multi-document manifest into (everything else, APIService documents).
fn split_apiservice(manifest: &str) -> (String, String) {
    let mut rest = String::new();
    let mut api = String::new();
    for doc in manifest.split("\n---") {
        let target = if doc.lines().any(|l| l.trim() == "kind: APIService") {
            &mut api
        } else {
            &mut rest
        };
        target.push_str(doc);
        target.push_str("\n---");
    }
    (rest, api)
}

/// The metrics-server manifest inferbench applies.
pub fn metrics_server_manifest() -> String {
    METRICS_SERVER_MANIFEST.replace(
        "@METRICS_SERVER_IMAGE@",
        &node_image::metrics_server_image(),
    )
}

/// Deletes the cluster `name` and checks that none of its containers is
/// left. Starts no engine and builds nothing when there is nothing to do.
/// Whether a kind cluster of this name has containers (a cheap check that
/// builds no tool and starts no engine: no engine, no cluster).
pub fn exists(name: &str) -> bool {
    environment::docker::Docker::detect()
        .containers_with_label(&format!("{}={name}", super::kind::CLUSTER_LABEL))
        .is_ok_and(|c| !c.is_empty())
}

pub fn down(name: &str) -> Result<DownReport, ClusterError> {
    super::validate_name(name)?;
    let docker = Docker::detect();
    if !docker.engine_running() {
        return Ok(DownReport {
            name: name.to_string(),
            existed: false,
            leftover_containers: Vec::new(),
        });
    }
    let label = format!("{}={name}", super::kind::CLUSTER_LABEL);
    let before = docker.containers_with_label(&label)?;
    let existed = !before.is_empty();
    if existed {
        let tools = Toolchain::new(ToolSource::from_env()?);
        let provider = KindProvider::new(tools.kind()?, docker.clone());
        provider.delete(name)?;
    }
    let _ = std::fs::remove_file(cluster_dir(name).join("kubeconfig"));
    let leftover_containers = docker
        .containers_with_label(&label)?
        .into_iter()
        .map(|c| c.names)
        .collect();
    Ok(DownReport {
        name: name.to_string(),
        existed,
        leftover_containers,
    })
}

/// What exists: engine, node image, cached tools, clusters and their nodes.
/// Starts and builds nothing.
pub fn status() -> Result<ClusterStatus, ClusterError> {
    let docker = Docker::detect();
    let engine_running = docker.engine_running();
    let node_image = node_image::node_image_reference();
    let mut clusters = Vec::new();
    let mut node_image_present = false;
    let mut docker_server_version = None;
    if engine_running {
        docker_server_version = docker.server_version().ok();
        node_image_present = docker.image_exists(&node_image)?;
        let all = docker.containers_with_label(super::kind::CLUSTER_LABEL)?;
        let mut names: Vec<String> = all
            .iter()
            .filter_map(|c| {
                c.labels
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == super::kind::CLUSTER_LABEL)
                    .map(|(_, v)| v.to_string())
            })
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let mut nodes: Vec<NodeInfo> = all
                .iter()
                .filter(|c| {
                    c.labels
                        .contains(&format!("{}={name}", super::kind::CLUSTER_LABEL))
                })
                .map(|c| NodeInfo {
                    name: c.names.clone(),
                    role: c
                        .labels
                        .split(',')
                        .filter_map(|kv| kv.split_once('='))
                        .find(|(k, _)| *k == super::kind::ROLE_LABEL)
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_default(),
                    state: c.status.clone(),
                })
                .collect();
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            let kc = cluster_dir(&name).join("kubeconfig");
            clusters.push(ClusterInfo {
                name,
                nodes,
                kubeconfig: kc.exists().then_some(kc),
            });
        }
    }
    let tools_root = environment::workspace::cache_dir().join("tools");
    let mut cached_tools = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&tools_root) {
        for e in entries.flatten() {
            if let Ok(versions) = std::fs::read_dir(e.path()) {
                for v in versions.flatten() {
                    if v.path().join(".complete").exists() || v.path().join("bin").is_dir() {
                        cached_tools.push(format!(
                            "{} {}",
                            e.file_name().to_string_lossy(),
                            v.file_name().to_string_lossy()
                        ));
                    }
                }
            }
        }
    }
    cached_tools.sort();
    Ok(ClusterStatus {
        engine_running,
        docker_server_version,
        clusters,
        node_image,
        node_image_present,
        cached_tools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apiservice_is_applied_separately() {
        let (rest, api) = split_apiservice(&metrics_server_manifest());
        assert!(api.contains("kind: APIService") && !api.contains("kind: Deployment"));
        assert!(rest.contains("kind: Deployment") && !rest.contains("kind: APIService"));
        assert!(rest.contains("--kubelet-insecure-tls"));
        assert!(rest.contains("registry.k8s.io/metrics-server/metrics-server:v0.9.0"));
    }

    fn pod_annotations(manifest: &str, kind: &str) -> Vec<(String, String)> {
        k8s::split_documents(manifest)
            .into_iter()
            .map(|d| yaml_serde::from_str::<yaml_serde::Value>(d).expect("parses"))
            .filter(|v| v["kind"].as_str() == Some(kind))
            .filter_map(|v| {
                v["spec"]["template"]["metadata"]["annotations"]
                    .as_mapping()
                    .cloned()
            })
            .flat_map(|m| {
                m.into_iter().map(|(k, v)| {
                    (
                        k.as_str().unwrap_or_default().to_string(),
                        v.as_str().unwrap_or_default().to_string(),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn gpu_fakes_pods_carry_the_image_id() {
        let manifest = std::fs::read_to_string(gpu_fakes_manifest_path()).expect("fixture");
        let docs = k8s::split_documents(&manifest).len();
        let once = annotate_pod_template(
            &manifest,
            "DaemonSet",
            GPU_FAKES_DAEMONSET,
            IMAGE_ID_ANNOTATION,
            "sha256:aaa",
        )
        .expect("annotated");
        assert_eq!(k8s::split_documents(&once).len(), docs);
        assert_eq!(
            pod_annotations(&once, "DaemonSet"),
            vec![(IMAGE_ID_ANNOTATION.to_string(), "sha256:aaa".to_string())]
        );
        // A rebuilt image replaces the ID; nothing else moves.
        let twice = annotate_pod_template(
            &once,
            "DaemonSet",
            GPU_FAKES_DAEMONSET,
            IMAGE_ID_ANNOTATION,
            "sha256:bbb",
        )
        .expect("annotated again");
        assert_eq!(
            pod_annotations(&twice, "DaemonSet"),
            vec![(IMAGE_ID_ANNOTATION.to_string(), "sha256:bbb".to_string())]
        );
        assert_eq!(twice.replace("sha256:bbb", "sha256:aaa"), once);
    }

    #[test]
    fn annotating_a_missing_workload_says_what_is_missing() {
        let err = annotate_pod_template(
            "kind: ConfigMap\nmetadata: {name: x}\n",
            "DaemonSet",
            "x",
            "k",
            "v",
        )
        .expect_err("no DaemonSet");
        assert_eq!(err, "no DaemonSet named x");
        let err = annotate_pod_template(
            "kind: DaemonSet\nmetadata: {name: x}\nspec: {}\n",
            "DaemonSet",
            "x",
            "k",
            "v",
        )
        .expect_err("no template");
        assert_eq!(err, "DaemonSet x has no spec.template");
    }
}
