//! `canary`: promote or abort a canary Deployment, by the scenario's say or
//! by an analysis of a finished load (the canary's share of error answers,
//! told from the stable track's by `x-inference-version`).
//!
//! Promote: the canary is scaled to the stable track's size (or
//! `replicas`) and, once that many of its pods are Ready, the stable track
//! to zero, so capacity never drops. Abort: the canary is scaled to zero
//! and the step waits until its pods are gone, so what follows sees the
//! stable track only. Either way the operation records what it decided
//! and why, as data (`decision`, `canaryRequests`, `canaryFailures`,
//! `errorRate`, `maxErrorRate`).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::target::deployment_name;
use crate::context::{Ctx, Observed, OpError, OpOutcome, OpResult};
use crate::loads;
use crate::watch::{self, Seen};
use report::{LoadReport, TimelineSource};
use scenario::model::{Canary, CanaryAnalysis, CanaryDecision};

/// What an analysis found.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub load: String,
    pub answered: u64,
    pub failed: u64,
    pub error_rate: f64,
    pub max_error_rate: f64,
}

impl Analysis {
    pub fn promote(&self) -> bool {
        self.error_rate <= self.max_error_rate
    }

    fn text(&self) -> String {
        format!(
            "the canary answered {} requests of load {} with {} errors ({:.1}%, at most {:.1}% allowed)",
            self.answered,
            self.load,
            self.failed,
            self.error_rate * 100.0,
            self.max_error_rate * 100.0
        )
    }
}

/// The canary's answers in `r`, judged against `a`.
pub fn analyze(r: &LoadReport, a: &CanaryAnalysis) -> Result<Analysis, OpError> {
    let ok = r.by_version.get(&a.version).copied().unwrap_or(0);
    let failed = r.failed_by_version.get(&a.version).copied().unwrap_or(0);
    let answered = ok + failed;
    if answered < a.min_requests {
        let seen: Vec<String> = r
            .by_version
            .keys()
            .chain(r.failed_by_version.keys())
            .cloned()
            .collect();
        return Err(OpError::NeverAppeared(format!(
            "the canary (version {}) answered {answered} of load {}'s {} requests, fewer than the {} the analysis needs (versions seen: {}): does the Service select the canary's pods, and does the canary send x-inference-version?",
            a.version,
            r.name,
            r.requests,
            a.min_requests,
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        )));
    }
    Ok(Analysis {
        load: r.name.clone(),
        answered,
        failed,
        error_rate: failed as f64 / answered as f64,
        max_error_rate: a.max_error_rate,
    })
}

async fn scale(api: &Api<Deployment>, name: &str, replicas: u32) -> Result<(), OpError> {
    api.patch_scale(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": replicas}})),
    )
    .await
    .map(|_| ())
    .map_err(OpError::api(format!("scaling deployment/{name}")))
}

/// Waits until `name` has `ready` Ready pods and `total` pods in all.
async fn settle(
    api: &Api<Deployment>,
    name: &str,
    ready: u32,
    total: Option<u32>,
    timeout: Duration,
) -> Result<(), OpError> {
    let w = watch::until(
        api.clone(),
        watch::named(name),
        &format!("deployment/{name}"),
        timeout,
        |ds: &[Deployment]| {
            let Some(d) = ds.first() else {
                return Seen::Absent(format!("deployment/{name} does not exist"));
            };
            let st = d.status.clone().unwrap_or_default();
            let (have_ready, have) = (st.ready_replicas.unwrap_or(0), st.replicas.unwrap_or(0));
            let text = format!("deployment/{name}: {have_ready} Ready of {have} pods");
            let value = json!({"readyReplicas": have_ready, "replicas": have});
            if have_ready >= ready as i32 && total.is_none_or(|t| have == t as i32) {
                Seen::Held(Observed::new(text, value))
            } else {
                Seen::NotYet(Observed::new(text, value))
            }
        },
    )
    .await?;
    match w {
        watch::Watched::Held(_) => Ok(()),
        watch::Watched::NotMet(o) => Err(OpError::TimedOut(format!(
            "deployment/{name} did not settle in {}: {}",
            scenario::model::format_duration(timeout),
            o.text
        ))),
    }
}

pub async fn canary(ctx: &mut Ctx, c: &Canary, timeout: Duration) -> OpResult {
    let stable = deployment_name(&c.stable)?;
    let canary = deployment_name(&c.canary)?;
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let analysis = match &c.analysis {
        Some(a) => {
            let report = loads::settled(ctx, &a.load).await?;
            Some(analyze(&report, a)?)
        }
        None => None,
    };
    let promote = match (c.decision, &analysis) {
        (CanaryDecision::Promote, _) => true,
        (CanaryDecision::Abort, _) => false,
        (CanaryDecision::Analyze, Some(a)) => a.promote(),
        (CanaryDecision::Analyze, None) => {
            return Err(OpError::bad(
                "canary: decision analyze needs analysis: { load, version }",
            ));
        }
    };
    let why = analysis
        .as_ref()
        .map(|a| format!(": {}", a.text()))
        .unwrap_or_else(|| " (the scenario's decision)".into());
    let mut replicas = None;
    let text = if promote {
        let size = match c.replicas {
            Some(r) => r,
            None => api
                .get(&stable)
                .await
                .map_err(OpError::api(format!("reading deployment/{stable}")))?
                .spec
                .and_then(|s| s.replicas)
                .map_or(1, |r| r.max(1) as u32),
        };
        replicas = Some(size);
        scale(&api, &canary, size).await?;
        settle(&api, &canary, size, None, timeout).await?;
        scale(&api, &stable, 0).await?;
        format!(
            "promoted deployment/{canary} to {size} Ready replicas, deployment/{stable} scaled to 0{why}"
        )
    } else {
        scale(&api, &canary, 0).await?;
        settle(&api, &canary, 0, Some(0), timeout).await?;
        format!("aborted: deployment/{canary} scaled to 0 and its pods gone{why}")
    };
    ctx.recorder.note(
        TimelineSource::Rollout,
        "canary",
        Some(format!("Deployment/{canary}")),
        text.clone(),
        !promote,
    );
    let mut value = json!({
        "decision": if promote { "promoted" } else { "aborted" },
        "stable": c.stable,
        "canary": c.canary,
        "replicas": replicas,
    });
    if let (Some(a), Value::Object(v)) = (&analysis, &mut value) {
        v.insert("load".into(), json!(a.load));
        v.insert("canaryRequests".into(), json!(a.answered));
        v.insert("canaryFailures".into(), json!(a.failed));
        v.insert("errorRate".into(), json!(a.error_rate));
        v.insert("maxErrorRate".into(), json!(a.max_error_rate));
    }
    Ok(OpOutcome::Passed {
        check: None,
        observed: Observed::new(text, value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ok: &[(&str, u64)], failed: &[(&str, u64)]) -> LoadReport {
        let mut r: LoadReport = serde_json::from_value(json!({
            "name": "analysis", "target": "service/llm:8000", "request": "completions", "users": 2,
            "started": "2026-12-02T10:00:00Z", "finished": "2026-12-02T10:00:10Z",
            "requests": 0, "failures": 0, "throughputRps": 1.0, "errorRate": 0.0,
            "latencyMs": {"p50": 1.0, "p95": 1.0, "p99": 1.0, "max": 1.0, "mean": 1.0},
            "buckets": [],
        }))
        .expect("a load report");
        r.by_version = ok.iter().map(|(v, n)| (v.to_string(), *n)).collect();
        r.failed_by_version = failed.iter().map(|(v, n)| (v.to_string(), *n)).collect();
        r.requests = r
            .by_version
            .values()
            .chain(r.failed_by_version.values())
            .sum();
        r
    }

    fn analysis(max: f64) -> CanaryAnalysis {
        CanaryAnalysis {
            load: "analysis".into(),
            version: "v2".into(),
            max_error_rate: max,
            min_requests: 5,
        }
    }

    #[test]
    fn a_canary_answering_errors_is_aborted_and_a_healthy_one_promoted() {
        let broken = analyze(&report(&[("v1", 60)], &[("v2", 20)]), &analysis(0.05)).unwrap();
        assert!(!broken.promote());
        assert_eq!((broken.answered, broken.failed), (20, 20));
        assert_eq!(
            broken.text(),
            "the canary answered 20 requests of load analysis with 20 errors (100.0%, at most 5.0% allowed)"
        );
        let healthy = analyze(&report(&[("v1", 60), ("v2", 20)], &[]), &analysis(0.05)).unwrap();
        assert!(healthy.promote());
        // The stable track's errors do not count against the canary.
        let stable_errors = analyze(&report(&[("v2", 20)], &[("v1", 30)]), &analysis(0.0)).unwrap();
        assert!(stable_errors.promote());
    }

    #[test]
    fn a_canary_that_answered_too_little_cannot_be_judged() {
        let e = analyze(&report(&[("v1", 60), ("v2", 2)], &[]), &analysis(0.05)).unwrap_err();
        assert!(matches!(e, OpError::NeverAppeared(_)));
        assert!(
            e.to_string()
                .contains("answered 2 of load analysis's 62 requests"),
            "{e}"
        );
    }
}
