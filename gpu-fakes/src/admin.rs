//! HTTP endpoints: `/metrics` (dcgm-exporter format) and fault injection.
//!
//! - `GET  /admin/gpus`                   — the GPUs, their health and XIDs (JSON)
//! - `POST /admin/gpus/{index}/unhealthy` — mark GPU `index` Unhealthy (ListAndWatch re-sends)
//! - `POST /admin/gpus/{index}/healthy`   — mark it Healthy again
//! - `POST /admin/gpus/{index}/xid/{code}` — raise XID `code`: shown as
//!   `DCGM_FI_DEV_XID_ERRORS`, and critical XIDs make the GPU Unhealthy
//!   (NVIDIA's device plugin rule)
//! - `GET  /healthz`
//! - `GET  /readyz` (from `main`): 503 until the kubelet has registered the
//!   DRA plugin, when it runs

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::exporter::Exporter;
use crate::gpus::{FakeGpus, GpuError};

impl IntoResponse for GpuError {
    fn into_response(self) -> Response {
        (StatusCode::NOT_FOUND, self.to_string()).into_response()
    }
}

/// Fault-injection routes over the fake GPUs.
pub fn admin_router(gpus: FakeGpus) -> Router {
    Router::new()
        .route("/admin/gpus", get(list))
        .route("/admin/gpus/{index}/unhealthy", post(unhealthy))
        .route("/admin/gpus/{index}/healthy", post(healthy))
        .route("/admin/gpus/{index}/xid/{code}", post(xid))
        .with_state(gpus)
}

/// `/metrics` and `/healthz`.
pub fn metrics_router(exporter: Arc<Exporter>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(exporter)
}

async fn list(State(g): State<FakeGpus>) -> impl IntoResponse {
    Json(g.gpus())
}

async fn unhealthy(State(g): State<FakeGpus>, Path(i): Path<u32>) -> Result<String, GpuError> {
    g.set_healthy(i, false)?;
    Ok(format!("gpu {i} Unhealthy\n"))
}

async fn healthy(State(g): State<FakeGpus>, Path(i): Path<u32>) -> Result<String, GpuError> {
    g.set_healthy(i, true)?;
    Ok(format!("gpu {i} Healthy\n"))
}

async fn xid(
    State(g): State<FakeGpus>,
    Path((i, code)): Path<(u32, u32)>,
) -> Result<String, GpuError> {
    let critical = g.raise_xid(i, code)?;
    Ok(format!(
        "gpu {i} XID {code}{}\n",
        if critical {
            " (critical: Unhealthy)"
        } else {
            ""
        }
    ))
}

async fn metrics(State(e): State<Arc<Exporter>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        e.scrape().await,
    )
}
