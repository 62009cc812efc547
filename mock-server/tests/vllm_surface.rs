//! What real clients and gateways use beyond completions, over real HTTP:
//! `n > 1`, `/tokenize` and `/detokenize`, LoRA adapters loaded at run
//! time and reported in `vllm:lora_requests_info`, the cache and request
//! histograms of llm-d-inference-sim's metric set, and latency that grows
//! as the batch fills.

mod common;

use std::time::{Duration, Instant};

use common::{Server, error_code, fast};
use mock_server::Config;
use mock_server::exposition;
use serde_json::{Value, json};

async fn json_of(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200, "status");
    resp.json().await.expect("JSON body")
}

#[tokio::test]
async fn n_choices_each_with_their_own_text_and_tokens() {
    let s = Server::start(fast()).await;
    let body = json_of(
        s.post(
            "/v1/completions",
            json!({"prompt": "Say it", "max_tokens": 5, "n": 3}),
        )
        .await,
    )
    .await;
    let choices = body["choices"].as_array().expect("choices");
    let texts: Vec<&str> = choices.iter().filter_map(|c| c["text"].as_str()).collect();
    assert_eq!(texts.len(), 3, "{body}");
    assert_ne!(texts[0], texts[1], "choices differ: {body}");
    let indexes: Vec<u64> = choices.iter().filter_map(|c| c["index"].as_u64()).collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(body["usage"]["completion_tokens"], 15, "{body}");
    let generated = s
        .metric(
            "vllm:generation_tokens_total",
            &[("model_name", "mock-llm")],
        )
        .await;
    assert_eq!(generated, 15.0);
    let n_count = s
        .metric("vllm:request_params_n_count", &[("model_name", "mock-llm")])
        .await;
    assert_eq!(n_count, 1.0);

    let (status, _, message) = error_code(
        s.post("/v1/completions", json!({"prompt": "x", "n": 0}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("n must be between 1 and"), "{message}");
}

#[tokio::test]
async fn streamed_chat_with_n_sends_every_choice_to_its_end() {
    let s = Server::start(fast()).await;
    let text = s
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "n": 2, "stream": true}),
        )
        .await
        .text()
        .await
        .expect("stream");
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("chunk JSON"))
        .collect();
    for index in [0, 1] {
        let mine: Vec<&Value> = events
            .iter()
            .map(|e| &e["choices"][0])
            .filter(|c| c["index"] == index)
            .collect();
        let tokens = mine
            .iter()
            .filter(|c| {
                c["delta"]["content"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
            })
            .count();
        assert_eq!(tokens, 4, "choice {index}: {text}");
        assert_eq!(
            mine.last().map(|c| c["finish_reason"].clone()),
            Some(json!("length")),
            "choice {index} ends: {text}"
        );
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[tokio::test]
async fn tokenize_counts_what_the_completion_reports() {
    let s = Server::start(fast()).await;
    let prompt = "Kubernetes rolls out new pods, then checks readiness.";
    let tok = json_of(
        s.post(
            "/tokenize",
            json!({"prompt": prompt, "return_token_strs": true}),
        )
        .await,
    )
    .await;
    let done = json_of(
        s.post(
            "/v1/completions",
            json!({"prompt": prompt, "max_tokens": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(tok["count"], done["usage"]["prompt_tokens"], "{tok}");
    assert_eq!(tok["max_model_len"], 4096);
    assert_eq!(tok["token_strs"][0], "Kubernetes", "{tok}");
    let back = json_of(
        s.post("/detokenize", json!({"tokens": tok["tokens"].clone()}))
            .await,
    )
    .await;
    assert_eq!(back["prompt"], prompt);

    let messages = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How many pods?"}
    ]);
    let chat_tok = json_of(s.post("/tokenize", json!({"messages": messages})).await).await;
    let chat = json_of(
        s.post(
            "/v1/chat/completions",
            json!({"messages": messages, "max_tokens": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(chat_tok["count"], chat["usage"]["prompt_tokens"]);
    assert!(chat_tok["token_strs"].is_null());

    let (status, _, message) = error_code(s.post("/tokenize", json!({"text": "x"})).await).await;
    assert_eq!(status, 400);
    assert!(message.contains("\"prompt\""), "{message}");
    let (status, code, _) = error_code(
        s.post("/tokenize", json!({"prompt": "x", "model": "nope"}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "model_not_found"));
}

#[tokio::test]
async fn lora_adapters_load_serve_report_and_unload() {
    let s = Server::start(Config {
        max_loras: 2,
        ..fast()
    })
    .await;
    let resp = s
        .post(
            "/v1/load_lora_adapter",
            json!({"lora_name": "sql-lora", "lora_path": "/adapters/sql"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("added successfully"));
    let (status, _, message) = error_code(
        s.post(
            "/v1/load_lora_adapter",
            json!({"lora_name": "sql-lora", "lora_path": "/adapters/sql"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("already been loaded"), "{message}");

    let models = json_of(s.get("/v1/models").await).await;
    let lora = models["data"]
        .as_array()
        .and_then(|d| d.iter().find(|m| m["id"] == "sql-lora"))
        .cloned()
        .expect("the adapter is listed");
    assert_eq!(lora["parent"], "mock-llm");
    assert_eq!(lora["root"], "/adapters/sql");

    // A slow streamed request on the adapter shows in lora_requests_info while it runs.
    s.post(
        "/admin/config",
        json!({"inter_token_ms": 100, "ttft_ms": 1}),
    )
    .await;
    let running = s
        .client
        .post(s.url("/v1/chat/completions"))
        .json(&json!({"model": "sql-lora", "messages": [{"role": "user", "content": "q"}], "max_tokens": 8, "stream": true}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(running.status(), 200);
    let samples = s.metrics().await;
    let info = exposition::find(&samples, "vllm:lora_requests_info", &[("max_lora", "2")])
        .expect("lora_requests_info");
    assert_eq!(info.labels["running_lora_adapters"], "sql-lora", "{info:?}");
    assert!(info.value > 1.6e9, "a Unix time: {info:?}");
    let body = running.text().await.expect("stream ends");
    assert!(body.contains("\"model\":\"sql-lora\""), "{body}");
    let samples = s.metrics().await;
    let info = exposition::find(&samples, "vllm:lora_requests_info", &[]).expect("info");
    assert_eq!(info.labels["running_lora_adapters"], "", "{info:?}");

    let resp = s
        .post("/v1/unload_lora_adapter", json!({"lora_name": "sql-lora"}))
        .await;
    assert_eq!(resp.status(), 200);
    let (status, code, _) = error_code(
        s.post(
            "/v1/completions",
            json!({"model": "sql-lora", "prompt": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "model_not_found"));
    let (status, _, message) = error_code(
        s.post("/v1/unload_lora_adapter", json!({"lora_name": "sql-lora"}))
            .await,
    )
    .await;
    assert_eq!(status, 404);
    assert!(message.contains("cannot be found"), "{message}");
}

#[tokio::test]
async fn the_cache_and_request_phase_metrics_are_exposed() {
    let s = Server::start(Config {
        kv_cache_tokens: 1600,
        ..fast()
    })
    .await;
    json_of(
        s.post("/v1/completions", json!({"prompt": "x", "max_tokens": 3}))
            .await,
    )
    .await;
    let samples = s.metrics().await;
    let cache = exposition::find(&samples, "vllm:cache_config_info", &[("block_size", "16")])
        .expect("cache_config_info");
    assert_eq!(cache.labels["num_gpu_blocks"], "100");
    for name in [
        "vllm:request_prefill_time_seconds_count",
        "vllm:request_decode_time_seconds_count",
        "vllm:request_inference_time_seconds_count",
        "vllm:request_time_per_output_token_seconds_count",
        "vllm:request_params_max_tokens_count",
        "vllm:request_params_n_count",
    ] {
        let v = exposition::find(&samples, name, &[("model_name", "mock-llm")])
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(v.value, 1.0, "{name}");
    }
    let max_tokens_sum = exposition::find(
        &samples,
        "vllm:request_params_max_tokens_sum",
        &[("model_name", "mock-llm")],
    )
    .expect("sum");
    assert_eq!(max_tokens_sum.value, 3.0);
}

/// Lower bounds only: a timer never fires early, so these hold on any
/// machine, and they cannot hold unless the latency really grew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_grows_with_the_batch_and_the_prompt() {
    // Four sequences at most, each token 4x slower with four running:
    // 10 gaps of 20 ms become 80 ms each once the batch is full.
    let s = Server::start(Config {
        ttft_ms: 0,
        inter_token_ms: 20,
        max_num_seqs: 4,
        time_factor_under_load: 4.0,
        ..Config::default()
    })
    .await;
    let one = |s: &Server| {
        let req = s
            .client
            .post(s.url("/v1/completions"))
            .json(&json!({"prompt": "x", "max_tokens": 11}));
        async move {
            let t = Instant::now();
            let resp = req.send().await.expect("sent");
            assert_eq!(resp.status(), 200);
            resp.bytes().await.expect("body");
            t.elapsed()
        }
    };
    let batch = futures::future::join_all((0..4).map(|_| one(&s))).await;
    for took in &batch {
        assert!(
            *took >= Duration::from_millis(500),
            "four running: every request at least 9 gaps of 80 ms, took {took:?}"
        );
    }

    // 2 ms of prefill per prompt token: 50 tokens hold the first token 100 ms.
    s.post(
        "/admin/config",
        json!({"prefill_us_per_token": 2000, "time_factor_under_load": 1.0}),
    )
    .await;
    let prompt = vec!["word"; 50].join(" ");
    let t = Instant::now();
    let resp = s
        .post(
            "/v1/completions",
            json!({"prompt": prompt, "max_tokens": 1}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
}
