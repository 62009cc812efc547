//! `cargo xtask up|down|status`: the cluster lifecycle commands.
//!
//! Wire them into the CLI with:
//!
//! ```ignore
//! Up(cluster_cmd::UpArgs)         => cluster_cmd::up(&args),
//! Down(cluster_cmd::DownArgs)     => cluster_cmd::down(&args),
//! Status(cluster_cmd::StatusArgs) => cluster_cmd::status(&args),
//! ```

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use cluster::{self, GpuShape, Provider, UpOptions};
use environment::tools::ToolSource;

/// Where pinned tools (kind, kubectl, Kubernetes) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// Official releases and the kindest/node image (needs internet).
    Download,
    /// Build everything from the Go module proxy, node image included.
    Build,
}

impl From<SourceArg> for ToolSource {
    fn from(s: SourceArg) -> Self {
        match s {
            SourceArg::Download => ToolSource::Download,
            SourceArg::Build => ToolSource::BuildFromGoProxy,
        }
    }
}

/// Which cluster provider a command acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// Docker containers as nodes (real kubelets, real pods).
    #[default]
    Kind,
    /// A local control plane and fake nodes driven by kwok: no Docker, hundreds of nodes, pods run nothing.
    Kwok,
}

/// Where the GPU pool's GPUs come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum GpusArg {
    /// inferbench's gpu-fakes: a real device plugin, labels and exporter for GPUs that do not exist.
    #[default]
    Fake,
    /// The host's NVIDIA GPUs, handed to the GPU workers the way nvkind does (needs the NVIDIA Container Toolkit and the internet).
    Real,
}

impl From<ProviderArg> for Provider {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Kind => Provider::Kind,
            ProviderArg::Kwok => Provider::Kwok,
        }
    }
}

impl From<GpusArg> for cluster::GpuMode {
    fn from(g: GpusArg) -> Self {
        match g {
            GpusArg::Fake => cluster::GpuMode::Fake,
            GpusArg::Real => cluster::GpuMode::Real,
        }
    }
}

/// Create (or reuse) a kind cluster with a GPU node pool.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Cluster provider (kwok: the default name becomes inferbench-kwok).
    #[arg(long, value_enum, default_value_t = ProviderArg::Kind)]
    pub provider: ProviderArg,
    /// Cluster name; an existing cluster of that name is reused.
    #[arg(long, env = "INFERBENCH_CLUSTER", hide_env_values = true, default_value = cluster::DEFAULT_CLUSTER_NAME)]
    pub name: String,
    /// Untainted CPU workers.
    #[arg(long, default_value_t = 1)]
    pub cpu_workers: u32,
    /// Fake GPUs (gpu-fakes) or the host's NVIDIA GPUs (kind only).
    #[arg(long, value_enum, default_value_t = GpusArg::Fake)]
    pub gpus: GpusArg,
    /// GPU-pool workers (labelled nvidia.com/gpu.present=true, tainted nvidia.com/gpu=present:NoSchedule).
    #[arg(long, default_value_t = 2)]
    pub gpu_workers: u32,
    /// Tool source; default: INFERBENCH_TOOL_SOURCE, else download when dl.k8s.io answers, else build.
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    /// Do not build and load the mock-server image.
    #[arg(long)]
    pub skip_mock_server: bool,
    /// Do not install the fake GPUs (device plugin, labels, exporter) on the GPU pool.
    #[arg(long)]
    pub skip_gpu_fakes: bool,
    /// Seconds nodes and add-ons may take to become ready.
    #[arg(long, default_value_t = 600)]
    pub ready_timeout: u64,
    /// nvidia.com/gpu on each GPU node (kwok only; kind's come from gpu-fakes).
    #[arg(long, default_value_t = 8)]
    pub gpus_per_node: u32,
    /// How the fake GPUs are offered: the device plugin (nvidia.com/gpu),
    /// DRA (ResourceSlices of gpu.nvidia.com, DeviceClasses gpu.nvidia.com
    /// and mig.nvidia.com), or both over the same GPUs [default: both on
    /// kind with fake GPUs, else device-plugin].
    #[arg(long, value_enum)]
    pub gpu_api: Option<GpuApiArg>,
    /// Share each fake GPU by time-slicing: `time-slicing:N` (N replicas,
    /// nvidia.com/gpu.shared, labels nvidia.com/gpu.replicas and
    /// nvidia.com/gpu.sharing-strategy).
    #[arg(long, value_name = "time-slicing:N", conflicts_with = "mig")]
    pub gpu_sharing: Option<String>,
    /// Partition each fake GPU: `PROFILE:N` (e.g. 1g.10gb:7: nvidia.com/mig-1g.10gb,
    /// and MIG devices of DeviceClass mig.nvidia.com under DRA).
    #[arg(long, value_name = "PROFILE:N")]
    pub mig: Option<String>,
    /// Optional components, comma-separated: `prometheus` (namespace
    /// monitoring, scraping pods annotated prometheus.io/scrape; built from
    /// the Go module proxy, cold about 6 min), `vpa` (the Vertical Pod
    /// Autoscaler's recommender, recommending requests for each
    /// VerticalPodAutoscaler's target; cold about 4 min).
    #[arg(long, value_name = "COMPONENT,...", value_delimiter = ',')]
    pub with: Vec<cluster::Component>,
}

/// `--gpu-api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GpuApiArg {
    DevicePlugin,
    Dra,
    Both,
}

impl From<GpuApiArg> for cluster::GpuApi {
    fn from(a: GpuApiArg) -> Self {
        match a {
            GpuApiArg::DevicePlugin => cluster::GpuApi::DevicePlugin,
            GpuApiArg::Dra => cluster::GpuApi::Dra,
            GpuApiArg::Both => cluster::GpuApi::Both,
        }
    }
}

/// Delete a cluster, leaving no containers behind.
#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Cluster provider (kwok: the default name becomes inferbench-kwok).
    #[arg(long, value_enum, default_value_t = ProviderArg::Kind)]
    pub provider: ProviderArg,
    /// Cluster name.
    #[arg(long, env = "INFERBENCH_CLUSTER", hide_env_values = true, default_value = cluster::DEFAULT_CLUSTER_NAME)]
    pub name: String,
}

/// Show the Docker engine, cached tools, node image and clusters.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Cluster provider (kwok: the default name becomes inferbench-kwok).
    #[arg(long, value_enum, default_value_t = ProviderArg::Kind)]
    pub provider: ProviderArg,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `up` asks of the library.
fn up_options(args: &UpArgs) -> anyhow::Result<UpOptions> {
    let gpu_partitioning = match (&args.gpu_sharing, &args.mig) {
        (Some(s), _) => cluster::GpuPartitioning::time_slicing(s)?,
        (None, Some(m)) => cluster::GpuPartitioning::mig(m)?,
        (None, None) => cluster::GpuPartitioning::Whole,
    };
    Ok(UpOptions {
        provider: args.provider.into(),
        name: args.name.clone(),
        cpu_workers: args.cpu_workers,
        gpu_workers: args.gpu_workers,
        gpus: args.gpus.into(),
        simulated_gpus: GpuShape {
            gpus_per_node: args.gpus_per_node,
            ..GpuShape::default()
        },
        tool_source: args.source.map(Into::into),
        skip_mock_server: args.skip_mock_server,
        skip_gpu_fakes: args.skip_gpu_fakes,
        gpu_api: args.gpu_api.map(Into::into),
        gpu_partitioning,
        with: args.with.clone(),
        ready_timeout: Duration::from_secs(args.ready_timeout),
    })
}

/// `cargo xtask up`.
pub fn up(args: &UpArgs) -> anyhow::Result<()> {
    let opts = up_options(args)?;
    let report = cluster::up(&opts).with_context(|| {
        format!(
            "bringing up {} cluster {:?}",
            opts.provider,
            opts.cluster_name()
        )
    })?;
    println!("{}", report.how_to_reach());
    println!("{}", report.timing_line());
    Ok(())
}

/// `cargo xtask down`.
pub fn down(args: &DownArgs) -> anyhow::Result<()> {
    let provider = args.provider.into();
    let report = cluster::down(provider, &args.name).with_context(|| {
        format!(
            "deleting {provider} cluster {:?}",
            provider.cluster_name(&args.name)
        )
    })?;
    if !report.is_clean() {
        bail!("{report}");
    }
    println!("{report}");
    Ok(())
}

/// `cargo xtask status`.
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let status = cluster::status(args.provider.into()).context("reading cluster status")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        up: UpArgs,
    }

    fn parse(args: &[&str]) -> UpOptions {
        let cli = Cli::try_parse_from(std::iter::once("up").chain(args.iter().copied()))
            .expect("arguments parse");
        up_options(&cli.up).expect("valid options")
    }

    #[test]
    fn up_arguments_become_up_options() {
        // INFERBENCH_CLUSTER would change the default name.
        if std::env::var_os("INFERBENCH_CLUSTER").is_some() {
            return;
        }
        let kind = parse(&[]);
        assert_eq!(kind.provider, Provider::Kind);
        assert_eq!(kind.cluster_name(), cluster::DEFAULT_CLUSTER_NAME);
        assert_eq!((kind.cpu_workers, kind.gpu_workers), (1, 2));
        assert_eq!(kind.ready_timeout, Duration::from_secs(600));
        let kwok = parse(&["--provider", "kwok", "--gpus-per-node", "4"]);
        assert_eq!(kwok.provider, Provider::Kwok);
        assert_eq!(kwok.cluster_name(), cluster::KWOK_DEFAULT_NAME);
        assert_eq!(kwok.simulated_gpus.gpus_per_node, 4);
        let real_on_kwok = parse(&["--provider", "kwok", "--gpus", "real"]);
        assert!(real_on_kwok.validate().is_err());
        assert_eq!(kind.gpu_api(), cluster::GpuApi::Both);
        let dra = parse(&["--gpu-api", "dra", "--mig", "1g.10gb:7"]);
        assert_eq!(dra.gpu_api(), cluster::GpuApi::Dra);
        assert_eq!(
            dra.gpu_partitioning.resource_name(),
            "nvidia.com/mig-1g.10gb"
        );
        let dra_on_kwok = parse(&["--provider", "kwok", "--gpu-api", "dra"]);
        assert!(dra_on_kwok.validate().is_err());
        let with = parse(&["--with", "prometheus"]);
        assert_eq!(with.with, [cluster::Component::Prometheus]);
        assert!(with.validate().is_ok());
        let with_on_kwok = parse(&["--provider", "kwok", "--with", "prometheus"]);
        assert!(with_on_kwok.validate().is_err());
        let shared = parse(&["--gpu-sharing", "time-slicing:4"]);
        assert_eq!(
            shared.gpu_partitioning,
            cluster::GpuPartitioning::TimeSlicing(4)
        );
        let cli = Cli::try_parse_from(["up", "--gpu-sharing", "mps:2"]).expect("parses");
        let err = up_options(&cli.up).expect_err("not time-slicing");
        assert!(err.to_string().contains("time-slicing:N"), "{err}");
    }
}
