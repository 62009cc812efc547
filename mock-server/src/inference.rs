//! The OpenAI-compatible endpoints: completions, chat completions (with SSE
//! streaming) and embeddings, with simulated timing, queueing, CPU work,
//! memory ballast and failure injection.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::app::App;
use crate::config::{Config, FailureKind};
use crate::metrics::ModelMetrics;
use crate::openai::{
    ApiError, ChatCompletionRequest, CompletionRequest, EmbeddingRequest, count_tokens,
};
use crate::scheduler::{AdmitError, Slot};

/// Header that forces an injected failure of the named kind on one request.
pub const FAIL_HEADER: &str = "x-mock-fail";

/// Reads the whole body, refusing more than the configured limit with 413.
pub async fn read_body(app: &App, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = usize::try_from(app.config().max_body_bytes).unwrap_or(usize::MAX);
    let too_large = || {
        app.metrics().record_rejected(413, "body_too_large");
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("Request body is larger than the limit of {limit} bytes (max_body_bytes)."),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let is_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if is_limit {
                Err(too_large())
            } else {
                Err(ApiError::invalid_request(format!(
                    "Could not read the request body: {e}"
                )))
            }
        }
    }
}

/// Parses a JSON body with an error that says where it went wrong.
pub fn parse_json<T: DeserializeOwned>(app: &App, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        app.metrics().record_rejected(400, "malformed_json");
        let what = if e.is_syntax() || e.is_eof() {
            "is not valid JSON"
        } else {
            "does not match the expected schema"
        };
        ApiError::invalid_request(format!("The request body {what}: {e}"))
    })
}

fn check_loaded(app: &App) -> Result<(), ApiError> {
    if app.model_loaded() {
        return Ok(());
    }
    app.metrics().record_rejected(503, "model_loading");
    Err(ApiError::not_ready(format!(
        "The model is still loading ({} ms left).",
        app.load_remaining().as_millis()
    )))
}

fn resolve_model(app: &App, cfg: &Config, requested: Option<&str>) -> Result<String, ApiError> {
    match requested {
        None | Some("") => Ok(cfg.default_model().to_string()),
        Some(m) if cfg.serves(m) => Ok(m.to_string()),
        Some(m) => {
            app.metrics().record_rejected(404, "unknown_model");
            Err(ApiError::model_not_found(m))
        }
    }
}

/// A failure forced by header or drawn by the configured rate, if any.
fn injected_failure(
    app: &App,
    cfg: &Config,
    headers: &HeaderMap,
    model: &str,
) -> Result<(), ApiError> {
    let forced = match headers.get(FAIL_HEADER).map(|v| v.to_str().unwrap_or("")) {
        None => None,
        Some(name) => Some(FailureKind::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::invalid_request(format!(
                "Header {FAIL_HEADER}: unknown failure kind {name:?}; expected one of {}.",
                known.join(", ")
            ))
        })?),
    };
    let kind = forced.or_else(|| {
        if cfg.failure_rate <= 0.0 || cfg.failure_types.is_empty() {
            return None;
        }
        let mut rng = rand::rng();
        if rng.random_bool(cfg.failure_rate.clamp(0.0, 1.0)) {
            Some(cfg.failure_types[rng.random_range(0..cfg.failure_types.len())])
        } else {
            None
        }
    });
    match kind {
        Some(kind) => {
            app.metrics().record_injected_failure(kind.as_str());
            Err(ApiError::injected(kind, model))
        }
        None => Ok(()),
    }
}

/// Memory held for the life of a request: allocated and written, so the
/// resident set really grows (and a container limit really can be crossed).
struct Ballast(#[allow(dead_code)] Vec<u8>);

impl Ballast {
    fn for_request(cfg: &Config, body_len: usize) -> Ballast {
        let payload = (body_len as f64 * cfg.memory_per_payload_byte).min(u64::MAX as f64) as u64;
        let total = cfg.memory_per_request_bytes.saturating_add(payload);
        let len = usize::try_from(total).unwrap_or(usize::MAX);
        if len == 0 {
            return Ballast(Vec::new());
        }
        let mut probe: Vec<u8> = Vec::new();
        if probe.try_reserve_exact(len).is_err() {
            // The allocator refused outright; hold nothing rather than abort.
            tracing::warn!(bytes = len, "memory ballast could not be reserved");
            return Ballast(probe);
        }
        drop(probe);
        // Non-zero fill touches every page, so the memory is resident, not just reserved.
        Ballast(vec![0xA5; len])
    }
}

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

fn jittered(mean_ms: u64, jitter_ms: u64) -> Duration {
    if jitter_ms == 0 {
        return Duration::from_millis(mean_ms);
    }
    let lo = mean_ms.saturating_sub(jitter_ms);
    let hi = mean_ms.saturating_add(jitter_ms);
    Duration::from_millis(rand::rng().random_range(lo..=hi))
}

/// Keeps a core busy for `us` microseconds, like a model doing work per token.
fn burn_cpu(us: u64) {
    if us == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_micros(us);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while Instant::now() < until {
        for _ in 0..256 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        std::hint::black_box(x);
    }
}

const WORDS: &[&str] = &[
    "the",
    "model",
    "serves",
    "tokens",
    "from",
    "a",
    "mock",
    "engine",
    "under",
    "load",
    "while",
    "kubernetes",
    "rolls",
    "out",
    "new",
    "pods",
    "and",
    "checks",
    "readiness",
    "before",
    "traffic",
    "arrives",
];

fn token_text(i: u32) -> String {
    let w = WORDS[(i as usize) % WORDS.len()];
    if i == 0 {
        w.to_string()
    } else {
        format!(" {w}")
    }
}

/// What one request asks the engine for.
struct Job {
    model: String,
    prompt_tokens: u32,
    output_tokens: u32,
    /// Whether `max_tokens` capped the output (finish_reason `length`).
    capped: bool,
    arrived: Instant,
}

/// Validates lengths the way vLLM does and decides the output length.
fn plan(
    cfg: &Config,
    model: String,
    prompt_tokens: u32,
    max_tokens: Option<u32>,
    arrived: Instant,
) -> Result<Job, ApiError> {
    if max_tokens == Some(0) {
        return Err(ApiError {
            param: Some("max_tokens"),
            ..ApiError::invalid_request("max_tokens must be at least 1.")
        });
    }
    let output_tokens = max_tokens.unwrap_or(cfg.default_output_tokens).max(1);
    let total = u64::from(prompt_tokens) + u64::from(output_tokens);
    if total > u64::from(cfg.max_model_len) {
        return Err(ApiError {
            param: Some("max_tokens"),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "context_length_exceeded",
                format!(
                    "This model's maximum context length is {} tokens. However, you requested {total} tokens ({prompt_tokens} in the prompt, {output_tokens} for the completion).",
                    cfg.max_model_len
                ),
            )
        });
    }
    Ok(Job {
        model,
        prompt_tokens,
        output_tokens,
        capped: max_tokens.is_some(),
        arrived,
    })
}

/// The simulated engine: waits, then yields tokens at the configured pace.
struct Generation {
    job: Job,
    metrics: Arc<ModelMetrics>,
    running: Running,
    admitted: Instant,
    first_token_at: Option<Instant>,
    last_token_at: Option<Instant>,
    produced: u32,
    cfg: Arc<Config>,
    _ballast: Ballast,
}

impl Generation {
    async fn start(
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
            produced: 0,
            cfg,
            _ballast: ballast,
        })
    }

    /// The next token's text, after its delay; `None` when done.
    async fn next_token(&mut self) -> Option<String> {
        if self.produced >= self.job.output_tokens {
            return None;
        }
        let delay = if self.produced == 0 {
            jittered(self.cfg.ttft_ms, self.cfg.ttft_jitter_ms)
        } else {
            jittered(self.cfg.inter_token_ms, self.cfg.inter_token_jitter_ms)
        };
        tokio::time::sleep(delay).await;
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

    fn finish_reason(&self) -> &'static str {
        if self.job.capped { "length" } else { "stop" }
    }

    /// Records the request as a success in the counters and histograms.
    fn complete(&self) {
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

    fn usage(&self) -> serde_json::Value {
        json!({
            "prompt_tokens": self.job.prompt_tokens,
            "completion_tokens": self.produced,
            "total_tokens": self.job.prompt_tokens + self.produced,
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn request_id(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::rng().random::<u128>())
}

/// The parts every inference request goes through before generation.
async fn prepare(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Arc<Config>, Bytes), ApiError> {
    check_loaded(app)?;
    let bytes = read_body(app, headers, body).await?;
    Ok((app.config(), bytes))
}

/// Streams a generation as server-sent events: an optional prelude chunk,
/// one chunk per token, a final chunk with the finish reason (and usage when
/// asked), then `[DONE]`. `chunk(text, finish)` shapes each event's JSON:
/// `(Some(token), None)` for tokens, `(prelude, None)` for the prelude,
/// `(None, Some(reason))` for the final chunk. If the client goes away the
/// generation stops and its slot is released.
fn stream_events(
    mut gen_: Generation,
    include_usage: bool,
    prelude: Option<Option<String>>,
    chunk: impl Fn(Option<&str>, Option<&str>) -> serde_json::Value + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(16);
    tokio::spawn(async move {
        let send = |v: serde_json::Value| tx.send(Ok(Event::default().data(v.to_string())));
        if let Some(p) = prelude
            && send(chunk(p.as_deref(), None)).await.is_err()
        {
            return;
        }
        while let Some(text) = gen_.next_token().await {
            if send(chunk(Some(&text), None)).await.is_err() {
                return; // client went away
            }
        }
        gen_.complete();
        let mut last = chunk(None, Some(gen_.finish_reason()));
        if include_usage {
            last["usage"] = gen_.usage();
        }
        let _ = send(last).await;
        let _ = tx.send(Ok(Event::default().data("[DONE]"))).await;
    });
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `POST /v1/completions`.
pub async fn completions(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let (app, headers) = (&app, &headers);
    let (cfg, bytes) = prepare(app, headers, body).await?;
    let req: CompletionRequest = parse_json(app, &bytes)?;
    let model = resolve_model(app, &cfg, req.model.as_deref())?;
    let (prompt_text, prompt_tokens) = req.prompt.text_and_tokens();
    let job = plan(&cfg, model.clone(), prompt_tokens, req.max_tokens, arrived)?;
    injected_failure(app, &cfg, headers, &model)?;
    let ballast = Ballast::for_request(&cfg, bytes.len());
    let mut gen_ = Generation::start(app, cfg.clone(), job, ballast).await?;
    let id = request_id("cmpl");
    let created = unix_now();
    let fingerprint = cfg.version.clone();

    if req.stream {
        let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
        let prelude = req.echo.then_some(Some(prompt_text));
        return Ok(stream_events(
            gen_,
            include_usage,
            prelude,
            move |text, finish| {
                json!({
                    "id": id, "object": "text_completion", "created": created, "model": model,
                    "system_fingerprint": fingerprint,
                    "choices": [{"index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish}],
                })
            },
        ));
    }

    let mut text = if req.echo { prompt_text } else { String::new() };
    while let Some(t) = gen_.next_token().await {
        text.push_str(&t);
    }
    gen_.complete();
    Ok(Json(json!({
        "id": id, "object": "text_completion", "created": created, "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": gen_.finish_reason()}],
        "usage": gen_.usage(),
    }))
    .into_response())
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let (app, headers) = (&app, &headers);
    let (cfg, bytes) = prepare(app, headers, body).await?;
    let req: ChatCompletionRequest = parse_json(app, &bytes)?;
    if req.messages.is_empty() {
        return Err(ApiError {
            param: Some("messages"),
            ..ApiError::invalid_request("messages must hold at least one message.")
        });
    }
    let model = resolve_model(app, &cfg, req.model.as_deref())?;
    let prompt_tokens: u32 = req
        .messages
        .iter()
        .map(|m| count_tokens(&m.content.text()).saturating_add(4))
        .fold(0u32, u32::saturating_add);
    let job = plan(
        &cfg,
        model.clone(),
        prompt_tokens,
        req.max_completion_tokens.or(req.max_tokens),
        arrived,
    )?;
    injected_failure(app, &cfg, headers, &model)?;
    let ballast = Ballast::for_request(&cfg, bytes.len());
    let mut gen_ = Generation::start(app, cfg.clone(), job, ballast).await?;
    let id = request_id("chatcmpl");
    let created = unix_now();
    let fingerprint = cfg.version.clone();

    if req.stream {
        let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
        // The first chunk announces the assistant's role, as OpenAI's does.
        let prelude = Some(None);
        return Ok(stream_events(
            gen_,
            include_usage,
            prelude,
            move |text, finish| {
                let delta = match (text, finish) {
                    (Some(t), _) => json!({"content": t}),
                    (None, None) => json!({"role": "assistant", "content": ""}),
                    (None, Some(_)) => json!({}),
                };
                json!({
                    "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": fingerprint,
                    "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
                })
            },
        ));
    }

    let mut text = String::new();
    while let Some(t) = gen_.next_token().await {
        text.push_str(&t);
    }
    gen_.complete();
    Ok(Json(json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": null,
            "finish_reason": gen_.finish_reason(),
        }],
        "usage": gen_.usage(),
    }))
    .into_response())
}

/// `POST /v1/embeddings`: deterministic unit vectors derived from the input text.
pub async fn embeddings(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (app, headers) = (&app, &headers);
    let (cfg, bytes) = prepare(app, headers, body).await?;
    let req: EmbeddingRequest = parse_json(app, &bytes)?;
    let model = resolve_model(app, &cfg, req.model.as_deref())?;
    let items = req.input.items();
    if items.is_empty() {
        return Err(ApiError {
            param: Some("input"),
            ..ApiError::invalid_request("input must not be empty.")
        });
    }
    injected_failure(app, &cfg, headers, &model)?;
    let _ballast = Ballast::for_request(&cfg, bytes.len());
    tokio::time::sleep(jittered(cfg.ttft_ms, cfg.ttft_jitter_ms)).await;
    let mut tokens: u32 = 0;
    let data: Vec<serde_json::Value> = items
        .iter()
        .enumerate()
        .map(|(i, text)| {
            tokens = tokens.saturating_add(count_tokens(text).max(1));
            json!({"object": "embedding", "index": i, "embedding": embed(text, cfg.embedding_dim)})
        })
        .collect();
    app.metrics()
        .model(&model)
        .prompt_tokens_total
        .inc_by(u64::from(tokens));
    Ok(Json(json!({
        "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response())
}

/// A unit vector that depends only on `text` (FNV-1a seed, xorshift stream).
pub fn embed(text: &str, dim: usize) -> Vec<f32> {
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        seed ^= u64::from(*b);
        seed = seed.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut x = seed | 1;
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect();
    let norm = v
        .iter()
        .map(|a| a * a)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter_mut().for_each(|a| *a /= norm);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embed("hello", 8);
        assert_eq!(a, embed("hello", 8));
        assert_ne!(a, embed("world", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn context_length_is_enforced() {
        let cfg = Config {
            max_model_len: 10,
            ..Config::default()
        };
        let err = plan(&cfg, "m".into(), 8, Some(5), Instant::now())
            .err()
            .expect("over the limit");
        assert_eq!(err.code, "context_length_exceeded");
        assert!(plan(&cfg, "m".into(), 5, Some(5), Instant::now()).is_ok());
    }
}
