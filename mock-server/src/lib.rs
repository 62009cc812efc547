//! A drop-in for vLLM's serving surface, for testing inference deployments
//! on Kubernetes without GPUs.
//!
//! It answers the OpenAI-compatible API (`/v1/completions`,
//! `/v1/chat/completions` with SSE streaming, `/v1/embeddings`,
//! `/v1/models`, `/tokenize`, `/detokenize`, LoRA adapters loaded at run
//! time), vLLM's `/health`, a readiness endpoint that stays 503 until
//! the simulated model load ends (`/health/ready`, KServe v2
//! `/v2/health/ready`), and `/metrics` with vLLM's `vllm:*` names. Latency,
//! queueing, CPU work, memory use and failures are set by flags, `MOCK_*`
//! environment variables, or at run time through `/admin/config`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mock_server::{App, Config, Identity};
//! let app = App::new(Config::default(), Identity::from_env()).expect("default config is valid");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! mock_server::serve(listener, app, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod app;
pub mod config;
pub mod devices;
pub mod exposition;
pub mod inference;
pub mod load;
pub mod lora;
pub mod metrics;
pub mod openai;
pub mod probe;
pub mod procfs;
pub mod scheduler;
pub mod score;
pub mod server;
pub mod summary;
pub mod tokenizer;
pub mod train;
pub mod vllm_cli;

pub use app::{App, Identity};
pub use config::{Config, FailureKind};
pub use server::{Admin, router, serve, serve_with};
