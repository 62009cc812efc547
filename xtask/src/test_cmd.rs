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
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = harness::workspace::repo_root();
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(&root)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
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
    let mut test = vec!["test", "--workspace", "--locked"];
    if !args.offline {
        eprintln!("==> making sure a Docker engine runs");
        let (docker, setup) = harness::docker::ensure_engine().context(
            "Docker is needed for the container and cluster tests (use --offline to skip them)",
        )?;
        eprintln!("    {setup:?}");
        eprintln!("==> building images");
        let image = harness::images::build_mock_server_image(&docker)?;
        eprintln!("    built {image}");
    }
    test.push("--");
    if !args.offline {
        test.push("--include-ignored");
    }
    test.extend(args.cargo_test_args.iter().map(String::as_str));
    cargo(&test)
}
