//! What one request asks the engine for: its model, prompt and output
//! lengths, validated the way vLLM validates them.

use std::time::Instant;

use axum::http::StatusCode;

use crate::config::Config;
use crate::openai::ApiError;

/// Most choices one request may ask for (`n`).
pub(super) const MAX_N: u32 = 128;

/// What one request asks the engine for.
pub(super) struct Job {
    pub(super) model: String,
    /// The LoRA adapter named by the request, served by `model`.
    pub(super) lora: Option<String>,
    /// Choices generated side by side (`n`), each `output_tokens` long.
    pub(super) n: u32,
    /// The request's `max_tokens`, as asked.
    pub(super) max_tokens: Option<u32>,
    pub(super) prompt_tokens: u32,
    pub(super) output_tokens: u32,
    /// Whether `max_tokens` capped the output (finish_reason `length`).
    pub(super) capped: bool,
    pub(super) arrived: Instant,
}

/// What a request asked for, before [`plan`] checks it.
pub(super) struct Ask {
    pub(super) model: String,
    pub(super) lora: Option<String>,
    pub(super) prompt_tokens: u32,
    pub(super) max_tokens: Option<u32>,
    pub(super) n: Option<u32>,
}

/// Validates lengths the way vLLM does and decides the output length.
pub(super) fn plan(cfg: &Config, ask: Ask, arrived: Instant) -> Result<Job, ApiError> {
    let Ask {
        model,
        lora,
        prompt_tokens,
        max_tokens,
        n,
    } = ask;
    let n = n.unwrap_or(1);
    if !(1..=MAX_N).contains(&n) {
        return Err(ApiError {
            param: Some("n"),
            ..ApiError::invalid_request(format!("n must be between 1 and {MAX_N}; got {n}."))
        });
    }
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
        lora,
        n,
        max_tokens,
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
        let ask = |prompt_tokens, n| Ask {
            model: "m".into(),
            lora: None,
            prompt_tokens,
            max_tokens: Some(5),
            n,
        };
        let err = plan(&cfg, ask(8, None), Instant::now())
            .err()
            .expect("over the limit");
        assert_eq!(err.code, "context_length_exceeded");
        assert!(plan(&cfg, ask(5, None), Instant::now()).is_ok());
        assert!(plan(&cfg, ask(5, Some(MAX_N)), Instant::now()).is_ok());
        for n in [0, MAX_N + 1] {
            let err = plan(&cfg, ask(5, Some(n)), Instant::now())
                .err()
                .expect("n out of range");
            assert_eq!(err.param, Some("n"));
        }
    }
}
