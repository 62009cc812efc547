//! What the scheduler allocated to a claim, and which containers use it:
//! the [`ClaimSource`] the kubelet plugin asks when it prepares a claim, and
//! [`ApiClaims`], which reads the ResourceClaim (and its pods) from the API
//! server.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::ResourceClaim;
use kube::Api;

use crate::proto::dra::Claim;

/// One device the scheduler allocated to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatedDevice {
    pub request: String,
    pub driver: String,
    pub pool: String,
    pub device: String,
}

/// A claim's allocation and who holds it, as the API server has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimAllocation {
    pub devices: Vec<AllocatedDevice>,
    /// Names of the pods the claim is reserved for.
    pub pods: Vec<String>,
    /// The containers of those pods that use the claim: (pod, container).
    pub containers: Vec<(String, String)>,
}

/// Where the plugin reads what the scheduler allocated to a claim.
#[tonic::async_trait]
pub trait ClaimSource: Send + Sync {
    async fn allocation(&self, claim: &Claim) -> Result<ClaimAllocation, String>;
}

/// Claims read from the API server.
pub struct ApiClaims(pub kube::Client);

#[tonic::async_trait]
impl ClaimSource for ApiClaims {
    async fn allocation(&self, claim: &Claim) -> Result<ClaimAllocation, String> {
        let api: Api<ResourceClaim> = Api::namespaced(self.0.clone(), &claim.namespace);
        let c = api.get(&claim.name).await.map_err(|e| {
            format!(
                "reading ResourceClaim {}/{}: {e}",
                claim.namespace, claim.name
            )
        })?;
        if c.metadata.uid.as_deref() != Some(claim.uid.as_str()) {
            return Err(format!(
                "ResourceClaim {}/{} has UID {:?}, not {} (recreated?)",
                claim.namespace, claim.name, c.metadata.uid, claim.uid
            ));
        }
        let pod_claim = c
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("resource.kubernetes.io/pod-claim-name"))
            .cloned();
        let status = c.status.unwrap_or_default();
        let results = status
            .allocation
            .and_then(|a| a.devices)
            .and_then(|d| d.results)
            .unwrap_or_default();
        let pods: Vec<String> = status
            .reserved_for
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.resource == "pods")
            .map(|r| r.name)
            .collect();
        let mut containers = Vec::new();
        let pod_api: Api<Pod> = Api::namespaced(self.0.clone(), &claim.namespace);
        for name in &pods {
            // Attribution only: a pod that cannot be read leaves it out.
            if let Ok(pod) = pod_api.get(name).await {
                for c in containers_using(&pod, &claim.name, pod_claim.as_deref()) {
                    containers.push((name.clone(), c));
                }
            }
        }
        Ok(ClaimAllocation {
            devices: results
                .into_iter()
                .map(|r| AllocatedDevice {
                    request: r.request,
                    driver: r.driver,
                    pool: r.pool,
                    device: r.device,
                })
                .collect(),
            pods,
            containers,
        })
    }
}

/// The containers of `pod` whose `resources.claims` name the pod's entry
/// for claim `claim` (an entry naming it, or the entry it was generated
/// for, `pod_claim`).
pub fn containers_using(pod: &Pod, claim: &str, pod_claim: Option<&str>) -> Vec<String> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let entries: Vec<&str> = spec
        .resource_claims
        .iter()
        .flatten()
        .filter(|e| {
            e.resource_claim_name.as_deref() == Some(claim) || Some(e.name.as_str()) == pod_claim
        })
        .map(|e| e.name.as_str())
        .collect();
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .filter(|c| {
            c.resources
                .as_ref()
                .and_then(|r| r.claims.as_ref())
                .is_some_and(|cl| cl.iter().any(|x| entries.contains(&x.name.as_str())))
        })
        .map(|c| c.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_using_follow_the_pods_claim_entries() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "p" },
            "spec": {
                "resourceClaims": [
                    { "name": "gpu", "resourceClaimTemplateName": "t" },
                    { "name": "shared", "resourceClaimName": "team-gpu" },
                ],
                "containers": [
                    { "name": "server", "resources": { "claims": [{ "name": "gpu" }] } },
                    { "name": "sidecar", "resources": { "claims": [{ "name": "gpu" }, { "name": "shared" }] } },
                    { "name": "plain" },
                ],
            },
        }))
        .expect("pod");
        // A claim generated from the template for entry `gpu`.
        assert_eq!(
            containers_using(&pod, "p-gpu-abcde", Some("gpu")),
            ["server", "sidecar"]
        );
        // A claim the pod names directly.
        assert_eq!(containers_using(&pod, "team-gpu", None), ["sidecar"]);
        assert!(containers_using(&pod, "other", None).is_empty());
    }
}
