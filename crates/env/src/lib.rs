//! The machine a run needs, made ready: a Docker engine ([`docker`]:
//! detected, or installed and started, with the capability fix for VMs whose
//! bounding set lacks what `--privileged` asks for), the pinned tools
//! ([`tools`]: downloaded, or built from the Go module proxy, with progress),
//! the kind node image built from source ([`node_image`]), our own container
//! images ([`images`]), and where all of it is cached ([`workspace`]).
//!
//! It must not depend on the scenario, runner or report crates: bringing a
//! machine up knows nothing of what will run on it.

pub mod digest;
pub mod docker;
pub mod images;
pub mod lock;
pub mod node_image;
pub mod tools;
pub mod workspace;
