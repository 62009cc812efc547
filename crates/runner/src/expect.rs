//! The `expect` action: Kubernetes evidence (events, container states,
//! restarts, autoscaler replicas, endpoints), watched until it appears or
//! the timeout passes; and the results of loads.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::context::{Ctx, OpResult};
use crate::{loads, recorder, watch};
use scenario::model::{Expect, ExpectEvent, ExpectReplicas};

pub async fn expect(ctx: &mut Ctx, x: &Expect, timeout: Duration) -> OpResult {
    if let Some(e) = &x.event {
        return event(ctx, e, timeout).await.map(Some);
    }
    if x.container_terminated.is_some() || x.min_restarts.is_some() {
        return containers(ctx, x, timeout).await.map(Some);
    }
    if let Some(h) = &x.hpa_replicas {
        return hpa(ctx, h, timeout).await.map(Some);
    }
    if let Some(r) = &x.zero_failed_requests {
        let report = settle(ctx, &r.load, timeout).await?;
        if report.failures == 0 {
            return Ok(Some(format!(
                "load {}: all {} requests succeeded",
                report.name, report.requests
            )));
        }
        let first = report
            .failed_samples
            .first()
            .map(|f| format!("; first at {}: {}", f.at, f.error))
            .unwrap_or_default();
        return Err(format!(
            "load {} had {} failed requests of {}{first}",
            report.name, report.failures, report.requests
        ));
    }
    if let Some(f) = &x.failed_requests {
        let report = settle(ctx, &f.load, timeout).await?;
        let counted: u64 = match f.status {
            Some(code) => report
                .by_status
                .get(&code.to_string())
                .copied()
                .unwrap_or(0),
            None => report.failures,
        };
        let what = f
            .status
            .map(|s| format!(" with HTTP {s}"))
            .unwrap_or_default();
        return if counted >= f.min {
            Ok(Some(format!(
                "load {}: {counted} failed requests{what} detected (of {})",
                report.name, report.requests
            )))
        } else {
            Err(format!(
                "load {} had {counted} failed requests{what} (expected at least {}); no failed requests of {}",
                report.name, f.min, report.requests
            ))
        };
    }
    if let Some(s) = &x.served_by {
        let report = settle(ctx, &s.load, timeout).await?;
        let others: Vec<String> = report
            .by_version
            .iter()
            .filter(|(v, _)| **v != s.version)
            .map(|(v, n)| format!("{v}×{n}"))
            .collect();
        let ours = report.by_version.get(&s.version).copied().unwrap_or(0);
        return if ours > 0 && others.is_empty() {
            Ok(Some(format!(
                "load {}: all {ours} successful responses came from version {}",
                report.name, s.version
            )))
        } else {
            Err(format!(
                "load {}: expected every response from version {}, got {ours} from it and {}",
                report.name,
                s.version,
                if others.is_empty() {
                    "no other".to_string()
                } else {
                    others.join(", ")
                }
            ))
        };
    }
    if let Some(e) = &x.endpoints {
        return endpoints(ctx, &e.service, e.ready, e.min, timeout)
            .await
            .map(Some);
    }
    Err("nothing to expect".into())
}

async fn settle(
    ctx: &mut Ctx,
    name: &str,
    timeout: Duration,
) -> Result<report::LoadReport, String> {
    tokio::time::timeout(timeout, loads::settled(ctx, name))
        .await
        .map_err(|_| {
            format!(
                "load {name} did not finish within {}",
                scenario::model::format_duration(timeout)
            )
        })?
}

async fn event(ctx: &Ctx, e: &ExpectEvent, timeout: Duration) -> Result<String, String> {
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let cfg = watcher::Config::default().fields(&format!("reason={}", e.reason));
    let want = e.message_contains.clone();
    let object = e.involved_object.clone();
    watch::until(api, cfg, timeout, |events: &[Event]| {
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
                return Ok(format!("{} {obj}: {msg}", e.reason));
            }
            seen.push(msg);
        }
        Err(if seen.is_empty() {
            format!("no {} event", e.reason)
        } else {
            format!(
                "{} events, none containing {:?}: {}",
                e.reason,
                want.clone().unwrap_or_default(),
                seen.join(" | ")
            )
        })
    })
    .await
    .map_err(|err| {
        format!(
            "expected event {}{} {err}",
            e.reason,
            e.message_contains
                .as_ref()
                .map(|m| format!(" containing {m:?}"))
                .unwrap_or_default()
        )
    })
}

async fn containers(ctx: &Ctx, x: &Expect, timeout: Duration) -> Result<String, String> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut cfg = watcher::Config::default();
    if let Some(sel) = &x.selector {
        cfg = cfg.labels(sel);
    }
    let reason = x.container_terminated.clone();
    let min_restarts = x.min_restarts;
    watch::until(api, cfg, timeout, |pods: &[Pod]| {
        let mut states = Vec::new();
        for p in pods {
            for c in p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.clone())
                .unwrap_or_default()
            {
                let terminated = [c.last_state.as_ref(), c.state.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.terminated.as_ref())
                    .find_map(|t| t.reason.clone());
                let reason_ok = reason
                    .as_ref()
                    .is_none_or(|r| terminated.as_deref() == Some(r.as_str()));
                let restarts_ok = min_restarts.is_none_or(|m| c.restart_count >= m as i32);
                if reason_ok && restarts_ok {
                    return Ok(format!(
                        "pod/{} container {}: terminated {} , {} restarts",
                        p.name_any(),
                        c.name,
                        terminated.unwrap_or_else(|| "-".into()),
                        c.restart_count
                    ));
                }
                states.push(format!(
                    "{}/{}: last terminated {}, {} restarts",
                    p.name_any(),
                    c.name,
                    terminated.unwrap_or_else(|| "never".into()),
                    c.restart_count
                ));
            }
        }
        Err(if states.is_empty() {
            "no pods".into()
        } else {
            states.join("; ")
        })
    })
    .await
    .map_err(|e| {
        format!(
            "expected a container{}{} {e}",
            x.container_terminated
                .as_ref()
                .map(|r| format!(" terminated with {r}"))
                .unwrap_or_default(),
            x.min_restarts
                .map(|m| format!(" restarted at least {m} times"))
                .unwrap_or_default()
        )
    })
}

async fn hpa(ctx: &Ctx, h: &ExpectReplicas, timeout: Duration) -> Result<String, String> {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let (min, max) = (h.min, h.max.unwrap_or(u32::MAX));
    watch::until(
        api,
        watch::named(&h.hpa),
        timeout,
        |hpas: &[HorizontalPodAutoscaler]| {
            let x = hpas
                .first()
                .ok_or(format!("hpa/{} does not exist", h.hpa))?;
            let current = x
                .status
                .as_ref()
                .and_then(|s| s.current_replicas)
                .unwrap_or(0)
                .max(0) as u32;
            if (min..=max).contains(&current) {
                Ok(format!("hpa/{} has {current} replicas", h.hpa))
            } else {
                let desired = x.status.as_ref().map(|s| s.desired_replicas).unwrap_or(0);
                Err(format!(
                    "hpa/{} has {current} replicas (desired {desired})",
                    h.hpa
                ))
            }
        },
    )
    .await
    .map_err(|e| {
        format!(
            "expected hpa/{} replicas in {min}..={} {e}",
            h.hpa,
            h.max.map(|m| m.to_string()).unwrap_or_else(|| "∞".into())
        )
    })
}

async fn endpoints(
    ctx: &Ctx,
    service: &str,
    exact: Option<u32>,
    min: Option<u32>,
    timeout: Duration,
) -> Result<String, String> {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let cfg = watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
    watch::until(api, cfg, timeout, |slices: &[EndpointSlice]| {
        let ready = slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
            .count() as u32;
        let ok = exact.is_none_or(|n| ready == n) && min.is_none_or(|n| ready >= n);
        if ok {
            Ok(format!("service/{service} has {ready} ready endpoints"))
        } else {
            Err(format!("service/{service} has {ready} ready endpoints"))
        }
    })
    .await
    .map_err(|e| {
        format!(
            "expected service/{service} to have {} ready endpoints {e}",
            match (exact, min) {
                (Some(n), _) => n.to_string(),
                (None, Some(n)) => format!("at least {n}"),
                _ => "some".into(),
            }
        )
    })
}
