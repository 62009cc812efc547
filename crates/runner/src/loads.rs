//! The `load` action: a forwarder to the Service, goose through it, live
//! progress, and a [`LoadReport`] when it ends. Background loads run while
//! later operations do; `expect` on a load waits for it.

use std::time::Duration;

use crate::context::{Ctx, OpError, OpOutcome, OpResult};
use crate::forwarder::{ForwardError, ServiceForwarder, ServiceTarget};
use load::attack::{self, LoadPlan, RequestKind};
use load::stats::{self, LoadIdentity};
use report::{LoadReport, TimelineSource};
use scenario::model::Load;

pub use crate::background::BackgroundLoad;

/// How long a load waits for its Service's first ready endpoint before it
/// starts anyway: long enough for the endpoint controller to publish a pod
/// that just turned Ready, short enough not to hide a Service with none.
const FIRST_ENDPOINT_PATIENCE: Duration = Duration::from_secs(5);

/// The model requests name when neither a `model` binding nor the server
/// says (our mock's default).
const FALLBACK_MODEL: &str = "mock-llm";

async fn start(ctx: &Ctx, l: &Load, timeout: Duration) -> Result<BackgroundLoad, OpError> {
    let target = ServiceTarget::parse(&l.target).map_err(OpError::bad)?;
    let forwarder = ServiceForwarder::start(ctx.client.clone(), &ctx.namespace, &target)
        .await
        .map_err(forward_error)?;
    if !forwarder
        .wait_for_ready_endpoint(FIRST_ENDPOINT_PATIENCE)
        .await
    {
        ctx.console.info(&format!(
            "load {}: service/{} has no ready endpoint after {}s; starting anyway",
            l.name,
            target.service,
            FIRST_ENDPOINT_PATIENCE.as_secs()
        ));
    }
    let kind = RequestKind::parse(&l.request)
        .ok_or_else(|| OpError::BadInput(format!("unknown request kind {:?}", l.request)))?;
    let model = match ctx.bindings.get("model").and_then(|v| v.as_str()) {
        Some(m) => m.to_string(),
        // The model the server says it serves, whatever the template
        // calls it (one request through the same port-forward).
        None => match load::models::served_models(&forwarder.base_url(), Duration::from_secs(10))
            .await
        {
            Ok(models) => models[0].clone(),
            Err(e) => {
                ctx.console.info(&format!(
                    "load {}: cannot ask the server which model it serves ({e}); requests name {FALLBACK_MODEL}",
                    l.name
                ));
                FALLBACK_MODEL.to_string()
            }
        },
    };
    let plan = LoadPlan {
        users: l.users,
        ramp: l.ramp,
        duration: l.duration,
        requests: l.requests,
        kind,
        model,
        max_tokens: l.max_tokens.unwrap_or(16),
        prompt_bytes: l.prompt_bytes,
        headers: l
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        request_timeout: Duration::from_secs(30),
    };
    let running = attack::start(&forwarder.base_url(), forwarder.local.port(), plan);
    let recorder = running.recorder.clone();
    let console = ctx.console.clone();
    let name = l.name.clone();
    let progress = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let (n, failed, secs) = recorder.progress();
            console.info(&format!(
                "load {name}: {secs:.0}s, {n} requests ({:.1}/s), {failed} failed",
                n as f64 / secs.max(0.001)
            ));
        }
    });
    ctx.recorder.note(
        TimelineSource::Load,
        "load started",
        Some(format!("Service/{}", target.service)),
        format!("load {}: {} users, {}", l.name, l.users, l.request),
        false,
    );
    Ok(BackgroundLoad {
        running,
        spec: l.clone(),
        deadline: timeout,
        _forwarder: forwarder,
        progress,
        step: ctx.step.clone(),
    })
}

fn forward_error(e: ForwardError) -> OpError {
    match &e {
        ForwardError::BadTarget(_) | ForwardError::NoPort { .. } => OpError::bad(e),
        ForwardError::NoService { source, .. } => OpError::kube("the load's Service", source),
        ForwardError::Listen(_) => OpError::Api(e.to_string()),
        ForwardError::EndpointsNotListed { .. } => OpError::TimedOut(e.to_string()),
    }
}

async fn finish(ctx: &mut Ctx, bg: BackgroundLoad) -> Result<LoadReport, OpError> {
    let BackgroundLoad {
        running,
        spec,
        deadline,
        _forwarder,
        progress,
        step: _,
    } = bg;
    let finished = tokio::time::timeout(deadline, running.finish()).await;
    progress.abort();
    let finished = finished
        .map_err(|_| {
            OpError::TimedOut(format!(
                "load {} did not finish within its timeout",
                spec.name
            ))
        })?
        .map_err(|e| OpError::Api(format!("load {}: {e}", spec.name)))?;
    let report = stats::summarize(
        &LoadIdentity {
            name: &spec.name,
            target: &spec.target,
            request: &spec.request,
            users: spec.users,
        },
        &finished,
    );
    ctx.recorder.note(
        TimelineSource::Load,
        "load finished",
        None,
        format!(
            "load {}: {} requests, {} failed, p99 {:.0} ms",
            report.name, report.requests, report.failures, report.latency_ms.p99
        ),
        report.failures > 0,
    );
    ctx.loads.push(report.clone());
    Ok(report)
}

fn summary(r: &LoadReport) -> String {
    format!(
        "{} requests ({:.1}/s), {} failed, p50 {:.0} ms, p99 {:.0} ms{}",
        r.requests,
        r.throughput_rps,
        r.failures,
        r.latency_ms.p50,
        r.latency_ms.p99,
        if r.by_version.is_empty() {
            String::new()
        } else {
            format!(
                ", served by {}",
                r.by_version
                    .iter()
                    .map(|(v, n)| format!("{v}×{n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    )
}

pub async fn load(ctx: &mut Ctx, l: &Load, timeout: Duration) -> OpResult {
    if ctx.background.contains_key(&l.name) || ctx.loads.iter().any(|r| r.name == l.name) {
        return Err(OpError::BadInput(format!(
            "a load named {:?} already ran in this scenario; give each load its own name",
            l.name
        )));
    }
    let bg = start(ctx, l, timeout).await?;
    if l.background {
        ctx.background.insert(l.name.clone(), bg);
        return Ok(OpOutcome::done(format!(
            "load {} started in the background",
            l.name
        )));
    }
    let report = finish(ctx, bg).await?;
    Ok(OpOutcome::done(summary(&report)))
}

/// The named load's report, waiting for it when it still runs.
pub async fn settled(ctx: &mut Ctx, name: &str) -> Result<LoadReport, OpError> {
    if let Some(bg) = ctx.background.remove(name) {
        return finish(ctx, bg).await;
    }
    ctx.loads
        .iter()
        .rev()
        .find(|r| r.name == name)
        .cloned()
        .ok_or_else(|| {
            OpError::BadInput(format!("no load named {name:?} ran before this operation"))
        })
}

/// Waits for every background load (at the end of a scenario); the
/// errors, each with the step that started its load (which they fail).
pub async fn settle_all(ctx: &mut Ctx) -> Vec<(String, OpError)> {
    let names: Vec<String> = ctx.background.keys().cloned().collect();
    let mut errors = Vec::new();
    for n in names {
        let step = ctx
            .background
            .get(&n)
            .map(|bg| bg.step.clone())
            .unwrap_or_default();
        if let Err(e) = settled(ctx, &n).await {
            errors.push((step, e));
        }
    }
    errors
}

/// Stops every background load without a report (on Ctrl-C).
pub fn abort_all(ctx: &mut Ctx) {
    for (_, bg) in std::mem::take(&mut ctx.background) {
        bg.progress.abort();
        drop(bg);
    }
}
