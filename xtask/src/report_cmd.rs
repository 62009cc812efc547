//! `cargo xtask report`: compare two runs, re-render a run's report files,
//! print the JSON Schema of `report.json`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use report::{self, diff, json, junit, markdown};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Compare run B with run A: scenarios newly failing, passing, missing or
    /// added, and loads whose latency or error rate got worse. Exits with 1
    /// when B regresses (to gate a promotion).
    Diff(DiffArgs),
    /// Write junit.xml, report.md and report.html again from a report.json.
    Render(RenderArgs),
    /// Print the JSON Schema of report.json.
    Schema,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Run A (the baseline): a report folder or its report.json.
    pub a: PathBuf,
    /// Run B (the candidate): a report folder or its report.json.
    pub b: PathBuf,
    /// A latency percentile (p50, p95, p99) more than this many percent
    /// above A's is a regression.
    #[arg(long, value_name = "PERCENT", default_value_t = 20.0)]
    pub latency_threshold_pct: f64,
    /// An error rate more than this many percentage points above A's is a
    /// regression.
    #[arg(long, value_name = "POINTS", default_value_t = 1.0)]
    pub error_rate_threshold_pp: f64,
    /// Scenarios missing from B, or skipped in B but run in A, regress too.
    #[arg(long)]
    pub strict: bool,
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A report folder or its report.json.
    pub path: PathBuf,
    /// Folder to write into (default: the report's own folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// One JUnit testcase per scenario, or per step.
    #[arg(long, value_enum, default_value_t = JunitGranularity::Scenario)]
    pub junit_granularity: JunitGranularity,
    /// Also append the Markdown report to $GITHUB_STEP_SUMMARY (when set).
    #[arg(long)]
    pub step_summary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JunitGranularity {
    Scenario,
    Step,
}

impl From<JunitGranularity> for junit::Granularity {
    fn from(g: JunitGranularity) -> Self {
        match g {
            JunitGranularity::Scenario => junit::Granularity::Scenario,
            JunitGranularity::Step => junit::Granularity::Step,
        }
    }
}

pub fn run(command: &ReportCommand) -> anyhow::Result<()> {
    match command {
        ReportCommand::Diff(args) => {
            let (output, compared) = compare(args)?;
            print!("{output}");
            if compared.is_regression() {
                // A verdict, not an error: exit 1 without an error trace.
                std::io::stdout().flush()?;
                eprintln!(
                    "run {} regresses against run {} ({} regression(s))",
                    compared.after.run_id, compared.before.run_id, compared.regressions
                );
                std::process::exit(1);
            }
            Ok(())
        }
        ReportCommand::Render(args) => render(args),
        ReportCommand::Schema => {
            println!("{}", serde_json::to_string_pretty(&json::json_schema())?);
            Ok(())
        }
    }
}

/// The comparison, rendered in the chosen format.
fn compare(args: &DiffArgs) -> anyhow::Result<(String, diff::ReportDiff)> {
    for (flag, value) in [
        ("--latency-threshold-pct", args.latency_threshold_pct),
        ("--error-rate-threshold-pp", args.error_rate_threshold_pp),
    ] {
        if !value.is_finite() || value < 0.0 {
            bail!("{flag} must be a number of zero or more, not {value}");
        }
    }
    let a = json::read(&args.a).with_context(|| format!("reading run A ({})", args.a.display()))?;
    let b = json::read(&args.b).with_context(|| format!("reading run B ({})", args.b.display()))?;
    let options = diff::DiffOptions {
        latency_threshold_pct: args.latency_threshold_pct,
        error_rate_threshold_pp: args.error_rate_threshold_pp,
        strict: args.strict,
    };
    let compared = diff::diff(&a, &b, &options);
    let output = match args.format {
        DiffFormat::Text => compared.to_text(),
        DiffFormat::Markdown => compared.to_markdown(),
        DiffFormat::Json => serde_json::to_string_pretty(&compared)? + "\n",
    };
    Ok((output, compared))
}

fn render(args: &RenderArgs) -> anyhow::Result<()> {
    let source = json::report_file(&args.path);
    let run = json::read(&source)?;
    let dir = match &args.out {
        Some(dir) => dir.clone(),
        None => source
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let options = report::WriteOptions {
        junit: args.junit_granularity.into(),
    };
    let written = report::write_folder_with(&dir, &run, &options)?;
    for path in [
        &written.json,
        &written.junit,
        &written.markdown,
        &written.html,
    ] {
        println!("wrote {}", path.display());
    }
    if args.step_summary
        && let Some(summary) = markdown::write_step_summary(&run)?
    {
        println!("appended the report to {}", summary.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        environment::workspace::repo_root().join("crates/report/tests/fixtures/report/run.json")
    }

    fn diff_args(a: PathBuf, b: PathBuf) -> DiffArgs {
        DiffArgs {
            a,
            b,
            latency_threshold_pct: 20.0,
            error_rate_threshold_pp: 1.0,
            strict: false,
            format: DiffFormat::Text,
        }
    }

    /// A copy of the fixture whose rolling update got 50% slower at p95.
    fn slower_copy(dir: &Path) -> PathBuf {
        let mut run = json::read(&fixture()).expect("fixture");
        run.scenarios[0].loads[0].latency_ms.p95 *= 1.5;
        let path = dir.join("report.json");
        json::write(&path, &run).expect("written");
        path
    }

    #[test]
    fn a_run_against_itself_does_not_regress() {
        let (text, compared) = compare(&diff_args(fixture(), fixture())).expect("compares");
        assert!(!compared.is_regression());
        assert!(text.contains("No regressions"), "{text}");
    }

    #[test]
    fn a_slower_run_regresses() {
        let dir = std::env::temp_dir().join(format!("xtask-report-diff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        slower_copy(&dir);
        let mut args = diff_args(fixture(), dir.clone());
        args.format = DiffFormat::Json;
        let result = compare(&args);
        let _ = std::fs::remove_dir_all(&dir);
        let (output, compared) = result.expect("compares");
        assert!(compared.is_regression());
        let parsed: serde_json::Value = serde_json::from_str(&output).expect("JSON output");
        assert_eq!(parsed["regressions"], 1);
    }

    #[test]
    fn negative_thresholds_are_refused() {
        let mut args = diff_args(fixture(), fixture());
        args.latency_threshold_pct = -1.0;
        let err = compare(&args).expect_err("refused");
        assert!(err.to_string().contains("--latency-threshold-pct"), "{err}");
    }
}
