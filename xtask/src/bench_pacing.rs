//! `cargo xtask bench mock`'s pacing check: does the mock emit tokens at
//! the inter-token latency it was given? Streamed chats from our own
//! generator (every token timed as its event completes) against a mock
//! with a fixed pace; the measured gaps beside the configured one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use loadgen::{GenPlan, Line, RequestKind, Shape};

use crate::bench_mock::start_mock;

/// The configured pace the check holds the mock to.
pub const ITL_MS: u64 = 5;
const TTFT_MS: u64 = 10;
const TOKENS: u32 = 64;
const USERS: u32 = 8;
/// How far the measured mean may stray from the configured gap.
pub const WITHIN: f64 = 0.02;

/// What one build's pacing measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacing {
    pub build: String,
    pub gaps: usize,
    pub itl_mean_ms: f64,
    pub itl_p50_ms: f64,
    pub ttft_p50_ms: f64,
}

impl Pacing {
    /// The measured mean's distance from the configured gap, as a fraction.
    pub fn off_by(&self) -> f64 {
        self.itl_mean_ms / ITL_MS as f64 - 1.0
    }
}

fn p50(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Measures `bin`'s pacing for `seconds`.
pub fn measure(bin: &Path, build: &str, seconds: u64) -> anyhow::Result<Pacing> {
    let server = start_mock(
        bin,
        &[
            "--ttft-ms",
            &TTFT_MS.to_string(),
            "--inter-token-ms",
            &ITL_MS.to_string(),
            "--max-num-seqs",
            "256",
        ],
        1,
    )?;
    let plan = GenPlan {
        base_url: server.base.clone(),
        request: RequestKind::ChatStream,
        model: None,
        fallback_model: None,
        max_tokens: TOKENS,
        prompt_bytes: None,
        headers: Default::default(),
        shape: Shape::Users {
            users: USERS,
            ramp: None,
        },
        duration_ms: Some(seconds * 1000),
        requests: None,
        request_timeout_ms: 30_000,
        keep_alive: true,
        mix: Vec::new(),
        prompts: Vec::new(),
        mix_seed: 0,
        generators: 1,
        start_at_unix_ms: None,
    };
    let gaps = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let sink_gaps = gaps.clone();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime
        .block_on(loadgen::run(
            &plan,
            Arc::new(move |line| {
                if let Line::Sample(s) = line
                    && s.ok
                    && let Ok(mut g) = sink_gaps.lock()
                {
                    g.0.extend(s.itl_ms.iter().copied());
                    g.1.extend(s.ttft_ms);
                }
            }),
        ))
        .map_err(|e| anyhow::anyhow!("the pacing load: {e}"))?;
    drop(server);
    let (itl, ttft) = gaps.lock().map(|g| g.clone()).unwrap_or_default();
    anyhow::ensure!(!itl.is_empty(), "the pacing load timed no token gap");
    Ok(Pacing {
        build: build.to_string(),
        gaps: itl.len(),
        itl_mean_ms: itl.iter().sum::<f64>() / itl.len() as f64,
        itl_p50_ms: p50(itl),
        ttft_p50_ms: p50(ttft),
    })
}

/// The pacing table, and whether each build kept within [`WITHIN`].
pub fn table(rows: &[Pacing]) -> String {
    let mut out = format!(
        "pacing: {USERS} streamed chats of {TOKENS} tokens at a time, configured TTFT {TTFT_MS} ms and inter-token latency {ITL_MS} ms\n{:<14} {:>8} {:>10} {:>10} {:>10} {:>8}  {}\n",
        "build", "gaps", "ITL mean", "ITL p50", "TTFT p50", "off by", "within 2%"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<14} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>7.1}%  {}\n",
            r.build,
            r.gaps,
            r.itl_mean_ms,
            r.itl_p50_ms,
            r.ttft_p50_ms,
            r.off_by() * 100.0,
            if r.off_by().abs() <= WITHIN {
                "met"
            } else {
                "NOT met"
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_says_whether_each_build_kept_pace() {
        let rows = [
            Pacing {
                build: "this".into(),
                gaps: 5040,
                itl_mean_ms: 5.04,
                itl_p50_ms: 5.01,
                ttft_p50_ms: 10.3,
            },
            Pacing {
                build: "HEAD~20".into(),
                gaps: 4000,
                itl_mean_ms: 6.3,
                itl_p50_ms: 6.1,
                ttft_p50_ms: 11.9,
            },
        ];
        insta::assert_snapshot!(table(&rows));
    }
}
