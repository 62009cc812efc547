//! The kernel's OOM killer ended a container: its termination with reason
//! `OOMKilled` (current or last state) and when it finished, tied to the
//! failed requests sent within a window around that moment.

use jiff::{SignedDuration, Timestamp};

use super::{Found, failed, plural, request_line};
use crate::evidence::Evidence;
use report::{Decider, LoadReport};

/// How long before the kill a failed request may have been sent (it was
/// in flight when the process died).
pub const BEFORE: SignedDuration = SignedDuration::from_secs(30);
/// How long after the kill a failed request may have been sent (the
/// container was restarting).
pub const AFTER: SignedDuration = SignedDuration::from_secs(10);

fn within(at: Timestamp, kill: Timestamp) -> bool {
    let d = at.duration_since(kill);
    d >= -BEFORE && d <= AFTER
}

pub fn rule(ev: &Evidence, loads: &[LoadReport]) -> Vec<Found> {
    let mut out = Vec::new();
    for pod in &ev.pods {
        for c in &pod.containers {
            let Some(t) = c.oom_kill() else { continue };
            let mut summary = format!(
                "The kernel's OOM killer ended container `{}` of pod {} (reason OOMKilled, exit code {}{}): it used more memory than its limit of {}. The kubelet restarted it ({} so far).",
                c.name,
                pod.name,
                t.exit_code,
                t.finished_at
                    .map(|f| format!(", at {f}"))
                    .unwrap_or_default(),
                c.memory_limit
                    .as_deref()
                    .unwrap_or("(no limit: the node ran out)"),
                plural(c.restarts, "restart"),
            );
            let mut evidence = vec![format!(
                "pod/{} container {}: terminated {} (exit code {}) at {}",
                pod.name,
                c.name,
                t.reason,
                t.exit_code,
                t.finished_at
                    .map(|f| f.to_string())
                    .unwrap_or_else(|| "(no time)".into())
            )];
            match t.finished_at {
                None => summary.push_str(
                    " The kubelet recorded no finish time, so no failed request can be tied to the kill.",
                ),
                Some(kill) => {
                    let mut near: Vec<_> = failed(loads).filter(|(_, f)| within(f.at, kill)).collect();
                    near.sort_by_key(|(_, f)| f.at.duration_since(kill).abs());
                    match near.first() {
                        None if failed(loads).next().is_some() => summary.push_str(&format!(
                            " No failed request was sent between {}s before and {}s after the kill.",
                            BEFORE.as_secs(),
                            AFTER.as_secs()
                        )),
                        None => {}
                        Some((load, f)) => {
                            let no_response = near.iter().filter(|(_, f)| f.status.is_none()).count();
                            summary.push_str(&format!(
                                " {} sent between {}s before and {}s after the kill failed ({no_response} without a response); the closest, sent by load `{}` at {} with a {}-byte body, {}.",
                                plural(near.len() as i64, "request"),
                                BEFORE.as_secs(),
                                AFTER.as_secs(),
                                load.name,
                                f.at,
                                f.request_bytes,
                                match f.status {
                                    Some(s) => format!("got HTTP {s}"),
                                    None => "got no response".into(),
                                }
                            ));
                            evidence.extend(near.iter().take(3).map(|(l, f)| request_line(l, f)));
                        }
                    }
                }
            }
            evidence.extend(
                ev.pod_events(&pod.name)
                    .filter(|e| e.warning)
                    .take(3)
                    .map(|e| e.render()),
            );
            out.push(Found::new(Decider::KernelOomKiller, summary, evidence));
        }
    }
    out
}
