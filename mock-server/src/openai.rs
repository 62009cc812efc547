//! OpenAI-compatible request bodies and the OpenAI-style error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::FailureKind;

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: Option<String>,
    pub prompt: Prompt,
    pub max_tokens: Option<u32>,
    /// Choices to generate.
    pub n: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub echo: bool,
    /// Accepted and ignored, as sampling does not change what the mock says.
    #[serde(flatten)]
    pub _other: serde_json::Map<String, serde_json::Value>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    /// Choices to generate.
    pub n: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    pub _other: serde_json::Map<String, serde_json::Value>,
}

/// `POST /v1/embeddings`.
#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    pub model: Option<String>,
    pub input: EmbeddingInput,
    #[serde(flatten)]
    pub _other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// A prompt as text, a batch of texts, or token ids.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

impl Prompt {
    /// The prompt's text (token ids become placeholder words) and its token count.
    pub fn text_and_tokens(&self) -> (String, u32) {
        match self {
            Prompt::Text(t) => (t.clone(), count_tokens(t)),
            Prompt::Texts(ts) => {
                let t = ts.join("\n");
                let n = ts.iter().map(|t| count_tokens(t)).sum();
                (t, n)
            }
            Prompt::Tokens(ids) => (
                ids.iter()
                    .map(|i| format!("<{i}>"))
                    .collect::<Vec<_>>()
                    .join(" "),
                len_u32(ids.len()),
            ),
            Prompt::TokenBatches(b) => {
                let n = b.iter().map(|ids| len_u32(ids.len())).sum();
                (String::new(), n)
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// How many embeddings the input asks for, without copying it.
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::Text(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Texts(ts) => ts.len(),
            EmbeddingInput::TokenBatches(b) => b.len(),
        }
    }

    /// Whether the input asks for no embedding at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One string per embedding to produce.
    pub fn items(&self) -> Vec<String> {
        match self {
            EmbeddingInput::Text(t) => vec![t.clone()],
            EmbeddingInput::Texts(ts) => ts.clone(),
            EmbeddingInput::Tokens(ids) => vec![format!("{ids:?}")],
            EmbeddingInput::TokenBatches(b) => b.iter().map(|ids| format!("{ids:?}")).collect(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: MessageContent,
}

/// Chat content as a string or as typed parts (`[{"type":"text","text":...}]`).
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(untagged)]
pub enum MessageContent {
    #[default]
    Empty,
    Text(String),
    Parts(Vec<serde_json::Value>),
}

impl MessageContent {
    pub fn text(&self) -> String {
        match self {
            MessageContent::Empty => String::new(),
            MessageContent::Text(t) => t.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// Rough token count: words and punctuation marks, at least one for non-empty text.
pub fn count_tokens(text: &str) -> u32 {
    let mut n: u32 = 0;
    let mut in_word = false;
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            if !in_word {
                n = n.saturating_add(1);
                in_word = true;
            }
        } else {
            in_word = false;
            if !ch.is_whitespace() {
                n = n.saturating_add(1);
            }
        }
    }
    n
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// An error answered as `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<&'static str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            message,
        )
    }

    pub fn model_not_found(model: &str) -> ApiError {
        ApiError {
            param: Some("model"),
            ..ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!("The model `{model}` does not exist."),
            )
        }
    }

    pub fn not_ready(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "model_not_ready",
            message,
        )
    }

    /// The error for an injected failure of `kind`.
    pub fn injected(kind: FailureKind, model: &str) -> ApiError {
        match kind {
            FailureKind::RateLimit => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                "Rate limit reached (injected failure).",
            ),
            FailureKind::InvalidRequest => {
                ApiError::invalid_request("The request is invalid (injected failure).")
            }
            FailureKind::ServerError => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                "The server had an error while processing your request (injected failure).",
            ),
            FailureKind::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "engine_overloaded",
                "The engine is currently overloaded (injected failure).",
            ),
            FailureKind::ContextLength => ApiError {
                param: Some("messages"),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "context_length_exceeded",
                    "This model's maximum context length was exceeded (injected failure).",
                )
            },
            FailureKind::ModelNotFound => ApiError::model_not_found(model),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words_and_punctuation() {
        assert_eq!(count_tokens("Hello, world!"), 4);
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("  a  b "), 2);
    }

    #[test]
    fn error_body_shape() {
        insta::assert_json_snapshot!(ApiError::model_not_found("gpt-x").body(), @r#"
        {
          "error": {
            "code": "model_not_found",
            "message": "The model `gpt-x` does not exist.",
            "param": "model",
            "type": "invalid_request_error"
          }
        }
        "#);
    }
}
