//! The mock server on a loopback listener, shared by the HTTP tests.
#![allow(dead_code)] // each test crate uses its own part

use mock_server::exposition::{self, Sample};
use mock_server::{App, Config, Identity};
use serde_json::Value;
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub stop: Option<oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(config: Config) -> Server {
        let identity = Identity {
            pod: "mock-0".into(),
            namespace: "bench".into(),
        };
        let app = App::new(config, identity).expect("valid config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(mock_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Server {
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            done,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn metrics(&self) -> Vec<Sample> {
        let text = self
            .get("/metrics")
            .await
            .text()
            .await
            .expect("metrics body");
        exposition::parse(&text).expect("metrics parse")
    }

    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let samples = self.metrics().await;
        exposition::find(&samples, name, labels)
            .unwrap_or_else(|| panic!("metric {name} {labels:?} missing"))
            .value
    }
}

pub fn fast() -> Config {
    Config {
        ttft_ms: 1,
        inter_token_ms: 1,
        ..Config::default()
    }
}

pub async fn error_code(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("error body is JSON");
    let err = &body["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error has a message: {body}"
    );
    assert!(err["type"].is_string(), "error has a type: {body}");
    (
        status,
        err["code"].as_str().unwrap_or_default().to_string(),
        err["message"].as_str().unwrap_or_default().to_string(),
    )
}
