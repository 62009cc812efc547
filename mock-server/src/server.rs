//! Routes, identity headers, health, metrics, admin, and graceful shutdown.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::app::App;
use crate::inference::{self, parse_json, read_body};
use crate::openai::ApiError;

/// Response header naming the pod that answered.
pub const POD_HEADER: &str = "x-inference-pod";
/// Response header naming the namespace of the pod that answered.
pub const NAMESPACE_HEADER: &str = "x-inference-namespace";
/// Response header carrying the configured version.
pub const VERSION_HEADER: &str = "x-inference-version";

/// Where the admin API (`/admin/*`) answers.
#[derive(Debug)]
pub enum Admin {
    /// On the serving port, beside the inference API (the default; the
    /// runner's `mock-config` faults reach it there).
    OnServingPort,
    /// On its own listener; `/admin/*` is 404 on the serving port.
    Separate(TcpListener),
    /// Nowhere: `/admin/*` is 404.
    Off,
}

/// Builds the full router over `app`, admin API included.
pub fn router(app: App) -> Router {
    with_common_layers(admin_routes(api_routes()), app)
}

/// The inference and health API without the admin API.
pub fn api_router(app: App) -> Router {
    with_common_layers(api_routes(), app)
}

/// The admin API alone (for its own port).
pub fn admin_router(app: App) -> Router {
    with_common_layers(admin_routes(Router::new()), app)
}

fn api_routes() -> Router<App> {
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/v2/health/live", get(health))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{model}/ready", get(model_ready))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(inference::completions))
        .route("/v1/chat/completions", post(inference::chat_completions))
        .route("/v1/embeddings", post(inference::embeddings))
        .route("/tokenize", post(inference::tokenize))
        .route("/detokenize", post(inference::detokenize))
        .route("/v1/load_lora_adapter", post(inference::load_lora_adapter))
        .route(
            "/v1/unload_lora_adapter",
            post(inference::unload_lora_adapter),
        )
        .route("/metrics", get(metrics))
        .route("/version", get(version))
}

fn admin_routes(routes: Router<App>) -> Router<App> {
    routes.route(
        "/admin/config",
        get(get_config)
            .put(patch_config)
            .patch(patch_config)
            .post(patch_config),
    )
}

fn with_common_layers(routes: Router<App>, app: App) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are read by the handlers against the live limit.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            app.clone(),
            identity_headers,
        ))
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                "The mock server hit an internal error.",
            )
            .into_response()
        }))
        .with_state(app)
}

async fn identity_headers(State(app): State<App>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let id = app.identity();
    let version = app.config().version.clone();
    let headers = resp.headers_mut();
    for (name, value) in [
        (POD_HEADER, &id.pod),
        (NAMESPACE_HEADER, &id.namespace),
        (VERSION_HEADER, &version),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    resp
}

/// Liveness: the process is up (vLLM's `/health`).
async fn health() -> StatusCode {
    StatusCode::OK
}

/// Readiness: 200 once the simulated model load has finished, 503 before,
/// while forced unready, and while shutting down.
async fn ready(State(app): State<App>) -> Response {
    if app.ready() {
        return (StatusCode::OK, Json(json!({"status": "ready"}))).into_response();
    }
    let reason = if app.shutting_down() {
        "shutting down".to_string()
    } else if !app.model_loaded() {
        format!(
            "model loading, {} ms left",
            app.load_remaining().as_millis()
        )
    } else {
        "readiness forced to fail (force_unready)".to_string()
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "not ready", "reason": reason})),
    )
        .into_response()
}

/// KServe v2 model readiness: status code only.
async fn model_ready(State(app): State<App>, Path(model): Path<String>) -> StatusCode {
    if !app.config().serves(&model) {
        StatusCode::NOT_FOUND
    } else if app.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// The models served: 503 while the model loads, as vLLM (which listens
/// only then), and while readiness is forced to fail, since a vLLM
/// template's readiness probe asks this path.
async fn models(State(app): State<App>) -> Response {
    if !app.model_loaded() {
        return ApiError::not_ready("The model is still loading.").into_response();
    }
    if app.config().force_unready {
        return ApiError::not_ready("The server reports itself unready (force_unready).")
            .into_response();
    }
    let cfg = app.config();
    let mut data: Vec<_> = cfg
        .served_model_names
        .iter()
        .map(|m| {
            json!({
                "id": m, "object": "model", "created": 0, "owned_by": "inferbench-mock",
                "root": m, "parent": null, "max_model_len": cfg.max_model_len,
            })
        })
        .collect();
    // Loaded LoRA adapters, each with the base model as its parent (as vLLM lists them).
    data.extend(app.loras().list().into_iter().map(|(name, path)| {
        json!({
            "id": name, "object": "model", "created": 0, "owned_by": "inferbench-mock",
            "root": path, "parent": cfg.default_model(), "max_model_len": cfg.max_model_len,
        })
    }));
    Json(json!({"object": "list", "data": data})).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    let body = app.metrics().render(&app.server_info(), &app.engine_info());
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
}

async fn version(State(app): State<App>) -> Json<serde_json::Value> {
    Json(
        json!({"version": app.config().version, "server": concat!("inferbench-mock-server ", env!("CARGO_PKG_VERSION"))}),
    )
}

async fn get_config(State(app): State<App>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(&*app.config()).unwrap_or_default())
}

/// Applies a JSON merge patch to the live configuration.
async fn patch_config(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read_body(&app, &headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let patch: serde_json::Value = match parse_json(&app, &bytes) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match app.patch_config(&patch) {
        Ok(cfg) => {
            tracing::info!(patch = %patch, "configuration changed");
            Json(serde_json::to_value(&*cfg).unwrap_or_default()).into_response()
        }
        Err(e) => ApiError::invalid_request(e.to_string()).into_response(),
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "not_found",
        format!("No route for {method} {}.", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method_not_allowed",
        format!("Method {method} is not allowed on {}.", uri.path()),
    )
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting,
/// marks itself not ready, and lets in-flight requests finish for at most the
/// configured grace period.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, Admin::OnServingPort, app, shutdown).await
}

/// [`serve`] with the admin API placed by `admin`. A separate admin
/// listener stops when the serving one does.
pub async fn serve_with(
    listener: TcpListener,
    admin: Admin,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (routes, admin_task) = match admin {
        Admin::OnServingPort => (router(app.clone()), None),
        Admin::Off => (api_router(app.clone()), None),
        Admin::Separate(admin_listener) => {
            let admin_app = admin_router(app.clone());
            let task = tokio::spawn(async move {
                if let Err(e) = axum::serve(admin_listener, admin_app).await {
                    tracing::error!("admin listener failed: {e}");
                }
            });
            (api_router(app.clone()), Some(AbortOnDrop(task)))
        }
    };
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let app_for_signal = app.clone();
    // Every write goes out at once (as uvicorn does for vLLM): with Nagle's
    // algorithm a streamed answer's first token waits for the client's
    // delayed ACK of the headers on a kept-alive connection (~20 ms here).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
        }
    });
    let server = axum::serve(listener, routes).with_graceful_shutdown(async move {
        shutdown.await;
        app_for_signal.begin_shutdown();
        tracing::info!("shutdown requested: no new connections, finishing in-flight requests");
        let _ = draining_tx.send(());
    });
    let grace_app = app.clone();
    let deadline = async move {
        if draining_rx.await.is_err() {
            // The server ended on its own; never fire.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(grace_app.config().shutdown_grace_ms)).await;
    };
    let _admin_task = admin_task;
    tokio::select! {
        result = server => {
            tracing::info!("all connections closed; exiting");
            result
        }
        () = deadline => {
            tracing::warn!(in_flight = app.scheduler().running(), "grace period over with requests still in flight; exiting");
            Ok(())
        }
    }
}

/// Stops a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
