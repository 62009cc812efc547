//! Samples -> the numbers a report shows: percentiles, per-second buckets,
//! responses by status, version and pod, and the first failures.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::record::{Finished, Recorded};
use report::{FailedRequest, Goodput, LoadBucket, LoadReport, MixShare, Percentiles, RequestSlo};

/// How many failed requests a report quotes.
const FAILED_SAMPLES: usize = 20;

/// Percentiles of `values` (milliseconds), nearest-rank.
pub fn percentiles(values: &[f64]) -> Percentiles {
    if values.is_empty() {
        return Percentiles::default();
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    };
    Percentiles {
        p50: rank(0.50),
        p90: rank(0.90),
        p95: rank(0.95),
        p99: rank(0.99),
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
    }
}

/// Bucket width: one second, coarser for long runs (at most ~240 buckets).
fn bucket_width(elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    (secs / 240.0).ceil().max(1.0)
}

pub fn buckets(samples: &[Recorded], elapsed: Duration) -> Vec<LoadBucket> {
    let width = bucket_width(elapsed);
    let count = ((elapsed.as_secs_f64() / width).ceil() as usize).max(1);
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); count];
    let mut failures = vec![0u64; count];
    for Recorded { sample: s, .. } in samples {
        let i = ((s.due_ms / 1000.0 / width) as usize).min(count - 1);
        latencies[i].push(s.e2e_ms);
        if !s.ok {
            failures[i] += 1;
        }
    }
    latencies
        .into_iter()
        .zip(failures)
        .enumerate()
        .map(|(i, (lat, failures))| {
            let p = percentiles(&lat);
            LoadBucket {
                offset_s: i as f64 * width,
                width_s: width,
                requests: lat.len() as u64,
                failures,
                p50_ms: p.p50,
                p95_ms: p.p95,
                p99_ms: p.p99,
            }
        })
        .collect()
}

/// What a scenario's `load` operation reports.
pub struct LoadIdentity<'a> {
    pub name: &'a str,
    pub target: &'a str,
    pub request: &'a str,
    pub users: u32,
    /// Per-request limits goodput is counted against.
    pub slo: Option<&'a RequestSlo>,
    /// The stages of a staged or swept load (empty for the others).
    pub stages: &'a [crate::stages::PlannedStage],
    /// The words of each mix variant, in mix order (empty without a mix).
    pub variants: &'a [String],
}

/// What a group of requests (a stage, a mix variant) comes to: how many,
/// how many failed, their end-to-end latency, and the TTFT of the
/// successful streamed ones.
pub struct GroupFigures {
    pub requests: u64,
    pub failures: u64,
    pub latency_ms: Percentiles,
    pub ttft_ms: Option<Percentiles>,
}

impl GroupFigures {
    pub fn of(samples: &[&loadgen::Sample]) -> GroupFigures {
        let latencies: Vec<f64> = samples.iter().map(|s| s.e2e_ms).collect();
        let ttfts: Vec<f64> = samples
            .iter()
            .filter(|s| s.ok)
            .filter_map(|s| s.ttft_ms)
            .collect();
        GroupFigures {
            requests: samples.len() as u64,
            failures: samples.iter().filter(|s| !s.ok).count() as u64,
            latency_ms: percentiles(&latencies),
            ttft_ms: (!ttfts.is_empty()).then(|| percentiles(&ttfts)),
        }
    }
}

/// Each variant's share of a mixed load.
fn mix_shares(samples: &[Recorded], variants: &[String]) -> Vec<MixShare> {
    variants
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mine: Vec<&loadgen::Sample> = samples
                .iter()
                .map(|r| &r.sample)
                .filter(|s| s.variant == Some(i as u32))
                .collect();
            let g = GroupFigures::of(&mine);
            MixShare {
                variant: name.clone(),
                requests: g.requests,
                failures: g.failures,
                latency_ms: g.latency_ms,
                ttft_ms: g.ttft_ms,
                output_tokens: mine
                    .iter()
                    .filter(|s| s.ok)
                    .filter_map(|s| s.output_tokens)
                    .sum(),
            }
        })
        .collect()
}

/// Whether one request met every limit of the SLO. A limit on a token
/// figure needs a streamed answer: a request that was not streamed has no
/// TTFT and fails such a limit; one with a single token has no gap, and
/// its TPOT and longest gap count as 0.
pub fn meets(s: &loadgen::Sample, slo: &RequestSlo) -> bool {
    let within = |limit: Option<f64>, value: Option<f64>| match (limit, value) {
        (None, _) => true,
        (Some(limit), Some(v)) => v <= limit,
        (Some(_), None) => false,
    };
    let streamed = s.ttft_ms.is_some();
    let tpot = s.tpot_ms().or(streamed.then_some(0.0));
    let worst_gap = s
        .itl_ms
        .iter()
        .copied()
        .reduce(f64::max)
        .or(streamed.then_some(0.0));
    s.ok && within(slo.ttft_ms, s.ttft_ms)
        && within(slo.tpot_ms, tpot)
        && within(slo.itl_ms, worst_gap)
        && within(slo.e2e_ms, Some(s.e2e_ms))
}

pub fn summarize(id: &LoadIdentity<'_>, run: &Finished) -> LoadReport {
    let samples = &run.samples;
    let requests = samples.len() as u64;
    let failures = samples.iter().filter(|r| !r.sample.ok).count() as u64;
    let ok = || samples.iter().map(|r| &r.sample).filter(|s| s.ok);
    let latencies: Vec<f64> = samples.iter().map(|r| r.sample.e2e_ms).collect();
    let ttfts: Vec<f64> = ok().filter_map(|s| s.ttft_ms).collect();
    let itls: Vec<f64> = ok().flat_map(|s| s.itl_ms.iter().copied()).collect();
    let tpots: Vec<f64> = ok().filter_map(|s| s.tpot_ms()).collect();
    let output_tokens: u64 = ok().filter_map(|s| s.output_tokens).sum();
    let mut by_status = BTreeMap::new();
    let mut by_version = BTreeMap::new();
    let mut failed_by_version = BTreeMap::new();
    let mut by_pod = BTreeMap::new();
    for Recorded { sample: s, .. } in samples {
        let key = match (s.status, s.error_kind) {
            (Some(code), _) => code.to_string(),
            (None, Some(kind)) => kind.name().to_string(),
            (None, None) => "no response".to_string(),
        };
        *by_status.entry(key).or_insert(0) += 1;
        if s.ok {
            if let Some(v) = &s.version {
                *by_version.entry(v.clone()).or_insert(0) += 1;
            }
            if let Some(p) = &s.pod {
                *by_pod.entry(p.clone()).or_insert(0) += 1;
            }
        } else if let Some(v) = &s.version {
            *failed_by_version.entry(v.clone()).or_insert(0) += 1;
        }
    }
    let failed_samples = samples
        .iter()
        .filter(|r| !r.sample.ok)
        .take(FAILED_SAMPLES)
        .map(|r| FailedRequest {
            at: r.at,
            status: r.sample.status,
            error: r.sample.error.clone().unwrap_or_default(),
            pod: r.sample.pod.clone(),
            request_bytes: r.sample.request_bytes,
        })
        .collect();
    let secs = run.elapsed.as_secs_f64().max(0.001);
    let some = |v: &[f64]| (!v.is_empty()).then(|| percentiles(v));
    let goodput = id.slo.map(|slo| {
        let good = samples.iter().filter(|r| meets(&r.sample, slo)).count() as u64;
        Goodput {
            slo: slo.clone(),
            good,
            ratio: if requests == 0 {
                0.0
            } else {
                good as f64 / requests as f64
            },
            rps: good as f64 / secs,
        }
    });
    let (stages, saturation) = crate::stages::analyze(samples, id.stages, id.slo);
    LoadReport {
        name: id.name.to_string(),
        target: id.target.to_string(),
        request: id.request.to_string(),
        users: id.users,
        started: run.started_at,
        finished: run.finished_at,
        requests,
        failures,
        throughput_rps: requests as f64 / secs,
        error_rate: if requests == 0 {
            0.0
        } else {
            failures as f64 / requests as f64
        },
        latency_ms: percentiles(&latencies),
        ttft_ms: some(&ttfts),
        by_status,
        by_version,
        failed_by_version,
        by_pod,
        buckets: buckets(samples, run.elapsed),
        failed_samples,
        path: run.path,
        offered_rps: run.offered_rps,
        itl_ms: some(&itls),
        tpot_ms: some(&tpots),
        output_tokens,
        output_tokens_per_s: output_tokens as f64 / secs,
        goodput,
        stages,
        saturation,
        server_view: None,
        mix: mix_shares(samples, id.variants),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn sample(offset_ms: u64, latency_ms: u64, ok: bool) -> Recorded {
        Recorded {
            at: Timestamp::UNIX_EPOCH,
            sample: loadgen::Sample {
                due_ms: offset_ms as f64,
                lag_ms: 0.0,
                e2e_ms: latency_ms as f64,
                ttft_ms: None,
                itl_ms: vec![],
                output_tokens: None,
                status: Some(if ok { 200 } else { 503 }),
                ok,
                error_kind: (!ok).then_some(loadgen::ErrorKind::Http),
                error: (!ok).then(|| "HTTP 503".to_string()),
                version: Some("v1".into()),
                pod: Some("p".into()),
                request_bytes: 10,
                stage: None,
                variant: None,
            },
        }
    }

    fn streamed(ttft: f64, gaps: &[f64]) -> loadgen::Sample {
        let mut s = sample(0, 0, true).sample;
        s.ttft_ms = Some(ttft);
        s.itl_ms = gaps.to_vec();
        s.output_tokens = Some(gaps.len() as u64 + 1);
        s.e2e_ms = ttft + gaps.iter().sum::<f64>();
        s
    }

    #[test]
    fn goodput_needs_every_limit_met() {
        let slo = RequestSlo {
            ttft_ms: Some(100.0),
            itl_ms: Some(50.0),
            ..RequestSlo::default()
        };
        assert!(meets(&streamed(80.0, &[10.0, 20.0]), &slo));
        assert!(!meets(&streamed(120.0, &[10.0]), &slo), "TTFT over");
        assert!(!meets(&streamed(80.0, &[10.0, 60.0]), &slo), "one gap over");
        assert!(meets(&streamed(80.0, &[]), &slo), "one token, no gap");
        let mut failed = streamed(10.0, &[1.0]);
        failed.ok = false;
        assert!(!meets(&failed, &slo), "a failed request is never good");
        // Not streamed: no TTFT to judge.
        assert!(!meets(&sample(0, 10, true).sample, &slo));
        let tpot = RequestSlo {
            tpot_ms: Some(15.0),
            ..RequestSlo::default()
        };
        // (80 + 10 + 30 - 80) / 2 = 20 ms per token after the first.
        assert!(!meets(&streamed(80.0, &[10.0, 30.0]), &tpot));
        assert!(meets(&streamed(80.0, &[10.0, 10.0]), &tpot));
    }

    #[test]
    fn a_mix_is_broken_down_by_variant() {
        let mut samples = vec![
            sample(0, 10, true),
            sample(0, 30, false),
            sample(0, 50, true),
        ];
        samples[0].sample.variant = Some(0);
        samples[1].sample.variant = Some(1);
        samples[2].sample.variant = Some(1);
        let shares = mix_shares(
            &samples,
            &["1× chat".to_string(), "3× embeddings".to_string()],
        );
        assert_eq!(shares.len(), 2);
        assert_eq!((shares[0].requests, shares[0].failures), (1, 0));
        assert_eq!((shares[1].requests, shares[1].failures), (2, 1));
        assert_eq!(shares[1].latency_ms.max, 50.0);
        assert_eq!(shares[1].variant, "3× embeddings");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles(&v);
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(percentiles(&[]).p99, 0.0);
    }

    #[test]
    fn buckets_count_requests_and_failures_per_second() {
        let s = vec![
            sample(100, 10, true),
            sample(900, 30, false),
            sample(1500, 20, true),
        ];
        let b = buckets(&s, Duration::from_millis(2000));
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].requests, b[0].failures), (2, 1));
        assert_eq!((b[1].requests, b[1].failures, b[1].p50_ms), (1, 0, 20.0));
    }

    #[test]
    fn summary_counts_versions_of_successful_responses_only() {
        let run = Finished {
            started_at: Timestamp::UNIX_EPOCH,
            finished_at: Timestamp::UNIX_EPOCH,
            elapsed: Duration::from_secs(2),
            samples: vec![sample(0, 10, true), sample(10, 10, false)],
            offered_rps: None,
            path: report::LoadPath::PortForward,
        };
        let id = LoadIdentity {
            name: "l",
            target: "service/m:8000",
            request: "completions",
            users: 1,
            slo: Some(&RequestSlo {
                e2e_ms: Some(50.0),
                ..RequestSlo::default()
            }),
            stages: &[],
            variants: &[],
        };
        let r = summarize(&id, &run);
        let goodput = r.goodput.clone().expect("an SLO gives a goodput");
        assert_eq!((goodput.good, goodput.ratio), (1, 0.5));
        assert_eq!((r.requests, r.failures, r.error_rate), (2, 1, 0.5));
        assert_eq!(r.by_version.get("v1"), Some(&1));
        assert_eq!(r.by_status.get("503"), Some(&1));
        assert_eq!(r.failed_samples.len(), 1);
    }
}
