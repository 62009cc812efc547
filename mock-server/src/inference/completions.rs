//! `POST /v1/completions` and `POST /v1/chat/completions`: admission, the
//! engine, and the answer as one JSON body or as server-sent events.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::json;

use super::admission::{injected_failure, prepare, resolve_model};
use super::ballast::Ballast;
use super::body::parse_json;
use super::engine::Generation;
use super::job::plan;
use super::stream::stream_events;
use crate::app::App;
use crate::openai::{ApiError, ChatCompletionRequest, CompletionRequest, count_tokens};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn request_id(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::rng().random::<u128>())
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
