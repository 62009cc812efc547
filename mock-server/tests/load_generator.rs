//! The load generator (`mock-server load`'s engine) against the real mock
//! over loopback HTTP: the token timings it measures are the ones the mock
//! was told to produce, and an open loop past the mock's capacity shows as
//! waiting (TTFT grows) rather than as fewer requests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

mod common;

use common::Server;
use loadgen::{Arrival, GenPlan, Line, RequestKind, Sample, Shape};
use mock_server::Config;

fn plan(base_url: String, shape: Shape, max_tokens: u32) -> GenPlan {
    GenPlan {
        base_url,
        request: RequestKind::ChatStream,
        model: None,
        fallback_model: None,
        max_tokens,
        prompt_bytes: None,
        headers: BTreeMap::new(),
        shape,
        duration_ms: None,
        requests: Some(8),
        request_timeout_ms: 10_000,
        keep_alive: true,
        mix: Vec::new(),
        prompts: Vec::new(),
        mix_seed: 0,
        generators: 1,
        start_at_unix_ms: None,
    }
}

async fn samples(plan: &GenPlan) -> Vec<Sample> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink_out = out.clone();
    loadgen::run(
        plan,
        Arc::new(move |l| {
            if let Line::Sample(s) = l {
                sink_out.lock().expect("lock").push(s);
            }
        }),
    )
    .await
    .expect("runs");
    out.lock().expect("lock").clone()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_timings_are_measured_in_milliseconds_and_add_up() {
    let server = Server::start(Config {
        ttft_ms: 40,
        inter_token_ms: 10,
        ..Config::default()
    })
    .await;
    let s = samples(&plan(
        server.base.clone(),
        Shape::Users {
            users: 1,
            ramp: None,
        },
        20,
    ))
    .await;
    assert_eq!(s.len(), 8);
    // What a busy machine cannot change: the server answers no sooner than
    // configured, every token after the first is timed, and the times add
    // up. How close to the configuration they come is the bench's business
    // (`cargo xtask bench mock`), not a test's.
    for x in &s {
        assert!(x.ok && x.output_tokens == Some(20), "{x:?}");
        assert_eq!(x.itl_ms.len(), 19, "{x:?}");
        let ttft = x.ttft_ms.unwrap_or_default();
        assert!(ttft >= 40.0, "TTFT {ttft} ms, configured 40: {x:?}");
        // The last token is due 40 + 19 × 10 ms after the request started.
        assert!(x.e2e_ms >= 230.0, "{x:?}");
        let last_token = ttft + x.itl_ms.iter().sum::<f64>();
        assert!(last_token <= x.e2e_ms + 0.5, "{last_token} > {}", x.e2e_ms);
    }
    // Milliseconds, not seconds or microseconds: the median gap is about
    // the configured 10 ms (tokens are paced against deadlines, so a late
    // one is followed by shorter gaps, never by a drift).
    let itl = median(s.iter().flat_map(|x| x.itl_ms.clone()).collect());
    assert!(
        (5.0..20.0).contains(&itl),
        "median ITL {itl} ms, configured 10"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_past_capacity_waits_instead_of_sending_less() {
    // One sequence at a time, 100 ms a request: capacity 10 requests/s.
    let server = Server::start(Config {
        ttft_ms: 20,
        inter_token_ms: 20,
        max_num_seqs: 1,
        max_waiting: 100,
        ..Config::default()
    })
    .await;
    let mut p = plan(
        server.base.clone(),
        Shape::Rate {
            rps: 20.0,
            arrival: Arrival::Constant,
            seed: 0,
        },
        5,
    );
    p.requests = Some(10);
    let s = samples(&p).await;
    assert_eq!(s.len(), 10);
    assert!(s.iter().all(|x| x.ok), "{s:?}");
    let mut by_due = s.clone();
    by_due.sort_by(|a, b| a.due_ms.total_cmp(&b.due_ms));
    // Sent on time: the last is due at 450 ms whatever the server does.
    assert!((by_due[9].due_ms - 450.0).abs() < 5.0, "{by_due:?}");
    // The tenth waits for nine before it (about 900 ms of service) minus
    // its 450 ms head start.
    let last_ttft = by_due[9].ttft_ms.unwrap_or_default();
    assert!(last_ttft > 350.0, "the last request's TTFT {last_ttft} ms");
}
