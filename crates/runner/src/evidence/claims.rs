//! ResourceClaims (DRA, `resource.k8s.io/v1`) as evidence: what each claim
//! asks for (device class, count, CEL selectors), what the scheduler
//! allocated to it (driver, pool, device) and which pods it is reserved
//! for, so a report says why a pod that claims a GPU stays Pending.

use std::fmt::Write;

use k8s_openapi::api::resource::v1::ResourceClaim;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

/// The annotation naming the pod's claim entry a generated claim is for.
const POD_CLAIM_NAME: &str = "resource.kubernetes.io/pod-claim-name";

/// One ResourceClaim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClaimInfo {
    pub name: String,
    /// The pod's `resourceClaims[].name` it was generated for, if any.
    pub pod_claim: Option<String>,
    /// One line per request: `gpu: 1 of gpu.nvidia.com where <cel>`.
    pub requests: Vec<String>,
    /// One line per allocated device: `gpu: gpu.nvidia.com/node-a/gpu-0`.
    pub allocated: Vec<String>,
    /// The pods it is reserved for.
    pub reserved_for: Vec<String>,
}

impl ClaimInfo {
    /// What the claim asks for and got, one paragraph.
    pub fn describe(&self) -> String {
        let mut s = format!("ResourceClaim {}", self.name);
        if let Some(p) = &self.pod_claim {
            let _ = write!(s, " (pod claim {p})");
        }
        for r in &self.requests {
            let _ = write!(s, "\n  asks  {r}");
        }
        if self.allocated.is_empty() {
            s.push_str("\n  allocated: nothing");
        }
        for a in &self.allocated {
            let _ = write!(s, "\n  got   {a}");
        }
        if !self.reserved_for.is_empty() {
            let _ = write!(s, "\n  reserved for pods {}", self.reserved_for.join(", "));
        }
        s
    }
}

/// The evidence record of `c`.
pub fn claim_info(c: &ResourceClaim) -> ClaimInfo {
    let requests = c
        .spec
        .devices
        .as_ref()
        .and_then(|d| d.requests.as_ref())
        .into_iter()
        .flatten()
        .map(|r| match &r.exactly {
            Some(x) => {
                let count = x.count.unwrap_or(1);
                let how = match x.allocation_mode.as_deref() {
                    Some("All") => "every device".to_string(),
                    _ => count.to_string(),
                };
                let selectors: Vec<String> = x
                    .selectors
                    .iter()
                    .flatten()
                    .filter_map(|s| s.cel.as_ref().map(|c| format!("`{}`", c.expression)))
                    .collect();
                let mut line = format!("{}: {how} of {}", r.name, x.device_class_name);
                if !selectors.is_empty() {
                    let _ = write!(line, " where {}", selectors.join(" and "));
                }
                line
            }
            None => format!("{}: one of several alternatives (firstAvailable)", r.name),
        })
        .collect();
    let status = c.status.as_ref();
    let allocated = status
        .and_then(|s| s.allocation.as_ref())
        .and_then(|a| a.devices.as_ref())
        .and_then(|d| d.results.as_ref())
        .into_iter()
        .flatten()
        .map(|r| format!("{}: {}/{}/{}", r.request, r.driver, r.pool, r.device))
        .collect();
    let reserved_for = status
        .and_then(|s| s.reserved_for.as_ref())
        .into_iter()
        .flatten()
        .filter(|r| r.resource == "pods")
        .map(|r| r.name.clone())
        .collect();
    ClaimInfo {
        name: c.name_any(),
        pod_claim: c.annotations().get(POD_CLAIM_NAME).cloned(),
        requests,
        allocated,
        reserved_for,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_says_what_it_asks_and_got() {
        let c: ResourceClaim = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "srv-gpu-x", "annotations": { POD_CLAIM_NAME: "gpu" } },
            "spec": { "devices": { "requests": [{ "name": "gpu", "exactly": {
                "deviceClassName": "gpu.nvidia.com",
                "selectors": [{ "cel": { "expression": "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('1Ti')) >= 0" } }],
            } }] } },
        }))
        .expect("claim");
        let info = claim_info(&c);
        assert_eq!(
            info.describe(),
            "ResourceClaim srv-gpu-x (pod claim gpu)\n  asks  gpu: 1 of gpu.nvidia.com where `device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('1Ti')) >= 0`\n  allocated: nothing"
        );
    }
}
