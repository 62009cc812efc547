//! The Deployment controller's rollouts, from the Deployment's strategy
//! (maxSurge, maxUnavailable), its conditions, its ReplicaSets and their
//! availability (over the run when the recorder saw it, else at
//! collection):
//! - [`stalled`]: a rollout that missed its progress deadline, or whose new
//!   ReplicaSet is blocked, and what blocked it;
//! - [`capacity_dropped`]: requests that got no response while the
//!   Deployment had no available replica during a rollout.

use jiff::{SignedDuration, Timestamp};

use super::{Found, failed, plural, request_line};
use crate::evidence::{DeploymentInfo, Evidence, ReplicaSetInfo};
use report::{Decider, LoadReport};

/// Slack around a no-capacity interval for the requests it explains.
pub const SLACK: SignedDuration = SignedDuration::from_secs(5);

/// `25%` of `of`, rounded up (`surge`) or down; a plain number as is.
pub fn resolve(value: Option<&str>, of: i32, round_up: bool) -> i32 {
    let v = value.unwrap_or("25%");
    match v.strip_suffix('%').map(str::parse::<i64>) {
        Some(Ok(pct)) => {
            let scaled = pct * i64::from(of);
            let n = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            i32::try_from(n).unwrap_or(i32::MAX)
        }
        Some(Err(_)) => 0,
        None => v.parse().unwrap_or(0),
    }
}

/// What the strategy lets the controller do, in words.
fn strategy_text(d: &DeploymentInfo) -> String {
    if d.strategy.type_ == "Recreate" {
        return format!(
            "Its strategy Recreate stops all {} old pods before any new one starts.",
            d.desired
        );
    }
    let surge = resolve(d.strategy.max_surge.as_deref(), d.desired, true);
    let unavailable = resolve(d.strategy.max_unavailable.as_deref(), d.desired, false);
    format!(
        "Its strategy {} with {} allows at most {} pods in all and requires {} available at any time.",
        d.strategy.render(),
        plural(d.desired, "replica"),
        d.desired + surge,
        (d.desired - unavailable).max(0)
    )
}

/// What keeps the pods of `rs` from becoming available.
fn blockers(ev: &Evidence, rs: &ReplicaSetInfo) -> Vec<String> {
    let mut out = Vec::new();
    let pods = ev.pods_of_replica_set(&rs.name);
    if pods.is_empty()
        && let Some(e) = ev
            .events
            .iter()
            .rev()
            .find(|e| e.reason == "FailedCreate" && e.kind == "ReplicaSet" && e.name == rs.name)
    {
        out.push(format!(
            "replicaset/{} cannot create pods: `{}`",
            rs.name, e.message
        ));
    }
    for p in pods.iter().filter(|p| !p.ready) {
        if p.node.is_none() {
            out.push(format!("pod {} is not scheduled", p.name));
            continue;
        }
        if let Some((c, reason)) = p
            .containers
            .iter()
            .find_map(|c| Some((c, c.state.waiting_reason()?)))
            .filter(|(_, r)| *r != "ContainerCreating")
        {
            out.push(format!(
                "pod {} container {} is waiting: {reason}",
                p.name, c.name
            ));
            continue;
        }
        let failures: Vec<_> = ev
            .pod_events(&p.name)
            .filter(|e| e.reason == "Unhealthy")
            .collect();
        match failures.last() {
            Some(last) => out.push(format!(
                "pod {} is not Ready: its probe failed {} (last: `{}`)",
                p.name,
                plural(failures.iter().map(|e| e.count.max(1)).sum::<i32>(), "time"),
                last.message
            )),
            None => out.push(format!("pod {} is not Ready yet", p.name)),
        }
    }
    out
}

/// Total available replicas of `rss` over time: (when, total) at every change.
pub fn availability(rss: &[&ReplicaSetInfo]) -> Vec<(Timestamp, i32)> {
    let mut points: Vec<(Timestamp, usize, i32)> = rss
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.history.iter().map(move |p| (p.at, i, p.available)))
        .collect();
    points.sort_by_key(|p| p.0);
    let mut now = vec![0; rss.len()];
    let mut out: Vec<(Timestamp, i32)> = Vec::new();
    for (at, i, available) in points {
        now[i] = available;
        let total = now.iter().sum();
        if out.last().map(|l| l.1) != Some(total) {
            out.push((at, total));
        }
    }
    out
}

fn history_text(rss: &[&ReplicaSetInfo]) -> Option<String> {
    let series = availability(rss);
    let (low_at, low) = series.iter().skip(1).min_by_key(|p| p.1)?;
    let high = series.iter().map(|p| p.1).max()?;
    Some(format!(
        " Over the run, the available replicas of all revisions together ranged from {low} (lowest at {low_at}) to {high}."
    ))
}

pub fn stalled(ev: &Evidence) -> Vec<Found> {
    let mut out = Vec::new();
    for d in &ev.deployments {
        let rss = ev.replica_sets_of(&d.name);
        let Some(newest) = rss.last() else { continue };
        let old: Vec<&&ReplicaSetInfo> = rss[..rss.len() - 1]
            .iter()
            .filter(|r| r.replicas > 0)
            .collect();
        let deadline = d
            .condition("Progressing")
            .filter(|c| c.status == "False" && c.reason == "ProgressDeadlineExceeded");
        let blocked = blockers(ev, newest);
        let in_progress = d.updated < d.desired || newest.available < newest.desired;
        if deadline.is_none() && !(in_progress && !old.is_empty() && !blocked.is_empty()) {
            continue;
        }
        let mut summary = match deadline {
            Some(c) => format!(
                "The Deployment controller gave up on the rollout of deployment/{}: condition Progressing=False, reason ProgressDeadlineExceeded{}: `{}`.",
                d.name,
                d.progress_deadline_seconds
                    .map(|s| format!(" (progressDeadlineSeconds {s})"))
                    .unwrap_or_default(),
                c.message
            ),
            None => format!(
                "The rollout of deployment/{} is not progressing: its newest ReplicaSet cannot become available.",
                d.name
            ),
        };
        summary.push_str(&format!(
            " {} Its newest revision {} (replicaset/{}, {}) has {}/{} available",
            strategy_text(d),
            newest.revision,
            newest.name,
            newest.images.join(", "),
            newest.available,
            newest.desired
        ));
        if old.is_empty() {
            summary.push('.');
        } else {
            let olds: Vec<String> = old
                .iter()
                .map(|r| {
                    format!(
                        "revision {} with {}/{} available",
                        r.revision, r.available, r.replicas
                    )
                })
                .collect();
            summary.push_str(&format!(
                ", so the controller keeps the old {} running ({}).",
                if old.len() == 1 {
                    "ReplicaSet"
                } else {
                    "ReplicaSets"
                },
                olds.join(", ")
            ));
        }
        if blocked.is_empty() {
            summary.push_str(" Its pods are not available, though none reports why.");
        } else {
            summary.push_str(&format!(" What blocks it: {}.", blocked.join("; ")));
        }
        if let Some(h) = history_text(&rss) {
            summary.push_str(&h);
        }
        let mut evidence: Vec<String> = d
            .conditions
            .iter()
            .map(|c| {
                format!(
                    "deployment/{} condition {}: {}",
                    d.name,
                    c.render(),
                    c.message
                )
            })
            .collect();
        evidence.extend(rss.iter().map(|r| r.render()));
        out.push(Found::new(Decider::RolloutController, summary, evidence));
    }
    out
}

pub fn capacity_dropped(ev: &Evidence, loads: &[LoadReport]) -> Vec<Found> {
    let mut out = Vec::new();
    let dropped: Vec<_> = failed(loads).filter(|(_, f)| f.status.is_none()).collect();
    if dropped.is_empty() {
        return out;
    }
    for d in &ev.deployments {
        let rss = ev.replica_sets_of(&d.name);
        if rss.len() < 2 {
            continue; // no rollout
        }
        let series = availability(&rss);
        // Intervals with no available replica, after the first became available.
        let mut gaps: Vec<(Timestamp, Timestamp)> = Vec::new();
        let mut seen_up = false;
        for (i, (at, total)) in series.iter().enumerate() {
            if *total > 0 {
                seen_up = true;
                continue;
            }
            if seen_up {
                let end = series
                    .get(i + 1)
                    .map(|n| n.0)
                    .or(ev.collected_at)
                    .unwrap_or(*at);
                gaps.push((*at, end));
            }
        }
        let unavailable = resolve(d.strategy.max_unavailable.as_deref(), d.desired, false);
        let explained: Vec<_> = dropped
            .iter()
            .filter(|(_, f)| {
                gaps.iter().any(|(a, b)| {
                    f.at.duration_since(*a) >= -SLACK && f.at.duration_since(*b) <= SLACK
                })
            })
            .collect();
        let by_strategy = series.is_empty() && d.desired - unavailable <= 0;
        if explained.is_empty() && !by_strategy {
            continue;
        }
        let shown = if explained.is_empty() {
            dropped.iter().collect::<Vec<_>>()
        } else {
            explained
        };
        let when = match gaps.first() {
            Some((a, b)) => format!(
                "while deployment/{} had no available replica (all revisions together, from {a} to {b})",
                d.name
            ),
            None => format!(
                "during the rollout of deployment/{}, whose strategy lets its available replicas drop to zero",
                d.name
            ),
        };
        out.push(Found::new(
            Decider::RolloutController,
            format!(
                "{} got no response {when}. {} With it, the rollout controller may stop old pods before new ones are available. Keep maxUnavailable at 0 with maxSurge of at least 1 (or run more replicas) so capacity never reaches zero.",
                plural(shown.len() as i64, "request"),
                strategy_text(d)
            ),
            shown
                .iter()
                .take(3)
                .map(|(l, f)| request_line(l, f))
                .chain(rss.iter().map(|r| {
                    format!(
                        "revision {}: replicaset/{} desired={} available={}",
                        r.revision, r.name, r.desired, r.available
                    )
                }))
                .collect(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{ReplicaPoint, Strategy};
    use report::{FailedRequest, Percentiles};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("time")
    }

    fn rs(name: &str, revision: i64, points: &[(i64, i32)]) -> ReplicaSetInfo {
        ReplicaSetInfo {
            name: name.into(),
            deployment: Some("m".into()),
            revision,
            desired: 1,
            history: points
                .iter()
                .map(|(t, a)| ReplicaPoint {
                    at: at(*t),
                    replicas: 1,
                    ready: *a,
                    available: *a,
                })
                .collect(),
            ..ReplicaSetInfo::default()
        }
    }

    fn load(failed_at: &[i64]) -> LoadReport {
        LoadReport {
            name: "during".into(),
            target: "service/m:8000".into(),
            request: "completions".into(),
            users: 1,
            started: at(0),
            finished: at(60),
            requests: 10,
            failures: failed_at.len() as u64,
            throughput_rps: 1.0,
            error_rate: 0.0,
            latency_ms: Percentiles::default(),
            ttft_ms: None,
            by_status: Default::default(),
            by_version: Default::default(),
            failed_by_version: Default::default(),
            by_pod: Default::default(),
            buckets: Vec::new(),
            path: Default::default(),
            offered_rps: None,
            itl_ms: None,
            tpot_ms: None,
            output_tokens: 0,
            output_tokens_per_s: 0.0,
            goodput: None,
            stages: Vec::new(),
            saturation: None,
            server_view: None,
            mix: Vec::new(),
            failed_samples: failed_at
                .iter()
                .map(|t| FailedRequest {
                    at: at(*t),
                    status: None,
                    error: "connection reset".into(),
                    pod: None,
                    request_bytes: 10,
                })
                .collect(),
        }
    }

    fn no_headroom() -> Evidence {
        Evidence {
            deployments: vec![DeploymentInfo {
                name: "m".into(),
                desired: 1,
                strategy: Strategy {
                    type_: "RollingUpdate".into(),
                    max_surge: Some("0".into()),
                    max_unavailable: Some("1".into()),
                },
                ..DeploymentInfo::default()
            }],
            // v1 goes at 10 s, v2 is available at 30 s.
            replica_sets: vec![
                rs("m-1", 1, &[(0, 1), (10, 0)]),
                rs("m-2", 2, &[(11, 0), (30, 1)]),
            ],
            ..Evidence::default()
        }
    }

    #[test]
    fn requests_dropped_while_nothing_was_available_are_the_strategys() {
        let found = capacity_dropped(&no_headroom(), &[load(&[15, 20])]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0]
                .summary
                .contains("2 requests got no response while deployment/m had no available replica"),
            "{}",
            found[0].summary
        );
        assert!(
            found[0]
                .summary
                .contains("maxSurge=0 maxUnavailable=1 with 1 replica"),
            "{}",
            found[0].summary
        );
    }

    #[test]
    fn requests_dropped_outside_the_gap_are_not_the_strategys() {
        assert!(capacity_dropped(&no_headroom(), &[load(&[50])]).is_empty());
        assert!(capacity_dropped(&no_headroom(), &[load(&[])]).is_empty());
    }

    #[test]
    fn percentages_round_like_the_controller() {
        assert_eq!(resolve(None, 2, true), 1);
        assert_eq!(resolve(None, 2, false), 0);
        assert_eq!(resolve(Some("1"), 4, false), 1);
        assert_eq!(resolve(Some("50%"), 3, false), 1);
        assert_eq!(resolve(Some("50%"), 3, true), 2);
        assert_eq!(resolve(Some("x%"), 3, true), 0);
    }
}
