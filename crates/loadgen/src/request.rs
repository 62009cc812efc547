//! One request, timed: sent over plain HTTP/1.1 with hyper, its answer
//! read frame by frame so every streamed token gets the time it arrived.
//! TTFT and end-to-end latency count from when the request was due.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::mix::Mix;
use crate::plan::{GenPlan, RequestKind};
use crate::resolve::CachedResolver;
use crate::sse::TokenStream;
use crate::wire::{ErrorKind, Sample};

pub type HttpClient = Client<HttpConnector<CachedResolver>, Full<Bytes>>;

/// How much of an answer's body is kept to quote in an error.
const BODY_KEPT: usize = 64 * 1024;

/// A client that keeps connections between requests, or opens a fresh one
/// for each (so a Service spreads every request anew).
pub fn client(keep_alive: bool, connect_timeout: Duration) -> HttpClient {
    let mut connector = HttpConnector::new_with_resolver(CachedResolver::default());
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    let mut builder = Client::builder(TokioExecutor::new());
    if !keep_alive {
        builder.pool_max_idle_per_host(0);
    }
    builder.build(connector)
}

/// What every request of a load shares, prepared once: the one body
/// every request carries, or the mix each request is drawn from.
#[derive(Debug)]
pub struct Prepared {
    /// The URI of each request kind.
    uris: Vec<(RequestKind, hyper::Uri)>,
    plain: RequestKind,
    fixed: Bytes,
    mix: Option<Mix>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

/// One request about to be sent.
struct OneRequest {
    uri: hyper::Uri,
    body: Bytes,
    streams: bool,
    variant: Option<u32>,
}

impl Prepared {
    pub fn new(plan: &GenPlan, model: &str) -> Result<Prepared, String> {
        let mut uris = Vec::new();
        for name in RequestKind::NAMES {
            let Some(kind) = RequestKind::parse(name) else {
                continue;
            };
            let url = format!("{}{}", plan.base_url.trim_end_matches('/'), kind.path());
            let uri = url
                .parse::<hyper::Uri>()
                .map_err(|e| format!("URL {url:?}: {e}"))?;
            uris.push((kind, uri));
        }
        let mut headers = Vec::new();
        for (k, v) in &plan.headers {
            let name =
                HeaderName::try_from(k.as_str()).map_err(|e| format!("header {k:?}: {e}"))?;
            let value =
                HeaderValue::try_from(v.as_str()).map_err(|e| format!("header {k}: {v:?}: {e}"))?;
            headers.push((name, value));
        }
        let mix = plan.varies().then(|| {
            Mix::new(
                plan.mix.clone(),
                plan.prompts.clone(),
                plan.max_tokens,
                model,
                plan.mix_seed,
            )
        });
        Ok(Prepared {
            uris,
            plain: plan.request,
            fixed: Bytes::from(plan.body(model)),
            mix,
            headers,
            timeout: Duration::from_millis(plan.request_timeout_ms.max(1)),
        })
    }

    fn uri(&self, kind: RequestKind) -> hyper::Uri {
        self.uris
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, u)| u.clone())
            .unwrap_or_default()
    }

    /// The next request: the fixed one, or one drawn from the mix.
    fn next(&self) -> OneRequest {
        match &self.mix {
            None => OneRequest {
                uri: self.uri(self.plain),
                body: self.fixed.clone(),
                streams: self.plain.streams(),
                variant: None,
            },
            Some(mix) => {
                let d = mix.draw(self.plain);
                OneRequest {
                    uri: self.uri(d.request),
                    body: Bytes::from(d.body),
                    streams: d.request.streams(),
                    variant: d.variant,
                }
            }
        }
    }
}

/// The version and the pod that answered (`x-inference-version`,
/// `x-inference-pod`: our mock's headers, absent from other servers).
pub fn served_by(headers: &hyper::HeaderMap) -> (Option<String>, Option<String>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    (header("x-inference-version"), header("x-inference-pod"))
}

/// The first model the server lists at `/v1/models`.
pub async fn served_model(
    client: &HttpClient,
    base_url: &str,
    timeout: Duration,
) -> Result<String, String> {
    let url = format!("{}/v1/models", base_url.trim_end_matches('/'));
    let uri = url
        .parse::<hyper::Uri>()
        .map_err(|e| format!("URL {url:?}: {e}"))?;
    let ask = async {
        let request = Request::get(uri)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let response = client.request(request).await.map_err(|e| describe(&e))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("HTTP {}: {}", status.as_u16(), snippet(&body)));
        }
        let text = String::from_utf8_lossy(&body);
        model_ids(&text)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("no model listed: {}", snippet(&body)))
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
        .map_err(|e| format!("asking {url}: {e}"))
}

/// The ids of an OpenAI model list (`{"data": [{"id": ...}, ...]}`), in
/// the server's order (vLLM lists its served names first, then any LoRA
/// adapters).
pub fn model_ids(body: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let data = v
        .get("data")
        .and_then(serde_json::Value::as_array)
        .ok_or("no `data` list")?;
    Ok(data
        .iter()
        .filter_map(|m| m.get("id").and_then(serde_json::Value::as_str))
        .map(String::from)
        .collect())
}

/// What came back, before it becomes a [`Sample`].
#[derive(Default)]
struct Answer {
    status: Option<u16>,
    version: Option<String>,
    pod: Option<String>,
    tokens: TokenStream,
    body: Vec<u8>,
    failure: Option<(ErrorKind, String)>,
}

/// Sends one request that was due at `due` (`due_ms` from the load's
/// start) and times its answer.
pub async fn send(client: &HttpClient, prepared: &Prepared, due: Instant, due_ms: f64) -> Sample {
    let one = prepared.next();
    let sent = Instant::now();
    let mut answer = Answer::default();
    let outcome = tokio::time::timeout(
        prepared.timeout,
        exchange(client, prepared, &one, &mut answer),
    )
    .await;
    let ended = Instant::now();
    if outcome.is_err() {
        answer.failure = Some((
            ErrorKind::Timeout,
            format!(
                "timed out: no complete answer within {} ms",
                prepared.timeout.as_millis()
            ),
        ));
    }
    finish(answer, &one, due, due_ms, sent, ended)
}

async fn exchange(client: &HttpClient, prepared: &Prepared, one: &OneRequest, answer: &mut Answer) {
    let mut request = Request::post(one.uri.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(one.body.clone()));
    if let Ok(r) = request.as_mut() {
        for (k, v) in &prepared.headers {
            r.headers_mut().insert(k.clone(), v.clone());
        }
    }
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            answer.failure = Some((ErrorKind::Connect, format!("cannot build the request: {e}")));
            return;
        }
    };
    let response = match client.request(request).await {
        Ok(r) => r,
        Err(e) => {
            let kind = if e.is_connect() {
                ErrorKind::Connect
            } else {
                ErrorKind::Reset
            };
            answer.failure = Some((kind, describe(&e)));
            return;
        }
    };
    answer.status = Some(response.status().as_u16());
    (answer.version, answer.pod) = served_by(response.headers());
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    answer.tokens.feed(data, Instant::now());
                    if answer.body.len() < BODY_KEPT {
                        answer.body.extend_from_slice(data);
                    }
                }
            }
            Err(e) => {
                answer.failure = Some((
                    ErrorKind::Reset,
                    format!("the connection closed before the answer was complete: {e}"),
                ));
                return;
            }
        }
    }
}

fn finish(
    answer: Answer,
    prepared: &OneRequest,
    due: Instant,
    due_ms: f64,
    sent: Instant,
    ended: Instant,
) -> Sample {
    let since_due = |t: Instant| ms(t.saturating_duration_since(due));
    let mut sample = Sample {
        due_ms,
        lag_ms: since_due(sent),
        e2e_ms: since_due(ended),
        ttft_ms: None,
        itl_ms: Vec::new(),
        output_tokens: None,
        status: answer.status,
        ok: false,
        error_kind: None,
        error: None,
        version: answer.version,
        pod: answer.pod,
        request_bytes: prepared.body.len() as u64,
        stage: None,
        variant: prepared.variant,
    };
    let success = answer.status.is_some_and(|s| s < 400);
    let failure = match answer.failure {
        Some(f) => Some(f),
        None if !success => Some((
            ErrorKind::Http,
            format!(
                "HTTP {}: {}",
                answer.status.unwrap_or_default(),
                snippet(&answer.body)
            ),
        )),
        None if prepared.streams && !answer.tokens.done() => Some((
            ErrorKind::Stream,
            "the event stream ended before `data: [DONE]`".to_string(),
        )),
        None => None,
    };
    if prepared.streams {
        let times = answer.tokens.token_times();
        sample.ttft_ms = times.first().map(|t| since_due(*t));
        sample.itl_ms = times.windows(2).map(|w| ms(w[1] - w[0])).collect();
        sample.output_tokens = answer
            .tokens
            .usage_tokens()
            .or((!times.is_empty()).then_some(times.len() as u64));
    } else if success {
        sample.output_tokens = crate::sse::usage_of_body(&answer.body);
    }
    match failure {
        Some((kind, text)) => {
            sample.error_kind = Some(kind);
            sample.error = Some(text);
        }
        None => sample.ok = true,
    }
    sample
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    } else {
        one_line
    }
}
