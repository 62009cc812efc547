//! The kubelet could not fetch a container's image (or the artifact it
//! names): containers waiting in `ErrImagePull` / `ImagePullBackOff` (or
//! `InvalidImageName`, `ErrImageNeverPull`), with the kubelet's `Failed`
//! and `BackOff` events for those pods.

use std::collections::BTreeMap;

use super::{Found, plural};
use crate::evidence::{Evidence, PodInfo};
use report::Decider;

const REASONS: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// What one image's failed pulls share: the containers that name it, their
/// pods, and the kubelet's waiting reasons.
type Pulls<'a> = (Vec<&'a str>, Vec<&'a PodInfo>, Vec<&'a str>);

/// The kubelet's pull error for `pod`, when its status has not caught up
/// (still `ContainerCreating` a moment after the kubelet's `Error:
/// ErrImagePull` event): the reason the event gives.
fn reason_from_events<'a>(ev: &'a Evidence, pod: &str) -> Option<&'a str> {
    ev.events
        .iter()
        .filter(|e| e.warning && e.reason == "Failed" && e.about_pod(pod))
        .find_map(|e| {
            REASONS
                .iter()
                .copied()
                .find(|r| e.message == format!("Error: {r}"))
        })
}

pub fn rule(ev: &Evidence) -> Vec<Found> {
    let mut by_image: BTreeMap<&str, Pulls<'_>> = BTreeMap::new();
    for p in &ev.pods {
        for c in &p.containers {
            let reason = match c.state.waiting_reason() {
                Some(r) if REASONS.contains(&r) => Some(r),
                Some("ContainerCreating") => reason_from_events(ev, &p.name),
                _ => None,
            };
            let Some(reason) = reason else {
                continue;
            };
            let entry = by_image.entry(c.image.as_str()).or_default();
            if !entry.0.contains(&c.name.as_str()) {
                entry.0.push(&c.name);
            }
            entry.1.push(p);
            if !entry.2.contains(&reason) {
                entry.2.push(reason);
            }
        }
    }
    by_image
        .into_iter()
        .map(|(image, (containers, pods, reasons))| {
            let events: Vec<_> = ev
                .events
                .iter()
                .filter(|e| {
                    e.warning
                        && pods.iter().any(|p| e.about_pod(&p.name))
                        && (e.reason == "Failed" || e.reason == "BackOff")
                })
                .collect();
            // The kubelet's own pull error says more than `Error: ImagePullBackOff`.
            let said = events
                .iter()
                .rev()
                .find(|e| e.reason == "Failed" && e.message.contains("pull image"))
                .or_else(|| events.iter().rev().find(|e| e.reason == "Failed"))
                .map(|e| format!(" It recorded `{}`.", e.message))
                .unwrap_or_default();
            let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
            Found::new(
                Decider::Kubelet,
                format!(
                    "The kubelet could not pull image `{image}` for container `{}` of {} {} ({}).{said} The container cannot start until the image (or the artifact it names) can be fetched: check the image name and tag, that the registry is reachable from the nodes, and the pod's imagePullSecrets.",
                    containers.join("`, `"),
                    if pods.len() == 1 { "pod" } else { "pods" },
                    names.join(", "),
                    reasons.join(", ")
                ),
                pods.iter()
                    .flat_map(|p| {
                        p.containers
                            .iter()
                            .filter(|c| c.image == image)
                            .map(move |c| {
                                format!(
                                    "pod/{} container {}: {} ({})",
                                    p.name,
                                    c.name,
                                    c.state.render(),
                                    plural(c.restarts, "restart")
                                )
                            })
                    })
                    .chain(events.iter().rev().take(3).map(|e| e.render()))
                    .collect(),
            )
        })
        .collect()
}
