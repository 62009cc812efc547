//! `cargo xtask bench mock`: goose against the mock server on loopback, at
//! rising concurrency, with the server's own CPU and memory beside the
//! client-side numbers, so the mock can be compared with other simulators.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;
use mock_server::procfs::ProcessStats;

#[derive(Debug, Clone, Args)]
pub struct BenchMockArgs {
    /// Concurrent users at each level.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    pub users: Vec<usize>,
    /// Seconds of measured load per level (after all users started).
    #[arg(long, default_value_t = 5)]
    pub seconds: usize,
    /// Output tokens per request.
    #[arg(long, default_value_t = 16)]
    pub tokens: u32,
    /// Server time to first token (ms).
    #[arg(long, default_value_t = 10)]
    pub ttft_ms: u64,
    /// Server inter-token latency (ms).
    #[arg(long, default_value_t = 1)]
    pub inter_token_ms: u64,
    /// Server concurrency limit (max_num_seqs); requests beyond it queue.
    #[arg(long, default_value_t = 256)]
    pub max_num_seqs: usize,
    /// Use streaming chat completions instead of plain completions.
    #[arg(long)]
    pub stream: bool,
    /// A mock-server binary to measure instead of building this checkout's.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Also measure the mock as of this git revision (a release tag, or
    /// e.g. HEAD~20), built into ~/.cache/inferbench/bench-baseline, and
    /// print both side by side.
    #[arg(long, value_name = "REV")]
    pub baseline_rev: Option<String>,
}

/// One row of the results table.
#[derive(Debug, Clone)]
struct LevelResult {
    build: String,
    users: usize,
    requests: usize,
    failures: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    server_cpu_pct: f64,
    server_rss_peak_mib: f64,
}

pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

fn start_server(bin: &PathBuf, args: &BenchMockArgs) -> anyhow::Result<ServerProcess> {
    let mut command = Command::new(bin);
    command
        .args([
            "--ttft-ms",
            &args.ttft_ms.to_string(),
            "--inter-token-ms",
            &args.inter_token_ms.to_string(),
        ])
        .args(["--max-num-seqs", &args.max_num_seqs.to_string()]);
    listen(command, bin)
}

/// Starts the mock with `flags` on loopback, pinned to `cpu` where the
/// machine has more than one and `taskset` is there.
pub(crate) fn start_mock(bin: &Path, flags: &[&str], cpu: usize) -> anyhow::Result<ServerProcess> {
    let mut command = crate::bench_load::pinned(cpu, bin);
    command.args(flags);
    listen(command, bin)
}

/// Runs `command` (a mock-server) on a free loopback port until it listens.
fn listen(mut command: Command, bin: &Path) -> anyhow::Result<ServerProcess> {
    let port = free_port()?;
    let child = command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log",
            "warn",
        ])
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let server = ServerProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("mock-server did not listen on port {port} within 10s")
}

fn percentile(times: &[(u64, usize)], total: usize, q: f64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as usize;
    let mut seen = 0;
    for (us, count) in times {
        seen += count;
        if seen >= rank {
            return *us as f64 / 1000.0;
        }
    }
    times
        .last()
        .map(|(us, _)| *us as f64 / 1000.0)
        .unwrap_or(0.0)
}

async fn completion(user: &mut GooseUser) -> TransactionResult {
    let tokens = TOKENS.load(Ordering::Relaxed);
    let body = serde_json::json!({"model": "mock-llm", "prompt": "benchmark prompt", "max_tokens": tokens});
    let _ = user.post_json("/v1/completions", &body).await?;
    Ok(())
}

async fn chat_stream(user: &mut GooseUser) -> TransactionResult {
    let tokens = TOKENS.load(Ordering::Relaxed);
    let body = serde_json::json!({"model": "mock-llm", "stream": true, "max_tokens": tokens,
        "messages": [{"role": "user", "content": "benchmark prompt"}]});
    let mut goose = user.post_json("/v1/chat/completions", &body).await?;
    // Read the whole event stream so the timing covers every token.
    if let Ok(response) = goose.response.as_mut() {
        while let Ok(Some(_)) = response.chunk().await {}
    }
    Ok(())
}

static TOKENS: AtomicU64 = AtomicU64::new(16);

async fn run_level(
    base: &str,
    users: usize,
    seconds: usize,
    stream: bool,
) -> anyhow::Result<(usize, usize, f64, f64, f64)> {
    let users_s = users.to_string();
    let scenario = if stream {
        scenario!("chat-stream").register_transaction(transaction!(chat_stream))
    } else {
        scenario!("completions").register_transaction(transaction!(completion))
    };
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, base)?
        .set_default(GooseDefault::Users, users)?
        .set_default(GooseDefault::IncreaseRate, users_s.as_str())?
        .set_default(GooseDefault::RunTime, seconds)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::Quiet, 1)?
        .set_default(GooseDefault::Timeout, "30")?;
    let metrics = attack.execute().await.context("goose run failed")?;
    let mut requests = 0;
    let mut failures = 0;
    let mut times: Vec<(u64, usize)> = Vec::new();
    for agg in metrics.requests.values() {
        requests += agg.success_count + agg.fail_count;
        failures += agg.fail_count;
        times.extend(agg.raw_data.times_us.iter().map(|(us, n)| (*us, *n)));
    }
    times.sort_unstable();
    let total: usize = times.iter().map(|(_, n)| n).sum();
    let duration = metrics.duration.max(1) as f64;
    Ok((
        requests,
        failures,
        requests as f64 / duration,
        percentile(&times, total, 0.50),
        percentile(&times, total, 0.99),
    ))
}

pub(crate) fn build_server() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = environment::workspace::repo_root();
    eprintln!("==> building mock-server (release)");
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "mock-server",
            "--bin",
            "mock-server",
        ])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building mock-server failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("mock-server"))
}

pub fn run(args: &BenchMockArgs) -> anyhow::Result<()> {
    if args.users.is_empty() || args.users.contains(&0) {
        bail!("--users needs one or more positive numbers, e.g. --users 1,8,32");
    }
    if args.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    TOKENS.store(u64::from(args.tokens), Ordering::Relaxed);
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => build_server()?,
    };
    let mut builds = vec![("this".to_string(), bin)];
    if let Some(rev) = &args.baseline_rev {
        builds.push((rev.clone(), build_at_rev(rev)?));
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut results = Vec::new();
    for &users in &args.users {
        for (build, bin) in &builds {
            results.push(measure_level(&runtime, build, bin, users, args)?);
        }
    }
    println!();
    println!(
        "mock-server on loopback: {} tokens/request, ttft {} ms, inter-token {} ms, max_num_seqs {}, {}",
        args.tokens,
        args.ttft_ms,
        args.inter_token_ms,
        args.max_num_seqs,
        if args.stream {
            "streaming chat"
        } else {
            "completions"
        }
    );
    print!("{}", render_table(&results));
    let mut pacing = Vec::new();
    for (build, bin) in &builds {
        eprintln!("==> pacing of {build}");
        pacing.push(crate::bench_pacing::measure(
            bin,
            build,
            args.seconds as u64,
        )?);
    }
    println!();
    print!("{}", crate::bench_pacing::table(&pacing));
    Ok(())
}

/// The mock as of `rev`, built once into the cache (its own target folder).
fn build_at_rev(rev: &str) -> anyhow::Result<PathBuf> {
    let root = environment::workspace::repo_root();
    let out = Command::new("git")
        .args(["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
        .current_dir(&root)
        .output()
        .context("running git rev-parse")?;
    if !out.status.success() {
        bail!(
            "--baseline-rev {rev}: not a commit of this repository ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let dir = home.join(".cache/inferbench/bench-baseline");
    let src = dir.join(&sha);
    if !src.join("Cargo.toml").exists() {
        std::fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
        let archive = Command::new("sh")
            .arg("-c")
            .arg(format!("git archive {sha} | tar -x -C '{}'", src.display()))
            .current_dir(&root)
            .status()
            .context("running git archive")?;
        if !archive.success() {
            let _ = std::fs::remove_dir_all(&src);
            bail!("extracting {rev} ({sha}) failed ({archive})");
        }
    }
    eprintln!(
        "==> building mock-server as of {rev} ({})",
        &sha[..12.min(sha.len())]
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "mock-server",
            "--bin",
            "mock-server",
        ])
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .current_dir(&src)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building mock-server as of {rev} failed ({status})");
    }
    Ok(dir.join("target/release/mock-server"))
}

/// One concurrency level against one build, on a fresh server.
fn measure_level(
    runtime: &tokio::runtime::Runtime,
    build: &str,
    bin: &PathBuf,
    users: usize,
    args: &BenchMockArgs,
) -> anyhow::Result<LevelResult> {
    // A fresh server per level, so memory and CPU belong to that level alone.
    let server = start_server(bin, args)?;
    let pid = server.child.id();
    let before = ProcessStats::read_pid(pid).context("reading the server's /proc stats")?;
    let peak = Arc::new(AtomicU64::new(before.rss_bytes));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(s) = ProcessStats::read_pid(pid) {
                    peak.fetch_max(s.rss_bytes, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    eprintln!("==> {build}: {users} users for {}s", args.seconds);
    let started = Instant::now();
    let (requests, failures, rps, p50, p99) =
        runtime.block_on(run_level(&server.base, users, args.seconds, args.stream))?;
    let wall = started.elapsed().as_secs_f64();
    let after = ProcessStats::read_pid(pid).context("reading the server's /proc stats")?;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    Ok(LevelResult {
        build: build.to_string(),
        users,
        requests,
        failures,
        rps,
        p50_ms: p50,
        p99_ms: p99,
        server_cpu_pct: (after.cpu_seconds - before.cpu_seconds) / wall * 100.0,
        server_rss_peak_mib: peak.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
    })
}

fn render_table(rows: &[LevelResult]) -> String {
    let mut out = format!(
        "{:<14} {:>6} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10}\n",
        "build",
        "users",
        "requests",
        "failed",
        "req/s",
        "p50 ms",
        "p99 ms",
        "srv cpu%",
        "srv rss MiB"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<14} {:>6} {:>9} {:>8} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1}\n",
            r.build,
            r.users,
            r.requests,
            r.failures,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.server_cpu_pct,
            r.server_rss_peak_mib
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_walk_the_buckets() {
        let times = vec![(1000, 50), (2000, 49), (9000, 1)];
        assert_eq!(percentile(&times, 100, 0.5), 1.0);
        assert_eq!(percentile(&times, 100, 0.99), 2.0);
        assert_eq!(percentile(&times, 100, 1.0), 9.0);
        assert_eq!(percentile(&[], 0, 0.5), 0.0);
    }

    #[test]
    fn table_snapshot() {
        let rows = vec![LevelResult {
            build: "this".into(),
            users: 8,
            requests: 4000,
            failures: 0,
            rps: 800.0,
            p50_ms: 9.5,
            p99_ms: 20.25,
            server_cpu_pct: 35.0,
            server_rss_peak_mib: 12.5,
        }];
        insta::assert_snapshot!(render_table(&rows));
    }
}
