//! The generator against real sockets: a small axum server that answers
//! well, with an error, with a stream cut short or too late, and a port
//! nobody listens on. Each failure must come back with its own kind.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use loadgen::{Arrival, ErrorKind, GenPlan, Line, RequestKind, Sample, Shape};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn plan(base_url: String, request: RequestKind, shape: Shape) -> GenPlan {
    GenPlan {
        base_url,
        request,
        model: Some("m".into()),
        fallback_model: None,
        max_tokens: 3,
        prompt_bytes: None,
        headers: BTreeMap::new(),
        shape,
        duration_ms: None,
        requests: Some(3),
        request_timeout_ms: 500,
        keep_alive: false,
        mix: Vec::new(),
        prompts: Vec::new(),
        mix_seed: 0,
        generators: 1,
        start_at_unix_ms: None,
    }
}

async fn lines(plan: GenPlan) -> Vec<Line> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink_out = out.clone();
    loadgen::run(
        &plan,
        Arc::new(move |l| sink_out.lock().expect("lock").push(l)),
    )
    .await
    .expect("runs");
    out.lock().expect("lock").clone()
}

fn samples(lines: &[Line]) -> Vec<Sample> {
    lines
        .iter()
        .filter_map(|l| match l {
            Line::Sample(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

const STREAM: &str = concat!(
    "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"completion_tokens\":2}}\n\n",
    "data: [DONE]\n\n",
);

#[tokio::test]
async fn a_streamed_answer_gives_ttft_tokens_and_one_line_each() {
    let app = Router::new().route("/v1/chat/completions", post(|| async { STREAM }));
    let base = serve(app).await;
    let out = lines(plan(
        base,
        RequestKind::ChatStream,
        Shape::Users {
            users: 1,
            ramp: None,
        },
    ))
    .await;
    assert!(matches!(out.first(), Some(Line::Start { .. })), "{out:?}");
    assert!(
        matches!(out.last(), Some(Line::End { sent: 3, .. })),
        "{out:?}"
    );
    let s = samples(&out);
    assert_eq!(s.len(), 3);
    for one in &s {
        assert!(one.ok, "{one:?}");
        assert_eq!(one.output_tokens, Some(2));
        assert_eq!(one.itl_ms.len(), 1);
        assert!(one.ttft_ms.is_some_and(|t| t <= one.e2e_ms), "{one:?}");
    }
}

#[tokio::test]
async fn failures_are_told_apart_by_kind() {
    let app = Router::new()
        .route(
            "/v1/completions",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "model is still loading") }),
        )
        .route(
            "/v1/chat/completions",
            post(|| async { "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n" }),
        );
    let base = serve(app).await;
    let users = Shape::Users {
        users: 1,
        ramp: None,
    };
    let http = samples(&lines(plan(base.clone(), RequestKind::Completions, users.clone())).await);
    assert_eq!(http[0].status, Some(503));
    assert_eq!(http[0].error_kind, Some(ErrorKind::Http));
    assert!(
        http[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("still loading"))
    );

    let cut = samples(&lines(plan(base, RequestKind::ChatStream, users.clone())).await);
    assert_eq!(cut[0].error_kind, Some(ErrorKind::Stream));

    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let refused = samples(
        &lines(plan(
            format!("http://{closed}"),
            RequestKind::Completions,
            users.clone(),
        ))
        .await,
    );
    assert_eq!(refused[0].error_kind, Some(ErrorKind::Connect));
    assert_eq!(refused[0].status, None);
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let app = Router::new().route(
        "/v1/completions",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            "{}"
        }),
    );
    let base = serve(app).await;
    let mut p = plan(
        base,
        RequestKind::Completions,
        Shape::Users {
            users: 1,
            ramp: None,
        },
    );
    p.requests = Some(1);
    p.request_timeout_ms = 100;
    let s = samples(&lines(p).await);
    assert_eq!(s[0].error_kind, Some(ErrorKind::Timeout));
    assert!(s[0].e2e_ms >= 100.0 && s[0].e2e_ms < 1000.0, "{:?}", s[0]);
}

/// Open loop: a server slower than the arrival gap does not slow the
/// arrivals, and the wait shows in the latency (from the due time).
#[tokio::test]
async fn an_open_loop_keeps_its_schedule_behind_a_slow_server() {
    let app = Router::new().route(
        "/v1/completions",
        post(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            r#"{"choices":[{"text":"x"}],"usage":{"completion_tokens":1}}"#
        }),
    );
    let base = serve(app).await;
    let mut p = plan(
        base,
        RequestKind::Completions,
        Shape::Rate {
            rps: 20.0,
            arrival: Arrival::Constant,
            seed: 0,
        },
    );
    p.requests = None;
    p.duration_ms = Some(500);
    let s = samples(&lines(p).await);
    // 0, 50, ..., 450 ms: ten due times within half a second, though each
    // answer takes 300 ms.
    assert_eq!(s.len(), 10, "{s:?}");
    let mut due: Vec<f64> = s.iter().map(|x| x.due_ms).collect();
    due.sort_by(f64::total_cmp);
    assert!((due[9] - 450.0).abs() < 5.0, "{due:?}");
    assert!(s.iter().all(|x| x.ok && x.e2e_ms >= 300.0), "{s:?}");
}
