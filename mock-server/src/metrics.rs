//! vLLM-named metrics and their Prometheus text exposition.
//!
//! Names follow vLLM (`vllm:*`, label `model_name`) so dashboards and
//! autoscalers built for vLLM read the mock unchanged. Counters follow the
//! Python client's convention that vLLM uses: the family is declared without
//! `_total` and its sample carries the suffix.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// vLLM's buckets for time to first token (seconds).
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// vLLM's buckets for time per output token and inter-token latency (seconds).
pub const TPOT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// vLLM's buckets for end-to-end and queue latency (seconds).
pub const REQUEST_LATENCY_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// 1, 2, 5, 10, 20, 50, ... up to `max` (vLLM's token-count buckets).
pub fn one_two_five_buckets(max: u64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut exp = 1u64;
    'outer: loop {
        for m in [1u64, 2, 5] {
            let v = m.saturating_mul(exp);
            if v > max {
                break 'outer;
            }
            out.push(v as f64);
        }
        exp = exp.saturating_mul(10);
        if exp == u64::MAX {
            break;
        }
    }
    out
}

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

/// A Prometheus histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicF64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            bounds: bounds.to_vec(),
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicF64::default(),
        }
    }

    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.add(v);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0u64;
        for (bound, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{}\"}} {cumulative}",
                fmt_f64(*bound)
            );
        }
        let total = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", fmt_f64(self.sum.get()));
    }
}

/// Formats a float the way Prometheus clients do (`1.0`, `0.25`, `+Inf`).
fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Per-model series.
#[derive(Debug)]
pub struct ModelMetrics {
    pub running: AtomicU64,
    pub waiting: AtomicU64,
    /// Tokens (prompt + generated so far) held by running requests.
    pub kv_tokens: AtomicU64,
    pub ttft: Histogram,
    pub time_per_output_token: Histogram,
    pub inter_token_latency: Histogram,
    pub e2e_latency: Histogram,
    pub queue_time: Histogram,
    pub prompt_tokens_hist: Histogram,
    pub generation_tokens_hist: Histogram,
    pub prompt_tokens_total: AtomicU64,
    pub generation_tokens_total: AtomicU64,
    pub success_stop: AtomicU64,
    pub success_length: AtomicU64,
}

impl ModelMetrics {
    fn new(max_model_len: u64) -> ModelMetrics {
        let token_buckets = one_two_five_buckets(max_model_len.max(1));
        ModelMetrics {
            running: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            kv_tokens: AtomicU64::new(0),
            ttft: Histogram::new(TTFT_BUCKETS),
            time_per_output_token: Histogram::new(TPOT_BUCKETS),
            inter_token_latency: Histogram::new(TPOT_BUCKETS),
            e2e_latency: Histogram::new(REQUEST_LATENCY_BUCKETS),
            queue_time: Histogram::new(REQUEST_LATENCY_BUCKETS),
            prompt_tokens_hist: Histogram::new(&token_buckets),
            generation_tokens_hist: Histogram::new(&token_buckets),
            prompt_tokens_total: AtomicU64::new(0),
            generation_tokens_total: AtomicU64::new(0),
            success_stop: AtomicU64::new(0),
            success_length: AtomicU64::new(0),
        }
    }
}

/// All metrics of one server process.
#[derive(Debug)]
pub struct Metrics {
    models: Mutex<BTreeMap<String, Arc<ModelMetrics>>>,
    max_model_len: u64,
    injected_failures: Mutex<BTreeMap<&'static str, u64>>,
    rejected_requests: Mutex<BTreeMap<(u16, &'static str), u64>>,
}

impl Metrics {
    pub fn new(models: &[String], max_model_len: u64) -> Metrics {
        let m = Metrics {
            models: Mutex::new(BTreeMap::new()),
            max_model_len,
            injected_failures: Mutex::new(BTreeMap::new()),
            rejected_requests: Mutex::new(BTreeMap::new()),
        };
        for name in models {
            m.model(name);
        }
        m
    }

    /// The series of `model`, created on first use.
    pub fn model(&self, model: &str) -> Arc<ModelMetrics> {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        models
            .entry(model.to_string())
            .or_insert_with(|| Arc::new(ModelMetrics::new(self.max_model_len)))
            .clone()
    }

    pub fn record_injected_failure(&self, kind: &'static str) {
        let mut map = self
            .injected_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *map.entry(kind).or_default() += 1;
    }

    pub fn record_rejected(&self, status: u16, reason: &'static str) {
        let mut map = self
            .rejected_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *map.entry((status, reason)).or_default() += 1;
    }

    /// Renders the Prometheus text exposition (format 0.0.4).
    pub fn render(&self, info: &ServerInfo, kv_capacity_tokens: u64) -> String {
        let models: Vec<(String, Arc<ModelMetrics>)> = {
            let guard = self.models.lock().unwrap_or_else(|p| p.into_inner());
            guard.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut out = String::with_capacity(16 * 1024);
        let label = |m: &str| format!("model_name=\"{}\"", escape_label(m));

        let gauge =
            |out: &mut String, name: &str, help: &str, get: &dyn Fn(&ModelMetrics) -> f64| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for (model, m) in &models {
                    let _ = writeln!(out, "{name}{{{}}} {}", label(model), fmt_f64(get(m)));
                }
            };
        gauge(
            &mut out,
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            &|m| m.running.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            &|m| m.waiting.load(Ordering::Relaxed) as f64,
        );
        let kv = |m: &ModelMetrics| {
            (m.kv_tokens.load(Ordering::Relaxed) as f64 / kv_capacity_tokens.max(1) as f64).min(1.0)
        };
        gauge(
            &mut out,
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            &kv,
        );
        gauge(
            &mut out,
            "vllm:gpu_cache_usage_perc",
            "GPU KV-cache usage. 1 means 100 percent usage. (Older name of vllm:kv_cache_usage_perc.)",
            &kv,
        );

        let hist = |out: &mut String,
                    name: &str,
                    help: &str,
                    get: &dyn Fn(&ModelMetrics) -> &Histogram| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for (model, m) in &models {
                get(m).render(out, name, &label(model));
            }
        };
        hist(
            &mut out,
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            &|m| &m.ttft,
        );
        hist(
            &mut out,
            "vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds.",
            &|m| &m.time_per_output_token,
        );
        hist(
            &mut out,
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            &|m| &m.inter_token_latency,
        );
        hist(
            &mut out,
            "vllm:e2e_request_latency_seconds",
            "Histogram of end to end request latency in seconds.",
            &|m| &m.e2e_latency,
        );
        hist(
            &mut out,
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            &|m| &m.queue_time,
        );
        hist(
            &mut out,
            "vllm:request_prompt_tokens",
            "Number of prefill tokens processed.",
            &|m| &m.prompt_tokens_hist,
        );
        hist(
            &mut out,
            "vllm:request_generation_tokens",
            "Number of generation tokens processed.",
            &|m| &m.generation_tokens_hist,
        );

        let _ = writeln!(
            out,
            "# HELP vllm:prompt_tokens Number of prefill tokens processed.\n# TYPE vllm:prompt_tokens counter"
        );
        for (model, m) in &models {
            let _ = writeln!(
                out,
                "vllm:prompt_tokens_total{{{}}} {}",
                label(model),
                m.prompt_tokens_total.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP vllm:generation_tokens Number of generation tokens processed.\n# TYPE vllm:generation_tokens counter"
        );
        for (model, m) in &models {
            let _ = writeln!(
                out,
                "vllm:generation_tokens_total{{{}}} {}",
                label(model),
                m.generation_tokens_total.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP vllm:request_success Count of successfully processed requests.\n# TYPE vllm:request_success counter"
        );
        for (model, m) in &models {
            for (reason, c) in [("stop", &m.success_stop), ("length", &m.success_length)] {
                let _ = writeln!(
                    out,
                    "vllm:request_success_total{{{},finish_reason=\"{reason}\"}} {}",
                    label(model),
                    c.load(Ordering::Relaxed)
                );
            }
        }

        let _ = writeln!(
            out,
            "# HELP mock_server_info Identity of the mock inference server that answered.\n# TYPE mock_server_info gauge"
        );
        let _ = writeln!(
            out,
            "mock_server_info{{version=\"{}\",pod=\"{}\",namespace=\"{}\"}} 1",
            escape_label(&info.version),
            escape_label(&info.pod),
            escape_label(&info.namespace)
        );
        let _ = writeln!(
            out,
            "# HELP mock_server_ready 1 when the simulated model is loaded and readiness passes.\n# TYPE mock_server_ready gauge"
        );
        let _ = writeln!(out, "mock_server_ready {}", u8::from(info.ready));
        let _ = writeln!(
            out,
            "# HELP mock_server_injected_failures Requests failed on purpose, by failure kind.\n# TYPE mock_server_injected_failures counter"
        );
        for (kind, c) in self
            .injected_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "mock_server_injected_failures_total{{type=\"{kind}\"}} {c}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP mock_server_rejected_requests Requests refused for bad input or state, by status and reason.\n# TYPE mock_server_rejected_requests counter"
        );
        for ((status, reason), c) in self
            .rejected_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "mock_server_rejected_requests_total{{code=\"{status}\",reason=\"{reason}\"}} {c}"
            );
        }
        render_process_metrics(&mut out);
        out
    }
}

/// What the server says about itself in metrics and headers.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: String,
    pub pod: String,
    pub namespace: String,
    pub ready: bool,
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Standard `process_*` metrics read from `/proc/self` (Linux only; absent elsewhere).
fn render_process_metrics(out: &mut String) {
    let Some(stats) = crate::procfs::ProcessStats::read_self() else {
        return;
    };
    let _ = writeln!(
        out,
        "# HELP process_cpu_seconds Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds counter"
    );
    let _ = writeln!(
        out,
        "process_cpu_seconds_total {}",
        fmt_f64(stats.cpu_seconds)
    );
    let _ = writeln!(
        out,
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge"
    );
    let _ = writeln!(out, "process_resident_memory_bytes {}", stats.rss_bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_two_five() {
        assert_eq!(
            one_two_five_buckets(60),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
        );
        assert_eq!(one_two_five_buckets(1), vec![1.0]);
    }

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(9.0);
        let mut s = String::new();
        h.render(&mut s, "x", "a=\"b\"");
        insta::assert_snapshot!(s, @r#"
        x_bucket{a="b",le="1.0"} 1
        x_bucket{a="b",le="2.0"} 2
        x_bucket{a="b",le="+Inf"} 3
        x_count{a="b"} 3
        x_sum{a="b"} 11.0
        "#);
    }
}
