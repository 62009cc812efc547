//! The simulated engine: a request waits for a running slot (counted as
//! waiting meanwhile), then yields tokens at the configured pace, keeping
//! vLLM's gauges, counters and histograms as it goes. The pace slows as
//! the batch fills (`time_factor_under_load`) and the first token waits
//! for the prompt's prefill (`prefill_us_per_token`), as on a GPU.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use super::ballast::Ballast;
use super::job::Job;
use super::pacing::{TokenClock, burn_cpu, jittered, load_factor};
use crate::app::App;
use crate::config::Config;
use crate::lora::LoraUse;
use crate::metrics::ModelMetrics;
use crate::openai::ApiError;
use crate::scheduler::{AdmitError, Scheduler, Slot};

/// Tracks one admitted request in the gauges; undone on drop (also when the client goes away).
struct Running {
    metrics: Arc<ModelMetrics>,
    kv_tokens: u64,
    _slot: Slot,
}

impl Running {
    fn new(metrics: Arc<ModelMetrics>, slot: Slot, prompt_tokens: u32) -> Running {
        metrics.running.inc();
        metrics
            .kv_tokens
            .fetch_add(u64::from(prompt_tokens), Ordering::Relaxed);
        Running {
            metrics,
            kv_tokens: u64::from(prompt_tokens),
            _slot: slot,
        }
    }

    /// One step of every sequence: `n` more tokens held in the KV cache.
    fn add_tokens(&mut self, n: u32) {
        self.kv_tokens += u64::from(n);
        self.metrics
            .kv_tokens
            .fetch_add(u64::from(n), Ordering::Relaxed);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.metrics.running.dec();
        self.metrics
            .kv_tokens
            .fetch_sub(self.kv_tokens, Ordering::Relaxed);
    }
}

/// Waits for a running slot, counting the request as waiting meanwhile.
async fn admit(app: &App, cfg: &Config, metrics: &Arc<ModelMetrics>) -> Result<Slot, ApiError> {
    struct Waiting<'a>(&'a ModelMetrics);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.waiting.dec();
        }
    }
    metrics.waiting.inc();
    let _waiting = Waiting(metrics);
    app.scheduler()
        .admit(cfg.max_waiting)
        .await
        .map_err(|AdmitError::QueueFull| {
            app.metrics().record_rejected(503, "queue_full");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "queue_full",
                format!(
                    "The waiting queue is full ({} requests, max_waiting).",
                    cfg.max_waiting
                ),
            )
        })
}

/// The simulated engine: waits, then yields tokens at the configured pace.
pub(super) struct Generation {
    job: Job,
    metrics: Arc<ModelMetrics>,
    running: Running,
    admitted: Instant,
    first_token_at: Option<Instant>,
    last_token_at: Option<Instant>,
    clock: TokenClock,
    produced: u32,
    cfg: Arc<Config>,
    scheduler: Scheduler,
    _lora: Option<LoraUse>,
    _ballast: Ballast,
}

impl Generation {
    pub(super) async fn start(
        app: &App,
        cfg: Arc<Config>,
        job: Job,
        ballast: Ballast,
    ) -> Result<Generation, ApiError> {
        let metrics = app.metrics().model(&job.model);
        let mut lora = job.lora.as_deref().map(|name| app.loras().waiting(name));
        let slot = admit(app, &cfg, &metrics).await?;
        if let Some(l) = &mut lora {
            l.start();
        }
        let admitted = Instant::now();
        metrics
            .queue_time
            .observe((admitted - job.arrived).as_secs_f64());
        metrics.params_n.observe(f64::from(job.n));
        if let Some(max) = job.max_tokens {
            metrics.params_max_tokens.observe(f64::from(max));
        }
        let running = Running::new(metrics.clone(), slot, job.prompt_tokens);
        Ok(Generation {
            job,
            metrics,
            running,
            admitted,
            first_token_at: None,
            last_token_at: None,
            clock: TokenClock::starting(tokio::time::Instant::from_std(admitted)),
            produced: 0,
            cfg,
            scheduler: app.scheduler().clone(),
            _lora: lora,
            _ballast: ballast,
        })
    }

    /// Choices generated side by side (the request's `n`).
    pub(super) fn choices(&self) -> u32 {
        self.job.n
    }

    /// The next step's index (one token of every choice), after its delay;
    /// `None` when done.
    pub(super) async fn next_token(&mut self) -> Option<u32> {
        if self.produced >= self.job.output_tokens {
            return None;
        }
        let base = if self.produced == 0 {
            let prefill = Duration::from_micros(
                self.cfg
                    .prefill_us_per_token
                    .saturating_mul(u64::from(self.job.prompt_tokens)),
            );
            jittered(self.cfg.ttft_ms, self.cfg.ttft_jitter_ms) + prefill
        } else {
            jittered(self.cfg.inter_token_ms, self.cfg.inter_token_jitter_ms)
        };
        let factor = load_factor(
            self.cfg.time_factor_under_load,
            self.scheduler.running(),
            self.cfg.max_num_seqs,
        );
        TokenClock::wait_until(self.clock.next(base.mul_f64(factor))).await;
        burn_cpu(self.cfg.cpu_us_per_token);
        let now = Instant::now();
        match self.last_token_at {
            None => {
                self.first_token_at = Some(now);
                self.metrics
                    .ttft
                    .observe((now - self.job.arrived).as_secs_f64());
            }
            Some(prev) => self
                .metrics
                .inter_token_latency
                .observe((now - prev).as_secs_f64()),
        }
        self.last_token_at = Some(now);
        let step = self.produced;
        self.produced += 1;
        self.running.add_tokens(self.job.n);
        Some(step)
    }

    pub(super) fn finish_reason(&self) -> &'static str {
        if self.job.capped { "length" } else { "stop" }
    }

    /// Records the request as a success in the counters and histograms.
    pub(super) fn complete(&self) {
        let now = Instant::now();
        let m = &self.metrics;
        m.e2e_latency
            .observe((now - self.job.arrived).as_secs_f64());
        m.inference_time
            .observe((now - self.admitted).as_secs_f64());
        if let Some(first) = self.first_token_at {
            m.prefill_time
                .observe((first - self.admitted).as_secs_f64());
            m.decode_time.observe((now - first).as_secs_f64());
            if self.produced > 1 {
                let tpot = (now - first).as_secs_f64() / f64::from(self.produced - 1);
                m.time_per_output_token.observe(tpot);
                m.request_time_per_output_token.observe(tpot);
            }
        }
        let generated = u64::from(self.produced) * u64::from(self.job.n);
        m.prompt_tokens_hist
            .observe(f64::from(self.job.prompt_tokens));
        m.generation_tokens_hist.observe(generated as f64);
        m.prompt_tokens_total
            .inc_by(u64::from(self.job.prompt_tokens));
        m.generation_tokens_total.inc_by(generated);
        let counter = if self.job.capped {
            &m.success_length
        } else {
            &m.success_stop
        };
        counter.inc();
        tracing::debug!(model = %self.job.model, queued_ms = (self.admitted - self.job.arrived).as_millis() as u64, "request done");
    }

    /// Token counts, every choice's output included.
    pub(super) fn usage(&self) -> serde_json::Value {
        let completion = u64::from(self.produced) * u64::from(self.job.n);
        json!({
            "prompt_tokens": self.job.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": u64::from(self.job.prompt_tokens) + completion,
        })
    }
}
