//! `expect: { terminationMessage: { job, matches } }`: what a Job's pod
//! said when it ended. A trainer or batch worker writes a JSON summary to
//! `/dev/termination-log`; the kubelet puts it in the container's
//! terminated state, where it outlives the process (`kubectl describe`
//! shows it as `Message`). The check watches the Job's pods until one
//! ended with a message that parses as JSON and matches the pattern; the
//! observation is the newest such message, so a negative twin matches on
//! the values the pod reported (`startEpoch: 0`), not on words. Once the
//! Job has finished (Complete or Failed) no pod will say anything new, so
//! a message that does not match is the verdict at once, not at the
//! deadline.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use report::CheckKind;
use serde_json::{Value, json};

use crate::context::{Check, Ctx, Observed, OpResult};
use crate::watch::{self, Seen};
use scenario::model::ExpectTerminationMessage;

/// One container's termination message, as the pod status holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub pod: String,
    pub container: String,
    pub exit_code: i32,
    pub finished_at: Option<String>,
    /// The message, parsed; `Err` with the text when it is not JSON.
    pub json: Result<Value, String>,
}

/// Every terminated container of `pods` that left a message, oldest first.
pub fn messages(pods: &[Pod]) -> Vec<Message> {
    let mut out: Vec<Message> = pods
        .iter()
        .flat_map(|p| {
            let pod = p.name_any();
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |c| {
                    let t = c.state.and_then(|s| s.terminated)?;
                    let text = t.message.filter(|m| !m.trim().is_empty())?;
                    Some(Message {
                        pod: pod.clone(),
                        container: c.name,
                        exit_code: t.exit_code,
                        finished_at: t.finished_at.map(|f| f.0.to_string()),
                        json: serde_json::from_str(&text).map_err(|_| text),
                    })
                })
        })
        .collect();
    out.sort_by(|a, b| a.finished_at.cmp(&b.finished_at));
    out
}

/// Judges what the pods show now against the pattern.
pub fn judge(job: &str, pattern: &Value, pods: &[Pod]) -> Seen {
    let all = messages(pods);
    let listed: Vec<Value> = all
        .iter()
        .map(|m| {
            json!({
                "pod": m.pod,
                "container": m.container,
                "exitCode": m.exit_code,
                "message": m.json.clone().unwrap_or_else(Value::String),
            })
        })
        .collect();
    let held = all.iter().rev().find(|m| {
        m.json
            .as_ref()
            .is_ok_and(|v| scenario::observed::matches_check(pattern, v).is_ok())
    });
    let newest = all.iter().rev().find(|m| m.json.is_ok());
    let observed = |m: &Message, why: Option<String>| {
        let msg = m.json.clone().unwrap_or(Value::Null);
        let mut value = match &msg {
            Value::Object(o) => Value::Object(o.clone()),
            _ => json!({}),
        };
        if let Some(v) = value.as_object_mut() {
            v.insert("pod".into(), json!(m.pod));
            v.insert("exitCode".into(), json!(m.exit_code));
            v.insert("messages".into(), json!(listed));
        }
        let text = format!(
            "pod/{} container {} ended (exit code {}) with {}{}",
            m.pod,
            m.container,
            m.exit_code,
            msg,
            why.map(|w| format!(": {w}")).unwrap_or_default()
        );
        Observed::new(text, value)
    };
    if let Some(m) = held {
        return Seen::Held(observed(m, None));
    }
    match newest {
        Some(m) => {
            let why = m
                .json
                .as_ref()
                .ok()
                .and_then(|v| scenario::observed::matches_check(pattern, v).err());
            Seen::NotYet(observed(m, why))
        }
        None if pods.is_empty() => Seen::Absent(format!("job/{job} has no pods")),
        None => {
            let text = match all.last() {
                Some(m) => format!(
                    "pod/{} ended with a message that is not JSON: {:?}",
                    m.pod,
                    m.json.clone().err().unwrap_or_default()
                ),
                None => format!("no pod of job/{job} has ended with a termination message yet"),
            };
            Seen::NotYet(Observed::new(
                text,
                json!({ "pods": pods.len(), "messages": listed }),
            ))
        }
    }
}

pub async fn termination_message(
    ctx: &Ctx,
    x: &ExpectTerminationMessage,
    timeout: Duration,
) -> OpResult {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let cfg = watcher::Config::default().labels(&format!("job-name={}", x.job));
    let check = Check::new(
        CheckKind::TerminationMessage,
        format!(
            "a pod of job/{} ended with a termination message matching {}",
            x.job, x.matches
        ),
    );
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let finished = jobs
        .get_opt(&x.job)
        .await
        .ok()
        .flatten()
        .and_then(|j| finished_as(&j));
    let w = watch::until(api, cfg, "pods", timeout, |pods: &[Pod]| {
        settle(judge(&x.job, &x.matches, pods), &x.job, finished)
    })
    .await?;
    Ok(w.judged(check))
}

/// `Complete` or `Failed`, when the Job has finished.
fn finished_as(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    ["Complete", "Failed"].into_iter().find(|kind| {
        conditions
            .iter()
            .any(|c| c.type_ == *kind && c.status == "True")
    })
}

/// A judgement that no longer can change, once the Job has finished.
fn settle(seen: Seen, job: &str, finished: Option<&'static str>) -> Seen {
    match (seen, finished) {
        (Seen::NotYet(o), Some(how)) => Seen::Settled(Observed::new(
            format!("{} (job/{job} is {how}: no pod will say more)", o.text),
            o.value,
        )),
        (seen, _) => seen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, finished: &str, message: &str, code: i32) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"containerStatuses": [{
                "name": "trainer", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": code, "message": message, "finishedAt": finished}},
            }]}
        }))
        .unwrap()
    }

    fn text(s: &Seen) -> (&'static str, String, Value) {
        match s {
            Seen::Held(o) => ("held", o.text.clone(), o.value.clone()),
            Seen::NotYet(o) => ("not yet", o.text.clone(), o.value.clone()),
            Seen::Absent(t) => ("absent", t.clone(), Value::Null),
            Seen::Unjudgeable(t) => ("unjudgeable", t.clone(), Value::Null),
            Seen::Settled(o) => ("settled", o.text.clone(), o.value.clone()),
        }
    }

    #[test]
    fn the_newest_message_decides_what_is_observed() {
        let pattern = json!({"outcome": "completed", "startEpoch": {"gte": 1}});
        let from_zero = pod(
            "trainer-b",
            "2026-12-02T10:00:09Z",
            r#"{"outcome":"completed","startEpoch":0,"lastEpoch":6}"#,
            0,
        );
        let killed = pod(
            "trainer-a",
            "2026-12-02T10:00:01Z",
            r#"{"outcome":"interrupted","startEpoch":0,"lastEpoch":2}"#,
            143,
        );
        let (state, line, value) = text(&judge("trainer", &pattern, &[from_zero, killed.clone()]));
        assert_eq!(state, "not yet");
        assert!(
            line.starts_with("pod/trainer-b container trainer ended (exit code 0) with "),
            "{line}"
        );
        assert!(
            line.ends_with("\"startEpoch\":0}: startEpoch: 0 is not gte 1"),
            "{line}"
        );
        assert_eq!(value["startEpoch"], 0);
        assert_eq!(value["pod"], "trainer-b");
        assert_eq!(value["messages"].as_array().unwrap().len(), 2);
        let resumed = pod(
            "trainer-c",
            "2026-12-02T10:00:09Z",
            r#"{"outcome":"completed","startEpoch":2,"lastEpoch":6}"#,
            0,
        );
        let (state, _, value) = text(&judge("trainer", &pattern, &[killed, resumed]));
        assert_eq!(state, "held");
        assert_eq!(value["startEpoch"], 2);
    }

    #[test]
    fn a_message_that_is_not_json_is_quoted_not_matched() {
        let p = pod("trainer-a", "2026-12-02T10:00:01Z", "done, epoch 6", 0);
        let (state, line, _) = text(&judge("trainer", &json!({"lastEpoch": 6}), &[p]));
        assert_eq!(state, "not yet");
        assert_eq!(
            line,
            "pod/trainer-a ended with a message that is not JSON: \"done, epoch 6\""
        );
        let (state, line, _) = text(&judge("trainer", &json!({"lastEpoch": 6}), &[]));
        assert_eq!(
            (state, line.as_str()),
            ("absent", "job/trainer has no pods")
        );
    }

    #[test]
    fn a_finished_job_settles_a_message_that_does_not_match() {
        let p = pod(
            "trainer-a",
            "2026-12-02T10:00:01Z",
            r#"{"startEpoch": 0}"#,
            0,
        );
        let pattern = json!({"startEpoch": {"gte": 2}});
        let seen = || judge("trainer", &pattern, std::slice::from_ref(&p));
        assert_eq!(text(&settle(seen(), "trainer", None)).0, "not yet");
        let (state, line, value) = text(&settle(seen(), "trainer", Some("Complete")));
        assert_eq!(state, "settled");
        assert!(
            line.ends_with("(job/trainer is Complete: no pod will say more)"),
            "{line}"
        );
        assert_eq!(value["startEpoch"], 0);
        // A match stays a match, and a Job without pods stays absent.
        let held = judge(
            "trainer",
            &json!({"startEpoch": 0}),
            std::slice::from_ref(&p),
        );
        assert_eq!(text(&settle(held, "trainer", Some("Complete"))).0, "held");
        let none = judge("trainer", &pattern, &[]);
        assert_eq!(text(&settle(none, "trainer", Some("Failed"))).0, "absent");
    }

    #[test]
    fn only_a_true_complete_or_failed_condition_finishes_a_job() {
        let job = |conditions: Value| -> Job {
            serde_json::from_value(
                json!({"metadata": {"name": "j"}, "status": {"conditions": conditions}}),
            )
            .unwrap()
        };
        assert_eq!(finished_as(&job(json!([]))), None);
        assert_eq!(
            finished_as(&job(json!([{"type": "Complete", "status": "False"}]))),
            None
        );
        assert_eq!(
            finished_as(&job(json!([{"type": "Complete", "status": "True"}]))),
            Some("Complete")
        );
        assert_eq!(
            finished_as(&job(json!([{"type": "Failed", "status": "True"}]))),
            Some("Failed")
        );
    }
}
