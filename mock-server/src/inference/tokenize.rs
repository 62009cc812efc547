//! `POST /tokenize` and `POST /detokenize`, as vLLM answers them, over the
//! mock's [`crate::tokenizer`]: a prompt's count here is the
//! `prompt_tokens` its completion reports.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::admission::resolve_model;
use super::body::{parse_json, read_body};
use crate::app::App;
use crate::openai::{ApiError, ChatMessage, Prompt};
use crate::tokenizer::{TemplateMessage, chat_pieces, pieces};

/// A completion prompt or a chat, as `/tokenize` takes either.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TokenizeRequest {
    Chat {
        model: Option<String>,
        messages: Vec<ChatMessage>,
        #[serde(default)]
        return_token_strs: bool,
        #[serde(flatten)]
        _other: serde_json::Map<String, serde_json::Value>,
    },
    Prompt {
        model: Option<String>,
        prompt: Prompt,
        #[serde(default)]
        return_token_strs: bool,
        #[serde(flatten)]
        _other: serde_json::Map<String, serde_json::Value>,
    },
}

#[derive(Debug, Deserialize)]
struct DetokenizeRequest {
    model: Option<String>,
    tokens: Vec<u32>,
}

/// `POST /tokenize`: `{count, max_model_len, tokens, token_strs}`.
pub async fn tokenize(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bytes = read_body(&app, &headers, body).await?;
    let req: TokenizeRequest = parse_json(&app, &bytes).map_err(|e| ApiError {
        message: format!(
            "{} Send {{\"prompt\": TEXT}} or {{\"messages\": [{{\"role\", \"content\"}}]}}.",
            e.message
        ),
        ..e
    })?;
    let cfg = app.config();
    let (model, parts, strs) = match &req {
        TokenizeRequest::Chat {
            model,
            messages,
            return_token_strs,
            ..
        } => {
            let texts: Vec<String> = messages.iter().map(|m| m.content.text()).collect();
            let template: Vec<TemplateMessage<'_>> = messages
                .iter()
                .zip(&texts)
                .map(|(m, t)| TemplateMessage {
                    role: &m.role,
                    content: t,
                })
                .collect();
            (model, chat_pieces(&template), *return_token_strs)
        }
        TokenizeRequest::Prompt {
            model,
            prompt,
            return_token_strs,
            ..
        } => {
            let parts = match prompt {
                Prompt::Text(t) => pieces(t),
                Prompt::Texts(_) | Prompt::Tokens(_) | Prompt::TokenBatches(_) => {
                    return Err(ApiError {
                        param: Some("prompt"),
                        ..ApiError::invalid_request("/tokenize takes one prompt as text.")
                    });
                }
            };
            (model, parts, *return_token_strs)
        }
    };
    resolve_model(&app, &cfg, model.as_deref())?;
    let tokens = app.tokenizer().encode(&parts);
    Ok(Json(json!({
        "count": tokens.len(),
        "max_model_len": cfg.max_model_len,
        "tokens": tokens,
        "token_strs": if strs { json!(parts) } else { json!(null) },
    })))
}

/// `POST /detokenize`: `{prompt}`.
pub async fn detokenize(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bytes = read_body(&app, &headers, body).await?;
    let req: DetokenizeRequest = parse_json(&app, &bytes)?;
    resolve_model(&app, &app.config(), req.model.as_deref())?;
    Ok(Json(
        json!({"prompt": app.tokenizer().detokenize(&req.tokens)}),
    ))
}
