//! `cargo xtask`: the one entry point for the test bench.

mod bench_kwok;
mod bench_load;
mod bench_mock;
mod bench_pacing;
mod check_cmd;
mod cluster_cmd;
mod components;
mod ctrl_c;
mod evidence_cmd;
mod exit;
mod lint_cmd;
mod own_template_cmd;
mod report_cmd;
mod run_cmd;
mod test_binaries;
mod test_cmd;
mod test_profiles;

use clap::{Parser, Subcommand};

/// A local test bench for GPU inference on Kubernetes.
///
/// Brings up kind clusters with (fake or real) GPU node pools, builds and
/// loads our images, and runs the test suite and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create (or reuse) the kind cluster with CPU and GPU node pools.
    Up(cluster_cmd::UpArgs),
    /// Delete the cluster and every container it used.
    Down(cluster_cmd::DownArgs),
    /// Show which clusters and nodes exist.
    Status(cluster_cmd::StatusArgs),
    /// Build our container images locally (mock-server).
    Images,
    /// Install what the tests need (Docker), build images, run every test.
    Test(test_cmd::TestArgs),
    /// Run scenarios against an existing cluster and write a report.
    Run(run_cmd::RunArgs),
    /// Bring up the default cluster, run every built-in scenario, write the report, tear down.
    E2e(run_cmd::E2eArgs),
    /// Check a Helm chart, kustomize overlay or manifests against inference-serving rules (no cluster needed).
    Check(check_cmd::CheckArgs),
    /// Check scenario files, or print their JSON Schema.
    #[command(subcommand)]
    Scenarios(ScenariosCommand),
    /// Benchmarks that print results side by side.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Compare two runs' reports, re-render one, or print report.json's JSON Schema.
    #[command(subcommand)]
    Report(report_cmd::ReportCommand),
    /// Record a namespace's Kubernetes evidence as JSON (for diagnosis tests).
    #[command(subcommand)]
    Evidence(evidence_cmd::EvidenceCommand),
    /// Helm's post-renderer during a run: patches the release's rendered
    /// objects (stdin) as PLAN says, to stdout.
    #[command(hide = true)]
    PostRender {
        /// The run's post-render plan (JSON).
        plan: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ScenariosCommand {
    /// Parse and check scenario files (default: scenarios/); nothing runs.
    Lint(lint_cmd::LintArgs),
    /// Print the JSON Schema of scenario files (for yaml-language-server).
    Schema,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Drive the mock server with goose at rising concurrency on loopback.
    Mock(bench_mock::BenchMockArgs),
    /// Scale: a kwok cluster (no Docker) with many GPU nodes and pods; time to Ready, bound, Running.
    Kwok(bench_kwok::BenchKwokArgs),
    /// What load measurements add: client vs the serving pod's own latency
    /// on a kind cluster (in-cluster and port-forward), and the generator's
    /// ceiling next to wrk on loopback.
    Load(bench_load::BenchLoadArgs),
}

fn main() -> std::process::ExitCode {
    exit::report(run(Cli::parse()))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => cluster_cmd::up(&args),
        Command::Down(args) => cluster_cmd::down(&args),
        Command::Status(args) => cluster_cmd::status(&args),
        Command::Images => {
            let (docker, _) = environment::docker::ensure_engine()?;
            let image = environment::images::build_mock_server_image(&docker)?;
            println!("built {image}");
            Ok(())
        }
        Command::Test(args) => test_cmd::run(&args),
        Command::Run(args) => run_cmd::run(&args),
        Command::Evidence(cmd) => evidence_cmd::run(&cmd),
        Command::E2e(args) => run_cmd::e2e(&args),
        Command::Check(args) => check_cmd::run(&args),
        Command::Scenarios(ScenariosCommand::Lint(args)) => lint_cmd::run(&args),
        Command::Scenarios(ScenariosCommand::Schema) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&scenario::json_schema())?
            );
            Ok(())
        }
        Command::Bench(BenchCommand::Mock(args)) => bench_mock::run(&args),
        Command::Report(command) => report_cmd::run(&command),
        Command::Bench(BenchCommand::Kwok(args)) => bench_kwok::run(&args),
        Command::Bench(BenchCommand::Load(args)) => bench_load::run(&args),
        Command::PostRender { plan } => own_template_cmd::post_render(&plan),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_snapshot() {
        // A fixed width: clap wraps at the terminal's when goose turns on
        // its `wrap_help` feature.
        let mut cmd = Cli::command().term_width(100);
        let help = cmd.render_help().to_string();
        insta::assert_snapshot!("xtask_help", help);
        let bench = cmd
            .find_subcommand_mut("bench")
            .and_then(|b| b.find_subcommand_mut("mock"))
            .map(|c| c.render_help().to_string());
        insta::assert_snapshot!("xtask_bench_mock_help", bench.unwrap_or_default());
        let bench_load = cmd
            .find_subcommand_mut("bench")
            .and_then(|b| b.find_subcommand_mut("load"))
            .map(|c| c.render_help().to_string());
        insta::assert_snapshot!("xtask_bench_load_help", bench_load.unwrap_or_default());
        let lint = cmd
            .find_subcommand_mut("scenarios")
            .and_then(|b| b.find_subcommand_mut("lint"))
            .map(|c| c.render_help().to_string());
        insta::assert_snapshot!("xtask_scenarios_lint_help", lint.unwrap_or_default());
        for sub in ["up", "run", "e2e", "check"] {
            let help = cmd
                .find_subcommand_mut(sub)
                .map(|c| c.render_help().to_string())
                .unwrap_or_else(|| panic!("no subcommand {sub}"));
            insta::assert_snapshot!(format!("xtask_{sub}_help"), help);
        }
    }
}
