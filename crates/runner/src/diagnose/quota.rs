//! Admission refused a controller's pods: `FailedCreate` events of a
//! ReplicaSet, Job, StatefulSet or DaemonSet whose message names one of the
//! namespace's ResourceQuotas (`exceeded quota: NAME`) or, with a
//! LimitRange in the namespace, a limit it enforces.

use super::Found;
use crate::evidence::{EventLine, Evidence};
use report::Decider;

const CONTROLLERS: [&str; 4] = ["ReplicaSet", "Job", "StatefulSet", "DaemonSet"];

pub fn rule(ev: &Evidence) -> Vec<Found> {
    let failed: Vec<&EventLine> = ev
        .events
        .iter()
        .filter(|e| e.reason == "FailedCreate" && CONTROLLERS.contains(&e.kind.as_str()))
        .collect();
    let mut out = Vec::new();
    for q in &ev.quotas {
        let mine: Vec<&&EventLine> = failed
            .iter()
            .filter(|e| e.message.contains(&format!("exceeded quota: {}", q.name)))
            .collect();
        let Some(last) = mine.last() else { continue };
        let usage: Vec<String> = q
            .hard
            .iter()
            .map(|(k, hard)| {
                format!(
                    "{k} used {} of {hard}",
                    q.used.get(k).map_or("?", String::as_str)
                )
            })
            .collect();
        out.push(Found::new(
            Decider::Admission,
            format!(
                "The API server's ResourceQuota admission refused the pods of {}: resourcequota/{} ({}) leaves no room for them. The {} recorded `{}`. No pod is created until the quota is raised or other pods in the namespace are removed.",
                last.object(),
                q.name,
                usage.join(", "),
                last.reporter(),
                last.message
            ),
            mine.iter().rev().take(3).map(|e| e.render()).collect(),
        ));
    }
    if ev.limit_ranges.is_empty() {
        return out;
    }
    let by_limits: Vec<&&EventLine> = failed
        .iter()
        .filter(|e| {
            e.message.contains("forbidden")
                && !ev
                    .quotas
                    .iter()
                    .any(|q| e.message.contains(&format!("exceeded quota: {}", q.name)))
        })
        .collect();
    if let Some(last) = by_limits.last() {
        let limits: Vec<String> = ev
            .limit_ranges
            .iter()
            .map(|l| format!("limitrange/{} ({})", l.name, l.limits.join(", ")))
            .collect();
        out.push(Found::new(
            Decider::Admission,
            format!(
                "The API server's LimitRange admission refused the pods of {}: the namespace's {} does not allow what the pod template asks for. The {} recorded `{}`. Bring the template's requests and limits within the range, or change the LimitRange.",
                last.object(),
                limits.join("; "),
                last.reporter(),
                last.message
            ),
            by_limits.iter().rev().take(3).map(|e| e.render()).collect(),
        ));
    }
    out
}
