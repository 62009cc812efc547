//! Reading a request body: within the configured size (413 beyond it), and
//! parsed as JSON with an error that says where it went wrong.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::openai::ApiError;

/// Reads the whole body, refusing more than the configured limit with 413.
pub async fn read_body(app: &App, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = usize::try_from(app.config().max_body_bytes).unwrap_or(usize::MAX);
    let too_large = || {
        app.metrics().record_rejected(413, "body_too_large");
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("Request body is larger than the limit of {limit} bytes (max_body_bytes)."),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let is_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if is_limit {
                Err(too_large())
            } else {
                Err(ApiError::invalid_request(format!(
                    "Could not read the request body: {e}"
                )))
            }
        }
    }
}

/// Parses a JSON body with an error that says where it went wrong.
pub fn parse_json<T: DeserializeOwned>(app: &App, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        app.metrics().record_rejected(400, "malformed_json");
        let what = if e.is_syntax() || e.is_eof() {
            "is not valid JSON"
        } else {
            "does not match the expected schema"
        };
        ApiError::invalid_request(format!("The request body {what}: {e}"))
    })
}
