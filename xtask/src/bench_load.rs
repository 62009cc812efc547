//! `cargo xtask bench load`: what our load measurements add to what the
//! server did, printed side by side in one run.
//!
//! 1. **Harness overhead** on a kind cluster: the bench scenario
//!    (`xtask/bench/load-overhead.yaml`) loads one mock of fixed pace from a
//!    generator pod (new connections, then kept-alive ones) and from the
//!    host through a port-forward; each load's client figures are set
//!    beside the serving pod's own histograms (the report's server view).
//! 2. **Generator ceiling**: `mock-server load` on one core against a
//!    zero-latency mock on the other, next to `wrk` on the same target.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use clap::{Args, Parser};
use report::{LoadReport, RunReport};

use crate::bench_mock::{ServerProcess, build_server, start_mock};
use crate::run_cmd::{self, RunArgs};

/// The bench scenario, run as any scenario is.
const SCENARIO: &str = include_str!("../bench/load-overhead.yaml");

/// The overhead the in-cluster path may add at p50 (issue's target).
const TARGET_P50_MS: f64 = 2.0;

#[derive(Debug, Clone, Args)]
pub struct BenchLoadArgs {
    /// The kind cluster to measure on (`cargo xtask up --name NAME` first).
    #[arg(long, env = "INFERBENCH_CLUSTER", hide_env_values = true, default_value = cluster::DEFAULT_CLUSTER_NAME)]
    pub cluster: String,
    /// Leave out the cluster part (overhead).
    #[arg(long)]
    pub skip_overhead: bool,
    /// Leave out the loopback part (generator ceiling against wrk).
    #[arg(long)]
    pub skip_ceiling: bool,
    /// Seconds of each loopback measurement.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Connections (closed-loop users) of each loopback measurement.
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// Where the overhead run's report goes (default: a temporary folder).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
}

/// One row of the overhead table.
#[derive(Debug, Clone, PartialEq)]
struct OverheadRow {
    path: String,
    requests: u64,
    client_p50: f64,
    client_mean: f64,
    server_mean: Option<f64>,
    ttft_client_p50: Option<f64>,
    ttft_server_mean: Option<f64>,
    /// Why there is no server view, when there is none.
    note: Option<String>,
}

impl OverheadRow {
    fn of(l: &LoadReport) -> OverheadRow {
        let answered = l.requests.saturating_sub(l.failures);
        let view = l.server_view.as_ref();
        let note = match view {
            None => Some("the serving pod's metrics could not be read".to_string()),
            Some(v) if v.requests != answered => Some(format!(
                "the pod counted {} answers, the client {answered}",
                v.requests
            )),
            Some(_) => None,
        };
        let same = note.is_none();
        OverheadRow {
            path: l.name.clone(),
            requests: l.requests,
            client_p50: l.latency_ms.p50,
            client_mean: l.latency_ms.mean,
            server_mean: view.filter(|_| same).map(|v| v.e2e_mean_ms),
            ttft_client_p50: l.ttft_ms.as_ref().map(|t| t.p50),
            ttft_server_mean: view.filter(|_| same).and_then(|v| v.ttft_mean_ms),
            note,
        }
    }

    fn e2e_added_p50(&self) -> Option<f64> {
        self.server_mean.map(|s| self.client_p50 - s)
    }

    fn ttft_added_p50(&self) -> Option<f64> {
        Some(self.ttft_client_p50? - self.ttft_server_mean?)
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

fn overhead_table(rows: &[OverheadRow]) -> String {
    let mut out = format!(
        "{:<22} {:>8} {:>11} {:>11} {:>11} {:>10} {:>11} {:>11} {:>10}\n",
        "path",
        "requests",
        "e2e p50",
        "e2e mean",
        "server e2e",
        "added p50",
        "TTFT p50",
        "server TTFT",
        "added p50"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<22} {:>8} {:>11.1} {:>11.1} {:>11} {:>10} {:>11} {:>11} {:>10}\n",
            r.path,
            r.requests,
            r.client_p50,
            r.client_mean,
            cell(r.server_mean),
            cell(r.e2e_added_p50()),
            cell(r.ttft_client_p50),
            cell(r.ttft_server_mean),
            cell(r.ttft_added_p50()),
        ));
        if let Some(note) = &r.note {
            out.push_str(&format!("  ({}: {note})\n", r.path));
        }
    }
    out
}

/// Whether the in-cluster loads stayed within the target, in words.
fn verdict(rows: &[OverheadRow]) -> String {
    let in_cluster: Vec<&OverheadRow> = rows
        .iter()
        .filter(|r| r.path.starts_with("in-cluster"))
        .collect();
    let added: Vec<(String, f64)> = in_cluster
        .iter()
        .filter_map(|r| r.e2e_added_p50().map(|a| (r.path.clone(), a)))
        .collect();
    if added.is_empty() {
        return "target (in-cluster p50 overhead < 2 ms): not measured (no server view)".into();
    }
    let worst = added
        .iter()
        .map(|(_, a)| *a)
        .fold(f64::NEG_INFINITY, f64::max);
    let words: Vec<String> = added
        .iter()
        .map(|(p, a)| format!("{p} {a:+.1} ms"))
        .collect();
    format!(
        "target (in-cluster p50 overhead < {TARGET_P50_MS} ms): {} ({})",
        if worst < TARGET_P50_MS {
            "met"
        } else {
            "NOT met"
        },
        words.join(", ")
    )
}

#[derive(Parser)]
struct RunArgsParser {
    #[command(flatten)]
    run: RunArgs,
}

fn overhead(args: &BenchLoadArgs) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let scenario = dir.join("load-overhead.yaml");
    std::fs::write(&scenario, SCENARIO)
        .with_context(|| format!("writing {}", scenario.display()))?;
    let report_dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| dir.join("report"));
    let argv: Vec<String> = vec![
        "bench-load".into(),
        scenario.display().to_string(),
        "--cluster".into(),
        args.cluster.clone(),
        "--report-dir".into(),
        report_dir.display().to_string(),
        "--parallel".into(),
        "1".into(),
    ];
    let run = RunArgsParser::try_parse_from(&argv)
        .context("the bench's own run arguments")?
        .run;
    eprintln!(
        "==> harness overhead on cluster {}: the bench scenario, about a minute",
        args.cluster
    );
    let report = run_cmd::run_for_report(&run)?;
    print_overhead(&report, &report_dir)
}

fn print_overhead(report: &RunReport, report_dir: &Path) -> anyhow::Result<()> {
    let loads: Vec<&LoadReport> = report.scenarios.iter().flat_map(|s| &s.loads).collect();
    if loads.is_empty() {
        bail!(
            "the bench scenario ran no load (outcome {:?}); see {}",
            report.outcome,
            report_dir.display()
        );
    }
    let rows: Vec<OverheadRow> = loads.iter().map(|l| OverheadRow::of(l)).collect();
    println!();
    println!(
        "harness overhead: client figures beside the serving pod's own (mock: first token at 20 ms, 16 tokens 5 ms apart; ms; added = client p50 - server mean)"
    );
    print!("{}", overhead_table(&rows));
    println!("{}", verdict(&rows));
    println!("report: {}", report_dir.display());
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("inferbench-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Requests per second one tool sent, or why it could not be measured.
type Ceiling = Result<f64, String>;

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `taskset -c CPU` in front of a command where there are two CPUs or more
/// and `taskset` is on the PATH; the command alone elsewhere.
pub(crate) fn pinned(cpu: usize, program: &Path) -> Command {
    if cpus() >= 2 && which("taskset").is_some() {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn generator_ceiling(bin: &Path, base: &str, args: &BenchLoadArgs) -> Ceiling {
    let plan = serde_json::json!({
        "baseUrl": base, "request": "completions", "model": "mock-llm", "maxTokens": 1,
        "shape": {"kind": "users", "users": args.connections},
        "durationMs": args.seconds * 1000, "requestTimeoutMs": 10_000, "keepAlive": true,
    });
    let out = pinned(0, bin)
        .args(["load", "--plan", &plan.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running mock-server load: {e}"))?;
    if !out.status.success() {
        return Err(format!("mock-server load failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let ok = text
        .lines()
        .filter(|l| l.contains("\"sample\"") && l.contains("\"ok\":true"))
        .count();
    Ok(ok as f64 / args.seconds as f64)
}

fn wrk_ceiling(base: &str, args: &BenchLoadArgs) -> Ceiling {
    let Some(wrk) = which("wrk") else {
        return Err("wrk is not installed (Debian: apt-get install wrk)".into());
    };
    let script = std::env::temp_dir().join(format!("inferbench-wrk-{}.lua", std::process::id()));
    let lua = r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"mock-llm","prompt":"benchmark prompt","max_tokens":1}'
"#;
    std::fs::write(&script, lua).map_err(|e| format!("writing {}: {e}", script.display()))?;
    let out = pinned(0, &wrk)
        .args(["-t1", &format!("-c{}", args.connections)])
        .arg(format!("-d{}s", args.seconds))
        .arg("-s")
        .arg(&script)
        .arg(format!("{base}/v1/completions"))
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk_rps(&text).ok_or_else(|| format!("no Requests/sec in wrk's output: {text}"))
}

/// `Requests/sec:  12345.67` from wrk's summary; non-2xx answers make it
/// say so, and then the figure does not count.
fn parse_wrk_rps(text: &str) -> Option<f64> {
    if text.contains("Non-2xx or 3xx responses") {
        return None;
    }
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

fn ceiling(args: &BenchLoadArgs) -> anyhow::Result<()> {
    let bin = build_server()?;
    let server: ServerProcess = start_mock(
        &bin,
        &[
            "--ttft-ms",
            "0",
            "--inter-token-ms",
            "0",
            "--max-num-seqs",
            "4096",
        ],
        1,
    )?;
    eprintln!(
        "==> generator ceiling: {} connections for {}s each, client on CPU 0, mock on CPU 1",
        args.connections, args.seconds
    );
    let ours = generator_ceiling(&bin, &server.base, args);
    let wrk = wrk_ceiling(&server.base, args);
    println!();
    println!(
        "generator ceiling: completions of 1 token from a zero-latency mock on loopback, {} connections kept alive, one core each",
        args.connections
    );
    let show = |c: &Ceiling| match c {
        Ok(rps) => format!("{rps:>10.0} req/s"),
        Err(why) => format!("not measured: {why}"),
    };
    println!("{:<22} {}", "mock-server load", show(&ours));
    println!("{:<22} {}", "wrk", show(&wrk));
    if let (Ok(a), Ok(b)) = (&ours, &wrk) {
        println!("ratio (ours / wrk)      {:.2}", a / b);
    }
    Ok(())
}

pub fn run(args: &BenchLoadArgs) -> anyhow::Result<()> {
    if args.seconds == 0 || args.connections == 0 {
        bail!("--seconds and --connections must be at least 1");
    }
    if args.skip_overhead && args.skip_ceiling {
        bail!("--skip-overhead and --skip-ceiling leave nothing to measure");
    }
    if !args.skip_ceiling {
        ceiling(args)?;
    }
    if !args.skip_overhead {
        overhead(args)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &str, p50: f64, server: Option<f64>) -> OverheadRow {
        OverheadRow {
            path: path.into(),
            requests: 400,
            client_p50: p50,
            client_mean: p50 + 0.5,
            server_mean: server,
            ttft_client_p50: Some(21.3),
            ttft_server_mean: server.map(|_| 20.2),
            note: None,
        }
    }

    #[test]
    fn the_table_and_the_verdict() {
        let rows = vec![
            row("in-cluster", 96.4, Some(95.3)),
            row("port-forward", 190.0, Some(95.3)),
        ];
        insta::assert_snapshot!(overhead_table(&rows));
        assert!(verdict(&rows).contains(": met (in-cluster +1.1 ms)"));
        let slow = vec![row("in-cluster", 99.0, Some(95.3))];
        assert!(verdict(&slow).contains("NOT met"), "{}", verdict(&slow));
        let unseen = vec![row("in-cluster", 99.0, None)];
        assert!(verdict(&unseen).contains("not measured"));
    }

    #[test]
    fn wrk_output_is_read_and_errors_void_it() {
        let ok = "Running 5s test\n  64 connections\nRequests/sec:  23456.78\nTransfer/sec: 5MB\n";
        assert_eq!(parse_wrk_rps(ok), Some(23456.78));
        let bad = "Non-2xx or 3xx responses: 5\nRequests/sec:  100.0\n";
        assert_eq!(parse_wrk_rps(bad), None);
    }

    #[test]
    fn the_bench_scenario_parses_and_lints() {
        let s = scenario::parse(Path::new("xtask/bench/load-overhead.yaml"), SCENARIO)
            .unwrap_or_else(|problems| panic!("{problems:?}"));
        assert_eq!(s.metadata.name, "load-overhead");
    }
}
