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
use super::job::{Ask, plan};
use super::pacing::token_text;
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
    let target = resolve_model(app, &cfg, req.model.as_deref())?;
    let model = target.answered_as();
    let (prompt_text, prompt_tokens) = req.prompt.text_and_tokens();
    let ask = Ask {
        model: target.model.clone(),
        lora: target.lora,
        prompt_tokens,
        max_tokens: req.max_tokens,
        n: req.n,
    };
    let job = plan(&cfg, ask, arrived)?;
    injected_failure(app, &cfg, headers, &target.model)?;
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
            move |index, text, finish| {
                json!({
                    "id": id, "object": "text_completion", "created": created, "model": model,
                    "system_fingerprint": fingerprint,
                    "choices": [{"index": index, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish}],
                })
            },
        ));
    }

    let prefix = if req.echo { prompt_text } else { String::new() };
    let texts = generate_all(&mut gen_, prefix).await;
    let finish = gen_.finish_reason();
    let choices: Vec<_> = texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| json!({"index": i, "text": text, "logprobs": null, "finish_reason": finish}))
        .collect();
    Ok(Json(json!({
        "id": id, "object": "text_completion", "created": created, "model": model,
        "system_fingerprint": fingerprint,
        "choices": choices,
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
    let target = resolve_model(app, &cfg, req.model.as_deref())?;
    let model = target.answered_as();
    let prompt_tokens: u32 = req
        .messages
        .iter()
        .map(|m| count_tokens(&m.content.text()).saturating_add(4))
        .fold(0u32, u32::saturating_add);
    let ask = Ask {
        model: target.model.clone(),
        lora: target.lora,
        prompt_tokens,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        n: req.n,
    };
    let job = plan(&cfg, ask, arrived)?;
    injected_failure(app, &cfg, headers, &target.model)?;
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
            move |index, text, finish| {
                let delta = match (text, finish) {
                    (Some(t), _) => json!({"content": t}),
                    (None, None) => json!({"role": "assistant", "content": ""}),
                    (None, Some(_)) => json!({}),
                };
                json!({
                    "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": fingerprint,
                    "choices": [{"index": index, "delta": delta, "logprobs": null, "finish_reason": finish}],
                })
            },
        ));
    }

    let texts = generate_all(&mut gen_, String::new()).await;
    let finish = gen_.finish_reason();
    let choices: Vec<_> = texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            json!({
                "index": i,
                "message": {"role": "assistant", "content": text},
                "logprobs": null,
                "finish_reason": finish,
            })
        })
        .collect();
    Ok(Json(json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "system_fingerprint": fingerprint,
        "choices": choices,
        "usage": gen_.usage(),
    }))
    .into_response())
}

/// Runs the generation to its end: every choice's text, each after `prefix`.
async fn generate_all(gen_: &mut Generation, prefix: String) -> Vec<String> {
    let mut texts = vec![prefix; gen_.choices() as usize];
    while let Some(step) = gen_.next_token().await {
        for (i, text) in (0u32..).zip(texts.iter_mut()) {
            text.push_str(&token_text(step, i));
        }
    }
    gen_.complete();
    texts
}
