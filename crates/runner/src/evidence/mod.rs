//! The default `catch`: what Kubernetes recorded about a namespace when a
//! step failed. Events (reason, involved object, reporting component,
//! times), pod and container states (with probe specs and the last
//! termination), logs (previous ones for restarted containers),
//! Deployments with their strategy and ReplicaSets (with availability over
//! time when the run recorded it), Services with their endpoints and the
//! pods their selectors match, autoscalers, Jobs (retry budget, counts,
//! conditions), ResourceQuotas and LimitRanges, NetworkPolicies,
//! ResourceClaims (what each asks for and was allocated).
//! Written as text files into the report's artifacts folder, with a JSON
//! [`Recording`] (`evidence.json`) beside them, and kept structured for
//! the diagnosis.
//!
//! [`collect`] reads the namespace into the records of `model` (converted
//! by `convert`); `write` turns them into files. Neither depends on the
//! other.

mod claims;
mod collect;
mod convert;
mod model;
mod network;
mod record;
mod write;

pub use claims::ClaimInfo;
pub use collect::collect;
pub use model::{
    Condition, ContainerInfo, ContainerState, DeploymentInfo, EventLine, Evidence, HpaInfo,
    JobInfo, LimitRangeInfo, LogInfo, PodInfo, ProbeInfo, QuotaInfo, ReplicaPoint, ReplicaSetInfo,
    ServiceInfo, Strategy, Terminated,
};
pub use network::NetworkPolicyInfo;
pub use record::{RECORDING_FILE, Recording, RecordingError};
