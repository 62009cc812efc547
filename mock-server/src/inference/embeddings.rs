//! `POST /v1/embeddings`: deterministic unit vectors derived from the
//! input text, after the same admission as the other endpoints.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::admission::{injected_failure, prepare, resolve_model};
use super::ballast::Ballast;
use super::body::parse_json;
use super::pacing::jittered;
use crate::app::App;
use crate::config::Config;
use crate::openai::{ApiError, EmbeddingRequest, count_tokens};

/// `POST /v1/embeddings`: deterministic unit vectors derived from the input text.
pub async fn embeddings(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (app, headers) = (&app, &headers);
    let (cfg, bytes) = prepare(app, headers, body).await?;
    let req: EmbeddingRequest = parse_json(app, &bytes)?;
    let target = resolve_model(app, &cfg, req.model.as_deref())?;
    let model = target.model.clone();
    check_input_count(app, &cfg, req.input.len())?;
    let items = req.input.items();
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
        "object": "list", "data": data, "model": target.answered_as(),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response())
}

/// Most values (inputs times dimensions) one response may hold.
pub const MAX_EMBEDDING_VALUES: usize = 1 << 24;

/// Refuses an empty input, more inputs than `max_embedding_inputs`, and a
/// response of more than [`MAX_EMBEDDING_VALUES`] values, before any
/// embedding is computed.
fn check_input_count(app: &App, cfg: &Config, n: usize) -> Result<(), ApiError> {
    let (reason, message) = if n == 0 {
        ("empty_input", "input must not be empty.".to_string())
    } else if n > cfg.max_embedding_inputs {
        (
            "too_many_inputs",
            format!(
                "input has {n} items; at most {} are allowed per request (max_embedding_inputs).",
                cfg.max_embedding_inputs
            ),
        )
    } else if n.saturating_mul(cfg.embedding_dim) > MAX_EMBEDDING_VALUES {
        (
            "too_many_inputs",
            format!(
                "input has {n} items of {} values each; at most {MAX_EMBEDDING_VALUES} values fit in one response.",
                cfg.embedding_dim
            ),
        )
    } else {
        return Ok(());
    };
    app.metrics().record_rejected(400, reason);
    Err(ApiError {
        param: Some("input"),
        ..ApiError::invalid_request(message)
    })
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
}
