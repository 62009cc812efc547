//! `POST /v1/load_lora_adapter` and `POST /v1/unload_lora_adapter`, with
//! vLLM's request bodies and answers (see [`crate::lora`]).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::body::{parse_json, read_body};
use crate::app::App;
use crate::lora::LoraError;
use crate::openai::ApiError;

#[derive(Debug, Deserialize)]
struct LoadRequest {
    #[serde(default)]
    lora_name: String,
    #[serde(default)]
    lora_path: String,
}

#[derive(Debug, Deserialize)]
struct UnloadRequest {
    #[serde(default)]
    lora_name: String,
}

fn refused(e: LoraError) -> ApiError {
    match e {
        LoraError::NotFound(_) => ApiError {
            param: Some("lora_name"),
            ..ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "lora_not_found",
                e.to_string(),
            )
        },
        _ => ApiError {
            param: Some("lora_name"),
            ..ApiError::invalid_request(e.to_string())
        },
    }
}

/// Loads an adapter: `{"lora_name", "lora_path"}`.
pub async fn load_lora_adapter(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<String, ApiError> {
    let bytes = read_body(&app, &headers, body).await?;
    let req: LoadRequest = parse_json(&app, &bytes)?;
    let cfg = app.config();
    app.loras()
        .load(&req.lora_name, &req.lora_path, &cfg.served_model_names)
        .map_err(refused)?;
    tracing::info!(lora = %req.lora_name, path = %req.lora_path, "LoRA adapter loaded");
    Ok(format!(
        "Success: LoRA adapter '{}' added successfully.",
        req.lora_name
    ))
}

/// Unloads an adapter: `{"lora_name"}`.
pub async fn unload_lora_adapter(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<String, ApiError> {
    let bytes = read_body(&app, &headers, body).await?;
    let req: UnloadRequest = parse_json(&app, &bytes)?;
    app.loras().unload(&req.lora_name).map_err(refused)?;
    tracing::info!(lora = %req.lora_name, "LoRA adapter unloaded");
    Ok(format!(
        "Success: LoRA adapter '{}' removed successfully.",
        req.lora_name
    ))
}
