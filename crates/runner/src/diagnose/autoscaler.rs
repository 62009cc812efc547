//! A HorizontalPodAutoscaler that cannot or may not scale: its conditions
//! (`AbleToScale=False`, `ScalingActive=False`, `ScalingLimited=True`) and
//! its warning events (`FailedGetResourceMetric`, ...).

use super::Found;
use crate::evidence::{Condition, Evidence};
use report::Decider;

fn trouble(c: &Condition) -> bool {
    matches!(
        (c.type_.as_str(), c.status.as_str()),
        ("AbleToScale", "False") | ("ScalingActive", "False") | ("ScalingLimited", "True")
    )
}

pub fn rule(ev: &Evidence) -> Vec<Found> {
    let mut out = Vec::new();
    for h in &ev.hpas {
        let events: Vec<_> = ev
            .events
            .iter()
            .filter(|e| e.kind == "HorizontalPodAutoscaler" && e.name == h.name && e.warning)
            .collect();
        let bad: Vec<&Condition> = h.conditions.iter().filter(|c| trouble(c)).collect();
        if bad.is_empty() && events.is_empty() {
            continue;
        }
        let said: Vec<String> = bad
            .iter()
            .map(|c| format!("{} ({}): {}", c.render(), c.reason, c.message))
            .collect();
        out.push(Found::new(
            Decider::Autoscaler,
            format!(
                "The horizontal pod autoscaler hpa/{} has {} replicas (desired {}, bounds {}..{}); {}{}.",
                h.name,
                h.current,
                h.desired,
                h.min,
                h.max,
                if said.is_empty() {
                    "its conditions report no trouble".to_string()
                } else {
                    format!("it reports {}", said.join("; "))
                },
                events
                    .last()
                    .map(|e| format!(", and it last warned `{}: {}`", e.reason, e.message))
                    .unwrap_or_default()
            ),
            h.conditions
                .iter()
                .map(|c| format!("hpa/{} condition {}: {}", h.name, c.render(), c.message))
                .chain(events.iter().rev().take(2).map(|e| e.render()))
                .collect(),
        ));
    }
    out
}
