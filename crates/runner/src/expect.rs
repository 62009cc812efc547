//! The `expect` action: Kubernetes evidence (events, container states,
//! restarts, endpoints), watched until it appears or the timeout passes;
//! the results of loads ([`crate::load_checks`]); autoscalers
//! ([`crate::hpa`]) and replaced pods ([`crate::replaced`]). Each check
//! records what it observed, as text and as data twins match on.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use report::CheckKind;
use serde_json::json;

use crate::context::{Check, Ctx, Observed, OpError, OpResult};
use crate::terminations::{self, Terminations};
use crate::watch::{Seen, Watched};
use crate::{access, hpa, load_checks, loads, recorder, replaced, termination_message, watch};
use scenario::model::{Expect, ExpectEvent};

pub async fn expect(ctx: &mut Ctx, x: &Expect, timeout: Duration) -> OpResult {
    if let Some(e) = &x.event {
        return event(ctx, e, timeout).await;
    }
    if x.container_terminated.is_some() || x.min_restarts.is_some() {
        return containers(ctx, x, timeout).await;
    }
    if let Some(h) = &x.hpa_replicas {
        return hpa::replicas(ctx, h, timeout).await;
    }
    if let Some(r) = &x.zero_failed_requests {
        let report = settle(ctx, &r.load, timeout).await?;
        return Ok(load_checks::zero_failed(&report, r));
    }
    if let Some(f) = &x.failed_requests {
        let report = settle(ctx, &f.load, timeout).await?;
        return Ok(load_checks::failed(&report, f));
    }
    if let Some(s) = &x.served_by {
        let report = settle(ctx, &s.load, timeout).await?;
        return Ok(load_checks::served_by(&report, s));
    }
    if let Some(m) = &x.metric {
        if let Some(load) = &m.load {
            settle(ctx, load, timeout).await?;
        }
        let points = ctx.scraped.points(&m.name);
        return Ok(crate::metric_check::metric(
            m,
            &points,
            &ctx.scraped.names(),
        ));
    }
    if let Some(g) = &x.slo {
        let report = settle(ctx, &g.load, timeout).await?;
        return Ok(crate::slo_check::slo(&report, g));
    }
    if let Some(e) = &x.endpoints {
        return endpoints(ctx, &e.service, e.ready, e.min, timeout).await;
    }
    if let Some(p) = &x.pod_replaced {
        return replaced::pod_replaced(ctx, p, timeout).await;
    }
    if let Some(a) = &x.access {
        return access::access(ctx, a, timeout).await;
    }
    if let Some(t) = &x.termination_message {
        return termination_message::termination_message(ctx, t, timeout).await;
    }
    Err(OpError::bad("nothing to expect"))
}

async fn settle(
    ctx: &mut Ctx,
    name: &str,
    timeout: Duration,
) -> Result<report::LoadReport, OpError> {
    tokio::time::timeout(timeout, loads::settled(ctx, name))
        .await
        .map_err(|_| {
            OpError::TimedOut(format!(
                "load {name} did not finish within {}",
                scenario::model::format_duration(timeout)
            ))
        })?
}

async fn event(ctx: &Ctx, e: &ExpectEvent, timeout: Duration) -> OpResult {
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let cfg = watcher::Config::default().fields(&format!("reason={}", e.reason));
    let want = e.message_contains.clone();
    let object = e.involved_object.clone();
    let expected = format!(
        "a {} event{}{}",
        e.reason,
        object
            .as_ref()
            .map(|o| format!(" for {o}"))
            .unwrap_or_default(),
        want.as_ref()
            .map(|m| format!(" whose message contains {m:?}"))
            .unwrap_or_default()
    );
    let check = Check::new(CheckKind::Event, expected);
    let w = watch::until(
        api,
        cfg,
        &format!("{} events", e.reason),
        timeout,
        |events: &[Event]| {
            let mut seen = Vec::new();
            for ev in events {
                let obj = recorder::event_object(ev);
                if let Some(o) = &object
                    && !obj
                        .to_ascii_lowercase()
                        .starts_with(&o.to_ascii_lowercase())
                {
                    continue;
                }
                let msg = ev.message.clone().unwrap_or_default();
                if want.as_ref().is_none_or(|w| msg.contains(w)) {
                    return Seen::Held(Observed::new(
                        format!("{} {obj}: {msg}", e.reason),
                        json!({"reason": e.reason, "matching": 1, "object": obj, "message": msg}),
                    ));
                }
                seen.push(msg);
            }
            let text = if seen.is_empty() {
                format!("no {} event", e.reason)
            } else {
                format!(
                    "{} {} events, none containing {:?}: {}",
                    seen.len(),
                    e.reason,
                    want.clone().unwrap_or_default(),
                    seen.join(" | ")
                )
            };
            Seen::NotYet(Observed::new(
                text,
                json!({"reason": e.reason, "matching": 0, "events": seen.len(), "messages": seen}),
            ))
        },
    )
    .await?;
    let Watched::NotMet(mut observed) = w else {
        return Ok(w.judged(check));
    };
    // Say whether the pod the event would be about was placed after all:
    // a twin proves the scheduler placed it, not just that no event came.
    if let Some(prefix) = object.as_deref().and_then(|o| o.strip_prefix("Pod/")) {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let list = pods
            .list(&ListParams::default())
            .await
            .map_err(OpError::api("listing pods"))?;
        let ours: Vec<&Pod> = list
            .items
            .iter()
            .filter(|p| p.name_any().starts_with(prefix))
            .collect();
        let scheduled: Vec<String> = ours
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "PodScheduled" && c.status == "True")
                    })
            })
            .map(|p| {
                format!(
                    "pod/{} on {}",
                    p.name_any(),
                    p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.clone())
                        .unwrap_or_default()
                )
            })
            .collect();
        if let Some(v) = observed.value.as_object_mut() {
            v.insert("pods".into(), json!(ours.len()));
            v.insert("podScheduled".into(), json!(!scheduled.is_empty()));
        }
        observed.text = format!(
            "{}; {}",
            observed.text,
            if scheduled.is_empty() {
                format!("{} pods of {prefix}, none scheduled", ours.len())
            } else {
                format!("scheduled: {}", scheduled.join(", "))
            }
        );
    }
    if let Some(prefix) = object
        .as_deref()
        .and_then(|o| o.strip_prefix("ReplicaSet/"))
    {
        replica_sets_created(ctx, prefix, &mut observed).await?;
    }
    Ok(check.not_met(observed))
}

/// Says whether the ReplicaSets the event would be about created every pod
/// they want (`status.replicas` up to `spec.replicas`): a twin proves
/// admission let the pods in, not just that no event came.
async fn replica_sets_created(
    ctx: &Ctx,
    prefix: &str,
    observed: &mut Observed,
) -> Result<(), OpError> {
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(OpError::api("listing replicasets"))?;
    let counts: Vec<(String, i32, i32)> = list
        .items
        .iter()
        .filter(|rs| rs.name_any().starts_with(prefix))
        .map(|rs| {
            let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let have = rs.status.as_ref().map_or(0, |s| s.replicas);
            (rs.name_any(), have, want)
        })
        .collect();
    let all_created = !counts.is_empty() && counts.iter().all(|(_, have, want)| have >= want);
    if let Some(v) = observed.value.as_object_mut() {
        v.insert("replicaSets".into(), json!(counts.len()));
        v.insert("podsCreated".into(), json!(all_created));
    }
    let each: Vec<String> = counts
        .iter()
        .map(|(name, have, want)| format!("replicaset/{name} created {have} of {want} pods"))
        .collect();
    observed.text = format!("{}; {}", observed.text, each.join(", "));
    Ok(())
}

async fn containers(ctx: &Ctx, x: &Expect, timeout: Duration) -> OpResult {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut cfg = watcher::Config::default();
    if let Some(sel) = &x.selector {
        cfg = cfg.labels(sel);
    }
    let reason = x.container_terminated.clone();
    let min_restarts = x.min_restarts;
    let check = Check::new(
        CheckKind::ContainerTerminated,
        format!(
            "a container{}{}",
            reason
                .as_ref()
                .map(|r| format!(" terminated with {r}"))
                .unwrap_or_default(),
            min_restarts
                .map(|m| format!(" restarted at least {m} times"))
                .unwrap_or_default()
        ),
    );
    let mut history = Terminations::default();
    let node_exec = ctx.node_exec.clone();
    let w = watch::until(api, cfg, "pods", timeout, |pods: &[Pod]| {
        history.record(pods);
        // An exit code 137 the kubelet did not call OOMKilled: the node's
        // kernel log says whether it was one (a short read, once per
        // termination).
        if let Some(exec) = &node_exec {
            for (pod, node, uid) in history.kernel_questions(pods) {
                let read = || crate::node_kernel::oom_killed_containers(exec, &node, &uid);
                let count = match tokio::runtime::Handle::current().runtime_flavor() {
                    tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(read),
                    _ => read(),
                };
                history.kernel_answer(&pod, count);
            }
        }
        let mut states = Vec::new();
        let mut found = None;
        let mut count = 0;
        let mut restarts = 0;
        for (pod, container, h) in history.current(pods) {
            count += 1;
            restarts = restarts.max(h.restarts);
            let reason_ok = reason.as_ref().is_none_or(|r| h.any(r));
            let restarts_ok = min_restarts.is_none_or(|m| h.restarts >= m as i32);
            let line = terminations::line(&pod, &container, h);
            if reason_ok && restarts_ok && found.is_none() {
                found = Some(line.clone());
            }
            states.push(line);
        }
        if count == 0 {
            return Seen::Absent("no pod with a container status".into());
        }
        let seen = history.to_json();
        let oom = history.oom_killed();
        let mut value = json!({
            "containers": count,
            "terminations": seen,
            "oomKilled": oom,
            "restarts": restarts,
        });
        let kernel = history.kernel_json();
        if kernel.as_object().is_some_and(|k| !k.is_empty()) {
            value["kernelOomKills"] = kernel;
        }
        match found {
            Some(line) => Seen::Held(Observed::new(line, value)),
            None => Seen::NotYet(Observed::new(states.join("; "), value)),
        }
    })
    .await?;
    Ok(w.judged(check))
}

async fn endpoints(
    ctx: &Ctx,
    service: &str,
    exact: Option<u32>,
    min: Option<u32>,
    timeout: Duration,
) -> OpResult {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let cfg = watcher::Config::default().labels(&crate::service_endpoints::selector(service));
    let want = match (exact, min) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => format!("at least {n}"),
        _ => "some".into(),
    };
    let check = Check::new(
        CheckKind::Endpoints,
        format!("service/{service} has {want} ready endpoints"),
    );
    let w = watch::until(
        api,
        cfg,
        &format!("endpoints of service/{service}"),
        timeout,
        |slices: &[EndpointSlice]| {
            if slices.is_empty() {
                return Seen::Absent(format!("service/{service} has no EndpointSlice"));
            }
            let all: Vec<bool> = slices
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .map(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
                .collect();
            let ready = all.iter().filter(|r| **r).count() as u32;
            let not_ready = all.len() as u32 - ready;
            let ok = exact.is_none_or(|n| ready == n) && min.is_none_or(|n| ready >= n);
            let o = Observed::new(
                format!("service/{service} has {ready} ready endpoints ({not_ready} not ready)"),
                json!({"service": service, "ready": ready, "notReady": not_ready}),
            );
            if ok { Seen::Held(o) } else { Seen::NotYet(o) }
        },
    )
    .await?;
    Ok(w.judged(check))
}
