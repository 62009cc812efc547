//! Kubernetes objects into the plain records of `model`. Pure: no API
//! calls, so each conversion is tested on constructed objects.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    self as core, ContainerStatus, Event, LimitRange, Pod, ResourceQuota, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::model::{
    Condition, ContainerInfo, ContainerState, DeploymentInfo, EventLine, HpaInfo, JobInfo,
    LimitRangeInfo, PodInfo, ProbeInfo, QuotaInfo, ReplicaSetInfo, ServiceInfo, Strategy,
    Terminated,
};
use crate::recorder::event_time;

fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

pub fn event_line(e: &Event) -> EventLine {
    EventLine {
        at: event_time(e),
        first_at: e.first_timestamp.as_ref().map(|t| t.0),
        warning: e.type_.as_deref() == Some("Warning"),
        reason: e.reason.clone().unwrap_or_default(),
        kind: e.involved_object.kind.clone().unwrap_or_default(),
        name: e.involved_object.name.clone().unwrap_or_default(),
        field_path: e.involved_object.field_path.clone(),
        source: e
            .reporting_component
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| e.source.as_ref().and_then(|s| s.component.clone()))
            .unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        count: e.count.unwrap_or(1),
    }
}

pub fn probe_info(p: &core::Probe) -> ProbeInfo {
    let (handler, path, port) = if let Some(h) = &p.http_get {
        (
            "httpGet",
            Some(h.path.clone().unwrap_or_else(|| "/".into())),
            Some(int_or_string(&h.port)),
        )
    } else if let Some(t) = &p.tcp_socket {
        ("tcpSocket", None, Some(int_or_string(&t.port)))
    } else if let Some(g) = &p.grpc {
        ("grpc", None, Some(g.port.to_string()))
    } else if let Some(x) = &p.exec {
        ("exec", x.command.as_ref().map(|c| c.join(" ")), None)
    } else {
        ("unknown", None, None)
    };
    // The API server fills in the defaults; these are the same defaults
    // for objects built without it.
    ProbeInfo {
        handler: handler.into(),
        path,
        port,
        initial_delay_seconds: p.initial_delay_seconds.unwrap_or(0),
        period_seconds: p.period_seconds.unwrap_or(10),
        timeout_seconds: p.timeout_seconds.unwrap_or(1),
        failure_threshold: p.failure_threshold.unwrap_or(3),
        success_threshold: p.success_threshold.unwrap_or(1),
    }
}

fn terminated(t: &core::ContainerStateTerminated) -> Terminated {
    Terminated {
        reason: t.reason.clone().unwrap_or_default(),
        exit_code: t.exit_code,
        signal: t.signal,
        message: t.message.clone().unwrap_or_default(),
        started_at: t.started_at.as_ref().map(|t| t.0),
        finished_at: t.finished_at.as_ref().map(|t| t.0),
    }
}

fn container_state(s: Option<&core::ContainerState>) -> ContainerState {
    let Some(s) = s else {
        return ContainerState::Unknown;
    };
    if let Some(w) = &s.waiting {
        ContainerState::Waiting {
            reason: w.reason.clone().unwrap_or_default(),
            message: w.message.clone().unwrap_or_default(),
        }
    } else if let Some(t) = &s.terminated {
        ContainerState::Terminated(terminated(t))
    } else if let Some(r) = &s.running {
        ContainerState::Running {
            started_at: r.started_at.as_ref().map(|t| t.0),
        }
    } else {
        ContainerState::Unknown
    }
}

fn container_info(c: &ContainerStatus, spec: Option<&core::Container>) -> ContainerInfo {
    ContainerInfo {
        name: c.name.clone(),
        image: spec
            .and_then(|s| s.image.clone())
            .unwrap_or_else(|| c.image.clone()),
        ready: c.ready,
        restarts: c.restart_count,
        state: container_state(c.state.as_ref()),
        last_terminated: c
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(terminated),
        memory_limit: spec
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("memory"))
            .map(|q| q.0.clone()),
        readiness: spec
            .and_then(|s| s.readiness_probe.as_ref())
            .map(probe_info),
        liveness: spec.and_then(|s| s.liveness_probe.as_ref()).map(probe_info),
        startup: spec.and_then(|s| s.startup_probe.as_ref()).map(probe_info),
    }
}

pub fn pod_info(p: &Pod) -> PodInfo {
    let spec = p.spec.clone().unwrap_or_default();
    let status = p.status.clone().unwrap_or_default();
    let conditions: Vec<Condition> = status
        .conditions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(Condition::from)
        .collect();
    let statuses = status.container_statuses.unwrap_or_default();
    // A container not started yet has no status: its spec still counts.
    let containers = spec
        .containers
        .iter()
        .map(|c| match statuses.iter().find(|s| s.name == c.name) {
            Some(s) => container_info(s, Some(c)),
            None => ContainerInfo {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                ..container_info(
                    &ContainerStatus {
                        name: c.name.clone(),
                        ..ContainerStatus::default()
                    },
                    Some(c),
                )
            },
        })
        .collect();
    PodInfo {
        name: p.name_any(),
        phase: status.phase.clone().unwrap_or_default(),
        node: spec.node_name.clone(),
        created: p.metadata.creation_timestamp.as_ref().map(|t| t.0),
        owner: p
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
            .map(|o| format!("{}/{}", o.kind, o.name)),
        ready: conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        labels: p.labels().clone(),
        conditions,
        containers,
        volumes: spec
            .volumes
            .iter()
            .flatten()
            .filter(|v| !v.name.starts_with("kube-api-access-"))
            .map(volume_line)
            .collect(),
    }
}

/// `name: source` for one pod volume.
fn volume_line(v: &k8s_openapi::api::core::v1::Volume) -> String {
    let source = if let Some(c) = &v.persistent_volume_claim {
        format!("persistentVolumeClaim {}", c.claim_name)
    } else if v.empty_dir.is_some() {
        "emptyDir".to_string()
    } else if let Some(h) = &v.host_path {
        format!("hostPath {}", h.path)
    } else if let Some(c) = &v.config_map {
        format!("configMap {}", c.name)
    } else if let Some(s) = &v.secret {
        format!("secret {}", s.secret_name.as_deref().unwrap_or("?"))
    } else if v.ephemeral.is_some() {
        "ephemeral".to_string()
    } else {
        "other".to_string()
    };
    format!("{}: {source}", v.name)
}

pub fn job_info(j: &Job) -> JobInfo {
    let spec = j.spec.clone().unwrap_or_default();
    let status = j.status.clone().unwrap_or_default();
    JobInfo {
        name: j.name_any(),
        backoff_limit: spec.backoff_limit,
        completions: spec.completions,
        active: status.active.unwrap_or(0),
        succeeded: status.succeeded.unwrap_or(0),
        failed: status.failed.unwrap_or(0),
        conditions: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .map(|c| Condition {
                type_: c.type_,
                status: c.status,
                reason: c.reason.unwrap_or_default(),
                message: c.message.unwrap_or_default(),
                last_transition: c.last_transition_time.map(|t| t.0),
            })
            .collect(),
    }
}

pub fn replica_set_info(r: &ReplicaSet) -> ReplicaSetInfo {
    let st = r.status.clone().unwrap_or_default();
    let spec = r.spec.clone().unwrap_or_default();
    ReplicaSetInfo {
        name: r.name_any(),
        deployment: r
            .owner_references()
            .iter()
            .find(|o| o.kind == "Deployment")
            .map(|o| o.name.clone()),
        revision: r
            .annotations()
            .get("deployment.kubernetes.io/revision")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        created: r.metadata.creation_timestamp.as_ref().map(|t| t.0),
        images: spec
            .template
            .and_then(|t| t.spec)
            .map(|s| s.containers)
            .unwrap_or_default()
            .iter()
            .map(|c| c.image.clone().unwrap_or_default())
            .collect(),
        desired: spec.replicas.unwrap_or(1),
        replicas: st.replicas,
        ready: st.ready_replicas.unwrap_or(0),
        available: st.available_replicas.unwrap_or(0),
        history: Vec::new(),
    }
}

pub fn deployment_info(d: &Deployment) -> DeploymentInfo {
    let status = d.status.clone().unwrap_or_default();
    let spec = d.spec.clone().unwrap_or_default();
    let strategy = spec.strategy.unwrap_or_default();
    let rolling = strategy.rolling_update.unwrap_or_default();
    DeploymentInfo {
        name: d.name_any(),
        desired: spec.replicas.unwrap_or(1),
        replicas: status.replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        strategy: Strategy {
            type_: strategy.type_.unwrap_or_else(|| "RollingUpdate".into()),
            max_surge: rolling.max_surge.as_ref().map(int_or_string),
            max_unavailable: rolling.max_unavailable.as_ref().map(int_or_string),
        },
        progress_deadline_seconds: spec.progress_deadline_seconds,
        conditions: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .map(Condition::from)
            .collect(),
    }
}

/// A pod's, a Deployment's or an HPA's condition: three Kubernetes types
/// with the same fields read here.
macro_rules! condition_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Condition {
            fn from(c: $t) -> Condition {
                Condition {
                    type_: c.type_,
                    status: c.status,
                    reason: c.reason.unwrap_or_default(),
                    message: c.message.unwrap_or_default(),
                    last_transition: c.last_transition_time.map(|t| t.0),
                }
            }
        }
    )*};
}

condition_from!(
    core::PodCondition,
    k8s_openapi::api::apps::v1::DeploymentCondition,
    k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition
);

pub fn service_info(s: &Service, slices: &[EndpointSlice], pods: &[Pod]) -> ServiceInfo {
    let name = s.name_any();
    let selector = s
        .spec
        .as_ref()
        .and_then(|sp| sp.selector.clone())
        .unwrap_or_default();
    let mut info = ServiceInfo {
        name: name.clone(),
        selector: selector.clone(),
        ..ServiceInfo::default()
    };
    for slice in slices
        .iter()
        .filter(|sl| sl.labels().get("kubernetes.io/service-name") == Some(&name))
    {
        for ep in &slice.endpoints {
            let who = ep
                .target_ref
                .as_ref()
                .and_then(|r| r.name.clone())
                .unwrap_or_else(|| ep.addresses.join(","));
            if ep
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(false)
            {
                info.ready.push(who);
            } else {
                info.not_ready.push(who);
            }
        }
    }
    if !selector.is_empty() {
        info.matching_pods = pods
            .iter()
            .filter(|p| selector.iter().all(|(k, v)| p.labels().get(k) == Some(v)))
            .map(|p| p.name_any())
            .collect();
    }
    info
}

pub fn hpa_info(h: &HorizontalPodAutoscaler) -> HpaInfo {
    let spec = h.spec.clone().unwrap_or_default();
    let status = h.status.clone().unwrap_or_default();
    HpaInfo {
        name: h.name_any(),
        current: status.current_replicas.unwrap_or(0),
        desired: status.desired_replicas,
        min: spec.min_replicas.unwrap_or(1),
        max: spec.max_replicas,
        conditions: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .map(Condition::from)
            .collect(),
    }
}

fn quantities(
    m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> BTreeMap<String, String> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

pub fn quota_info(q: &ResourceQuota) -> QuotaInfo {
    QuotaInfo {
        name: q.name_any(),
        hard: quantities(q.spec.as_ref().and_then(|s| s.hard.as_ref())),
        used: quantities(q.status.as_ref().and_then(|s| s.used.as_ref())),
    }
}

pub fn limit_range_info(l: &LimitRange) -> LimitRangeInfo {
    let mut limits = Vec::new();
    for item in l.spec.iter().flat_map(|s| &s.limits) {
        for (what, m) in [
            ("min", item.min.as_ref()),
            ("max", item.max.as_ref()),
            ("default", item.default.as_ref()),
            ("defaultRequest", item.default_request.as_ref()),
        ] {
            for (k, v) in quantities(m) {
                limits.push(format!("{} {what} {k}={v}", item.type_));
            }
        }
    }
    LimitRangeInfo {
        name: l.name_any(),
        limits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        yaml_serde::from_str(yaml).expect("pod yaml")
    }

    #[test]
    fn a_pod_carries_its_probes_states_and_owner() {
        let p = pod(r#"
metadata:
  name: m-1
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: m-5f, uid: u, controller: true}]
spec:
  containers:
    - name: server
      image: inferbench/mock-server:dev
      resources: {limits: {memory: 64Mi}}
      readinessProbe: {httpGet: {path: /health, port: 8000}, periodSeconds: 2}
      livenessProbe: {tcpSocket: {port: http}, initialDelaySeconds: 5}
status:
  phase: Running
  conditions: [{type: Ready, status: "False", reason: ContainersNotReady, lastTransitionTime: "2026-01-01T00:00:00Z"}]
  containerStatuses:
    - name: server
      image: docker.io/inferbench/mock-server:dev
      imageID: x
      ready: false
      restartCount: 2
      state: {waiting: {reason: CrashLoopBackOff, message: back-off 20s}}
      lastState: {terminated: {reason: OOMKilled, exitCode: 137, finishedAt: "2026-01-01T00:00:09Z"}}
"#);
        let info = pod_info(&p);
        assert_eq!(info.owner.as_deref(), Some("ReplicaSet/m-5f"));
        assert!(!info.ready);
        let c = &info.containers[0];
        assert_eq!(c.image, "inferbench/mock-server:dev");
        assert_eq!(c.memory_limit.as_deref(), Some("64Mi"));
        assert_eq!(c.state.waiting_reason(), Some("CrashLoopBackOff"));
        assert_eq!(c.oom_kill().map(|t| t.exit_code), Some(137));
        assert_eq!(
            c.readiness.as_ref().map(ProbeInfo::render).as_deref(),
            Some("httpGet :8000/health (initial delay 0s, every 2s, timeout 1s, 3 failures)")
        );
        assert_eq!(c.liveness.as_ref().map(|l| l.grace_seconds()), Some(35));
    }

    #[test]
    fn a_deployment_carries_its_strategy() {
        let d: Deployment = yaml_serde::from_str(
            "metadata: {name: m}\nspec:\n  replicas: 1\n  selector: {}\n  template: {}\n  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}\n",
        )
        .expect("deployment");
        let info = deployment_info(&d);
        assert_eq!(
            info.strategy.render(),
            "RollingUpdate maxSurge=0 maxUnavailable=1"
        );
        assert_eq!(info.desired, 1);
    }
}
