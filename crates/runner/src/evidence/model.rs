//! What the evidence holds: events, pods with their containers,
//! Deployments with their rollout history, Services with their endpoints,
//! autoscalers, logs, and what could not be collected. Plain data, read by
//! the diagnosis and written out as files (`write`).

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct EventLine {
    pub at: jiff::Timestamp,
    pub warning: bool,
    pub reason: String,
    pub object: String,
    pub message: String,
    pub count: i32,
}

impl EventLine {
    pub fn render(&self) -> String {
        format!(
            "{} {} {} {}: {}{}",
            self.at.strftime("%H:%M:%S"),
            if self.warning { "Warning" } else { "Normal" },
            self.reason,
            self.object,
            self.message,
            if self.count > 1 {
                format!(" (x{})", self.count)
            } else {
                String::new()
            }
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct ContainerInfo {
    pub name: String,
    pub ready: bool,
    pub restarts: i32,
    pub state: String,
    /// Reason of the last termination (`OOMKilled`, `Error`), if any.
    pub last_terminated: Option<Terminated>,
    pub memory_limit: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Terminated {
    pub reason: String,
    pub exit_code: i32,
    pub finished_at: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Default)]
pub struct PodInfo {
    pub name: String,
    pub phase: String,
    pub node: Option<String>,
    pub ready: bool,
    pub labels: BTreeMap<String, String>,
    pub conditions: Vec<String>,
    pub containers: Vec<ContainerInfo>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DeploymentInfo {
    pub name: String,
    pub replicas: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    /// `type=status reason: message`.
    pub conditions: Vec<(String, String, String, String)>,
    /// (revision, ReplicaSet, images, MOCK_VERSION, ready/replicas).
    pub history: Vec<(i64, String, String, String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceInfo {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub ready: Vec<String>,
    pub not_ready: Vec<String>,
    /// Pods whose labels the selector matches.
    pub matching_pods: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HpaInfo {
    pub name: String,
    pub current: i32,
    pub desired: i32,
    pub min: i32,
    pub max: i32,
    pub conditions: Vec<String>,
}

/// Everything collected for one failure.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub events: Vec<EventLine>,
    pub pods: Vec<PodInfo>,
    pub deployments: Vec<DeploymentInfo>,
    pub services: Vec<ServiceInfo>,
    pub hpas: Vec<HpaInfo>,
    /// (pod, container, previous, log text)
    pub logs: Vec<(String, String, bool, String)>,
    /// What could not be collected, and why.
    pub gaps: Vec<String>,
}
