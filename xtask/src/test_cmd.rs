//! `cargo xtask test`: the whole test suite on a fresh machine.
//!
//! Checks formatting and lints, makes sure a Docker engine runs (installing
//! it where it can), builds our images, then runs every test including the
//! ones marked `#[ignore]` because they need Docker or a cluster.

use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and `cargo clippy`.
    #[arg(long)]
    pub no_lint: bool,
    /// Run only the tests that need nothing but this machine (no Docker, no cluster).
    #[arg(long)]
    pub offline: bool,
    /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    cargo_with_env(args, &[])
}

fn cargo_with_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = harness::workspace::repo_root();
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(&root)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Cluster used by the gpu-fakes cluster tests (separate from the harness's own).
const GPU_FAKES_CLUSTER: &str = "inferbench-gpu-it";

/// Deletes the gpu-fakes test cluster however the tests ended.
struct ClusterGuard(&'static str);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if std::env::var_os("INFERBENCH_KEEP_CLUSTER").is_some() {
            eprintln!("INFERBENCH_KEEP_CLUSTER set: leaving cluster {} up", self.0);
            return;
        }
        match harness::cluster::down(self.0) {
            Ok(r) if r.leftover_containers.is_empty() => {
                eprintln!("==> cluster {} deleted", self.0)
            }
            Ok(r) => eprintln!(
                "cluster {} deleted but containers remain: {:?}",
                self.0, r.leftover_containers
            ),
            Err(e) => eprintln!("deleting cluster {} failed: {e}", self.0),
        }
    }
}

/// Brings up a cluster with the fake GPUs and runs gpu-fakes' cluster tests against it.
fn gpu_fakes_cluster_tests(extra: &[String]) -> anyhow::Result<()> {
    eprintln!("==> gpu-fakes cluster tests: bringing up {GPU_FAKES_CLUSTER}");
    let _guard = ClusterGuard(GPU_FAKES_CLUSTER);
    let opts = harness::cluster::UpOptions {
        name: GPU_FAKES_CLUSTER.to_string(),
        ..Default::default()
    };
    let report = harness::cluster::up(&opts).context("bringing up the gpu-fakes test cluster")?;
    let mut args = vec![
        "test",
        "--locked",
        "-p",
        "gpu-fakes",
        "--test",
        "cluster",
        "--",
        "--ignored",
        "--test-threads=1",
    ];
    args.extend(extra.iter().map(String::as_str));
    cargo_with_env(&args, &[("KUBECONFIG", report.kubeconfig.as_os_str())])?;
    if extra.is_empty() {
        vllm_profile_on_fake_gpus(&report.kubeconfig)?;
    }
    Ok(())
}

/// The vLLM profile's manifests on the fake GPUs, with the mock server
/// standing in for vLLM (`vllm serve ...`): the rolling update under load
/// (GPU requests, the start-up probe, the surge) and its twin must come out
/// as expected.
fn vllm_profile_on_fake_gpus(kubeconfig: &std::path::Path) -> anyhow::Result<()> {
    eprintln!("==> the vllm profile on fake GPUs, the mock server standing in for vLLM");
    let report_dir = harness::workspace::repo_root()
        .join("target")
        .join("vllm-profile-report");
    let args = crate::run_cmd::RunArgs {
        paths: Vec::new(),
        cluster: GPU_FAKES_CLUSTER.to_string(),
        kubeconfig: Some(kubeconfig.to_path_buf()),
        common: crate::run_cmd::CommonRunArgs {
            report_dir: Some(report_dir),
            keep: false,
            fail_fast: false,
            quiet: true,
            set: vec![format!("image={}", harness::images::MOCK_SERVER_IMAGE)],
            junit: crate::run_cmd::JunitArg::Scenario,
            only: vec!["rolling-update".into()],
            profile: "vllm".into(),
        },
    };
    crate::run_cmd::run(&args).context("the vllm profile on fake GPUs")?;
    // Both runs (the scenario and its twin) must have run:
    // skipping them would pass too, and prove nothing.
    let path = args
        .common
        .report_dir
        .as_ref()
        .map(|d| d.join("report.json"))
        .context("report folder")?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let report: harness::report::RunReport =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let ran: Vec<String> = report
        .scenarios
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                harness::report::Outcome::Passed | harness::report::Outcome::FailedAsExpected
            )
        })
        .map(|s| s.name.clone())
        .collect();
    if ran.len() != 2 {
        bail!(
            "the vllm profile should run rolling-update-under-load and its twin; ran {ran:?} ({})",
            path.display()
        );
    }
    eprintln!("    ran as expected: {}", ran.join(", "));
    Ok(())
}

pub fn run(args: &TestArgs) -> anyhow::Result<()> {
    if !args.no_lint {
        cargo(&["fmt", "--all", "--", "--check"])
            .context("code is not formatted: run `cargo fmt --all`")?;
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ])?;
    }
    let extra: Vec<&str> = args.cargo_test_args.iter().map(String::as_str).collect();
    if args.offline {
        let mut test = vec!["test", "--workspace", "--locked", "--"];
        test.extend(&extra);
        return cargo(&test);
    }
    eprintln!("==> making sure a Docker engine runs");
    let (docker, setup) = harness::docker::ensure_engine().context(
        "Docker is needed for the container and cluster tests (use --offline to skip them)",
    )?;
    eprintln!("    {setup:?}");
    eprintln!("==> building images");
    let image = harness::images::build_mock_server_image(&docker)?;
    eprintln!("    built {image}");
    // Everything but gpu-fakes' cluster tests, ignored ones included (they
    // bring up what they need: containers, the harness's own cluster).
    let mut test = vec![
        "test",
        "--workspace",
        "--locked",
        "--exclude",
        "gpu-fakes",
        "--",
        "--include-ignored",
    ];
    test.extend(&extra);
    cargo(&test)?;
    let mut test = vec!["test", "--locked", "-p", "gpu-fakes", "--"];
    test.extend(&extra);
    cargo(&test)?;
    // gpu-fakes' cluster tests need a cluster with the fake GPUs installed.
    gpu_fakes_cluster_tests(&args.cargo_test_args)
}
