//! Samples -> the numbers a report shows: percentiles, per-second buckets,
//! responses by status, version and pod, and the first failures.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::attack::{Finished, Sample};
use report::{FailedRequest, LoadBucket, LoadReport, Percentiles};

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
        p95: rank(0.95),
        p99: rank(0.99),
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Bucket width: one second, coarser for long runs (at most ~240 buckets).
fn bucket_width(elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    (secs / 240.0).ceil().max(1.0)
}

pub fn buckets(samples: &[Sample], elapsed: Duration) -> Vec<LoadBucket> {
    let width = bucket_width(elapsed);
    let count = ((elapsed.as_secs_f64() / width).ceil() as usize).max(1);
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); count];
    let mut failures = vec![0u64; count];
    for s in samples {
        let i = ((s.offset.as_secs_f64() / width) as usize).min(count - 1);
        latencies[i].push(ms(s.latency));
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
}

pub fn summarize(id: &LoadIdentity<'_>, run: &Finished) -> LoadReport {
    let samples = &run.samples;
    let requests = samples.len() as u64;
    let failures = samples.iter().filter(|s| !s.ok).count() as u64;
    let latencies: Vec<f64> = samples.iter().map(|s| ms(s.latency)).collect();
    let ttfts: Vec<f64> = samples.iter().filter_map(|s| s.ttft.map(ms)).collect();
    let mut by_status = BTreeMap::new();
    let mut by_version = BTreeMap::new();
    let mut failed_by_version = BTreeMap::new();
    let mut by_pod = BTreeMap::new();
    for s in samples {
        let key = match s.status {
            Some(code) => code.to_string(),
            None => "no response".to_string(),
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
        .filter(|s| !s.ok)
        .take(FAILED_SAMPLES)
        .map(|s| FailedRequest {
            at: s.at,
            status: s.status,
            error: s.error.clone().unwrap_or_default(),
            pod: s.pod.clone(),
            request_bytes: s.request_bytes,
        })
        .collect();
    let secs = run.elapsed.as_secs_f64().max(0.001);
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
        ttft_ms: (!ttfts.is_empty()).then(|| percentiles(&ttfts)),
        by_status,
        by_version,
        failed_by_version,
        by_pod,
        buckets: buckets(samples, run.elapsed),
        failed_samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn sample(offset_ms: u64, latency_ms: u64, ok: bool) -> Sample {
        Sample {
            at: Timestamp::UNIX_EPOCH,
            offset: Duration::from_millis(offset_ms),
            latency: Duration::from_millis(latency_ms),
            ttft: None,
            status: Some(if ok { 200 } else { 503 }),
            ok,
            error: (!ok).then(|| "HTTP 503".to_string()),
            version: Some("v1".into()),
            pod: Some("p".into()),
            request_bytes: 10,
        }
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
        };
        let id = LoadIdentity {
            name: "l",
            target: "service/m:8000",
            request: "completions",
            users: 1,
        };
        let r = summarize(&id, &run);
        assert_eq!((r.requests, r.failures, r.error_rate), (2, 1, 0.5));
        assert_eq!(r.by_version.get("v1"), Some(&1));
        assert_eq!(r.by_status.get("503"), Some(&1));
        assert_eq!(r.failed_samples.len(), 1);
    }
}
