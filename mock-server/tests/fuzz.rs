//! Property test over the HTTP handlers: arbitrary bodies (JSON shaped like
//! the real requests, any JSON, raw bytes) and headers on every POST route.
//! A fixed number of cases, in process (no sockets), a few seconds in all.
//!
//! A handler panic is caught by the router and answered as a 500
//! `internal_error`; the panic hook counts it too. Either fails the test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mock_server::{App, Config, Identity};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

fn fast() -> Config {
    Config {
        ttft_ms: 0,
        inter_token_ms: 0,
        max_model_len: 256,
        default_output_tokens: 4,
        max_body_bytes: 64 * 1024,
        embedding_dim: 8,
        max_embedding_inputs: 16,
        ..Config::default()
    }
}

const ROUTES: [&str; 9] = [
    "/v1/completions",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/tokenize",
    "/detokenize",
    "/v1/load_lora_adapter",
    "/v1/unload_lora_adapter",
    "/admin/config",
    "/v2/models/x/ready",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_ ]{0,12}".prop_map(Value::from),
        Just(json!("mock-llm")),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys the handlers read, so that arbitrary values reach the real fields.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "model",
            "prompt",
            "messages",
            "role",
            "content",
            "type",
            "text",
            "input",
            "max_tokens",
            "stream",
            "stream_options",
            "include_usage",
            "n",
            "ttft_ms",
            "max_body_bytes",
            "max_model_len",
            "memory_per_request_bytes",
            "memory_per_payload_byte",
            "max_num_seqs",
            "embedding_dim",
            "max_embedding_inputs",
            "failure_rate",
            "failure_types",
            "served_model_names",
            "version",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        (any_json(), any_json(), any_json()).prop_map(|(p, m, t)| {
            json!({"model": "mock-llm", "prompt": p, "messages": m, "input": p, "max_tokens": t})
                .to_string()
                .into_bytes()
        }),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "x-mock-fail",
                "content-type",
                "content-length",
                "accept",
                "x-anything",
            ]),
            "[ -~]{0,16}",
        )
            .prop_map(|(k, v)| (k.to_string(), v)),
        0..3,
    )
}

async fn call(route: &str, body: Vec<u8>, headers: &[(String, String)]) -> (StatusCode, Vec<u8>) {
    let app = App::new(
        fast(),
        Identity {
            pod: "p".into(),
            namespace: "n".into(),
        },
    )
    .expect("valid config");
    let mut req = Request::post(route);
    for (k, v) in headers {
        // An injected 500 is a feature, not a crash: leave it out.
        if k == "x-mock-fail" && v.trim() == "server_error" {
            continue;
        }
        req = req.header(k.as_str(), v.as_str());
    }
    let Ok(req) = req.body(Body::from(body)) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let resp = mock_server::router(app)
        .oneshot(req)
        .await
        .expect("the router is infallible");
    let status = resp.status();
    let bytes = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect())
        .await
        .expect("the body ends within 5 s")
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    (status, bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_input_makes_a_handler_panic(
        route in prop::sample::select(ROUTES.to_vec()),
        body in body(),
        headers in headers(),
    ) {
        count_panics();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let before = PANICS.load(Ordering::SeqCst);
        let (status, bytes) = rt.block_on(call(route, body, &headers));
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), before, "a handler panicked on {}", route);
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(
            !(status == StatusCode::INTERNAL_SERVER_ERROR && text.contains("internal error")),
            "{} answered {}: {}", route, status, text
        );
        prop_assert!(
            status.is_success() || status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE,
            "{} answered {}: {}", route, status, text
        );
    }
}

#[tokio::test]
async fn too_many_embedding_inputs_get_a_400_in_openai_shape() {
    let inputs: Vec<String> = (0..17).map(|i| format!("text {i}")).collect();
    let (status, bytes) = call(
        "/v1/embeddings",
        json!({"input": inputs}).to_string().into_bytes(),
        &[("content-type".into(), "application/json".into())],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&bytes).expect("JSON error body");
    assert_eq!(body["error"]["param"], "input");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("17 items") && message.contains("max_embedding_inputs"),
        "{message}"
    );
    let ok: Vec<String> = (0..16).map(|i| format!("text {i}")).collect();
    let (status, _) = call(
        "/v1/embeddings",
        json!({"input": ok}).to_string().into_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn admin_config_errors_name_the_field_and_range() {
    for (patch, field, range) in [
        (
            json!({"max_body_bytes": 0}),
            "max_body_bytes",
            "1..=1073741824",
        ),
        (
            json!({"max_model_len": 1e30}),
            "max_model_len",
            "whole number",
        ),
        (
            json!({"memory_per_request_bytes": u64::MAX}),
            "memory_per_request_bytes",
            "0..=68719476736",
        ),
    ] {
        let (status, bytes) = call("/admin/config", patch.to_string().into_bytes(), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}");
        let body: Value = serde_json::from_slice(&bytes).expect("JSON error body");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(field) && message.contains(range),
            "{patch}: {message}"
        );
    }
}

async fn get(router: axum::Router, path: &str) -> StatusCode {
    let req = Request::get(path).body(Body::empty()).expect("request");
    router.oneshot(req).await.expect("infallible").status()
}

#[tokio::test]
async fn the_admin_api_can_be_moved_or_switched_off() {
    let app = App::new(fast(), Identity::from_env()).expect("valid");
    assert_eq!(
        get(mock_server::router(app.clone()), "/admin/config").await,
        StatusCode::OK
    );
    let api = mock_server::server::api_router(app.clone());
    assert_eq!(
        get(api.clone(), "/admin/config").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(api, "/health").await, StatusCode::OK);
    let admin = mock_server::server::admin_router(app);
    assert_eq!(get(admin.clone(), "/admin/config").await, StatusCode::OK);
    assert_eq!(get(admin, "/v1/models").await, StatusCode::NOT_FOUND);
}
