//! Whether a request reaches the engine at all: the model must be loaded
//! and known, and an injected failure (forced by header or drawn at the
//! configured rate) answers in its place.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use rand::Rng;

use super::body::read_body;
use crate::app::App;
use crate::config::{Config, FailureKind};
use crate::openai::ApiError;

/// Header that forces an injected failure of the named kind on one request.
pub const FAIL_HEADER: &str = "x-mock-fail";

pub(super) fn check_loaded(app: &App) -> Result<(), ApiError> {
    if app.model_loaded() {
        return Ok(());
    }
    app.metrics().record_rejected(503, "model_loading");
    Err(ApiError::not_ready(format!(
        "The model is still loading ({} ms left).",
        app.load_remaining().as_millis()
    )))
}

/// The model a request names: a served model, or a loaded LoRA adapter
/// (served by the default model).
pub(super) struct Target {
    /// The served model whose engine and metrics the request uses.
    pub(super) model: String,
    /// The adapter named, if any; answers carry its name as the model.
    pub(super) lora: Option<String>,
}

impl Target {
    /// The model name an answer reports: the adapter's when one was named.
    pub(super) fn answered_as(&self) -> String {
        self.lora.clone().unwrap_or_else(|| self.model.clone())
    }
}

pub(super) fn resolve_model(
    app: &App,
    cfg: &Config,
    requested: Option<&str>,
) -> Result<Target, ApiError> {
    let served = |m: &str| Target {
        model: m.to_string(),
        lora: None,
    };
    match requested {
        None | Some("") => Ok(served(cfg.default_model())),
        Some(m) if cfg.serves(m) => Ok(served(m)),
        Some(m) if app.loras().is_loaded(m) => Ok(Target {
            model: cfg.default_model().to_string(),
            lora: Some(m.to_string()),
        }),
        Some(m) => {
            app.metrics().record_rejected(404, "unknown_model");
            Err(ApiError::model_not_found(m))
        }
    }
}

/// A failure forced by header or drawn by the configured rate, if any.
pub(super) fn injected_failure(
    app: &App,
    cfg: &Config,
    headers: &HeaderMap,
    model: &str,
) -> Result<(), ApiError> {
    let forced = match headers.get(FAIL_HEADER).map(|v| v.to_str().unwrap_or("")) {
        None => None,
        Some(name) => Some(FailureKind::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::invalid_request(format!(
                "Header {FAIL_HEADER}: unknown failure kind {name:?}; expected one of {}.",
                known.join(", ")
            ))
        })?),
    };
    let kind = forced.or_else(|| {
        if cfg.failure_rate <= 0.0 || cfg.failure_types.is_empty() {
            return None;
        }
        let mut rng = rand::rng();
        if rng.random_bool(cfg.failure_rate.clamp(0.0, 1.0)) {
            Some(cfg.failure_types[rng.random_range(0..cfg.failure_types.len())])
        } else {
            None
        }
    });
    match kind {
        Some(kind) => {
            app.metrics().record_injected_failure(kind.as_str());
            Err(ApiError::injected(kind, model))
        }
        None => Ok(()),
    }
}

/// The parts every inference request goes through before generation.
pub(super) async fn prepare(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Arc<Config>, Bytes), ApiError> {
    check_loaded(app)?;
    let bytes = read_body(app, headers, body).await?;
    Ok((app.config(), bytes))
}
