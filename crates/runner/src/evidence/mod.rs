//! The default `catch`: what Kubernetes recorded about a namespace when a
//! step failed. Events, pod and container states (with the last
//! termination), logs (previous ones for restarted containers), rollout
//! history, Services with their endpoints and the pods their selectors
//! match, and autoscalers. Written as text files into the report's
//! artifacts folder, and kept structured for the diagnosis.
//!
//! [`collect`] reads the namespace into the records of `model`; `write`
//! turns them into files. Neither depends on the other.

mod collect;
mod model;
mod write;

pub use collect::collect;
pub use model::{
    ContainerInfo, DeploymentInfo, EventLine, Evidence, HpaInfo, PodInfo, ServiceInfo, Terminated,
};
