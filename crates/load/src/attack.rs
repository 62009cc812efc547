//! goose load against a base URL, with every request recorded: status,
//! latency, time to first token, and which pod and version answered. goose
//! drives users, ramp, run time and request counts; the [`Recorder`] keeps
//! the per-request samples reports are made of.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;
use loadgen::sse::TokenStream;
use loadgen::{ErrorKind, Sample};
use report::LoadPath;
use thiserror::Error;

pub use crate::record::{Finished, Recorder};

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("goose could not run the load: {0}")]
    Goose(String),
    #[error("cannot start the load's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

pub use loadgen::RequestKind;

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
        loadgen::plan::request_body(self.kind, &self.model, self.max_tokens, self.prompt_bytes)
    }
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
        Ok(self.recorder.finished())
    }
}

/// Starts goose against `base_url` (`http://127.0.0.1:PORT`) on its own
/// threads, so a busy load cannot starve the harness's watches.
pub fn start(base_url: &str, port: u16, plan: LoadPlan) -> RunningLoad {
    super::goose_log::install();
    let recorder = Arc::new(Recorder::new(LoadPath::PortForward));
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
    let due_ms = active.recorder.progress().2 * 1000.0;
    let started = Instant::now();
    let mut goose = user.request(request).await?;
    let mut sample = Sample {
        due_ms,
        lag_ms: 0.0,
        e2e_ms: 0.0,
        ttft_ms: None,
        itl_ms: Vec::new(),
        output_tokens: None,
        status: None,
        ok: false,
        error_kind: None,
        error: None,
        version: None,
        pod: None,
        request_bytes: active.body.len() as u64,
        stage: None,
        variant: None,
    };
    match goose.response.as_mut() {
        Err(e) => {
            let (kind, text) = describe_reqwest_error(&*e);
            sample.error_kind = Some(kind);
            sample.error = Some(text);
        }
        Ok(response) => {
            let status = response.status();
            sample.status = Some(status.as_u16());
            (sample.version, sample.pod) = loadgen::request::served_by(response.headers());
            let streaming = plan.kind.streams() && status.is_success();
            let (body, tokens, read_error) = read_body(response, streaming).await;
            if streaming {
                let times = tokens.token_times();
                sample.ttft_ms = times
                    .first()
                    .map(|t| ms(t.saturating_duration_since(started)));
                sample.itl_ms = times.windows(2).map(|w| ms(w[1] - w[0])).collect();
                sample.output_tokens = tokens
                    .usage_tokens()
                    .or((!times.is_empty()).then_some(times.len() as u64));
            } else if status.is_success() {
                sample.output_tokens = loadgen::sse::usage_of_body(body.as_bytes());
            }
            if !status.is_success() {
                sample.error_kind = Some(ErrorKind::Http);
                sample.error = Some(format!("HTTP {}: {}", status.as_u16(), snippet(&body)));
            } else if let Some((kind, e)) = read_error {
                sample.error_kind = Some(kind);
                sample.error = Some(e);
            } else if streaming && !tokens.done() {
                sample.error_kind = Some(ErrorKind::Stream);
                sample.error = Some("the event stream ended before `data: [DONE]`".into());
            } else {
                sample.ok = true;
            }
        }
    }
    sample.e2e_ms = ms(started.elapsed());
    if !sample.ok {
        let tag = sample.error.clone().unwrap_or_default();
        let _ = user.set_failure(&tag, &mut goose.request, None, None);
    }
    active.recorder.push(sample);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn read_body(
    response: &mut reqwest::Response,
    streaming: bool,
) -> (String, TokenStream, Option<(ErrorKind, String)>) {
    let mut body = Vec::new();
    let mut tokens = TokenStream::default();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if streaming {
                    tokens.feed(&chunk, Instant::now());
                }
                if body.len() < 64 * 1024 {
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let (kind, text) = describe_reqwest_error(&e);
                return (
                    String::from_utf8_lossy(&body).into_owned(),
                    tokens,
                    Some((kind, format!("reading the response failed: {text}"))),
                );
            }
        }
    }
    (String::from_utf8_lossy(&body).into_owned(), tokens, None)
}

fn describe_reqwest_error(e: &reqwest::Error) -> (ErrorKind, String) {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        (ErrorKind::Timeout, format!("timed out: {text}"))
    } else if e.is_connect() {
        (ErrorKind::Connect, format!("could not connect: {text}"))
    } else {
        (
            ErrorKind::Reset,
            format!(
                "no complete response (connection closed: the pod went away or no endpoint was ready): {text}"
            ),
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
