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
use cluster::kwok::{self, GpuShape, KwokOptions, KwokUpOptions};
use cluster::{self, UpOptions};
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

impl From<GpusArg> for cluster::GpuMode {
    fn from(g: GpusArg) -> Self {
        match g {
            GpusArg::Fake => cluster::GpuMode::Fake,
            GpusArg::Real => cluster::GpuMode::Real,
        }
    }
}

/// The kwok cluster name for `name`: the kind default's folder would
/// collide, so the default name becomes `inferbench-kwok`.
pub(crate) fn kwok_name(name: &str) -> &str {
    if name == cluster::DEFAULT_CLUSTER_NAME {
        kwok::lifecycle::DEFAULT_NAME
    } else {
        name
    }
}

/// Create (or reuse) a kind cluster with a GPU node pool.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Cluster provider (kwok: the default name becomes inferbench-kwok).
    #[arg(long, value_enum, default_value_t = ProviderArg::Kind)]
    pub provider: ProviderArg,
    /// Cluster name; an existing cluster of that name is reused.
    #[arg(long, env = "INFERBENCH_CLUSTER", default_value = cluster::DEFAULT_CLUSTER_NAME)]
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
}

/// Delete a cluster, leaving no containers behind.
#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Cluster provider (kwok: the default name becomes inferbench-kwok).
    #[arg(long, value_enum, default_value_t = ProviderArg::Kind)]
    pub provider: ProviderArg,
    /// Cluster name.
    #[arg(long, env = "INFERBENCH_CLUSTER", default_value = cluster::DEFAULT_CLUSTER_NAME)]
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

/// `cargo xtask up`.
pub fn up(args: &UpArgs) -> anyhow::Result<()> {
    if args.provider == ProviderArg::Kwok {
        if args.gpus == GpusArg::Real {
            anyhow::bail!("--gpus real needs kind: kwok's nodes are fake and run no containers");
        }
        return up_kwok(args);
    }
    let opts = UpOptions {
        name: args.name.clone(),
        cpu_workers: args.cpu_workers,
        gpu_workers: args.gpu_workers,
        tool_source: args.source.map(Into::into),
        skip_mock_server: args.skip_mock_server,
        skip_gpu_fakes: args.skip_gpu_fakes,
        gpus: args.gpus.into(),
        ready_timeout: Duration::from_secs(args.ready_timeout),
    };
    let report =
        cluster::up(&opts).with_context(|| format!("bringing up cluster {:?}", args.name))?;
    println!("{}", report.how_to_reach());
    let total: f64 = report.timings.iter().map(|(_, s)| s).sum();
    let steps: Vec<String> = report
        .timings
        .iter()
        .map(|(n, s)| format!("{n} {s:.0}s"))
        .collect();
    println!("took {total:.0}s: {}", steps.join(", "));
    Ok(())
}

/// `cargo xtask up --provider kwok`.
fn up_kwok(args: &UpArgs) -> anyhow::Result<()> {
    let opts = KwokUpOptions {
        name: kwok_name(&args.name).to_string(),
        cpu_nodes: args.cpu_workers,
        gpu_nodes: args.gpu_workers,
        tool_source: args.source.map(Into::into),
        options: KwokOptions {
            gpu: GpuShape {
                gpus_per_node: args.gpus_per_node,
                ..GpuShape::default()
            },
            ready_timeout: Duration::from_secs(args.ready_timeout),
            ..KwokOptions::default()
        },
    };
    let report = kwok::lifecycle::up(&opts)
        .with_context(|| format!("bringing up kwok cluster {:?}", opts.name))?;
    println!("{}", report.how_to_reach());
    let steps: Vec<String> = report
        .timings
        .iter()
        .map(|(n, s)| format!("{n} {s:.0}s"))
        .collect();
    println!("took {}", steps.join(", "));
    Ok(())
}

/// `cargo xtask down --provider kwok`.
fn down_kwok(args: &DownArgs) -> anyhow::Result<()> {
    let name = kwok_name(&args.name);
    let report =
        kwok::lifecycle::down(name).with_context(|| format!("deleting kwok cluster {name:?}"))?;
    if !report.leftover_processes.is_empty() {
        let left: Vec<String> = report
            .leftover_processes
            .iter()
            .map(|p| format!("{} (pid {})", p.component, p.pid))
            .collect();
        bail!(
            "kwok cluster {name:?} deleted but processes remain: {}",
            left.join(", ")
        );
    }
    if report.existed {
        println!("kwok cluster {name:?} deleted; no processes left");
    } else {
        println!("kwok cluster {name:?} does not exist; nothing to do");
    }
    Ok(())
}

/// `cargo xtask down`.
pub fn down(args: &DownArgs) -> anyhow::Result<()> {
    if args.provider == ProviderArg::Kwok {
        return down_kwok(args);
    }
    let report =
        cluster::down(&args.name).with_context(|| format!("deleting cluster {:?}", args.name))?;
    if !report.leftover_containers.is_empty() {
        bail!(
            "cluster {:?} deleted but containers remain: {}",
            report.name,
            report.leftover_containers.join(", ")
        );
    }
    if report.existed {
        println!("cluster {:?} deleted; no containers left", report.name);
    } else {
        println!("cluster {:?} does not exist; nothing to do", report.name);
    }
    Ok(())
}

/// `cargo xtask status`.
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    if args.provider == ProviderArg::Kwok {
        let status = kwok::lifecycle::status().context("reading kwok cluster status")?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print!("{status}");
        }
        return Ok(());
    }
    let status = cluster::status().context("reading cluster status")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{status}");
    }
    Ok(())
}
