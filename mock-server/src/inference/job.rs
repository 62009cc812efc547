//! What one request asks the engine for: its model, prompt and output
//! lengths, validated the way vLLM validates them.

use std::time::Instant;

use axum::http::StatusCode;

use crate::config::Config;
use crate::openai::ApiError;

/// What one request asks the engine for.
pub(super) struct Job {
    pub(super) model: String,
    pub(super) prompt_tokens: u32,
    pub(super) output_tokens: u32,
    /// Whether `max_tokens` capped the output (finish_reason `length`).
    pub(super) capped: bool,
    pub(super) arrived: Instant,
}

/// Validates lengths the way vLLM does and decides the output length.
pub(super) fn plan(
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

#[cfg(test)]
mod tests {
    use super::*;

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
