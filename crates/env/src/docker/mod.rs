//! The Docker engine the kind provider runs on: finding or starting it,
//! installing it on Debian-family hosts, and working around hosts whose
//! capability bounding set makes `docker run --privileged` fail.
//!
//! Entry point: [`ensure_engine`]. It never changes a host where Docker
//! already works with privileged containers.
//!
//! The modules: `engine` (the entry point), over `dockerd` (the process
//! we start), `probe` (can it run privileged containers?), `apt`
//! (installing packages), `capfix` (the runtime wrapper), `cli` (the
//! [`Docker`] handle) and `error`.

mod apt;
mod capfix;
mod cli;
mod dockerd;
mod engine;
mod error;
mod probe;

pub use apt::{ENGINE_PACKAGES, apt_install};
pub use capfix::{CAPFIX_RUNTIME, bounding_set_incomplete, capfix_script};
pub use cli::{ContainerSummary, Docker};
pub use engine::{EngineSetup, ensure_engine};
pub use error::DockerError;
