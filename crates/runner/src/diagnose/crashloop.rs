//! A container that keeps exiting: restarts with back-off
//! (`CrashLoopBackOff`, or the kubelet's `BackOff` events), quoting its
//! last termination (exit code, reason, when) and the last line it logged
//! before it. OOM kills and liveness kills have their own rules.

use super::{Found, liveness, plural};
use crate::evidence::Evidence;
use report::Decider;

pub fn rule(ev: &Evidence) -> Vec<Found> {
    let by_liveness = liveness::killed_before_ready(ev);
    let mut out = Vec::new();
    for pod in &ev.pods {
        for c in &pod.containers {
            let Some(t) = &c.last_terminated else {
                continue;
            };
            if t.reason == "OOMKilled"
                || by_liveness
                    .iter()
                    .any(|k| k.pod.name == pod.name && k.container.name == c.name)
            {
                continue;
            }
            let back_off: Vec<_> = ev
                .pod_events(&pod.name)
                .filter(|e| {
                    e.reason == "BackOff"
                        && e.field_path
                            .as_deref()
                            .is_none_or(|f| f.contains(&format!("{{{}}}", c.name)))
                        && !e.message.contains("pulling image")
                })
                .collect();
            let looping = c.state.waiting_reason() == Some("CrashLoopBackOff");
            if c.restarts == 0 || (!looping && back_off.is_empty()) {
                continue;
            }
            let ran = match (t.started_at, t.finished_at) {
                (Some(s), Some(f)) => format!(" after running {}s", f.duration_since(s).as_secs()),
                _ => String::new(),
            };
            let last_log = ev
                .logs
                .iter()
                .find(|l| l.pod == pod.name && l.container == c.name && l.previous)
                .and_then(|l| l.text.lines().rev().find(|line| !line.trim().is_empty()))
                .map(|line| format!(" Its last log line before that: `{}`.", line.trim()))
                .unwrap_or_default();
            out.push(Found::new(
                Decider::Kubelet,
                format!(
                    "Container `{}` of pod {} keeps exiting: its last run ended with exit code {}{} (reason {}{}){ran}, and the kubelet has restarted it {} with growing back-off ({}).{last_log} The container's command fails on its own: read its previous log, its arguments and its configuration.",
                    c.name,
                    pod.name,
                    t.exit_code,
                    t.signal.map(|s| format!(", signal {s}")).unwrap_or_default(),
                    if t.reason.is_empty() { "none" } else { t.reason.as_str() },
                    t.finished_at.map(|f| format!(", at {f}")).unwrap_or_default(),
                    plural(c.restarts, "time"),
                    c.state.render()
                ),
                std::iter::once(format!(
                    "pod/{} container {}: last terminated {} (exit code {}), {}",
                    pod.name,
                    c.name,
                    t.reason,
                    t.exit_code,
                    plural(c.restarts, "restart")
                ))
                .chain(back_off.iter().rev().take(2).map(|e| e.render()))
                .collect(),
            ));
        }
    }
    out
}
