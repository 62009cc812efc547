//! The `FROM scratch` mock-server image, run by testcontainers on a real
//! Docker engine. `cargo xtask test` builds the image and starts Docker
//! first; plain `cargo test` lists this test as ignored.

use std::time::Duration;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

const IMAGE: &str = "inferbench/mock-server";
const TAG: &str = "dev";

#[tokio::test]
#[ignore = "needs Docker and the mock-server image: run `cargo xtask test`"]
async fn scratch_image_serves_the_openai_api() {
    let t0 = std::time::Instant::now();
    let docker_host = api_shim::docker_host_for_testcontainers().await;
    if let Some(host) = &docker_host {
        // SAFETY: set once, before any thread of this test reads the environment.
        unsafe { std::env::set_var("DOCKER_HOST", host) };
    }
    let container = GenericImage::new(IMAGE, TAG)
        .with_exposed_port(8000.tcp())
        // Readiness is polled over HTTP below, which is what a kubelet probe does too.
        .with_wait_for(WaitFor::Nothing)
        .with_env_var("POD_NAME", "container-test")
        .with_env_var("POD_NAMESPACE", "testcontainers")
        .with_env_var("MOCK_VERSION", "image-check")
        .with_env_var("MOCK_MODEL_LOAD_MS", "300")
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .expect("the mock-server image starts (built by `cargo xtask images`)");
    let port = container
        .get_host_port_ipv4(8000.tcp())
        .await
        .expect("port mapped");
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
    container.rm().await.expect("container removed");
    eprintln!("container removed after {:?}", t0.elapsed());
}

/// testcontainers speaks Docker API 1.49; older engines (Debian 12's 20.10
/// speaks 1.41) refuse such requests. Where the engine is older, requests go
/// through a loopback proxy that drops the version prefix from each path, so
/// the engine answers at its own version. On a current engine this does nothing.
mod api_shim {
    use std::convert::Infallible;

    use hyper::body::Incoming;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use tokio::net::{TcpListener, UnixStream};

    const SOCKET: &str = "/var/run/docker.sock";
    const CLIENT_API: (u32, u32) = (1, 49);

    /// `Some(tcp://...)` when a shim is needed (and now runs), else `None`.
    pub async fn docker_host_for_testcontainers() -> Option<String> {
        if std::env::var_os("DOCKER_HOST").is_some() {
            return None;
        }
        let out = std::process::Command::new("docker")
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .env("DOCKER_API_VERSION", "1.24")
            .output()
            .ok()?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (major, minor) = version.split_once('.')?;
        let engine = (major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?);
        if engine >= CLIENT_API {
            return None;
        }
        eprintln!(
            "Docker engine API {version} is older than testcontainers' {CLIENT_API:?}: using a version shim"
        );
        // The shim runs on a thread and runtime of its own, so it outlives the
        // test's runtime and testcontainers' drop can still remove the
        // container after a failed assertion.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind shim");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking shim socket");
        let addr = std_listener.local_addr().expect("shim address");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("shim runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("shim listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(forward);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Some(format!("tcp://{addr}"))
    }

    async fn forward(mut req: Request<Incoming>) -> Result<Response<Incoming>, Infallible> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let unversioned = match path.strip_prefix("/v") {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest
                .find('/')
                .map(|i| rest[i..].to_string())
                .unwrap_or_else(|| "/".into()),
            _ => path,
        };
        *req.uri_mut() = unversioned.parse().expect("path stays a valid URI");
        let stream = UnixStream::connect(SOCKET)
            .await
            .expect("Docker socket reachable");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Ok(sender.send_request(req).await.expect("engine answered"))
    }
}
