//! goose load against a base URL, with every request recorded: status,
//! latency, time to first token, and which pod and version answered. goose
//! drives users, ramp, run time and request counts; the [`Recorder`] keeps
//! the per-request samples reports are made of.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;
use jiff::Timestamp;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("goose could not run the load: {0}")]
    Goose(String),
    #[error("cannot start the load's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// The request each simulated user sends, again and again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Completions,
    Chat,
    ChatStream,
}

impl RequestKind {
    pub fn parse(s: &str) -> Option<RequestKind> {
        match s {
            "completions" => Some(RequestKind::Completions),
            "chat" => Some(RequestKind::Chat),
            "chat-stream" => Some(RequestKind::ChatStream),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            RequestKind::Completions => "/v1/completions",
            RequestKind::Chat | RequestKind::ChatStream => "/v1/chat/completions",
        }
    }
}

/// What to send and for how long.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub users: u32,
    /// Users started per second (all at once when `None`).
    pub ramp: Option<f64>,
    pub duration: Option<Duration>,
    /// Total requests (spread over users); wins over `duration` when both are set.
    pub requests: Option<u64>,
    pub kind: RequestKind,
    pub model: String,
    pub max_tokens: u32,
    /// Pad the prompt so the body has at least this many bytes.
    pub prompt_bytes: Option<u64>,
    pub headers: Vec<(String, String)>,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl LoadPlan {
    /// The JSON body every request carries.
    pub fn body(&self) -> Vec<u8> {
        let with_prompt = |prompt: &str| {
            let body = match self.kind {
                RequestKind::Completions => serde_json::json!({
                    "model": self.model, "prompt": prompt, "max_tokens": self.max_tokens,
                }),
                RequestKind::Chat | RequestKind::ChatStream => serde_json::json!({
                    "model": self.model, "max_tokens": self.max_tokens,
                    "stream": self.kind == RequestKind::ChatStream,
                    "messages": [{"role": "user", "content": prompt}],
                }),
            };
            serde_json::to_vec(&body).unwrap_or_default()
        };
        let plain = with_prompt("Say something about GPUs.");
        match self.prompt_bytes {
            Some(want) if want as usize > plain.len() => {
                let envelope = with_prompt("").len();
                with_prompt(&"x".repeat(want as usize - envelope))
            }
            _ => plain,
        }
    }
}

/// One request as the client saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: Timestamp,
    /// From the load's start to the request's start.
    pub offset: Duration,
    pub latency: Duration,
    pub ttft: Option<Duration>,
    pub status: Option<u16>,
    pub ok: bool,
    /// Why it failed: the error, or the start of the response body.
    pub error: Option<String>,
    pub version: Option<String>,
    pub pod: Option<String>,
    pub request_bytes: u64,
}

/// Collects samples while a load runs; cheap to read for progress lines.
pub struct Recorder {
    pub started_at: Timestamp,
    started: Instant,
    samples: Mutex<Vec<Sample>>,
    total: AtomicU64,
    failed: AtomicU64,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            started_at: Timestamp::now(),
            started: Instant::now(),
            samples: Mutex::new(Vec::new()),
            total: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn push(&self, s: Sample) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if !s.ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut v) = self.samples.lock() {
            v.push(s);
        }
    }

    /// (requests, failed, seconds since start), for progress lines.
    pub fn progress(&self) -> (u64, u64, f64) {
        (
            self.total.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64(),
        )
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// What one finished run recorded.
pub struct Finished {
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub elapsed: Duration,
    pub samples: Vec<Sample>,
}

struct Active {
    plan: LoadPlan,
    body: Vec<u8>,
    recorder: Arc<Recorder>,
}

/// goose transactions are plain functions; they find their load by the
/// port of the base URL (one local forwarder per load).
static ACTIVE: LazyLock<Mutex<HashMap<u16, Arc<Active>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn active_for(port: u16) -> Option<Arc<Active>> {
    ACTIVE.lock().ok()?.get(&port).cloned()
}

/// A load that is running; [`RunningLoad::finish`] waits for it.
pub struct RunningLoad {
    pub recorder: Arc<Recorder>,
    port: u16,
    handle: tokio::task::JoinHandle<Result<(), LoadError>>,
}

impl RunningLoad {
    /// Waits until goose stops (run time reached or every request sent).
    pub async fn finish(self) -> Result<Finished, LoadError> {
        let outcome = match self.handle.await {
            Ok(r) => r,
            Err(e) => Err(LoadError::Goose(format!("the load task died: {e}"))),
        };
        if let Ok(mut m) = ACTIVE.lock() {
            m.remove(&self.port);
        }
        outcome?;
        Ok(Finished {
            started_at: self.recorder.started_at,
            finished_at: Timestamp::now(),
            elapsed: self.recorder.started.elapsed(),
            samples: self.recorder.samples(),
        })
    }
}

/// Starts goose against `base_url` (`http://127.0.0.1:PORT`) on its own
/// threads, so a busy load cannot starve the harness's watches.
pub fn start(base_url: &str, port: u16, plan: LoadPlan) -> RunningLoad {
    super::goose_log::install();
    let recorder = Arc::new(Recorder::new());
    let active = Arc::new(Active {
        body: plan.body(),
        plan: plan.clone(),
        recorder: recorder.clone(),
    });
    if let Ok(mut m) = ACTIVE.lock() {
        m.insert(port, active);
    }
    let base = base_url.to_string();
    let handle = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(LoadError::Runtime)?;
        rt.block_on(run_goose(&base, &plan))
    });
    RunningLoad {
        recorder,
        port,
        handle,
    }
}

fn goose_err(e: impl std::fmt::Display) -> LoadError {
    LoadError::Goose(e.to_string())
}

async fn run_goose(base: &str, plan: &LoadPlan) -> Result<(), LoadError> {
    let users = plan.users.max(1) as usize;
    let rate = plan
        .ramp
        .filter(|r| *r > 0.0)
        .map(|r| r.to_string())
        .unwrap_or_else(|| users.to_string());
    let timeout = plan.request_timeout.as_secs().max(1).to_string();
    let scenario = scenario!("inference")
        .register_transaction(transaction!(use_fresh_connections).set_on_start())
        .register_transaction(transaction!(send_one));
    let mut attack = GooseAttack::initialize_with_config(GooseConfiguration::default())
        .map_err(goose_err)?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, base)
        .map_err(goose_err)?
        .set_default(GooseDefault::Users, users)
        .map_err(goose_err)?
        .set_default(GooseDefault::IncreaseRate, rate.as_str())
        .map_err(goose_err)?
        .set_default(GooseDefault::NoPrintMetrics, true)
        .map_err(goose_err)?
        .set_default(GooseDefault::NoTelnet, true)
        .map_err(goose_err)?
        .set_default(GooseDefault::Quiet, 1)
        .map_err(goose_err)?
        .set_default(GooseDefault::Timeout, timeout.as_str())
        .map_err(goose_err)?;
    attack = match (plan.requests, plan.duration) {
        (Some(n), _) => {
            let per_user = n.div_ceil(users as u64).max(1) as usize;
            attack
                .set_default(GooseDefault::Iterations, per_user)
                .map_err(goose_err)?
        }
        (None, Some(d)) => attack
            .set_default(GooseDefault::RunTime, d.as_secs().max(1) as usize)
            .map_err(goose_err)?,
        (None, None) => attack
            .set_default(GooseDefault::Iterations, 1)
            .map_err(goose_err)?,
    };
    attack.execute().await.map_err(goose_err)?;
    Ok(())
}

/// A fresh connection per request: each is forwarded to a ready endpoint
/// chosen at that moment, as a Service spreads new connections.
async fn use_fresh_connections(user: &mut GooseUser) -> TransactionResult {
    let builder = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60));
    user.set_client_builder(builder).await?;
    Ok(())
}

async fn send_one(user: &mut GooseUser) -> TransactionResult {
    let Some(active) = user.base_url.port().and_then(active_for) else {
        return Ok(());
    };
    let plan = &active.plan;
    let path = plan.kind.path();
    let mut rb = user
        .get_request_builder(&GooseMethod::Post, path)?
        .header("content-type", "application/json")
        .timeout(plan.request_timeout)
        .body(active.body.clone());
    for (k, v) in &plan.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(path)
        .set_request_builder(rb)
        .build();
    let at = Timestamp::now();
    let offset = active.recorder.started.elapsed();
    let started = Instant::now();
    let mut goose = user.request(request).await?;
    let mut sample = Sample {
        at,
        offset,
        latency: Duration::ZERO,
        ttft: None,
        status: None,
        ok: false,
        error: None,
        version: None,
        pod: None,
        request_bytes: active.body.len() as u64,
    };
    match goose.response.as_mut() {
        Err(e) => sample.error = Some(describe_reqwest_error(&*e)),
        Ok(response) => {
            let status = response.status();
            sample.status = Some(status.as_u16());
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            sample.version = header("x-inference-version");
            sample.pod = header("x-inference-pod");
            let streaming = plan.kind == RequestKind::ChatStream && status.is_success();
            let (body, ttft, read_error) = read_body(response, started, streaming).await;
            sample.ttft = ttft;
            if !status.is_success() {
                sample.error = Some(format!("HTTP {}: {}", status.as_u16(), snippet(&body)));
            } else if let Some(e) = read_error {
                sample.error = Some(e);
            } else if streaming && !body.contains("[DONE]") {
                sample.error = Some("the event stream ended before `data: [DONE]`".into());
            } else {
                sample.ok = true;
            }
        }
    }
    sample.latency = started.elapsed();
    if !sample.ok {
        let tag = sample.error.clone().unwrap_or_default();
        let _ = user.set_failure(&tag, &mut goose.request, None, None);
    }
    active.recorder.push(sample);
    Ok(())
}

async fn read_body(
    response: &mut reqwest::Response,
    started: Instant,
    streaming: bool,
) -> (String, Option<Duration>, Option<String>) {
    let mut body = Vec::new();
    let mut ttft = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if streaming && ttft.is_none() && chunk.windows(5).any(|w| w == b"data:") {
                    ttft = Some(started.elapsed());
                }
                if body.len() < 64 * 1024 {
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(None) => break,
            Err(e) => {
                return (
                    String::from_utf8_lossy(&body).into_owned(),
                    ttft,
                    Some(format!(
                        "reading the response failed: {}",
                        describe_reqwest_error(&e)
                    )),
                );
            }
        }
    }
    if !streaming {
        ttft = None;
    }
    (String::from_utf8_lossy(&body).into_owned(), ttft, None)
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        format!("timed out: {text}")
    } else if e.is_connect() {
        format!("could not connect: {text}")
    } else {
        format!(
            "no complete response (connection closed: the pod went away or no endpoint was ready): {text}"
        )
    }
}

fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(kind: RequestKind, prompt_bytes: Option<u64>) -> LoadPlan {
        LoadPlan {
            users: 1,
            ramp: None,
            duration: None,
            requests: Some(1),
            kind,
            model: "mock-llm".into(),
            max_tokens: 8,
            prompt_bytes,
            headers: vec![],
            request_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn bodies_are_padded_to_the_requested_size() {
        let big = plan(RequestKind::Completions, Some(100_000)).body();
        assert_eq!(big.len(), 100_000);
        let chat: serde_json::Value =
            serde_json::from_slice(&plan(RequestKind::ChatStream, None).body()).expect("json");
        assert_eq!(chat["stream"], true);
        assert_eq!(chat["messages"][0]["role"], "user");
    }

    #[test]
    fn request_kinds_parse() {
        assert_eq!(
            RequestKind::parse("chat-stream"),
            Some(RequestKind::ChatStream)
        );
        assert_eq!(RequestKind::parse("stream"), None);
    }
}
