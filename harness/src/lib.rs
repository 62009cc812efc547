//! The harness library behind `cargo xtask`.
//!
//! It owns everything that is not a command-line surface: the pinned tools
//! and how they are obtained, the cluster providers (kind first), the
//! container images we build locally, and later the scenario engine, load
//! generation and diagnostics. The `xtask` binary is a thin layer over it.

pub mod cluster;
pub mod docker;
pub mod images;
pub mod k8s;
pub mod load;
pub mod node_image;
pub mod report;
pub mod scenario;
pub mod template;
pub mod tools;
pub mod workspace;
