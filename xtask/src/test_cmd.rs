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
    /// The kind cluster all cluster tests share: reused when it is up,
    /// else brought up and deleted at the end (unless --keep).
    #[arg(long, env = "INFERBENCH_CLUSTER", hide_env_values = true, default_value = cluster::DEFAULT_CLUSTER_NAME)]
    pub cluster: String,
    /// Leave the cluster up even when this command created it.
    #[arg(long)]
    pub keep: bool,
    /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    cargo_with_env(args, &[])
}

fn cargo_with_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = environment::workspace::repo_root();
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

/// The cluster every cluster test shares: brought up once (or reused when
/// it is up already), handed to the tests by name and kubeconfig, and
/// deleted at the end only when this command created it.
struct SharedCluster {
    name: String,
    kubeconfig: std::path::PathBuf,
    /// Delete on drop: this command created the cluster, and --keep is off.
    delete: bool,
}

impl SharedCluster {
    fn up(name: &str, keep: bool) -> anyhow::Result<SharedCluster> {
        eprintln!("==> cluster {name}: bringing it up (reused if it is up already)");
        let opts = cluster::UpOptions {
            name: name.to_string(),
            ..Default::default()
        };
        let report =
            cluster::up(&opts).with_context(|| format!("bringing up the test cluster {name:?}"))?;
        let delete =
            report.created && !keep && std::env::var_os("INFERBENCH_KEEP_CLUSTER").is_none();
        if !report.created {
            eprintln!("    reused cluster {name}: it stays up afterwards");
        }
        Ok(SharedCluster {
            name: name.to_string(),
            kubeconfig: report.kubeconfig,
            delete,
        })
    }
}

impl Drop for SharedCluster {
    fn drop(&mut self) {
        if !self.delete {
            return;
        }
        match cluster::down(cluster::Provider::Kind, &self.name) {
            Ok(r) if r.is_clean() => {
                eprintln!("==> cluster {} deleted", self.name)
            }
            Ok(r) => eprintln!(
                "cluster {} deleted but containers remain: {:?}",
                self.name, r.leftovers
            ),
            Err(e) => eprintln!("deleting cluster {} failed: {e}", self.name),
        }
    }
}

/// gpu-fakes' cluster tests against the shared cluster (the fake GPUs are
/// installed by `up`).
fn gpu_fakes_cluster_tests(cluster: &SharedCluster, extra: &[String]) -> anyhow::Result<()> {
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
    cargo_with_env(&args, &[("KUBECONFIG", cluster.kubeconfig.as_os_str())])
}

/// The vLLM profile's manifests on the fake GPUs, with the mock server
/// standing in for vLLM (`vllm serve ...`): the rolling update under load
/// (GPU requests, the start-up probe, the surge) and its twin must come out
/// as expected.
fn vllm_profile_on_fake_gpus(cluster: &SharedCluster) -> anyhow::Result<()> {
    eprintln!("==> the vllm profile on fake GPUs, the mock server standing in for vLLM");
    let report_dir = environment::workspace::repo_root()
        .join("target")
        .join("vllm-profile-report");
    let args = crate::run_cmd::RunArgs {
        paths: Vec::new(),
        cluster: cluster.name.clone(),
        kubeconfig: Some(cluster.kubeconfig.clone()),
        common: crate::run_cmd::CommonRunArgs {
            report_dir: Some(report_dir),
            keep: false,
            fail_fast: false,
            parallel: None,
            quiet: true,
            set: vec![format!("image={}", environment::images::MOCK_SERVER_IMAGE)],
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
    let report: report::RunReport =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let ran: Vec<String> = report
        .scenarios
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                report::Outcome::Passed | report::Outcome::FailedAsExpected
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
    let mut phases = Phases::default();
    let result = run_phases(args, &mut phases);
    phases.print();
    result
}

fn run_phases(args: &TestArgs, phases: &mut Phases) -> anyhow::Result<()> {
    if !args.no_lint {
        phases.time("fmt", || {
            cargo(&["fmt", "--all", "--", "--check"])
                .context("code is not formatted: run `cargo fmt --all`")
        })?;
        phases.time("clippy", || {
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ])
        })?;
    }
    let extra: Vec<&str> = args.cargo_test_args.iter().map(String::as_str).collect();
    if args.offline {
        let mut test = vec!["test", "--workspace", "--locked", "--"];
        test.extend(&extra);
        return phases.time("tests (offline)", || cargo(&test));
    }
    phases.time("docker engine and images", || {
        eprintln!("==> making sure a Docker engine runs");
        let (docker, setup) = environment::docker::ensure_engine().context(
            "Docker is needed for the container and cluster tests (use --offline to skip them)",
        )?;
        eprintln!("    {setup:?}");
        eprintln!("==> building images");
        let image = environment::images::build_mock_server_image(&docker)?;
        eprintln!("    built {image}");
        anyhow::Ok(())
    })?;
    let cluster = phases.time("cluster up (shared)", || {
        SharedCluster::up(&args.cluster, args.keep)
    })?;
    // Everything but gpu-fakes' cluster tests, ignored ones included: the
    // container tests, and the cluster tests on the shared cluster (the
    // kwok test brings up its own kwok cluster: no Docker there).
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
    phases.time("workspace tests (incl. containers, kind, kwok)", || {
        cargo_with_env(
            &test,
            &[(
                "INFERBENCH_TEST_CLUSTER",
                std::ffi::OsStr::new(&cluster.name),
            )],
        )
    })?;
    let mut test = vec!["test", "--locked", "-p", "gpu-fakes", "--"];
    test.extend(&extra);
    phases.time("gpu-fakes tests", || cargo(&test))?;
    phases.time("gpu-fakes cluster tests", || {
        gpu_fakes_cluster_tests(&cluster, &args.cargo_test_args)
    })?;
    if args.cargo_test_args.is_empty() {
        phases.time("vllm profile on fake GPUs", || {
            vllm_profile_on_fake_gpus(&cluster)
        })?;
    }
    Ok(())
}

/// How long each phase of the test run took, printed as a table at the
/// end (pass or fail) so a slower phase shows up in CI's log.
#[derive(Default)]
struct Phases(Vec<(String, std::time::Duration, bool)>);

impl Phases {
    fn time<T>(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let started = std::time::Instant::now();
        let r = f();
        self.0
            .push((name.to_string(), started.elapsed(), r.is_ok()));
        r
    }

    fn print(&self) {
        eprintln!("{}", render_phases(&self.0));
    }
}

/// The phase table: name, seconds, and whether it passed.
fn render_phases(phases: &[(String, std::time::Duration, bool)]) -> String {
    let width = phases.iter().map(|p| p.0.len()).max().unwrap_or(5).max(5);
    let mut out = format!("\n{:<width$}  {:>7}  result\n", "phase", "seconds");
    let mut total = 0.0;
    for (name, took, ok) in phases {
        let secs = took.as_secs_f64();
        total += secs;
        let result = if *ok { "ok" } else { "FAILED" };
        out.push_str(&format!("{name:<width$}  {secs:>7.0}  {result}\n"));
    }
    out.push_str(&format!("{:<width$}  {total:>7.0}\n", "total"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_table_lines_up_and_adds_up() {
        let table = render_phases(&[
            ("clippy".into(), std::time::Duration::from_secs(61), true),
            (
                "cluster up (shared)".into(),
                std::time::Duration::from_secs(200),
                false,
            ),
        ]);
        insta::assert_snapshot!(table);
    }
}
