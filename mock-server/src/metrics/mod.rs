//! vLLM-named metrics in a `prometheus-client` [`Registry`], exposed as
//! OpenMetrics text.
//!
//! Names follow vLLM (`vllm:*`, label `model_name`) so dashboards and
//! autoscalers built for vLLM read the mock unchanged. `prometheus-client`
//! writes metric names as registered, colons included (OpenMetrics and the
//! Prometheus text format both allow `:` in metric names), so every name is the
//! one vLLM exposes. Counters are registered without `_total`: the encoder adds
//! the suffix to the sample (`# TYPE vllm:prompt_tokens counter`,
//! `vllm:prompt_tokens_total{...}`), the same exposition vLLM's Python client
//! gives a Prometheus scrape.
//!
//! The request path only touches atomics: a [`ModelMetrics`] holds handles to
//! its series (counters and gauges share their atomics with the registered
//! families), resolved once per model, and [`Histogram`] is lock-free.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};

mod histogram;

use histogram::Buckets;
pub use histogram::Histogram;

/// The `Content-Type` of [`Metrics::render`]'s output. Prometheus asks for
/// OpenMetrics first and parses it; the `# EOF` line ending it is a comment to
/// text-format parsers (ours in [`crate::exposition`], gpu-fakes').
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

/// vLLM's buckets for the `n` request parameter.
pub const N_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0];

/// KV-cache block size the mock reports (vLLM's default on CUDA).
pub const BLOCK_SIZE: u64 = 16;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SuccessLabels {
    model_name: String,
    finish_reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectedLabels {
    code: u16,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    version: String,
    pod: String,
    namespace: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
/// Labels decided at scrape time (an info metric's).
type InfoLabelSet = Vec<(&'static str, String)>;
type HistogramFamily = Family<ModelLabels, Histogram, Buckets>;

/// Per-model series: handles into the registered families.
#[derive(Debug)]
pub struct ModelMetrics {
    pub running: Gauge,
    pub waiting: Gauge,
    /// Tokens (prompt + generated so far) held by running requests; turned
    /// into the KV-cache usage gauges when `/metrics` is scraped.
    pub kv_tokens: AtomicU64,
    kv_cache_usage: FloatGauge,
    gpu_cache_usage: FloatGauge,
    pub ttft: Histogram,
    pub time_per_output_token: Histogram,
    pub inter_token_latency: Histogram,
    pub e2e_latency: Histogram,
    pub queue_time: Histogram,
    /// Admission to first token.
    pub prefill_time: Histogram,
    /// First token to last.
    pub decode_time: Histogram,
    /// Admission to last token.
    pub inference_time: Histogram,
    /// vLLM's newer name for the time per output token.
    pub request_time_per_output_token: Histogram,
    pub params_max_tokens: Histogram,
    pub params_n: Histogram,
    pub prompt_tokens_hist: Histogram,
    pub generation_tokens_hist: Histogram,
    pub prompt_tokens_total: Counter,
    pub generation_tokens_total: Counter,
    pub success_stop: Counter,
    pub success_length: Counter,
}

/// The registered per-model families, in exposition order.
#[derive(Debug)]
struct ModelFamilies {
    running: Family<ModelLabels, Gauge>,
    waiting: Family<ModelLabels, Gauge>,
    kv_cache_usage: Family<ModelLabels, FloatGauge>,
    gpu_cache_usage: Family<ModelLabels, FloatGauge>,
    ttft: HistogramFamily,
    time_per_output_token: HistogramFamily,
    inter_token_latency: HistogramFamily,
    e2e_latency: HistogramFamily,
    queue_time: HistogramFamily,
    prefill_time: HistogramFamily,
    decode_time: HistogramFamily,
    inference_time: HistogramFamily,
    request_time_per_output_token: HistogramFamily,
    params_max_tokens: HistogramFamily,
    params_n: HistogramFamily,
    prompt_tokens_hist: HistogramFamily,
    generation_tokens_hist: HistogramFamily,
    prompt_tokens: Family<ModelLabels, Counter>,
    generation_tokens: Family<ModelLabels, Counter>,
    request_success: Family<SuccessLabels, Counter>,
}

impl ModelFamilies {
    fn register(registry: &mut Registry, max_model_len: u64) -> ModelFamilies {
        let token_buckets = Buckets::new(&one_two_five_buckets(max_model_len.max(1)));
        let f = ModelFamilies {
            running: Family::default(),
            waiting: Family::default(),
            kv_cache_usage: Family::default(),
            gpu_cache_usage: Family::default(),
            ttft: Family::new_with_constructor(Buckets::new(TTFT_BUCKETS)),
            time_per_output_token: Family::new_with_constructor(Buckets::new(TPOT_BUCKETS)),
            inter_token_latency: Family::new_with_constructor(Buckets::new(TPOT_BUCKETS)),
            e2e_latency: Family::new_with_constructor(Buckets::new(REQUEST_LATENCY_BUCKETS)),
            queue_time: Family::new_with_constructor(Buckets::new(REQUEST_LATENCY_BUCKETS)),
            prefill_time: Family::new_with_constructor(Buckets::new(REQUEST_LATENCY_BUCKETS)),
            decode_time: Family::new_with_constructor(Buckets::new(REQUEST_LATENCY_BUCKETS)),
            inference_time: Family::new_with_constructor(Buckets::new(REQUEST_LATENCY_BUCKETS)),
            request_time_per_output_token: Family::new_with_constructor(Buckets::new(TPOT_BUCKETS)),
            params_max_tokens: Family::new_with_constructor(token_buckets.clone()),
            params_n: Family::new_with_constructor(Buckets::new(N_BUCKETS)),
            prompt_tokens_hist: Family::new_with_constructor(token_buckets.clone()),
            generation_tokens_hist: Family::new_with_constructor(token_buckets),
            prompt_tokens: Family::default(),
            generation_tokens: Family::default(),
            request_success: Family::default(),
        };
        // `Registry` appends a period to each help text.
        let r = registry;
        r.register(
            "vllm:num_requests_running",
            "Number of requests in model execution batches",
            f.running.clone(),
        );
        r.register(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed",
            f.waiting.clone(),
        );
        r.register(
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage",
            f.kv_cache_usage.clone(),
        );
        r.register(
            "vllm:gpu_cache_usage_perc",
            "GPU KV-cache usage. 1 means 100 percent usage. Older name of vllm:kv_cache_usage_perc",
            f.gpu_cache_usage.clone(),
        );
        r.register(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds",
            f.ttft.clone(),
        );
        r.register(
            "vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds",
            f.time_per_output_token.clone(),
        );
        r.register(
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds",
            f.inter_token_latency.clone(),
        );
        r.register(
            "vllm:e2e_request_latency_seconds",
            "Histogram of end to end request latency in seconds",
            f.e2e_latency.clone(),
        );
        r.register(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request",
            f.queue_time.clone(),
        );
        r.register(
            "vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request",
            f.prefill_time.clone(),
        );
        r.register(
            "vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request",
            f.decode_time.clone(),
        );
        r.register(
            "vllm:request_inference_time_seconds",
            "Histogram of time spent in RUNNING phase for request",
            f.inference_time.clone(),
        );
        r.register(
            "vllm:request_time_per_output_token_seconds",
            "Histogram of time_per_output_token_seconds per request",
            f.request_time_per_output_token.clone(),
        );
        r.register(
            "vllm:request_params_max_tokens",
            "Histogram of the max_tokens request parameter",
            f.params_max_tokens.clone(),
        );
        r.register(
            "vllm:request_params_n",
            "Histogram of the n request parameter",
            f.params_n.clone(),
        );
        r.register(
            "vllm:request_prompt_tokens",
            "Number of prefill tokens processed",
            f.prompt_tokens_hist.clone(),
        );
        r.register(
            "vllm:request_generation_tokens",
            "Number of generation tokens processed",
            f.generation_tokens_hist.clone(),
        );
        r.register(
            "vllm:prompt_tokens",
            "Number of prefill tokens processed",
            f.prompt_tokens.clone(),
        );
        r.register(
            "vllm:generation_tokens",
            "Number of generation tokens processed",
            f.generation_tokens.clone(),
        );
        r.register(
            "vllm:request_success",
            "Count of successfully processed requests",
            f.request_success.clone(),
        );
        f
    }

    /// Creates `model`'s series (all at zero) and returns handles to them.
    fn model(&self, model: &str) -> ModelMetrics {
        let l = ModelLabels {
            model_name: model.to_string(),
        };
        let success = |finish_reason| {
            self.request_success.get_or_create_owned(&SuccessLabels {
                model_name: model.to_string(),
                finish_reason,
            })
        };
        ModelMetrics {
            running: self.running.get_or_create_owned(&l),
            waiting: self.waiting.get_or_create_owned(&l),
            kv_tokens: AtomicU64::new(0),
            kv_cache_usage: self.kv_cache_usage.get_or_create_owned(&l),
            gpu_cache_usage: self.gpu_cache_usage.get_or_create_owned(&l),
            ttft: self.ttft.get_or_create_owned(&l),
            time_per_output_token: self.time_per_output_token.get_or_create_owned(&l),
            inter_token_latency: self.inter_token_latency.get_or_create_owned(&l),
            e2e_latency: self.e2e_latency.get_or_create_owned(&l),
            queue_time: self.queue_time.get_or_create_owned(&l),
            prefill_time: self.prefill_time.get_or_create_owned(&l),
            decode_time: self.decode_time.get_or_create_owned(&l),
            inference_time: self.inference_time.get_or_create_owned(&l),
            request_time_per_output_token: self
                .request_time_per_output_token
                .get_or_create_owned(&l),
            params_max_tokens: self.params_max_tokens.get_or_create_owned(&l),
            params_n: self.params_n.get_or_create_owned(&l),
            prompt_tokens_hist: self.prompt_tokens_hist.get_or_create_owned(&l),
            generation_tokens_hist: self.generation_tokens_hist.get_or_create_owned(&l),
            prompt_tokens_total: self.prompt_tokens.get_or_create_owned(&l),
            generation_tokens_total: self.generation_tokens.get_or_create_owned(&l),
            success_stop: success("stop"),
            success_length: success("length"),
        }
    }
}

/// All metrics of one server process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    families: ModelFamilies,
    models: Mutex<BTreeMap<String, Arc<ModelMetrics>>>,
    info: Family<InfoLabels, Gauge>,
    cache_config_info: Family<InfoLabelSet, Gauge>,
    lora_requests_info: Family<InfoLabelSet, FloatGauge>,
    ready: Gauge,
    injected_failures: Family<FailureLabels, Counter>,
    rejected_requests: Family<RejectedLabels, Counter>,
    /// Serializes scrapes: each sets the scrape-time gauges, then encodes.
    render_lock: Mutex<()>,
}

impl Metrics {
    pub fn new(models: &[String], max_model_len: u64) -> Metrics {
        let mut registry = Registry::default();
        let families = ModelFamilies::register(&mut registry, max_model_len);
        let info = Family::<InfoLabels, Gauge>::default();
        let ready = Gauge::default();
        let cache_config_info = Family::<InfoLabelSet, Gauge>::default();
        let lora_requests_info = Family::<InfoLabelSet, FloatGauge>::default();
        registry.register(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            cache_config_info.clone(),
        );
        registry.register(
            "vllm:lora_requests_info",
            "Running stats on lora requests",
            lora_requests_info.clone(),
        );
        let injected_failures = Family::<FailureLabels, Counter>::default();
        let rejected_requests = Family::<RejectedLabels, Counter>::default();
        registry.register(
            "mock_server_info",
            "Identity of the mock inference server that answered",
            info.clone(),
        );
        registry.register(
            "mock_server_ready",
            "1 when the simulated model is loaded and readiness passes",
            ready.clone(),
        );
        // Families without series (no failure injected, nothing rejected yet)
        // are left out of the exposition, HELP and TYPE included.
        registry.register(
            "mock_server_injected_failures",
            "Requests failed on purpose, by failure kind",
            injected_failures.clone(),
        );
        registry.register(
            "mock_server_rejected_requests",
            "Requests refused for bad input or state, by status and reason",
            rejected_requests.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        let m = Metrics {
            registry,
            families,
            models: Mutex::new(BTreeMap::new()),
            info,
            cache_config_info,
            lora_requests_info,
            ready,
            injected_failures,
            rejected_requests,
            render_lock: Mutex::new(()),
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
            .or_insert_with(|| Arc::new(self.families.model(model)))
            .clone()
    }

    pub fn record_injected_failure(&self, kind: &'static str) {
        self.injected_failures
            .get_or_create(&FailureLabels { r#type: kind })
            .inc();
    }

    pub fn record_rejected(&self, status: u16, reason: &'static str) {
        self.rejected_requests
            .get_or_create(&RejectedLabels {
                code: status,
                reason,
            })
            .inc();
    }

    /// Renders the OpenMetrics text exposition ([`CONTENT_TYPE`]).
    pub fn render(&self, info: &ServerInfo, engine: &EngineInfo) -> String {
        let kv_capacity_tokens = engine.kv_capacity_tokens;
        let _scrape = self.render_lock.lock().unwrap_or_else(|p| p.into_inner());
        for m in self
            .models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            let usage = (m.kv_tokens.load(Ordering::Relaxed) as f64
                / kv_capacity_tokens.max(1) as f64)
                .min(1.0);
            m.kv_cache_usage.set(usage);
            m.gpu_cache_usage.set(usage);
        }
        // The version can change at run time (`/admin/config`): one series,
        // with the current labels.
        let labels = InfoLabels {
            version: info.version.clone(),
            pod: info.pod.clone(),
            namespace: info.namespace.clone(),
        };
        if self.info.get(&labels).is_none() {
            self.info.clear();
            self.info.get_or_create(&labels).set(1);
        }
        self.ready.set(i64::from(info.ready));
        self.set_engine_info(engine);

        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Metrics {
    /// The info metrics whose labels change at run time: one series each.
    fn set_engine_info(&self, engine: &EngineInfo) {
        let blocks = engine.kv_capacity_tokens / BLOCK_SIZE;
        self.cache_config_info.clear();
        self.cache_config_info
            .get_or_create(&vec![
                ("block_size", BLOCK_SIZE.to_string()),
                ("cache_dtype", "auto".to_string()),
                ("enable_prefix_caching", "False".to_string()),
                ("gpu_memory_utilization", "0.9".to_string()),
                ("num_cpu_blocks", "0".to_string()),
                ("num_gpu_blocks", blocks.to_string()),
            ])
            .set(1);
        self.lora_requests_info.clear();
        self.lora_requests_info
            .get_or_create(&vec![
                ("max_lora", engine.max_loras.to_string()),
                ("running_lora_adapters", engine.loras.running.join(",")),
                ("waiting_lora_adapters", engine.loras.waiting.join(",")),
            ])
            .set(engine.loras.changed_at);
    }
}

/// What the engine says about its cache and adapters at a scrape.
#[derive(Debug, Clone, Default)]
pub struct EngineInfo {
    pub kv_capacity_tokens: u64,
    pub max_loras: u64,
    pub loras: crate::lora::LoraActivity,
}

/// What the server says about itself in metrics and headers.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: String,
    pub pod: String,
    pub namespace: String,
    pub ready: bool,
}

/// Standard `process_*` metrics read from `/proc/self` at scrape time (Linux
/// only; absent elsewhere). Units as the Python client's process collector
/// declares them (`# UNIT` lines).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(stats) = crate::procfs::ProcessStats::read_self() else {
            return Ok(());
        };
        // Unlike `Registry::register`, descriptors written here keep their
        // help text as given.
        let cpu = ConstCounter::new(stats.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent in seconds.",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let rss = ConstGauge::new(stats.rss_bytes);
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory",
            "Resident memory size in bytes.",
            Some(&Unit::Bytes),
            rss.metric_type(),
        )?)?;
        Ok(())
    }
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
        assert_eq!(h.count(), 3);
        let family =
            Family::<ModelLabels, Histogram, Buckets>::new_with_constructor(Buckets::new(&[
                1.0, 2.0,
            ]));
        let mut registry = Registry::default();
        registry.register("x", "A histogram", family.clone());
        let l = ModelLabels {
            model_name: "b".into(),
        };
        for v in [0.5, 1.5, 9.0] {
            family.get_or_create(&l).observe(v);
        }
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &registry).unwrap();
        insta::assert_snapshot!(s, @r#"
        # HELP x A histogram.
        # TYPE x histogram
        x_sum{model_name="b"} 11.0
        x_count{model_name="b"} 3
        x_bucket{le="1.0",model_name="b"} 1
        x_bucket{le="2.0",model_name="b"} 2
        x_bucket{le="+Inf",model_name="b"} 3
        # EOF
        "#);
    }

    fn info() -> ServerInfo {
        ServerInfo {
            version: "v1".into(),
            pod: "mock-0".into(),
            namespace: "bench".into(),
            ready: true,
        }
    }

    fn engine(kv_capacity_tokens: u64) -> EngineInfo {
        EngineInfo {
            kv_capacity_tokens,
            max_loras: 2,
            loras: crate::lora::LoraActivity {
                running: vec!["sql".into()],
                waiting: vec![],
                changed_at: 1_700_000_000.5,
            },
        }
    }

    /// The exposition with the process metrics' values masked and the series
    /// of each counter and gauge family sorted: a family keeps its series in a
    /// hash map. (Histograms are left in encoding order, one series each here.)
    fn canonical(text: &str) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut series: Vec<String> = Vec::new();
        let mut sort = true;
        let flush = |series: &mut Vec<String>, out: &mut Vec<String>, sort: bool| {
            if sort {
                series.sort();
            }
            out.append(series);
        };
        for line in text.lines() {
            if line.starts_with('#') {
                flush(&mut series, &mut out, sort);
                if line.starts_with("# TYPE ") {
                    sort = !line.ends_with(" histogram");
                }
                out.push(line.to_string());
            } else if line.starts_with("process_") {
                let name = line.split(' ').next().unwrap_or_default();
                series.push(format!("{name} <value>"));
            } else {
                series.push(line.to_string());
            }
        }
        flush(&mut series, &mut out, sort);
        out.join("\n") + "\n"
    }

    #[test]
    fn exposition_snapshot() {
        let m = Metrics::new(&["mock-llm".to_string()], 60);
        let mm = m.model("mock-llm");
        mm.ttft.observe(0.2);
        mm.inter_token_latency.observe(0.05);
        mm.e2e_latency.observe(0.7);
        mm.queue_time.observe(0.0);
        mm.prefill_time.observe(0.2);
        mm.decode_time.observe(0.5);
        mm.inference_time.observe(0.7);
        mm.request_time_per_output_token.observe(0.05);
        mm.params_max_tokens.observe(8.0);
        mm.params_n.observe(1.0);
        mm.prompt_tokens_hist.observe(3.0);
        mm.generation_tokens_hist.observe(8.0);
        mm.time_per_output_token.observe(0.05);
        mm.prompt_tokens_total.inc_by(3);
        mm.generation_tokens_total.inc_by(8);
        mm.success_length.inc();
        mm.running.inc();
        mm.kv_tokens.fetch_add(11, Ordering::Relaxed);
        m.record_injected_failure("server_error");
        m.record_rejected(413, "body_too_large");
        let text = m.render(&info(), &engine(1000));
        assert!(text.ends_with("# EOF\n"), "{text}");
        insta::assert_snapshot!("exposition", canonical(&text));
    }

    #[test]
    fn empty_families_are_left_out_and_labels_escaped() {
        let m = Metrics::new(&[], 60);
        let mut i = info();
        i.pod = "a\"b\\c\nd".into();
        let text = m.render(&i, &engine(1000));
        assert!(!text.contains("model_name"), "{text}");
        assert!(!text.contains("mock_server_injected_failures"), "{text}");
        assert!(
            text.contains(r#"mock_server_info{version="v1",pod="a\"b\\c\nd",namespace="bench"} 1"#),
            "{text}"
        );
        let samples = crate::exposition::parse(&text).unwrap();
        let info = crate::exposition::find(&samples, "mock_server_info", &[]).unwrap();
        assert_eq!(info.labels["pod"], "a\"b\\c\nd");
    }

    #[test]
    fn info_follows_the_version() {
        let m = Metrics::new(&[], 60);
        m.render(&info(), &engine(1));
        let mut i = info();
        i.version = "v2".into();
        i.ready = false;
        let text = m.render(&i, &engine(1));
        let samples = crate::exposition::parse(&text).unwrap();
        let infos: Vec<_> = samples
            .iter()
            .filter(|s| s.name == "mock_server_info")
            .collect();
        assert_eq!(infos.len(), 1, "{text}");
        assert_eq!(infos[0].labels["version"], "v2");
        let ready = crate::exposition::find(&samples, "mock_server_ready", &[]).unwrap();
        assert_eq!(ready.value, 0.0);
    }
}
