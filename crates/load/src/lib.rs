//! Loads, harness side: goose driving users from the host against a base
//! URL ([`attack`], the port-forward path), the requests of either path
//! recorded as they end ([`record`]: goose's, or the JSON lines of the
//! generator pod, `loadgen`), and the numbers reports show ([`stats`]:
//! latency, TTFT, inter-token latency, TPOT, tokens/s, goodput; per stage
//! and where a sweep saturates the server: [`stages`]), with
//! goose's own log kept to what a person needs ([`goose_log`]).
//!
//! It must not depend on a Kubernetes client: how requests reach a Service
//! (a port-forward that follows its endpoints, or a pod the runner starts
//! beside it) is the runner's business.

pub mod attack;
pub mod goose_log;
pub mod models;
pub mod record;
pub mod stages;
pub mod stats;
