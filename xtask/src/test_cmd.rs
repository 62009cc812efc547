//! `cargo xtask test`: the whole test suite on a fresh machine.
//!
//! Checks formatting and lints, makes sure a Docker engine runs (installing
//! it where it can), builds our images, then runs every test including the
//! ones marked `#[ignore]` because they need Docker or a cluster.

use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;

use crate::test_binaries;

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
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(cargo_program())
        .args(args)
        .current_dir(environment::workspace::repo_root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs cargo with its messages on stdout (returned) and the human ones
/// on the console.
fn cargo_stdout(args: &[&str]) -> anyhow::Result<String> {
    eprintln!("==> cargo {}", args.join(" "));
    let out = Command::new(cargo_program())
        .args(args)
        .current_dir(environment::workspace::repo_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !out.status.success() {
        bail!("`cargo {}` failed ({})", args.join(" "), out.status);
    }
    String::from_utf8(out.stdout).context("cargo's messages are not UTF-8")
}

/// The cluster every cluster test shares: brought up once (or reused when
/// it is up already), handed to the tests by name and kubeconfig, and
/// deleted at the end only when this command created it.
pub(crate) struct SharedCluster {
    pub(crate) name: String,
    pub(crate) kubeconfig: std::path::PathBuf,
    /// Delete on drop: this command created the cluster, and --keep is off.
    delete: bool,
}

impl SharedCluster {
    fn up(name: &str, keep: bool) -> anyhow::Result<SharedCluster> {
        eprintln!("==> cluster {name}: bringing it up (reused if it is up already)");
        let opts = cluster::UpOptions {
            name: name.to_string(),
            // The cluster tests check Prometheus' scrapes, and `e2e`
            // reuses the cluster with the VPA recommender its
            // vertical-sizing scenario needs (brought up here, in the
            // background lane: the cold builds overlap the test build).
            with: vec![cluster::Component::Prometheus, cluster::Component::Vpa],
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

pub fn run(args: &TestArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut phases = Phases::default();
    let result = run_phases(args, &mut phases);
    phases.print(started.elapsed());
    result
}

fn run_phases(args: &TestArgs, phases: &mut Phases) -> anyhow::Result<()> {
    // The cluster comes up in the background while lint and the test build
    // keep the CPUs busy: most of `up` is waiting on containers.
    let background = (!args.offline).then(|| {
        let (name, keep) = (args.cluster.clone(), args.keep);
        std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            let r = engine_images_and_cluster(&name, keep);
            (t0.elapsed(), r)
        })
    });
    let foreground = lint_and_build(args, phases);
    let cluster = match background {
        Some(job) => {
            let (took, r) = job
                .join()
                .map_err(|_| anyhow::anyhow!("bringing up the test cluster panicked"))?;
            phases.record_beside("docker, images, cluster up", took, r.is_ok());
            Some(r?)
        }
        None => None,
    };
    // A lint or build failure is reported after the cluster job ended,
    // so a cluster this command created is deleted (on drop), not left
    // half made.
    let binaries = foreground?;
    let extra: Vec<&str> = args.cargo_test_args.iter().map(String::as_str).collect();
    let Some(cluster) = cluster else {
        let mut test = vec!["test", "--workspace", "--locked", "--"];
        test.extend(&extra);
        return phases.time("tests (offline)", || cargo(&test));
    };
    // Every test binary, ignored tests included, each in its own process:
    // those that change the shared cluster in turn, the rest beside them
    // (see test_binaries). The cluster tests reach the shared cluster by
    // name (kind's) and by KUBECONFIG (gpu-fakes'); the kwok test brings up
    // its own kwok cluster.
    let mut binaries = binaries;
    binaries.push(test_binaries::TestBinary::doc_tests(
        &cargo_program(),
        &environment::workspace::repo_root(),
    ));
    let mut test_args = vec!["--include-ignored".to_string()];
    test_args.extend(args.cargo_test_args.iter().cloned());
    let env = [
        (
            "INFERBENCH_TEST_CLUSTER".to_string(),
            cluster.name.clone().into(),
        ),
        (
            "KUBECONFIG".to_string(),
            cluster.kubeconfig.clone().into_os_string(),
        ),
    ];
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    // The vLLM profile's run follows the cluster tests in their lane: it
    // needs the GPU pool they change.
    let vllm = args.cargo_test_args.is_empty();
    let t0 = std::time::Instant::now();
    let lanes = test_binaries::run_all(binaries, &test_args, &env, jobs, || {
        if vllm {
            crate::test_profiles::profiles_on_fake_gpus(&cluster)
        } else {
            Ok(())
        }
    });
    match &lanes {
        Ok(l) => {
            phases.record_beside("tests without the shared cluster", l.the_rest, true);
            phases.record(
                "tests on the shared cluster, in turn",
                l.shared_cluster,
                true,
            );
            if vllm {
                phases.record(
                    "profiles on fake GPUs (vllm, example chart)",
                    l.after_lane,
                    l.after_lane_ok,
                );
            }
        }
        Err(_) => phases.record("tests", t0.elapsed(), false),
    }
    lanes.map(|_| ())
}

fn cargo_program() -> std::path::PathBuf {
    std::env::var_os("CARGO").map_or_else(|| "cargo".into(), Into::into)
}

/// fmt, clippy and (unless --offline) the test build, which gives the test
/// binaries to run.
fn lint_and_build(
    args: &TestArgs,
    phases: &mut Phases,
) -> anyhow::Result<Vec<test_binaries::TestBinary>> {
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
    if args.offline {
        return Ok(Vec::new());
    }
    phases.time("build tests", || {
        let stdout = cargo_stdout(&[
            "test",
            "--workspace",
            "--locked",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])?;
        test_binaries::from_cargo_messages(&stdout)
    })
}

/// The Docker engine (installed and started where needed), our images,
/// and the shared cluster.
fn engine_images_and_cluster(name: &str, keep: bool) -> anyhow::Result<SharedCluster> {
    eprintln!("==> making sure a Docker engine runs");
    let (docker, setup) = environment::docker::ensure_engine().context(
        "Docker is needed for the container and cluster tests (use --offline to skip them)",
    )?;
    eprintln!("    {setup:?}");
    // Our two images build beside the tools and the node image: on a cold
    // machine the Go builds leave a core idle while they download modules
    // and link, and the gpu-fakes image would otherwise be built last, by
    // the cluster's add-on, with nothing beside it (9 minutes cold). Warm,
    // both are cache hits. cargo's lock on the target folder keeps the
    // add-on from building it twice.
    let images = std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
        Ok(vec![
            environment::images::build_mock_server_image(&docker)?,
            environment::images::build_gpu_fakes_image(&docker)?,
        ])
    });
    let cluster = SharedCluster::up(name, keep);
    let images = images
        .join()
        .map_err(|_| anyhow::anyhow!("building the images panicked"))?;
    eprintln!("    built {}", images?.join(", "));
    cluster
}

/// How long each phase of the test run took, printed as a table at the
/// end (pass or fail) so a slower phase shows up in CI's log.
#[derive(Default)]
struct Phases(Vec<Phase>);

/// One row of the phase table.
struct Phase {
    name: String,
    took: std::time::Duration,
    ok: bool,
    /// Ran beside the others (in the background).
    beside: bool,
}

impl Phases {
    /// A phase timed elsewhere, in turn with the others.
    fn record(&mut self, name: &str, took: std::time::Duration, ok: bool) {
        self.0.push(Phase {
            name: name.to_string(),
            took,
            ok,
            beside: false,
        });
    }

    /// A phase that ran in the background, beside the ones timed in turn.
    fn record_beside(&mut self, name: &str, took: std::time::Duration, ok: bool) {
        self.0.push(Phase {
            name: name.to_string(),
            took,
            ok,
            beside: true,
        });
    }

    fn time<T>(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let started = std::time::Instant::now();
        let r = f();
        self.0.push(Phase {
            name: name.to_string(),
            took: started.elapsed(),
            ok: r.is_ok(),
            beside: false,
        });
        r
    }

    fn print(&self, wall: std::time::Duration) {
        eprintln!("{}", render_phases(&self.0, wall));
    }
}

/// The phase table: name, seconds, and whether it passed; phases that ran
/// in the background are marked; the total is the wall-clock time (which
/// includes waiting for a background phase to end).
fn render_phases(phases: &[Phase], wall: std::time::Duration) -> String {
    let label = |p: &Phase| {
        if p.beside {
            format!("{} (in background)", p.name)
        } else {
            p.name.clone()
        }
    };
    let width = phases
        .iter()
        .map(|p| label(p).len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("\n{:<width$}  {:>7}  result\n", "phase", "seconds");
    for p in phases {
        let secs = p.took.as_secs_f64();
        let result = if p.ok { "ok" } else { "FAILED" };
        out.push_str(&format!("{:<width$}  {secs:>7.0}  {result}\n", label(p)));
    }
    out.push_str(&format!(
        "{:<width$}  {:>7.0}\n",
        "total",
        wall.as_secs_f64()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_table_lines_up_and_totals_the_wall_clock() {
        let phase = |name: &str, secs, ok, beside| Phase {
            name: name.into(),
            took: std::time::Duration::from_secs(secs),
            ok,
            beside,
        };
        let table = render_phases(
            &[
                phase("cluster up", 150, true, true),
                phase("clippy", 61, true, false),
                phase("tests", 200, false, false),
            ],
            std::time::Duration::from_secs(300),
        );
        insta::assert_snapshot!(table);
    }
}
