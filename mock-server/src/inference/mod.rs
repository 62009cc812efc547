//! The OpenAI-compatible endpoints: completions, chat completions (with SSE
//! streaming), embeddings, `/tokenize`, `/detokenize` and LoRA adapter
//! loading, with simulated timing, queueing, CPU work,
//! memory ballast and failure injection.
//!
//! A request goes through `admission` (loaded, known model, injected
//! failures; the body read by `body`), becomes a `job`, waits for a slot
//! in the `engine` and is paced by `pacing`, holding its `ballast`; the
//! handlers (`completions`, `embeddings`) answer with JSON or `stream`.

mod admission;
mod ballast;
mod body;
mod completions;
mod embeddings;
mod engine;
mod job;
mod lora_api;
mod pacing;
mod stream;
mod tokenize;

pub use admission::FAIL_HEADER;
pub use body::{parse_json, read_body};
pub use completions::{chat_completions, completions};
pub use embeddings::{embed, embeddings};
pub use lora_api::{load_lora_adapter, unload_lora_adapter};
pub use tokenize::{detokenize, tokenize};
