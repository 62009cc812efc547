//! Reading the evidence from the API: one list per kind, the logs of every
//! container (and the previous log of a restarted one), each turned into
//! the plain records of `model`. What cannot be read becomes a gap.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client, ResourceExt};

use super::model::{
    ContainerInfo, DeploymentInfo, EventLine, Evidence, HpaInfo, PodInfo, ServiceInfo, Terminated,
};
use crate::recorder::{event_object, event_time};

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
