//! inferbench's load generator: what runs in the cluster beside the
//! server, so a load measures what a client there sees (kube-proxy, real
//! connections) instead of a port-forward through the API server.
//!
//! - [`plan`]: what to send, in which shape, for how long;
//! - [`arrivals`]: open-loop due times (constant or Poisson);
//! - [`request`] and [`sse`]: one request, every streamed token timed;
//! - [`mix`]: weighted request variants, drawn lengths, prompts files;
//! - [`drive`]: closed-loop users or an open-loop schedule;
//! - [`wire`]: the JSON lines the harness reads back.

pub mod arrivals;
pub mod drive;
pub mod mix;
pub mod plan;
pub mod request;
pub mod resolve;
pub mod sse;
pub mod wire;

pub use drive::{GenError, Sink, run};
pub use mix::{Lengths, PromptEntry, Variant};
pub use plan::{Arrival, GenPlan, RateStage, RequestKind, Shape};
pub use wire::{ErrorKind, Line, Sample};
