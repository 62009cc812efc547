//! The `FROM scratch` mock-server image, run on a real Docker engine
//! through the docker CLI the harness uses. `cargo xtask test` builds the
//! image and starts Docker first; plain `cargo test` lists this test as
//! ignored.

use std::time::Duration;

use environment::docker::{Docker, ensure_engine};

const IMAGE: &str = "inferbench/mock-server:dev";

/// Removes the container however the test ends (a failed assertion too).
struct Running {
    docker: Docker,
    name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self
            .docker
            .cmd()
            .args(["rm", "-f", &self.name])
            .timeout(Duration::from_secs(30))
            .run();
    }
}

#[tokio::test]
#[ignore = "needs Docker and the mock-server image: run `cargo xtask test`"]
async fn scratch_image_serves_the_openai_api() {
    let t0 = std::time::Instant::now();
    let (docker, _) = ensure_engine().expect("a working Docker engine");
    let name = format!("inferbench-mock-server-test-{}", std::process::id());
    let container = Running {
        docker: docker.clone(),
        name: name.clone(),
    };
    docker
        .cmd()
        .args([
            "run",
            "--detach",
            "--name",
            &name,
            "--publish",
            "127.0.0.1::8000",
        ])
        .args(["--env", "POD_NAME=container-test"])
        .args(["--env", "POD_NAMESPACE=testcontainers"])
        .args(["--env", "MOCK_VERSION=image-check"])
        .args(["--env", "MOCK_MODEL_LOAD_MS=300"])
        .arg(IMAGE)
        .timeout(Duration::from_secs(60))
        .run()
        .expect("the mock-server image starts (built by `cargo xtask images`)");
    // `docker port NAME 8000/tcp` prints `127.0.0.1:49153`.
    let mapped = docker
        .cmd()
        .args(["port", &name, "8000/tcp"])
        .timeout(Duration::from_secs(20))
        .output_string()
        .expect("port mapped");
    let port = mapped
        .lines()
        .find_map(|l| l.strip_prefix("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no loopback mapping in {mapped:?}"))
        .trim()
        .to_string();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    // Ready only after the simulated model load.
    let mut ready = false;
    for _ in 0..50 {
        if client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "container never became ready");

    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&serde_json::json!({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 3}))
        .send()
        .await
        .expect("request reaches the container");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-inference-pod"], "container-test");
    assert_eq!(resp.headers()["x-inference-namespace"], "testcontainers");
    let body: serde_json::Value = resp.json().await.expect("JSON body");
    assert_eq!(body["system_fingerprint"], "image-check");
    assert_eq!(body["usage"]["completion_tokens"], 3);

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = mock_server::exposition::parse(&metrics).expect("metrics parse");
    let success = mock_server::exposition::find(
        &samples,
        "vllm:request_success_total",
        &[("finish_reason", "length")],
    );
    assert_eq!(success.map(|s| s.value), Some(1.0));
    // The static binary runs as a non-root user in an otherwise empty image.
    let rss = mock_server::exposition::find(&samples, "process_resident_memory_bytes", &[])
        .expect("process metrics");
    assert!(rss.value > 0.0);
    eprintln!("checks done after {:?}", t0.elapsed());
    drop(container);
    eprintln!("container removed after {:?}", t0.elapsed());
}
