//! What the evidence holds: events (reason, involved object, reporting
//! component, times), pods with their probe specs and container states
//! (with termination times), Deployments with their strategy, their
//! ReplicaSets with availability over time, Services with their endpoints,
//! autoscalers, ResourceQuotas and LimitRanges, logs, and what could not be
//! collected. Plain data (serde, so a run can be recorded as
//! `evidence.json`), read by the diagnosis and written out as files
//! (`write`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One Kubernetes event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventLine {
    /// When it last happened.
    pub at: Timestamp,
    /// When it first happened (the same as `at` for a single event).
    pub first_at: Option<Timestamp>,
    pub warning: bool,
    pub reason: String,
    /// The involved object's kind (`Pod`, `ReplicaSet`, ...).
    pub kind: String,
    /// The involved object's name.
    pub name: String,
    /// `spec.containers{NAME}` when the event is about one container.
    pub field_path: Option<String>,
    /// The component that reported it (`kubelet`, `default-scheduler`,
    /// `replicaset-controller`, ...).
    pub source: String,
    pub message: String,
    pub count: i32,
}

impl EventLine {
    /// `Kind/name` of the involved object.
    pub fn object(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The component that reported it, or `controller` when unnamed.
    pub fn reporter(&self) -> &str {
        if self.source.is_empty() {
            "controller"
        } else {
            &self.source
        }
    }

    /// Whether it is about pod `name`.
    pub fn about_pod(&self, name: &str) -> bool {
        self.kind == "Pod" && self.name == name
    }

    pub fn render(&self) -> String {
        format!(
            "{} {} {} {}{}: {}{}",
            self.at.strftime("%H:%M:%S"),
            if self.warning { "Warning" } else { "Normal" },
            self.reason,
            self.object(),
            if self.source.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.source)
            },
            self.message,
            if self.count > 1 {
                format!(" (x{})", self.count)
            } else {
                String::new()
            }
        )
    }
}

/// A readiness, liveness or startup probe, as the pod spec declares it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProbeInfo {
    /// `httpGet`, `tcpSocket`, `grpc` or `exec`.
    pub handler: String,
    /// The HTTP path (httpGet) or the command (exec).
    pub path: Option<String>,
    /// The port, by number or name.
    pub port: Option<String>,
    pub initial_delay_seconds: i32,
    pub period_seconds: i32,
    pub timeout_seconds: i32,
    pub failure_threshold: i32,
    pub success_threshold: i32,
}

impl ProbeInfo {
    /// How long a container may fail this probe from its start before the
    /// kubelet acts: initial delay + period × failure threshold.
    pub fn grace_seconds(&self) -> i32 {
        self.initial_delay_seconds + self.period_seconds * self.failure_threshold
    }

    /// `httpGet :8000/health (initial delay 0s, every 10s, timeout 1s, 3 failures)`.
    pub fn render(&self) -> String {
        let target = match (&self.port, &self.path) {
            (Some(port), Some(path)) => format!(" :{port}{path}"),
            (Some(port), None) => format!(" :{port}"),
            (None, Some(path)) => format!(" {path}"),
            (None, None) => String::new(),
        };
        format!(
            "{}{target} (initial delay {}s, every {}s, timeout {}s, {} failures)",
            self.handler,
            self.initial_delay_seconds,
            self.period_seconds,
            self.timeout_seconds,
            self.failure_threshold
        )
    }
}

/// A container's state, as the kubelet reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum ContainerState {
    Waiting {
        reason: String,
        #[serde(default)]
        message: String,
    },
    Running {
        #[serde(default)]
        started_at: Option<Timestamp>,
    },
    Terminated(Terminated),
    #[default]
    Unknown,
}

impl ContainerState {
    pub fn waiting_reason(&self) -> Option<&str> {
        match self {
            ContainerState::Waiting { reason, .. } => Some(reason),
            _ => None,
        }
    }

    pub fn render(&self) -> String {
        match self {
            ContainerState::Waiting { reason, message } if message.is_empty() => {
                format!("Waiting ({reason})")
            }
            ContainerState::Waiting { reason, message } => format!("Waiting ({reason}): {message}"),
            ContainerState::Running { .. } => "Running".into(),
            ContainerState::Terminated(t) => {
                format!("Terminated ({}, exit code {})", t.reason, t.exit_code)
            }
            ContainerState::Unknown => "unknown".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Terminated {
    /// `OOMKilled`, `Error`, `Completed`, ...
    pub reason: String,
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub message: String,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerInfo {
    pub name: String,
    pub image: String,
    pub ready: bool,
    pub restarts: i32,
    pub state: ContainerState,
    /// `lastState.terminated`: the termination before the last restart.
    pub last_terminated: Option<Terminated>,
    pub memory_limit: Option<String>,
    pub readiness: Option<ProbeInfo>,
    pub liveness: Option<ProbeInfo>,
    pub startup: Option<ProbeInfo>,
}

impl ContainerInfo {
    /// The container's OOM kill, in its current or its last state.
    pub fn oom_kill(&self) -> Option<&Terminated> {
        let now = match &self.state {
            ContainerState::Terminated(t) => Some(t),
            _ => None,
        };
        now.into_iter()
            .chain(self.last_terminated.as_ref())
            .find(|t| t.reason == "OOMKilled")
    }
}

/// A pod condition (`Ready`, `PodScheduled`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition: Option<Timestamp>,
}

impl Condition {
    pub fn render(&self) -> String {
        format!(
            "{}={}{}",
            self.type_,
            self.status,
            if self.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.reason)
            }
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodInfo {
    pub name: String,
    pub phase: String,
    pub node: Option<String>,
    pub created: Option<Timestamp>,
    /// `Kind/name` of the controller that owns it (`ReplicaSet/m-5f7c`).
    pub owner: Option<String>,
    pub ready: bool,
    pub labels: BTreeMap<String, String>,
    pub conditions: Vec<Condition>,
    pub containers: Vec<ContainerInfo>,
    /// The pod's volumes and their sources (`checkpoints: emptyDir`,
    /// `data: persistentVolumeClaim data`), the API token's left out.
    pub volumes: Vec<String>,
}

impl PodInfo {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// A Deployment's `strategy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Strategy {
    /// `RollingUpdate` or `Recreate`.
    #[serde(rename = "type")]
    pub type_: String,
    /// As written (`25%`, `1`); Kubernetes' default is 25%.
    pub max_surge: Option<String>,
    pub max_unavailable: Option<String>,
}

impl Strategy {
    pub fn render(&self) -> String {
        if self.type_ == "Recreate" {
            return "Recreate".into();
        }
        format!(
            "{} maxSurge={} maxUnavailable={}",
            if self.type_.is_empty() {
                "RollingUpdate"
            } else {
                self.type_.as_str()
            },
            self.max_surge.as_deref().unwrap_or("25%"),
            self.max_unavailable.as_deref().unwrap_or("25%")
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentInfo {
    pub name: String,
    /// `spec.replicas`.
    pub desired: i32,
    pub replicas: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    pub strategy: Strategy,
    pub progress_deadline_seconds: Option<i32>,
    pub conditions: Vec<Condition>,
}

impl DeploymentInfo {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

pub use crate::recorder::ReplicaPoint;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSetInfo {
    pub name: String,
    /// The Deployment that owns it.
    pub deployment: Option<String>,
    /// `deployment.kubernetes.io/revision`.
    pub revision: i64,
    pub created: Option<Timestamp>,
    pub images: Vec<String>,
    /// `spec.replicas`.
    pub desired: i32,
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    /// Its counts over the run (changes only, from a watch), when recorded.
    pub history: Vec<ReplicaPoint>,
}

impl ReplicaSetInfo {
    /// `revision N: replicaset/NAME image=... desired=.. ready=.. available=..`
    pub fn render(&self) -> String {
        format!(
            "revision {}: replicaset/{} image={} desired={} ready={} available={}",
            self.revision,
            self.name,
            self.images.join(","),
            self.desired,
            self.ready,
            self.available
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceInfo {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub ready: Vec<String>,
    pub not_ready: Vec<String>,
    /// Pods whose labels the selector matches.
    pub matching_pods: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HpaInfo {
    pub name: String,
    pub current: i32,
    pub desired: i32,
    pub min: i32,
    pub max: i32,
    pub conditions: Vec<Condition>,
}

/// A Job: its retry budget, its pods' counts and its conditions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobInfo {
    pub name: String,
    pub backoff_limit: Option<i32>,
    pub completions: Option<i32>,
    pub active: i32,
    pub succeeded: i32,
    pub failed: i32,
    pub conditions: Vec<Condition>,
}

impl JobInfo {
    /// The condition of `type_` that is True (`Complete`, `Failed`).
    pub fn holds(&self, type_: &str) -> Option<&Condition> {
        self.conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == "True")
    }
}

/// A ResourceQuota: what it allows and what is used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QuotaInfo {
    pub name: String,
    pub hard: BTreeMap<String, String>,
    pub used: BTreeMap<String, String>,
}

/// A LimitRange: its limits, one line per item (`Container max memory=1Gi`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LimitRangeInfo {
    pub name: String,
    pub limits: Vec<String>,
}

/// One container's log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogInfo {
    pub pod: String,
    pub container: String,
    /// The log before the last restart.
    pub previous: bool,
    pub text: String,
}

/// Everything collected for one failure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Evidence {
    pub namespace: String,
    pub collected_at: Option<Timestamp>,
    pub events: Vec<EventLine>,
    pub pods: Vec<PodInfo>,
    pub deployments: Vec<DeploymentInfo>,
    pub replica_sets: Vec<ReplicaSetInfo>,
    pub services: Vec<ServiceInfo>,
    pub hpas: Vec<HpaInfo>,
    pub jobs: Vec<JobInfo>,
    pub quotas: Vec<QuotaInfo>,
    pub limit_ranges: Vec<LimitRangeInfo>,
    pub network_policies: Vec<super::network::NetworkPolicyInfo>,
    /// ResourceClaims (DRA): what each asks for and got.
    pub claims: Vec<super::claims::ClaimInfo>,
    pub logs: Vec<LogInfo>,
    /// What could not be collected, and why.
    pub gaps: Vec<String>,
}

impl Evidence {
    /// Adds the replica counts the recorder saw over the run to the
    /// ReplicaSets they belong to.
    pub fn attach_history(&mut self, history: &BTreeMap<String, Vec<ReplicaPoint>>) {
        for r in &mut self.replica_sets {
            if let Some(points) = history.get(&r.name) {
                r.history = points.clone();
            }
        }
    }

    /// The events about pod `name`, oldest first.
    pub fn pod_events<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a EventLine> + 'a {
        self.events.iter().filter(move |e| e.about_pod(name))
    }

    /// The ReplicaSets of Deployment `name`, oldest revision first.
    pub fn replica_sets_of<'a>(&'a self, name: &'a str) -> Vec<&'a ReplicaSetInfo> {
        let mut v: Vec<&ReplicaSetInfo> = self
            .replica_sets
            .iter()
            .filter(|r| r.deployment.as_deref() == Some(name))
            .collect();
        v.sort_by_key(|r| r.revision);
        v
    }

    /// The pods ReplicaSet `name` owns.
    pub fn pods_of_replica_set<'a>(&'a self, name: &str) -> Vec<&'a PodInfo> {
        let owner = format!("ReplicaSet/{name}");
        self.pods
            .iter()
            .filter(|p| p.owner.as_deref() == Some(owner.as_str()))
            .collect()
    }
}
