//! The `expect` action: Kubernetes evidence (events, in
//! [`crate::expect_event`]; container states, restarts, endpoints), watched
//! until it appears or the timeout passes; the results of loads ([`crate::load_checks`]); autoscalers
//! ([`crate::hpa`]) and replaced pods ([`crate::replaced`]). Each check
//! records what it observed, as text and as data twins match on.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use report::CheckKind;
use serde_json::json;

use crate::context::{Check, Ctx, Observed, OpError, OpResult};
use crate::terminations;
use crate::watch::Seen;
use crate::{access, hpa, load_checks, loads, replaced, termination_message, watch};
use scenario::model::Expect;

pub async fn expect(ctx: &mut Ctx, x: &Expect, timeout: Duration) -> OpResult {
    if let Some(e) = &x.event {
        return crate::expect_event::event(ctx, e, timeout).await;
    }
    if x.container_terminated.is_some() || x.min_restarts.is_some() {
        return containers(ctx, x, timeout).await;
    }
    if let Some(h) = &x.hpa_replicas {
        return hpa::replicas(ctx, h, timeout).await;
    }
    if let Some(v) = &x.vpa_recommendation {
        return crate::vpa::recommendation(ctx, v, timeout).await;
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

async fn containers(ctx: &mut Ctx, x: &Expect, timeout: Duration) -> OpResult {
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
    // What earlier checks of the scenario saw stays: a pod status keeps
    // only its last termination, and even that can be gone by the next
    // check (the kubelet has reported `lastState` empty after a restart).
    let mut history = std::mem::take(&mut ctx.terminations);
    // The pods this check is about (its selector's, over the watch).
    let mut watched: BTreeSet<String> = BTreeSet::new();
    let node_exec = ctx.node_exec.clone();
    let w = watch::until(api, cfg, "pods", timeout, |pods: &[Pod]| {
        history.record(pods);
        watched.extend(pods.iter().map(|p| p.name_any()));
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
        let seen = history.to_json(&watched);
        let oom = history.oom_killed(&watched);
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
    .await;
    ctx.terminations = history;
    Ok(w?.judged(check))
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
