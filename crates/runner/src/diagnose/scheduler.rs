//! The scheduler could not place a pod: its `FailedScheduling` events and
//! the pods still unscheduled (`PodScheduled=False`).

use super::Found;
use crate::evidence::{EventLine, Evidence};
use report::Decider;

/// Why a pod's claims could not be allocated, with what they ask for.
fn claims_hint(ev: &Evidence) -> String {
    let unallocated: Vec<String> = ev
        .claims
        .iter()
        .filter(|c| c.allocated.is_empty())
        .map(|c| format!("`{}` asks {}", c.name, c.requests.join("; ")))
        .collect();
    let asks = if unallocated.is_empty() {
        String::new()
    } else {
        format!(" Unallocated: {}.", unallocated.join("; "))
    };
    format!(
        " No node's ResourceSlices have a free device that matches every request of the pod's ResourceClaims (DRA).{asks} Check the device class and selectors against the devices the drivers publish (`kubectl get resourceslices -o yaml`); a device already allocated, or withdrawn by its driver (unhealthy), is not free."
    )
}

pub fn rule(ev: &Evidence) -> Option<Found> {
    let failed: Vec<&EventLine> = ev
        .events
        .iter()
        .filter(|e| e.reason == "FailedScheduling" && e.kind == "Pod")
        .collect();
    let last = failed.last()?;
    let pending: Vec<&str> = ev
        .pods
        .iter()
        .filter(|p| {
            p.node.is_none()
                && p.condition("PodScheduled")
                    .is_none_or(|c| c.status != "True")
        })
        .map(|p| p.name.as_str())
        .collect();
    // The most specific reason first: the control plane's taint is in
    // nearly every message beside the reason that matters.
    let hint = if last.message.contains("Insufficient nvidia.com/gpu") {
        " The GPU pool has fewer free `nvidia.com/gpu` than the pod requests: lower the request, add GPU nodes, or free GPUs held by other pods."
    } else if last.message.contains("cannot allocate all claims") {
        &claims_hint(ev)
    } else if last.message.contains("untolerated taint") {
        " The only nodes with room are tainted and the pod does not tolerate the taint: add the toleration (GPU nodes carry `nvidia.com/gpu`)."
    } else if last.message.contains("node affinity/selector") {
        " No node carries the labels the pod's nodeSelector or affinity asks for: check the label names against the nodes'."
    } else {
        ""
    };
    let times: i32 = failed.iter().map(|e| e.count.max(1)).sum();
    Some(Found::new(
        Decider::Scheduler,
        format!(
            "The scheduler{} could not place {} ({}): it recorded `{}`.{hint} The pod stays Pending until that changes{}.",
            if last.source.is_empty() {
                String::new()
            } else {
                format!(" ({})", last.source)
            },
            last.object(),
            if pending.is_empty() {
                "it was placed later".to_string()
            } else {
                format!("still Pending: {}", pending.join(", "))
            },
            last.message,
            if times > 1 {
                format!("; the scheduler said so {times} times")
            } else {
                String::new()
            }
        ),
        failed.iter().rev().take(3).map(|e| e.render()).collect(),
    ))
}
