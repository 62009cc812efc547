//! A Service whose selector matches no pod: the endpoint controller
//! publishes no endpoints, so every connection fails although the pods are
//! Ready.

use std::collections::BTreeMap;

use super::Found;
use crate::evidence::Evidence;
use report::Decider;

pub fn rule(ev: &Evidence) -> Vec<Found> {
    let mut out = Vec::new();
    for s in &ev.services {
        if s.selector.is_empty()
            || !s.ready.is_empty()
            || !s.matching_pods.is_empty()
            || ev.pods.is_empty()
        {
            continue;
        }
        let sel: Vec<String> = s.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut carried: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &ev.pods {
            for k in s.selector.keys() {
                if let Some(v) = p.labels.get(k) {
                    carried
                        .entry(format!("{k}={v}"))
                        .or_default()
                        .push(p.name.clone());
                }
            }
        }
        let pods_say = if carried.is_empty() {
            "no pod carries any of those label keys".to_string()
        } else {
            format!(
                "the pods carry {}",
                carried.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        let pods: Vec<String> = ev
            .pods
            .iter()
            .map(|p| {
                let labels: Vec<String> =
                    p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{} {{{}}}", p.name, labels.join(","))
            })
            .collect();
        out.push(Found::new(
            Decider::ServiceSelector,
            format!(
                "service/{} selects {{{}}}, but no pod in the namespace has those labels ({pods_say}). The endpoint controller therefore publishes no endpoints for it, and every connection to the Service fails although the pods themselves are Ready. Make the Service's selector and the pod template's labels agree.",
                s.name,
                sel.join(", ")
            ),
            vec![
                format!(
                    "service/{} selector {{{}}}: ready endpoints (none), matching pods (none)",
                    s.name,
                    sel.join(",")
                ),
                format!("pods: {}", pods.join("; ")),
            ],
        ));
    }
    out
}
