//! `cargo xtask bench kwok`: a kwok cluster (local control plane, fake GPU
//! nodes, no Docker) with many GPU nodes and pods, timed: nodes Ready, pods
//! bound and Running, pods per second. The cluster is deleted afterwards.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use cluster::kwok::bench::{self, BenchOptions};
use cluster::kwok::{Binaries, GpuShape, KwokOptions};
use environment::tools::{ToolSource, Toolchain};

use crate::cluster_cmd::SourceArg;

#[derive(Debug, Clone, Args)]
pub struct BenchKwokArgs {
    /// Fake GPU nodes.
    #[arg(long, default_value_t = 50)]
    pub gpu_nodes: u32,
    /// nvidia.com/gpu on each GPU node.
    #[arg(long, default_value_t = 8)]
    pub gpus_per_node: u32,
    /// GPU pods to create (those that do not fit must stay Pending).
    #[arg(long, default_value_t = 400)]
    pub pods: u32,
    /// nvidia.com/gpu each pod asks for.
    #[arg(long, default_value_t = 1)]
    pub gpus_per_pod: u32,
    /// Create requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Client QPS of kube-scheduler and kube-controller-manager (burst: twice).
    #[arg(long, default_value_t = 500)]
    pub client_qps: u32,
    /// Seconds the pods may take to be bound and Running.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Cluster name (must not be running).
    #[arg(long, default_value = "inferbench-kwok-bench")]
    pub name: String,
    /// Leave the cluster up afterwards (delete it with `cargo xtask down --provider kwok --name NAME`).
    #[arg(long)]
    pub keep: bool,
    /// Where kwok comes from; default: INFERBENCH_TOOL_SOURCE, else download when dl.k8s.io answers, else build.
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// How the pods get GPUs: counting nvidia.com/gpu (device-plugin), or
    /// `dra`: the device-plugin run, then the same nodes and pods claiming
    /// GPUs from ResourceSlices (DeviceClass gpu.nvidia.com) on a fresh
    /// cluster, printed side by side.
    #[arg(long, value_enum, default_value_t = BenchGpuApi::DevicePlugin)]
    pub gpu_api: BenchGpuApi,
}

/// `--gpu-api` of `bench kwok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchGpuApi {
    DevicePlugin,
    Dra,
}

pub fn run(args: &BenchKwokArgs) -> anyhow::Result<()> {
    let source = match args.source {
        Some(s) => s.into(),
        None => ToolSource::from_env()?,
    };
    let bins = Binaries::from_toolchain(&Toolchain::new(source))
        .context("getting etcd, Kubernetes and kwok")?;
    let opts = BenchOptions {
        name: args.name.clone(),
        gpu_nodes: args.gpu_nodes,
        cpu_nodes: 0,
        pods: args.pods,
        gpus_per_pod: args.gpus_per_pod,
        concurrency: args.concurrency,
        timeout: Duration::from_secs(args.timeout),
        keep: args.keep,
        dra: false,
        kwok: KwokOptions {
            gpu: GpuShape {
                gpus_per_node: args.gpus_per_node,
                ..GpuShape::default()
            },
            client_qps: args.client_qps,
            ..KwokOptions::default()
        },
    };
    let report = bench::run(&bins, &opts).context("kwok scale benchmark")?;
    println!("{report}");
    let mut reports = vec![report];
    if args.gpu_api == BenchGpuApi::Dra {
        let dra = BenchOptions { dra: true, ..opts };
        let report = bench::run(&bins, &dra).context("kwok scale benchmark, DRA path")?;
        println!("{report}");
        println!(
            "{}",
            cluster::kwok::bench_dra::compare(&reports[0], &report)
        );
        reports.push(report);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&reports)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
