//! The OpenAI-compatible endpoints: completions, chat completions (with SSE
//! streaming) and embeddings, with simulated timing, queueing, CPU work,
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
mod pacing;
mod stream;

pub use admission::FAIL_HEADER;
pub use body::{parse_json, read_body};
pub use completions::{chat_completions, completions};
pub use embeddings::{embed, embeddings};
