//! The default `catch`: what Kubernetes recorded about a namespace when a
//! step failed. Events, pod and container states (with the last
//! termination), logs (previous ones for restarted containers), rollout
//! history, Services with their endpoints and the pods their selectors
//! match, and autoscalers. Written as text files into the report's
//! artifacts folder, and kept structured for the diagnosis.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client, ResourceExt};

use super::recorder::{event_object, event_time};
use report::Artifact;

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

/// Collects what the namespace shows now. Never fails: what cannot be read
/// is listed in `gaps`, so a broken API server still leaves a report.
pub async fn collect(client: &Client, namespace: &str) -> Evidence {
    let mut ev = Evidence::default();
    let lp = ListParams::default();
    match k8s::events(client, namespace).await {
        Ok(list) => {
            ev.events = list
                .iter()
                .map(|e| EventLine {
                    at: event_time(e),
                    warning: e.type_.as_deref() == Some("Warning"),
                    reason: e.reason.clone().unwrap_or_default(),
                    object: event_object(e),
                    message: e.message.clone().unwrap_or_default(),
                    count: e.count.unwrap_or(1),
                })
                .collect();
            ev.events.sort_by_key(|e| e.at);
        }
        Err(e) => ev.gaps.push(format!("events: {e}")),
    }
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = match pods_api.list(&lp).await {
        Ok(l) => l.items,
        Err(e) => {
            ev.gaps.push(format!("pods: {e}"));
            Vec::new()
        }
    };
    ev.pods = pods.iter().map(pod_info).collect();
    for pod in &ev.pods {
        for c in &pod.containers {
            for previous in [false, true] {
                if previous && c.restarts == 0 {
                    continue;
                }
                let params = LogParams {
                    container: Some(c.name.clone()),
                    previous,
                    tail_lines: Some(200),
                    ..LogParams::default()
                };
                match pods_api.logs(&pod.name, &params).await {
                    Ok(text) => ev
                        .logs
                        .push((pod.name.clone(), c.name.clone(), previous, text)),
                    Err(e) => ev.gaps.push(format!(
                        "logs of {}/{}{}: {e}",
                        pod.name,
                        c.name,
                        if previous { " (previous)" } else { "" }
                    )),
                }
            }
        }
    }
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let replica_sets = rs_api.list(&lp).await.map(|l| l.items).unwrap_or_default();
    match Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
    {
        Ok(l) => {
            ev.deployments = l
                .items
                .iter()
                .map(|d| deployment_info(d, &replica_sets))
                .collect()
        }
        Err(e) => ev.gaps.push(format!("deployments: {e}")),
    }
    let slices: Vec<EndpointSlice> = Api::<EndpointSlice>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    match Api::<Service>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
    {
        Ok(l) => {
            ev.services = l
                .items
                .iter()
                .map(|s| service_info(s, &slices, &pods))
                .collect()
        }
        Err(e) => ev.gaps.push(format!("services: {e}")),
    }
    if let Ok(l) = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
    {
        ev.hpas = l.items.iter().map(hpa_info).collect();
    }
    ev
}

fn terminated_of(s: Option<&k8s_openapi::api::core::v1::ContainerState>) -> Option<Terminated> {
    let t = s?.terminated.as_ref()?;
    Some(Terminated {
        reason: t.reason.clone().unwrap_or_default(),
        exit_code: t.exit_code,
        finished_at: t.finished_at.as_ref().map(|t| t.0),
    })
}

fn state_text(c: &ContainerStatus) -> String {
    let Some(s) = &c.state else {
        return "unknown".into();
    };
    if let Some(w) = &s.waiting {
        format!(
            "Waiting ({}){}",
            w.reason.clone().unwrap_or_default(),
            w.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )
    } else if let Some(t) = &s.terminated {
        format!(
            "Terminated ({}, exit code {})",
            t.reason.clone().unwrap_or_default(),
            t.exit_code
        )
    } else if s.running.is_some() {
        "Running".into()
    } else {
        "unknown".into()
    }
}

fn pod_info(p: &Pod) -> PodInfo {
    let spec = p.spec.clone().unwrap_or_default();
    let status = p.status.clone().unwrap_or_default();
    let limits: BTreeMap<String, Option<String>> = spec
        .containers
        .iter()
        .map(|c| {
            let limit = c
                .resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get("memory"))
                .map(|q| q.0.clone());
            (c.name.clone(), limit)
        })
        .collect();
    let version = spec.containers.first().and_then(|c| {
        c.env
            .as_ref()?
            .iter()
            .find(|e| e.name == "MOCK_VERSION")
            .and_then(|e| e.value.clone())
    });
    let conditions = status
        .conditions
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            format!(
                "{}={}{}",
                c.type_,
                c.status,
                c.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let ready = status
        .conditions
        .as_ref()
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    PodInfo {
        name: p.name_any(),
        phase: status.phase.clone().unwrap_or_default(),
        node: spec.node_name.clone(),
        ready,
        labels: p.labels().clone(),
        conditions,
        containers: status
            .container_statuses
            .unwrap_or_default()
            .iter()
            .map(|c| ContainerInfo {
                name: c.name.clone(),
                ready: c.ready,
                restarts: c.restart_count,
                state: state_text(c),
                last_terminated: terminated_of(c.last_state.as_ref())
                    .or_else(|| terminated_of(c.state.as_ref())),
                memory_limit: limits.get(&c.name).cloned().flatten(),
            })
            .collect(),
        version,
    }
}

fn deployment_info(d: &Deployment, rs: &[ReplicaSet]) -> DeploymentInfo {
    let status = d.status.clone().unwrap_or_default();
    let uid = d.uid().unwrap_or_default();
    let mut history: Vec<(i64, String, String, String, String)> = rs
        .iter()
        .filter(|r| r.owner_references().iter().any(|o| o.uid == uid))
        .map(|r| {
            let revision = r
                .annotations()
                .get("deployment.kubernetes.io/revision")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let containers = r
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .map(|s| s.containers.clone())
                .unwrap_or_default();
            let images = containers
                .iter()
                .map(|c| c.image.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",");
            let version = containers
                .iter()
                .flat_map(|c| c.env.clone().unwrap_or_default())
                .find(|e| e.name == "MOCK_VERSION")
                .and_then(|e| e.value)
                .unwrap_or_default();
            let st = r.status.clone().unwrap_or_default();
            (
                revision,
                r.name_any(),
                images,
                version,
                format!("{}/{}", st.ready_replicas.unwrap_or(0), st.replicas),
            )
        })
        .collect();
    history.sort();
    DeploymentInfo {
        name: d.name_any(),
        replicas: status.replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        conditions: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                (
                    c.type_,
                    c.status,
                    c.reason.unwrap_or_default(),
                    c.message.unwrap_or_default(),
                )
            })
            .collect(),
        history,
    }
}

fn service_info(s: &Service, slices: &[EndpointSlice], pods: &[Pod]) -> ServiceInfo {
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

fn hpa_info(h: &HorizontalPodAutoscaler) -> HpaInfo {
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
            .iter()
            .map(|c| {
                format!(
                    "{}={} {}: {}",
                    c.type_,
                    c.status,
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                )
            })
            .collect(),
    }
}

impl Evidence {
    /// Writes the evidence into `dir` (under the report folder `root`) and
    /// returns the artifacts, with paths relative to `root`.
    pub fn write(&self, root: &Path, dir: &Path) -> std::io::Result<Vec<Artifact>> {
        std::fs::create_dir_all(dir.join("logs"))?;
        let rel = |p: &Path| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/")
        };
        let mut out = Vec::new();
        let mut put = |name: &str, text: String, description: &str| -> std::io::Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            out.push(Artifact {
                path: rel(&path),
                description: description.to_string(),
            });
            Ok(())
        };
        put(
            "events.txt",
            self.events_text(),
            "Kubernetes events in the namespace, oldest first",
        )?;
        put(
            "pods.txt",
            self.pods_text(),
            "Pods: phase, conditions, container states and last terminations",
        )?;
        put(
            "rollout-history.txt",
            self.rollouts_text(),
            "Deployments: conditions and ReplicaSet revisions",
        )?;
        put(
            "endpoints.txt",
            self.services_text(),
            "Services: selectors, ready and not-ready endpoints, matching pods",
        )?;
        if !self.hpas.is_empty() {
            put(
                "autoscalers.txt",
                self.hpas_text(),
                "HorizontalPodAutoscalers: replicas and conditions",
            )?;
        }
        if !self.gaps.is_empty() {
            put(
                "not-collected.txt",
                self.gaps.join("\n") + "\n",
                "What could not be collected",
            )?;
        }
        for (pod, container, previous, text) in &self.logs {
            let name = format!(
                "logs/{pod}_{container}{}.log",
                if *previous { ".previous" } else { "" }
            );
            let what = if *previous {
                format!("Log of {pod}/{container} before its last restart")
            } else {
                format!("Log of {pod}/{container}")
            };
            put(&name, text.clone(), &what)?;
        }
        Ok(out)
    }

    pub fn events_text(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            let _ = writeln!(s, "{}", e.render());
        }
        s
    }

    pub fn pods_text(&self) -> String {
        let mut s = String::new();
        for p in &self.pods {
            let _ = writeln!(
                s,
                "pod/{} phase={} ready={} node={} version={}",
                p.name,
                p.phase,
                p.ready,
                p.node.as_deref().unwrap_or("(none)"),
                p.version.as_deref().unwrap_or("-")
            );
            let _ = writeln!(s, "  conditions: {}", p.conditions.join(", "));
            for c in &p.containers {
                let _ = writeln!(
                    s,
                    "  container {}: {} ready={} restarts={} memory limit={}",
                    c.name,
                    c.state,
                    c.ready,
                    c.restarts,
                    c.memory_limit.as_deref().unwrap_or("none")
                );
                if let Some(t) = &c.last_terminated {
                    let _ = writeln!(
                        s,
                        "    last terminated: {} (exit code {}) at {}",
                        t.reason,
                        t.exit_code,
                        t.finished_at.map(|t| t.to_string()).unwrap_or_default()
                    );
                }
            }
        }
        s
    }

    pub fn rollouts_text(&self) -> String {
        let mut s = String::new();
        for d in &self.deployments {
            let _ = writeln!(
                s,
                "deployment/{} replicas={} ready={} updated={} available={}",
                d.name, d.replicas, d.ready, d.updated, d.available
            );
            for (t, st, reason, msg) in &d.conditions {
                let _ = writeln!(s, "  condition {t}={st} {reason}: {msg}");
            }
            for (rev, rs, images, version, ready) in &d.history {
                let _ = writeln!(
                    s,
                    "  revision {rev}: {rs} image={images} version={version} ready={ready}"
                );
            }
        }
        s
    }

    pub fn services_text(&self) -> String {
        let mut s = String::new();
        for svc in &self.services {
            let sel: Vec<String> = svc
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(s, "service/{} selector {{{}}}", svc.name, sel.join(","));
            let _ = writeln!(s, "  ready endpoints: {}", list_or_none(&svc.ready));
            let _ = writeln!(s, "  not-ready endpoints: {}", list_or_none(&svc.not_ready));
            let _ = writeln!(
                s,
                "  pods the selector matches: {}",
                list_or_none(&svc.matching_pods)
            );
        }
        s
    }

    pub fn hpas_text(&self) -> String {
        let mut s = String::new();
        for h in &self.hpas {
            let _ = writeln!(
                s,
                "hpa/{} current={} desired={} min={} max={}",
                h.name, h.current, h.desired, h.min, h.max
            );
            for c in &h.conditions {
                let _ = writeln!(s, "  {c}");
            }
        }
        s
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
