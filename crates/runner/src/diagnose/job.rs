//! The Job controller, from the Jobs' conditions and counts and their
//! pods' states:
//! - [`failed`]: Jobs it marked Failed (the retry budget spent, the
//!   deadline passed), with the last failed pod's exit code and message;
//! - [`ended_instead`]: a Job awaited as Failed that it marked Complete
//!   (or the other way round);
//! - [`message_instead`]: a Job pod whose termination message was not
//!   what a check expected, with how the Job got there and the pod's
//!   volumes (an `emptyDir` starts empty in every new pod).

use serde_json::Value;

use super::{Found, plural};
use crate::evidence::{ContainerState, Evidence, JobInfo, PodInfo};
use report::Decider;

/// The pods of job `name`, oldest first.
fn pods_of<'a>(ev: &'a Evidence, name: &str) -> Vec<&'a PodInfo> {
    let owner = format!("Job/{name}");
    let mut pods: Vec<&PodInfo> = ev
        .pods
        .iter()
        .filter(|p| p.owner.as_deref() == Some(owner.as_str()))
        .collect();
    pods.sort_by_key(|p| p.created);
    pods
}

/// `pod/x Failed: container c exit code 1, message {...}`.
fn pod_line(p: &PodInfo) -> String {
    let ends: Vec<String> = p
        .containers
        .iter()
        .filter_map(|c| match &c.state {
            ContainerState::Terminated(t) => Some(format!(
                "container {} {} (exit code {}){}",
                c.name,
                t.reason,
                t.exit_code,
                if t.message.trim().is_empty() {
                    String::new()
                } else {
                    format!(", message {}", t.message.trim())
                }
            )),
            _ => None,
        })
        .collect();
    format!(
        "pod/{} {}{}",
        p.name,
        p.phase,
        if ends.is_empty() {
            String::new()
        } else {
            format!(": {}", ends.join("; "))
        }
    )
}

fn counts(j: &JobInfo) -> String {
    format!(
        "{} succeeded and {} failed (backoffLimit {})",
        plural(j.succeeded, "pod"),
        j.failed,
        j.backoff_limit
            .map_or("6, the default".into(), |b| b.to_string())
    )
}

fn evidence(ev: &Evidence, j: &JobInfo) -> Vec<String> {
    j.conditions
        .iter()
        .map(|c| format!("job/{}: {}: {}", j.name, c.render(), c.message))
        .chain(pods_of(ev, &j.name).into_iter().map(pod_line))
        .collect()
}

/// The Jobs the Job controller marked Failed.
pub fn failed(ev: &Evidence) -> Vec<Found> {
    ev.jobs
        .iter()
        .filter_map(|j| {
            let c = j.holds("Failed")?;
            let last = pods_of(ev, &j.name)
                .into_iter()
                .rev()
                .find(|p| p.phase == "Failed")
                .map(|p| format!(" The last failed pod: {}.", pod_line(p)))
                .unwrap_or_default();
            Some(Found::new(
                Decider::JobController,
                format!(
                    "The Job controller marked job/{} Failed ({}: {}): {}.{last}",
                    j.name,
                    c.reason,
                    c.message,
                    counts(j)
                ),
                evidence(ev, j),
            ))
        })
        .collect()
}

/// A Job awaited as `condition` (`Failed`) that ended the other way.
pub fn ended_instead(ev: &Evidence, observed: &Value) -> Option<Found> {
    let name = observed["object"].as_str()?.strip_prefix("job/")?;
    let condition = observed["condition"].as_str()?;
    let j = ev.jobs.iter().find(|j| j.name == name)?;
    let other = ["Complete", "Failed"]
        .into_iter()
        .filter(|t| *t != condition)
        .find_map(|t| j.holds(t))?;
    Some(Found::new(
        Decider::JobController,
        format!(
            "The Job controller marked job/{name} {} ({}: {}): {}, so it never became {condition}.",
            other.type_,
            other.reason,
            other.message,
            counts(j)
        ),
        evidence(ev, j),
    ))
}

/// A Job pod whose termination message was not what the check expected.
pub fn message_instead(ev: &Evidence, observed: &Value) -> Option<Found> {
    let pod = observed["pod"].as_str()?;
    let p = ev.pods.iter().find(|p| p.name == pod)?;
    let job = p.owner.as_deref()?.strip_prefix("Job/")?;
    let j = ev.jobs.iter().find(|j| j.name == job)?;
    let message = p.containers.iter().find_map(|c| match &c.state {
        ContainerState::Terminated(t) if !t.message.trim().is_empty() => {
            Some(t.message.trim().to_string())
        }
        _ => None,
    })?;
    let scratch: Vec<&str> = p
        .volumes
        .iter()
        .filter(|v| v.ends_with(": emptyDir"))
        .map(|v| v.trim_end_matches(": emptyDir"))
        .collect();
    let volumes = if scratch.is_empty() {
        format!(
            " Its volumes: {}.",
            if p.volumes.is_empty() {
                "none".to_string()
            } else {
                p.volumes.join(", ")
            }
        )
    } else {
        format!(
            " Its volume{} {} {} an emptyDir, which starts empty in every new pod: nothing an earlier pod wrote there survives a retry.",
            if scratch.len() == 1 { "" } else { "s" },
            scratch.join(", "),
            if scratch.len() == 1 { "is" } else { "are" }
        )
    };
    Some(Found::new(
        Decider::JobController,
        format!(
            "The Job controller ran job/{job} to {}: {}. Pod {pod} ended with the message {message}, not what the check expected.{volumes}",
            if j.holds("Complete").is_some() {
                "completion"
            } else if j.holds("Failed").is_some() {
                "failure"
            } else {
                "this point"
            },
            counts(j)
        ),
        evidence(ev, j),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{Condition, ContainerInfo, Terminated};
    use serde_json::json;

    fn job(name: &str, ended: &str, reason: &str, succeeded: i32, failed: i32) -> JobInfo {
        JobInfo {
            name: name.into(),
            backoff_limit: Some(1),
            succeeded,
            failed,
            conditions: vec![Condition {
                type_: ended.into(),
                status: "True".into(),
                reason: reason.into(),
                message: "Job has reached the specified backoff limit".into(),
                last_transition: None,
            }],
            ..JobInfo::default()
        }
    }

    fn pod(name: &str, job: &str, phase: &str, code: i32, message: &str, volume: &str) -> PodInfo {
        PodInfo {
            name: name.into(),
            phase: phase.into(),
            owner: Some(format!("Job/{job}")),
            volumes: vec![volume.into()],
            containers: vec![ContainerInfo {
                name: "trainer".into(),
                state: ContainerState::Terminated(Terminated {
                    reason: if code == 0 { "Completed" } else { "Error" }.into(),
                    exit_code: code,
                    message: message.into(),
                    ..Terminated::default()
                }),
                ..ContainerInfo::default()
            }],
            ..PodInfo::default()
        }
    }

    #[test]
    fn a_spent_retry_budget_is_quoted_with_the_last_failed_pod() {
        let ev = Evidence {
            jobs: vec![job("crash", "Failed", "BackoffLimitExceeded", 0, 2)],
            pods: vec![pod(
                "crash-a",
                "crash",
                "Failed",
                1,
                r#"{"outcome":"failed"}"#,
                "c: emptyDir",
            )],
            ..Evidence::default()
        };
        let f = failed(&ev);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].decider, Decider::JobController);
        assert_eq!(
            f[0].summary,
            "The Job controller marked job/crash Failed (BackoffLimitExceeded: Job has reached the specified backoff limit): 0 pods succeeded and 2 failed (backoffLimit 1). The last failed pod: pod/crash-a Failed: container trainer Error (exit code 1), message {\"outcome\":\"failed\"}."
        );
    }

    #[test]
    fn a_job_that_completed_instead_of_failing_is_named() {
        let mut j = job("crash", "Complete", "CompletionsReached", 1, 0);
        j.conditions[0].message = "Reached expected number of succeeded pods".into();
        let ev = Evidence {
            jobs: vec![j],
            ..Evidence::default()
        };
        let f = ended_instead(&ev, &json!({"object": "job/crash", "condition": "Failed"})).unwrap();
        assert_eq!(
            f.summary,
            "The Job controller marked job/crash Complete (CompletionsReached: Reached expected number of succeeded pods): 1 pod succeeded and 0 failed (backoffLimit 1), so it never became Failed."
        );
        assert!(
            ended_instead(
                &ev,
                &json!({"object": "deployment/x", "condition": "Failed"})
            )
            .is_none()
        );
        assert!(failed(&ev).is_empty());
    }

    #[test]
    fn a_message_from_a_pod_on_scratch_space_names_the_volume() {
        let ev = Evidence {
            jobs: vec![job("trainer", "Complete", "CompletionsReached", 1, 1)],
            pods: vec![pod(
                "trainer-b",
                "trainer",
                "Succeeded",
                0,
                r#"{"startEpoch":0}"#,
                "checkpoints: emptyDir",
            )],
            ..Evidence::default()
        };
        let f = message_instead(&ev, &json!({"pod": "trainer-b", "startEpoch": 0})).unwrap();
        assert!(
            f.summary.ends_with("Its volume checkpoints is an emptyDir, which starts empty in every new pod: nothing an earlier pod wrote there survives a retry."),
            "{}",
            f.summary
        );
        assert!(
            f.summary
                .contains("Pod trainer-b ended with the message {\"startEpoch\":0}")
        );
    }
}
