//! A lock-free Prometheus histogram that plugs into `prometheus-client`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A float accumulated in an atomic.
#[derive(Default, Debug)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn add(&self, v: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A classic Prometheus histogram with fixed upper bounds, on atomics.
///
/// `prometheus-client`'s own `Histogram` takes a mutex on every observation,
/// and inter-token latency is observed once per generated token by every
/// stream of a model; this one costs two atomic updates. It plugs into the
/// registry like the crate's metrics ([`EncodeMetric`]) and is encoded by the
/// crate's histogram encoder. Clones share their counts.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramInner>);

#[derive(Debug)]
struct HistogramInner {
    bounds: Box<[f64]>,
    /// Per bucket, not cumulative; one more than `bounds`: the last is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum: AtomicF64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram(Arc::new(HistogramInner {
            bounds: bounds.into(),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicF64::default(),
        }))
    }

    pub fn observe(&self, v: f64) {
        let h = &self.0;
        let i = h
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(h.bounds.len());
        h.counts[i].fetch_add(1, Ordering::Relaxed);
        h.sum.add(v);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let h = &self.0;
        let buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(h.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        // The count is the buckets' total, so `_count` equals the `+Inf`
        // bucket even while requests observe concurrently.
        let count = buckets.iter().map(|(_, c)| c).sum();
        encoder.encode_histogram::<NoLabelSet>(h.sum.get(), count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Makes a family's histograms with one set of bounds.
#[derive(Debug, Clone)]
pub(super) struct Buckets(Arc<[f64]>);

impl Buckets {
    pub(super) fn new(bounds: &[f64]) -> Buckets {
        Buckets(bounds.into())
    }
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(&self.0)
    }
}
