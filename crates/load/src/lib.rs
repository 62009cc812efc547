//! The load engine: goose driving users against a base URL ([`attack`]),
//! per-request samples and the numbers reports show ([`stats`]), with
//! goose's own log kept to what a person needs ([`goose_log`]).
//!
//! It must not depend on a Kubernetes client: how the base URL reaches a
//! Service (a port-forward that follows its endpoints) is the runner's
//! business (`runner::forwarder`), so the same engine can run on the host
//! or inside a cluster.

pub mod attack;
pub mod goose_log;
pub mod models;
pub mod stats;
