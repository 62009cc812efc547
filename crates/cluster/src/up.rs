//! `up`: one flow for every provider, behind `cargo xtask up`.
//!
//! The provider prepares the host (tools, engine, node image), the cluster
//! is reused when it exists or else created, its nodes become Ready, then
//! the add-ons (`crate::addons`) that apply run in order.

use std::path::PathBuf;
use std::time::Duration;

use crate::addons::{self, AddOnContext};
use crate::kind::KindProvider;
use crate::kubectl::Kubectl;
use crate::kwok::KwokProvider;
use crate::{
    ClusterError, ClusterProvider, ClusterSpec, DEFAULT_CLUSTER_NAME, GpuApi, GpuMode,
    GpuPartitioning, GpuShape, NodeInfo, Provider, Steps, cluster_dir,
};
use environment::docker::EngineSetup;
use environment::tools::ToolSource;

/// What `up` should make.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Who makes the cluster.
    pub provider: Provider,
    /// Cluster name (reused when it exists). kwok turns the kind default
    /// into its own ([`Provider::cluster_name`]).
    pub name: String,
    /// Untainted CPU workers.
    pub cpu_workers: u32,
    /// Workers in the GPU pool (labelled and tainted like GPU nodes).
    pub gpu_workers: u32,
    /// Fake GPUs or the host's NVIDIA GPUs (nvkind-style; kind only).
    pub gpus: GpuMode,
    /// What each GPU-pool node advertises where the provider simulates
    /// the nodes (kwok writes it into the Node objects). On kind the fake
    /// GPUs are gpu-fakes' and real ones the host's.
    pub simulated_gpus: GpuShape,
    /// Where tools come from; `None`: [`ToolSource::from_env`].
    pub tool_source: Option<ToolSource>,
    /// Skip building and loading the mock-server image.
    pub skip_mock_server: bool,
    /// Skip the fake GPUs (device plugin, labels, exporter) on the GPU pool.
    pub skip_gpu_fakes: bool,
    /// Which kubelet API offers the fake GPUs; `None`: the provider's
    /// default ([`GpuApi::default_for`]).
    pub gpu_api: Option<GpuApi>,
    /// How each fake GPU is shared or partitioned.
    pub gpu_partitioning: GpuPartitioning,
    /// Optional components (`--with`), installed after the default add-ons.
    pub with: Vec<crate::Component>,
    /// How long nodes and add-ons may take to become ready.
    pub ready_timeout: Duration,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            provider: Provider::Kind,
            name: DEFAULT_CLUSTER_NAME.to_string(),
            cpu_workers: 1,
            gpu_workers: 2,
            gpus: GpuMode::Fake,
            simulated_gpus: GpuShape::default(),
            tool_source: None,
            skip_mock_server: false,
            skip_gpu_fakes: false,
            gpu_api: None,
            gpu_partitioning: GpuPartitioning::Whole,
            with: Vec::new(),
            ready_timeout: Duration::from_secs(600),
        }
    }
}

impl UpOptions {
    /// The name the cluster gets (see [`Provider::cluster_name`]).
    pub fn cluster_name(&self) -> String {
        self.provider.cluster_name(&self.name)
    }

    /// The kubelet API the fake GPUs are offered through.
    pub fn gpu_api(&self) -> GpuApi {
        self.gpu_api
            .unwrap_or_else(|| GpuApi::default_for(self.provider, self.gpus))
    }

    /// Refuses what the provider cannot make, before any work.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let fake_kind = self.provider == Provider::Kind && self.gpus == GpuMode::Fake;
        if !fake_kind && self.gpu_api().dra() {
            return Err(ClusterError::Unsupported(format!(
                "--gpu-api {} needs fake GPUs on kind (gpu-fakes is the DRA driver); {} has none",
                self.gpu_api().as_str(),
                if self.gpus == GpuMode::Real {
                    "--gpus real".to_string()
                } else {
                    format!("the {} provider", self.provider)
                }
            )));
        }
        if !fake_kind && self.gpu_partitioning != GpuPartitioning::Whole {
            return Err(ClusterError::Unsupported(
                "--gpu-sharing and --mig shape gpu-fakes' GPUs: they need fake GPUs on kind".into(),
            ));
        }
        if self.gpus == GpuMode::Real && !self.provider.supports_real_gpus() {
            return Err(ClusterError::Unsupported(format!(
                "--gpus real needs kind: {}'s nodes are fake and run no containers",
                self.provider
            )));
        }
        if !self.with.is_empty() && self.cpu_workers == 0 {
            return Err(ClusterError::Unsupported(
                "--with runs its components on the CPU pool: --cpu-workers must be 1 or more"
                    .into(),
            ));
        }
        if let Some(c) = self.with.first()
            && !self.provider.runs_containers()
        {
            return Err(ClusterError::Unsupported(format!(
                "--with {c} needs kind: {}'s nodes run no containers",
                self.provider
            )));
        }
        crate::validate_name(&self.cluster_name())
    }
}

/// What `up` did.
#[derive(Debug, Clone)]
pub struct UpReport {
    pub provider: Provider,
    pub name: String,
    /// False when an existing cluster was reused.
    pub created: bool,
    /// The cluster folder (kubeconfig; kwok's state and logs).
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub tool_source: ToolSource,
    /// The node image (kind).
    pub node_image: Option<String>,
    /// How the Docker engine was made to run (kind).
    pub engine: Option<EngineSetup>,
    /// The add-ons installed, in order.
    pub addons: Vec<&'static str>,
    /// The mock-server image, when it was loaded.
    pub mock_server_image: Option<String>,
    /// The gpu-fakes image, when the fake GPUs were installed.
    pub gpu_fakes_image: Option<String>,
    /// The kubelet API the fake GPUs are offered through.
    pub gpu_api: GpuApi,
    pub nodes: Vec<NodeInfo>,
    /// Seconds per step, in order.
    pub timings: Vec<(String, f64)>,
}

impl UpReport {
    /// Human instructions: how to reach the cluster (and, for kwok, what
    /// it is not).
    pub fn how_to_reach(&self) -> String {
        let reach = format!(
            "Reach it with:\n  export KUBECONFIG={}\n  {} get nodes -L nvidia.com/gpu.present\n",
            self.kubeconfig.display(),
            self.kubectl.display(),
        );
        let state = if self.created { "up" } else { "up (reused)" };
        let mut s = match self.provider {
            Provider::Kind => format!(
                "cluster {:?} is {state} ({} nodes, node image {}).\n{reach}",
                self.name,
                self.nodes.len(),
                self.node_image.as_deref().unwrap_or("unknown"),
            ),
            Provider::Kwok => format!(
                "kwok cluster {:?} is {state} ({} fake nodes; control plane as local processes, logs in {}).\n{reach}\
                 Its pods run nothing (no containers, probes, kubelet or device plugin): use it for scheduling and scale.\n",
                self.name,
                self.nodes.len(),
                self.dir.join("logs").display(),
            ),
        };
        if let Some(img) = &self.mock_server_image {
            s.push_str(&format!(
                "The mock-server image {img} is loaded on every node.\n"
            ));
        }
        if self.gpu_fakes_image.is_some() {
            let mut how = Vec::new();
            if self.gpu_api.device_plugin() {
                how.push("advertises nvidia.com/gpu (device plugin)");
            }
            if self.gpu_api.dra() {
                how.push(
                    "publishes gpu.nvidia.com ResourceSlices for DRA claims (`kubectl get resourceslices`)",
                );
            }
            s.push_str(&format!(
                "Fake GPUs: the gpu-fakes DaemonSet (namespace gpu-fakes) {} on the GPU pool.\n",
                how.join(" and ")
            ));
        }
        if self.addons.contains(&crate::addons::Prometheus::NAME) {
            s.push_str(
                "Prometheus (namespace monitoring) scrapes pods annotated prometheus.io/scrape; \
                 its API: kubectl -n monitoring port-forward svc/prometheus 9090\n",
            );
        }
        if self.addons.contains(&crate::addons::Vpa::NAME) {
            s.push_str(
                "The VPA recommender (kube-system) writes status.recommendation on each \
                 VerticalPodAutoscaler: kubectl get vpa -A\n",
            );
        }
        let provider = match self.provider {
            Provider::Kind => String::new(),
            p => format!("--provider {p} "),
        };
        s.push_str(&format!(
            "Delete it with: cargo xtask down {provider}--name {}\n",
            self.name
        ));
        s
    }

    /// `took 95s: docker engine 0s, tools 1s, ...`.
    pub fn timing_line(&self) -> String {
        let total: f64 = self.timings.iter().map(|(_, s)| s).sum();
        let steps: Vec<String> = self
            .timings
            .iter()
            .map(|(n, s)| format!("{n} {s:.0}s"))
            .collect();
        format!("took {total:.0}s: {}", steps.join(", "))
    }
}

/// A reused cluster keeps the pools it was made with: where they differ
/// from what was asked, say so, and wait for the nodes it has (not for
/// ones that will never join).
fn as_built(opts: &mut UpOptions, sizes: &std::collections::BTreeMap<String, u32>, name: &str) {
    let has = |pool: &str| sizes.get(pool).copied().unwrap_or(0);
    let (cpu, gpu) = (has("cpu"), has("gpu"));
    if (cpu, gpu) != (opts.cpu_workers, opts.gpu_workers) {
        eprintln!(
            "inferbench: cluster {name:?} was made with {cpu} CPU and {gpu} GPU workers, not the {} and {} asked for: it is used as it is (`cargo xtask down --name {name}` first to change its shape)",
            opts.cpu_workers, opts.gpu_workers
        );
        opts.cpu_workers = cpu;
        opts.gpu_workers = gpu;
    }
}

/// Creates (or reuses, by name) a cluster of `opts.provider` with a GPU
/// pool, then installs the add-ons that apply (metrics-server, our images,
/// fake or real GPUs).
pub fn up(opts: &UpOptions) -> Result<UpReport, ClusterError> {
    opts.validate()?;
    match opts.provider {
        Provider::Kind => up_with::<KindProvider>(opts),
        Provider::Kwok => up_with::<KwokProvider>(opts),
    }
}

/// The flow, for provider `P`.
fn up_with<P: ClusterProvider>(opts: &UpOptions) -> Result<UpReport, ClusterError> {
    let mut steps = Steps::start();
    let name = opts.cluster_name();
    let mut spec = ClusterSpec::new(&name, opts.cpu_workers, opts.gpu_workers)?;
    let (provider, host) = P::prepare(opts, &mut spec, &mut steps)?;
    let mut effective = opts.clone();
    let created = if provider.exists(&name)? {
        eprintln!(
            "inferbench: reusing {} cluster {name:?}",
            provider.provider_name()
        );
        if let Some(sizes) = provider.pool_sizes(&name) {
            as_built(&mut effective, &sizes, &name);
        }
        false
    } else {
        provider.create(&spec)?;
        true
    };
    let opts = &effective;
    steps.step("cluster");
    let kubeconfig = provider.kubeconfig(&name)?;
    provider.wait_ready(&name, opts.ready_timeout, created)?;
    steps.step("nodes ready");
    let kubectl = Kubectl::new(host.kubectl.clone(), kubeconfig.clone());
    let ctx = AddOnContext {
        options: opts,
        cluster: &name,
        created,
        provider: &provider,
        kubectl: &kubectl,
        host: &host,
    };
    let mut installed = Vec::new();
    let (mut mock_server_image, mut gpu_fakes_image) = (None, None);
    for addon in addons::all() {
        if !addon.applies(&ctx) {
            continue;
        }
        let done = addon.install(&ctx)?;
        match addon.name() {
            addons::MockServerImage::NAME => mock_server_image = done.image,
            addons::GpuFakes::NAME => gpu_fakes_image = done.image,
            _ => {}
        }
        installed.push(addon.name());
        steps.step(addon.name());
    }
    let nodes = provider.nodes(&name)?;
    Ok(UpReport {
        provider: provider.provider(),
        dir: cluster_dir(&name),
        name,
        created,
        kubeconfig,
        kubectl: host.kubectl,
        tool_source: host.tool_source,
        node_image: host.node_image,
        engine: host.engine,
        addons: installed,
        mock_server_image,
        gpu_fakes_image,
        gpu_api: opts.gpu_api(),
        nodes,
        timings: steps.into_timings(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_cluster_is_taken_as_built() {
        let mut opts = UpOptions {
            gpu_workers: 4,
            ..UpOptions::default()
        };
        let sizes = [("cpu".to_string(), 1), ("gpu".to_string(), 2)]
            .into_iter()
            .collect();
        as_built(&mut opts, &sizes, "c");
        assert_eq!((opts.cpu_workers, opts.gpu_workers), (1, 2));
    }

    #[test]
    fn kwok_cannot_have_real_gpus() {
        let opts = UpOptions {
            provider: Provider::Kwok,
            gpus: GpuMode::Real,
            ..UpOptions::default()
        };
        let err = opts.validate().expect_err("kwok has no real GPUs");
        assert!(err.to_string().contains("--gpus real needs kind"), "{err}");
        assert!(
            UpOptions {
                gpus: GpuMode::Real,
                ..UpOptions::default()
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn kwok_up_uses_its_own_default_name() {
        let opts = UpOptions {
            provider: Provider::Kwok,
            ..UpOptions::default()
        };
        assert_eq!(opts.cluster_name(), crate::KWOK_DEFAULT_NAME);
        assert_eq!(UpOptions::default().cluster_name(), DEFAULT_CLUSTER_NAME);
    }

    fn report(provider: Provider) -> UpReport {
        UpReport {
            provider,
            name: "c".into(),
            created: true,
            dir: PathBuf::from("/cache/clusters/c"),
            kubeconfig: PathBuf::from("/cache/clusters/c/kubeconfig"),
            kubectl: PathBuf::from("/bin/kubectl"),
            tool_source: ToolSource::Download,
            node_image: (provider == Provider::Kind).then(|| "kindest/node:v1".to_string()),
            engine: None,
            addons: Vec::new(),
            mock_server_image: None,
            gpu_fakes_image: None,
            gpu_api: GpuApi::DevicePlugin,
            nodes: Vec::new(),
            timings: vec![("tools".into(), 1.2), ("cluster".into(), 30.0)],
        }
    }

    #[test]
    fn how_to_reach_names_the_provider_to_delete_with() {
        let kind = report(Provider::Kind).how_to_reach();
        assert!(kind.contains("node image kindest/node:v1"), "{kind}");
        assert!(kind.contains("cargo xtask down --name c"), "{kind}");
        let kwok = report(Provider::Kwok).how_to_reach();
        assert!(kwok.contains("logs in /cache/clusters/c/logs"), "{kwok}");
        assert!(kwok.contains("Its pods run nothing"), "{kwok}");
        assert!(
            kwok.contains("cargo xtask down --provider kwok --name c"),
            "{kwok}"
        );
        assert_eq!(
            report(Provider::Kind).timing_line(),
            "took 31s: tools 1s, cluster 30s"
        );
    }
}
