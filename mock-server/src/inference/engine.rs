//! The simulated engine: a request waits for a running slot (counted as
//! waiting meanwhile), then yields tokens at the configured pace, keeping
//! vLLM's gauges, counters and histograms as it goes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::http::StatusCode;
use serde_json::json;

use super::ballast::Ballast;
use super::job::Job;
use super::pacing::{TokenClock, burn_cpu, jittered, token_text};
use crate::app::App;
use crate::config::Config;
use crate::metrics::ModelMetrics;
use crate::openai::ApiError;
use crate::scheduler::{AdmitError, Slot};

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

    fn add_token(&mut self) {
        self.kv_tokens += 1;
        self.metrics.kv_tokens.fetch_add(1, Ordering::Relaxed);
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
        let slot = admit(app, &cfg, &metrics).await?;
        let admitted = Instant::now();
        metrics
            .queue_time
            .observe((admitted - job.arrived).as_secs_f64());
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
            _ballast: ballast,
        })
    }

    /// The next token's text, after its delay; `None` when done.
    pub(super) async fn next_token(&mut self) -> Option<String> {
        if self.produced >= self.job.output_tokens {
            return None;
        }
        let delay = if self.produced == 0 {
            jittered(self.cfg.ttft_ms, self.cfg.ttft_jitter_ms)
        } else {
            jittered(self.cfg.inter_token_ms, self.cfg.inter_token_jitter_ms)
        };
        TokenClock::wait_until(self.clock.next(delay)).await;
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
        let text = token_text(self.produced);
        self.produced += 1;
        self.running.add_token();
        Some(text)
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
        if let (Some(first), true) = (self.first_token_at, self.produced > 1) {
            m.time_per_output_token
                .observe((now - first).as_secs_f64() / f64::from(self.produced - 1));
        }
        m.prompt_tokens_hist
            .observe(f64::from(self.job.prompt_tokens));
        m.generation_tokens_hist.observe(f64::from(self.produced));
        m.prompt_tokens_total
            .inc_by(u64::from(self.job.prompt_tokens));
        m.generation_tokens_total.inc_by(u64::from(self.produced));
        let counter = if self.job.capped {
            &m.success_length
        } else {
            &m.success_stop
        };
        counter.inc();
        tracing::debug!(model = %self.job.model, queued_ms = (self.admitted - self.job.arrived).as_millis() as u64, "request done");
    }

    pub(super) fn usage(&self) -> serde_json::Value {
        json!({
            "prompt_tokens": self.job.prompt_tokens,
            "completion_tokens": self.produced,
            "total_tokens": self.job.prompt_tokens + self.produced,
        })
    }
}
