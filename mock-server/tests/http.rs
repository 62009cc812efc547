//! The mock server over real HTTP on a loopback listener.

use std::time::{Duration, Instant};

mod common;

use common::{Server, error_code, fast};
use mock_server::Config;
use mock_server::exposition;
use serde_json::{Value, json};

#[tokio::test]
async fn readiness_waits_for_model_load() {
    let s = Server::start(Config {
        model_load_ms: 700,
        ..fast()
    })
    .await;
    assert_eq!(s.get("/health").await.status(), 200);
    assert_eq!(s.get("/v2/health/live").await.status(), 200);
    assert_eq!(s.get("/health/ready").await.status(), 503);
    assert_eq!(s.get("/v2/health/ready").await.status(), 503);
    assert_eq!(s.get("/v2/models/mock-llm/ready").await.status(), 503);
    assert_eq!(s.get("/v1/models").await.status(), 503);
    let (status, code, _) =
        error_code(s.post("/v1/completions", json!({"prompt": "hi"})).await).await;
    assert_eq!((status, code.as_str()), (503, "model_not_ready"));
    assert_eq!(s.metric("mock_server_ready", &[]).await, 0.0);

    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.get("/health/ready").await.status(), 200);
    assert_eq!(s.get("/v2/health/ready").await.status(), 200);
    assert_eq!(s.get("/v2/models/mock-llm/ready").await.status(), 200);
    assert_eq!(s.get("/v2/models/other/ready").await.status(), 404);
    assert_eq!(
        s.post("/v1/completions", json!({"prompt": "hi"}))
            .await
            .status(),
        200
    );
    assert_eq!(s.metric("mock_server_ready", &[]).await, 1.0);

    // Readiness can be failed on purpose at run time, while inference still answers.
    let resp = s
        .client
        .patch(s.url("/admin/config"))
        .json(&json!({"force_unready": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(s.get("/health/ready").await.status(), 503);
    // A vLLM template's readiness probe asks /v1/models: it fails too,
    // while liveness (/health) stays up.
    assert_eq!(s.get("/v1/models").await.status(), 503);
    assert_eq!(s.get("/health").await.status(), 200);
    assert_eq!(
        s.post("/v1/completions", json!({"prompt": "hi"}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn completion_reports_identity_version_and_usage() {
    let s = Server::start(Config {
        version: "v2-canary".into(),
        ..fast()
    })
    .await;
    let resp = s
        .post(
            "/v1/completions",
            json!({"model": "mock-llm", "prompt": "Say hello", "max_tokens": 5}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-inference-pod"], "mock-0");
    assert_eq!(resp.headers()["x-inference-namespace"], "bench");
    assert_eq!(resp.headers()["x-inference-version"], "v2-canary");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["system_fingerprint"], "v2-canary");
    assert_eq!(body["usage"]["prompt_tokens"], 2);
    assert_eq!(body["usage"]["completion_tokens"], 5);
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(
        body["choices"][0]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        5
    );

    let models: Value = s.get("/v1/models").await.json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "mock-llm");

    let chat: Value = s
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(chat["object"], "chat.completion");
    assert_eq!(chat["choices"][0]["message"]["role"], "assistant");
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        chat["usage"]["completion_tokens"],
        Config::default().default_output_tokens
    );

    let emb: Value = s
        .post("/v1/embeddings", json!({"input": ["a", "b"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(emb["data"].as_array().unwrap().len(), 2);
    assert_eq!(emb["data"][0]["embedding"].as_array().unwrap().len(), 384);
}

#[tokio::test]
async fn chat_streams_tokens_as_server_sent_events() {
    let s = Server::start(Config {
        ttft_ms: 200,
        inter_token_ms: 40,
        ..Config::default()
    })
    .await;
    let started = Instant::now();
    let mut resp = s
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "stream please"}], "max_tokens": 6, "stream": true,
                   "stream_options": {"include_usage": true}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buf = String::new();
    let mut first_content_at = None;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        if first_content_at.is_none() && buf.contains("\"content\":\"the\"") {
            first_content_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let events: Vec<&str> = buf
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    // role chunk, 6 content chunks, final chunk with finish_reason and usage
    assert_eq!(chunks.len(), 8, "{buf}");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks[1..7]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text.split_whitespace().count(), 6);
    assert_eq!(chunks[7]["choices"][0]["finish_reason"], "length");
    assert_eq!(chunks[7]["usage"]["completion_tokens"], 6);
    // Tokens really are paced: first after the TTFT, all after TTFT + 5 gaps.
    let first = first_content_at.expect("saw first token");
    assert!(
        first >= Duration::from_millis(190),
        "first token after {first:?}"
    );
    assert!(total >= Duration::from_millis(390), "stream took {total:?}");

    let samples = s.metrics().await;
    let ttft = exposition::find(
        &samples,
        "vllm:time_to_first_token_seconds_count",
        &[("model_name", "mock-llm")],
    )
    .unwrap();
    assert_eq!(ttft.value, 1.0);
    let itl = exposition::find(&samples, "vllm:inter_token_latency_seconds_count", &[]).unwrap();
    assert_eq!(itl.value, 5.0);
}

#[tokio::test]
async fn completion_streams_text_chunks() {
    let s = Server::start(fast()).await;
    let text = s
        .post(
            "/v1/completions",
            json!({"prompt": "x", "max_tokens": 3, "stream": true}),
        )
        .await
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.len(), 5, "3 tokens, final chunk, [DONE]: {text}");
    let last: Value = serde_json::from_str(events[3]).unwrap();
    assert_eq!(last["object"], "text_completion");
    assert_eq!(last["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn requests_beyond_max_num_seqs_wait_in_the_queue() {
    let s = Server::start(Config {
        max_num_seqs: 2,
        ttft_ms: 50,
        inter_token_ms: 50,
        ..Config::default()
    })
    .await;
    let mut handles = Vec::new();
    for _ in 0..6 {
        let client = s.client.clone();
        let url = s.url("/v1/completions");
        handles.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"prompt": "queue me", "max_tokens": 8}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let samples = s.metrics().await;
    let get = |n: &str| {
        exposition::find(&samples, n, &[("model_name", "mock-llm")])
            .unwrap()
            .value
    };
    assert_eq!(get("vllm:num_requests_running"), 2.0);
    assert_eq!(get("vllm:num_requests_waiting"), 4.0);
    assert!(get("vllm:kv_cache_usage_perc") > 0.0);
    assert_eq!(
        get("vllm:kv_cache_usage_perc"),
        get("vllm:gpu_cache_usage_perc")
    );
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap(), 200);
    }
    let samples = s.metrics().await;
    let get = |n: &str, l: &[(&str, &str)]| exposition::find(&samples, n, l).unwrap().value;
    assert_eq!(get("vllm:num_requests_running", &[]), 0.0);
    assert_eq!(get("vllm:num_requests_waiting", &[]), 0.0);
    assert_eq!(get("vllm:kv_cache_usage_perc", &[]), 0.0);
    assert_eq!(
        get("vllm:request_success_total", &[("finish_reason", "length")]),
        6.0
    );
    assert_eq!(get("vllm:generation_tokens_total", &[]), 48.0);
    assert_eq!(get("vllm:request_queue_time_seconds_count", &[]), 6.0);
    // The last two requests waited for two full generations (~2 x 400 ms).
    assert!(get("vllm:request_queue_time_seconds_sum", &[]) > 1.0);
    assert_eq!(get("vllm:e2e_request_latency_seconds_count", &[]), 6.0);
    assert_eq!(get("vllm:request_generation_tokens_sum", &[]), 48.0);
}

#[tokio::test]
async fn failures_injected_by_header_rate_and_admin() {
    let s = Server::start(fast()).await;
    let resp = s
        .client
        .post(s.url("/v1/completions"))
        .header("x-mock-fail", "rate_limit")
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(resp).await;
    assert_eq!((status, code.as_str()), (429, "rate_limit_exceeded"));
    let resp = s
        .client
        .post(s.url("/v1/completions"))
        .header("x-mock-fail", "bogus")
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_code(resp).await;
    assert_eq!(status, 400);
    assert!(
        message.contains("rate_limit"),
        "lists the known kinds: {message}"
    );

    let patched: Value = s
        .client
        .patch(s.url("/admin/config"))
        .json(&json!({"failure_rate": 0.5, "failure_types": ["server_error", "unavailable"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["failure_rate"], 0.5);
    let mut failed = 0;
    for _ in 0..200 {
        let status = s
            .post("/v1/completions", json!({"prompt": "x", "max_tokens": 1}))
            .await
            .status()
            .as_u16();
        match status {
            200 => {}
            500 | 503 => failed += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        (60..=140).contains(&failed),
        "about half should fail, got {failed}/200"
    );
    let injected = s
        .metric(
            "mock_server_injected_failures_total",
            &[("type", "server_error")],
        )
        .await
        + s.metric(
            "mock_server_injected_failures_total",
            &[("type", "unavailable")],
        )
        .await;
    assert_eq!(injected, f64::from(failed));

    // A bad patch is refused and leaves the configuration as it was.
    let resp = s
        .client
        .patch(s.url("/admin/config"))
        .json(&json!({"failure_rate": 2}))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_code(resp).await;
    assert_eq!(status, 400);
    assert!(message.contains("failure_rate"), "{message}");
    let cfg: Value = s.get("/admin/config").await.json().await.unwrap();
    assert_eq!(cfg["failure_rate"], 0.5);
}

#[tokio::test]
async fn bad_input_gets_openai_errors() {
    let s = Server::start(Config {
        max_body_bytes: 1024,
        ..fast()
    })
    .await;
    let raw = |path: &str, body: &'static str| {
        s.client
            .post(s.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let (status, code, message) =
        error_code(raw("/v1/completions", "{\"prompt\": ").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"));
    assert!(
        message.contains("not valid JSON") && message.contains("line 1"),
        "{message}"
    );

    let (status, _, message) = error_code(
        raw("/v1/chat/completions", "{\"messages\": 3}")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("expected schema"), "{message}");

    let (status, code, _) = error_code(
        s.post(
            "/v1/chat/completions",
            json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "model_not_found"));

    let big = "x".repeat(4096);
    let (status, code, _) =
        error_code(s.post("/v1/completions", json!({"prompt": big})).await).await;
    assert_eq!((status, code.as_str()), (413, "request_too_large"));

    let (status, code, _) = error_code(s.get("/v1/completions").await).await;
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));

    let (status, code, _) = error_code(s.get("/v1/nothing").await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));

    let (status, code, _) = error_code(
        s.post(
            "/v1/completions",
            json!({"prompt": "x", "max_tokens": 100000}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "context_length_exceeded"));

    let (status, _, _) = error_code(
        s.post("/v1/chat/completions", json!({"messages": []}))
            .await,
    )
    .await;
    assert_eq!(status, 400);

    // The server is still healthy after all of that.
    assert_eq!(s.get("/health").await.status(), 200);
    let rejected = s
        .metric("mock_server_rejected_requests_total", &[("code", "413")])
        .await;
    assert_eq!(rejected, 1.0);
}

#[tokio::test]
async fn payload_driven_memory_is_really_resident() {
    // 200 KiB of body x 400 = ~80 MiB held while the request runs.
    let s = Server::start(Config {
        memory_per_payload_byte: 400.0,
        ttft_ms: 800,
        max_model_len: 1_000_000,
        ..fast()
    })
    .await;
    let before = s.metric("process_resident_memory_bytes", &[]).await;
    let client = s.client.clone();
    let url = s.url("/v1/completions");
    let prompt = "y ".repeat(100 * 1024);
    let req = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"prompt": prompt, "max_tokens": 1}))
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let during = s.metric("process_resident_memory_bytes", &[]).await;
    assert!(
        during - before > 60.0 * 1024.0 * 1024.0,
        "RSS rose by {} bytes",
        during - before
    );
    assert_eq!(req.await.unwrap().unwrap(), 200);
}

async fn cpu_of_one_request(s: &Server) -> f64 {
    let before = s.metric("process_cpu_seconds_total", &[]).await;
    let status = s
        .post("/v1/completions", json!({"prompt": "x", "max_tokens": 10}))
        .await
        .status();
    assert_eq!(status, 200);
    s.metric("process_cpu_seconds_total", &[]).await - before
}

#[tokio::test]
async fn cpu_work_per_token_burns_cpu() {
    // The same request with and without CPU work per token: the difference
    // is the work. The work is thread CPU time, so a loaded machine (CI
    // runs test binaries side by side on 2 cores) stretches the request but
    // not the CPU it costs; process CPU is counted in 10 ms ticks, hence a
    // floor a little under the 0.5 s asked for.
    let s = Server::start(Config {
        cpu_us_per_token: 0,
        ttft_ms: 0,
        inter_token_ms: 0,
        ..Config::default()
    })
    .await;
    let baseline = cpu_of_one_request(&s).await;
    let resp = s
        .client
        .patch(s.url("/admin/config"))
        .json(&json!({"cpu_us_per_token": 50_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // 10 tokens x 50 ms = 0.5 s of CPU.
    let busy = cpu_of_one_request(&s).await;
    assert!(
        busy - baseline >= 0.45,
        "CPU for one request: {busy}s with work, {baseline}s without"
    );
}

#[tokio::test]
async fn metric_names_match_vllm() {
    let s = Server::start(fast()).await;
    let resp = s
        .post("/v1/completions", json!({"prompt": "x", "max_tokens": 2}))
        .await;
    assert_eq!(resp.status(), 200);
    let resp = s.get("/metrics").await;
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let samples = exposition::parse(&text).unwrap();
    for name in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:time_per_output_token_seconds_bucket",
        "vllm:inter_token_latency_seconds_bucket",
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:request_queue_time_seconds_bucket",
        "vllm:request_prompt_tokens_bucket",
        "vllm:request_generation_tokens_bucket",
        "vllm:request_success_total",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
    ] {
        // Label order is not part of the format (histogram buckets put `le` first).
        assert!(
            exposition::find(&samples, name, &[("model_name", "mock-llm")]).is_some(),
            "{name} missing:\n{text}"
        );
    }
    // Counters are declared without `_total`, as OpenMetrics (and vLLM) does.
    for family in [
        "vllm:request_success",
        "vllm:prompt_tokens",
        "vllm:generation_tokens",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} counter\n")),
            "{family}:\n{text}"
        );
    }
    let info = exposition::find(
        &samples,
        "mock_server_info",
        &[("pod", "mock-0"), ("namespace", "bench"), ("version", "v1")],
    );
    assert!(info.is_some());
    // +Inf bucket equals count for every histogram.
    for s in samples.iter().filter(|s| s.name.ends_with("_count")) {
        let base = s.name.trim_end_matches("_count");
        let inf = samples
            .iter()
            .find(|b| {
                b.name == format!("{base}_bucket")
                    && b.labels.get("le").map(String::as_str) == Some("+Inf")
                    && b.labels.get("model_name") == s.labels.get("model_name")
            })
            .unwrap();
        assert_eq!(inf.value, s.value, "{base}");
    }
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let mut s = Server::start(Config {
        ttft_ms: 300,
        inter_token_ms: 100,
        ..Config::default()
    })
    .await;
    let client = s.client.clone();
    let url = s.url("/v1/completions");
    let in_flight = tokio::spawn(async move {
        let r = client
            .post(url)
            .json(&json!({"prompt": "x", "max_tokens": 4}))
            .send()
            .await?;
        let status = r.status();
        r.json::<Value>().await.map(|b| (status, b))
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = s.stop.take().unwrap().send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No new connections once draining.
    let fresh = reqwest::Client::new();
    assert!(
        fresh.get(s.url("/health")).send().await.is_err(),
        "listener should be closed"
    );
    let (status, body) = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(status, 200);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    tokio::time::timeout(Duration::from_secs(5), &mut s.done)
        .await
        .expect("server exits")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let mut s = Server::start(Config {
        ttft_ms: 10_000,
        shutdown_grace_ms: 300,
        ..Config::default()
    })
    .await;
    let client = s.client.clone();
    let url = s.url("/v1/completions");
    let _slow =
        tokio::spawn(async move { client.post(url).json(&json!({"prompt": "x"})).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let _ = s.stop.take().unwrap().send(());
    tokio::time::timeout(Duration::from_secs(3), &mut s.done)
        .await
        .expect("server exits at the deadline")
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "exited after {took:?}"
    );
}
