//! Reading the evidence from the API: one list per kind, the logs of every
//! container (and the previous log of a restarted one), each turned into
//! the plain records of `model` (by `convert`). What cannot be read becomes
//! a gap.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::resource::v1::ResourceClaim;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};

use super::convert;
use super::model::{Evidence, LogInfo};

/// Lists every `K` in `namespace`; an error becomes a gap named `what`.
async fn list<K>(client: &Client, namespace: &str, what: &str, gaps: &mut Vec<String>) -> Vec<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    match Api::<K>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(l) => l.items,
        Err(e) => {
            gaps.push(format!("{what}: {e}"));
            Vec::new()
        }
    }
}

/// Collects what the namespace shows now. Never fails: what cannot be read
/// is listed in `gaps`, so a broken API server still leaves a report.
pub async fn collect(client: &Client, namespace: &str) -> Evidence {
    let mut ev = Evidence {
        namespace: namespace.to_string(),
        collected_at: Some(jiff::Timestamp::now()),
        ..Evidence::default()
    };
    match k8s::events(client, namespace).await {
        Ok(list) => {
            ev.events = list.iter().map(convert::event_line).collect();
            ev.events.sort_by_key(|e| e.at);
        }
        Err(e) => ev.gaps.push(format!("events: {e}")),
    }
    let gaps = &mut ev.gaps;
    let pods: Vec<Pod> = list(client, namespace, "pods", gaps).await;
    let replica_sets: Vec<ReplicaSet> = list(client, namespace, "replicasets", gaps).await;
    let deployments: Vec<Deployment> = list(client, namespace, "deployments", gaps).await;
    let slices: Vec<EndpointSlice> = list(client, namespace, "endpointslices", gaps).await;
    let services: Vec<Service> = list(client, namespace, "services", gaps).await;
    let hpas: Vec<HorizontalPodAutoscaler> =
        list(client, namespace, "horizontalpodautoscalers", gaps).await;
    let jobs: Vec<Job> = list(client, namespace, "jobs", gaps).await;
    let quotas: Vec<ResourceQuota> = list(client, namespace, "resourcequotas", gaps).await;
    let limit_ranges: Vec<LimitRange> = list(client, namespace, "limitranges", gaps).await;
    let policies: Vec<NetworkPolicy> = list(client, namespace, "networkpolicies", gaps).await;
    // A cluster without the DRA API (before 1.34) has no claims to show:
    // its 404 is not a gap.
    let mut claim_gaps = Vec::new();
    let claims: Vec<ResourceClaim> =
        list(client, namespace, "resourceclaims", &mut claim_gaps).await;
    gaps.extend(claim_gaps.into_iter().filter(|g| !g.contains("404")));
    ev.pods = pods.iter().map(convert::pod_info).collect();
    ev.replica_sets = replica_sets.iter().map(convert::replica_set_info).collect();
    ev.deployments = deployments.iter().map(convert::deployment_info).collect();
    ev.services = services
        .iter()
        .map(|s| convert::service_info(s, &slices, &pods))
        .collect();
    ev.hpas = hpas.iter().map(convert::hpa_info).collect();
    ev.jobs = jobs.iter().map(convert::job_info).collect();
    ev.quotas = quotas.iter().map(convert::quota_info).collect();
    ev.limit_ranges = limit_ranges.iter().map(convert::limit_range_info).collect();
    ev.network_policies = policies
        .iter()
        .map(super::network::network_policy_info)
        .collect();
    ev.claims = claims.iter().map(super::claims::claim_info).collect();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
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
                    Ok(text) => ev.logs.push(LogInfo {
                        pod: pod.name.clone(),
                        container: c.name.clone(),
                        previous,
                        text,
                    }),
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
    ev
}
