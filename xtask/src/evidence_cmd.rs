//! `cargo xtask evidence record`: a recording of a namespace's Kubernetes
//! evidence (the same `evidence.json` the harness writes beside a failed
//! step's evidence), for replaying the diagnosis rules in tests.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Collect a namespace's evidence (events, pods with probes and
    /// container states, Deployments, ReplicaSets, Services, autoscalers,
    /// quotas, logs) and write it as JSON.
    Record(RecordArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The namespace to record.
    #[arg(long, short)]
    pub namespace: String,
    /// Where to write the recording (`-`: stdout).
    #[arg(long, short, default_value = "evidence.json")]
    pub output: PathBuf,
    /// The inferbench cluster (its kubeconfig is found by name).
    #[arg(long, env = "INFERBENCH_CLUSTER", hide_env_values = true, default_value = cluster::DEFAULT_CLUSTER_NAME)]
    pub cluster: String,
    /// A kubeconfig to use instead of a named inferbench cluster.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Leave the containers' logs out of the recording.
    #[arg(long)]
    pub no_logs: bool,
}

pub fn run(cmd: &EvidenceCommand) -> anyhow::Result<()> {
    let EvidenceCommand::Record(args) = cmd;
    let kubeconfig = crate::run_cmd::kubeconfig_of(&args.cluster, args.kubeconfig.as_deref())?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut evidence = rt.block_on(async {
        let client = k8s::connect(&kubeconfig).await?;
        anyhow::Ok(runner::evidence::collect(&client, &args.namespace).await)
    })?;
    if args.no_logs {
        evidence.logs.clear();
    }
    for gap in &evidence.gaps {
        eprintln!("not collected: {gap}");
    }
    let json = runner::evidence::Recording {
        evidence,
        loads: Vec::new(),
    }
    .to_json();
    if args.output.as_os_str() == "-" {
        print!("{json}");
    } else {
        std::fs::write(&args.output, json)
            .with_context(|| format!("writing {}", args.output.display()))?;
        eprintln!("wrote {}", args.output.display());
    }
    Ok(())
}
