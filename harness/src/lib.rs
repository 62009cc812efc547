//! The harness library behind `cargo xtask`.
//!
//! It owns everything that is not a command-line surface: the pinned tools
//! and how they are obtained, the cluster providers (kind and kwok), the
//! container images we build locally, the scenario runner, load generation
//! and diagnostics. The scenario model ([`scenario`]) and the reports
//! ([`report`]) are pure crates of their own, re-exported here. The `xtask`
//! binary is a thin layer over it.

pub mod cluster;
pub mod docker;
pub mod images;
pub mod k8s;
pub mod load;
pub mod node_image;
pub mod runner;
pub mod tools;
pub mod workspace;

/// The report model and its renderers live in their own pure crate.
pub use report;
/// The scenario model, bindings and run plan live in their own pure crate.
pub use scenario;
