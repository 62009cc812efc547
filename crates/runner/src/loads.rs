//! The `load` action: a generator pod in the scenario's namespace sending
//! to the Service's cluster DNS name (the default where the cluster holds
//! our image), or goose on the host through a port-forward; live progress,
//! and a [`LoadReport`] when it ends. Background loads run while later
//! operations do; `expect` on a load waits for it.

use std::sync::Arc;
use std::time::Duration;

use crate::background::Running;
use crate::context::{Ctx, OpError, OpOutcome, OpResult};
use crate::forwarder::{ForwardError, ServiceForwarder, ServiceTarget};
use crate::load_pod::{LoadPod, LoadPodError};
use load::attack::{self, LoadPlan, RequestKind};
use load::record::Recorder;
use load::stats::{self, LoadIdentity};
use report::{LoadPath, LoadReport, RequestSlo, TimelineSource};
use scenario::model::{Load, LoadArrival, LoadVia};

pub use crate::background::BackgroundLoad;

/// How long a load waits for its Service's first ready endpoint before it
/// starts anyway: long enough for the endpoint controller to publish a pod
/// that just turned Ready, short enough not to hide a Service with none.
const FIRST_ENDPOINT_PATIENCE: Duration = Duration::from_secs(5);

/// The model requests name when neither a `model` binding nor the server
/// says (our mock's default).
const FALLBACK_MODEL: &str = "mock-llm";

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn request_slo(l: &Load) -> Option<RequestSlo> {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    l.slo.as_ref().map(|s| RequestSlo {
        ttft_ms: ms(s.ttft),
        tpot_ms: ms(s.tpot),
        itl_ms: ms(s.itl),
        e2e_ms: ms(s.e2e),
    })
}

/// Which path this load takes: what it asked for, else in the cluster
/// where our image is there.
fn path_of(ctx: &Ctx, l: &Load) -> Result<LoadPath, OpError> {
    match (l.via, &ctx.load_image) {
        (Some(LoadVia::PortForward), _) => Ok(LoadPath::PortForward),
        (Some(LoadVia::InCluster), None) => Err(OpError::BadInput(format!(
            "load {}: via in-cluster needs inferbench's image on the cluster's nodes (a cluster `cargo xtask up` made); this cluster has none, so use via: port-forward",
            l.name
        ))),
        (_, Some(_)) => Ok(LoadPath::InCluster),
        (None, None) => Ok(LoadPath::PortForward),
    }
}

fn gen_plan(ctx: &Ctx, l: &Load, target: &ServiceTarget) -> Result<loadgen::GenPlan, OpError> {
    let request = loadgen::RequestKind::parse(&l.request)
        .ok_or_else(|| OpError::BadInput(format!("unknown request kind {:?}", l.request)))?;
    let arrival = match l.arrival {
        LoadArrival::Poisson => loadgen::Arrival::Poisson,
        LoadArrival::Constant => loadgen::Arrival::Constant,
    };
    let stages = l.rate_stages();
    let shape = match l.rate {
        _ if !stages.is_empty() => loadgen::Shape::Stages {
            stages: stages
                .iter()
                .map(|s| loadgen::RateStage {
                    rps: s.rate,
                    duration_ms: s.duration.as_millis() as u64,
                })
                .collect(),
            arrival,
            seed: l.seed,
        },
        Some(rps) => loadgen::Shape::Rate {
            rps,
            arrival,
            seed: l.seed,
        },
        None => loadgen::Shape::Users {
            users: l.users,
            ramp: l.ramp,
        },
    };
    Ok(loadgen::GenPlan {
        base_url: format!(
            "http://{}.{}.svc:{}",
            target.service, ctx.namespace, target.port
        ),
        request,
        model: ctx
            .bindings
            .get("model")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        fallback_model: Some(FALLBACK_MODEL.to_string()),
        max_tokens: l.max_tokens.unwrap_or(16),
        prompt_bytes: l.prompt_bytes,
        headers: l.headers.clone(),
        shape,
        duration_ms: l.duration.map(|d| d.as_millis() as u64),
        requests: l.requests,
        request_timeout_ms: REQUEST_TIMEOUT.as_millis() as u64,
        keep_alive: l.keep_alive,
        mix: crate::load_mix::variants(l)?,
        prompts: crate::load_mix::prompts(ctx, l)?,
        mix_seed: l.seed,
        generators: l.generators,
        start_at_unix_ms: None,
    })
}

async fn start_in_cluster(
    ctx: &Ctx,
    l: &Load,
    target: &ServiceTarget,
    image: &str,
    timeout: Duration,
) -> Result<Running, OpError> {
    let plan = gen_plan(ctx, l, target)?;
    let settle =
        crate::service_endpoints::endpoints_settle(&ctx.admin, &ctx.namespace, &target.service)
            .await;
    if !settle.is_zero() {
        ctx.console.info(&format!(
            "load {}: service/{}'s endpoints changed {:.1}s ago; waiting {:.1}s for every node to route to the new ones",
            l.name,
            target.service,
            (crate::service_endpoints::ENDPOINTS_SETTLE - settle).as_secs_f64(),
            settle.as_secs_f64()
        ));
        tokio::time::sleep(settle).await;
    }
    let recorder = Arc::new(Recorder::with_sources(
        LoadPath::InCluster,
        plan.generators.max(1) as usize,
    ));
    let pod = LoadPod::start(
        ctx.client.clone(),
        &ctx.namespace,
        image,
        &l.name,
        &plan,
        timeout,
        recorder.clone(),
    )
    .await
    .map_err(load_pod_error)?;
    if let Some(note) = recorder.take_note() {
        ctx.console.info(&format!("load {}: {note}", l.name));
    }
    Ok(Running::InCluster {
        pod: Box::new(pod),
        recorder,
    })
}

fn load_pod_error(e: LoadPodError) -> OpError {
    match &e {
        LoadPodError::NotStarted { .. } => OpError::TimedOut(e.to_string()),
        _ => OpError::Api(e.to_string()),
    }
}

async fn start_port_forward(
    ctx: &Ctx,
    l: &Load,
    target: &ServiceTarget,
) -> Result<Running, OpError> {
    if l.open_loop() {
        return Err(OpError::BadInput(format!(
            "load {}: an open-loop rate (rate, stages, sweep) runs from the in-cluster generator only; the port-forward path sends closed-loop users",
            l.name
        )));
    }
    let forwarder = ServiceForwarder::start(ctx.client.clone(), &ctx.namespace, target)
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
        request_timeout: REQUEST_TIMEOUT,
    };
    let load = attack::start(&forwarder.base_url(), forwarder.local.port(), plan);
    Ok(Running::PortForward {
        load,
        _forwarder: forwarder,
    })
}

/// `4 users`, `5 requests/s (poisson)` or `4 stages, 2 to 16 requests/s`.
fn shape_words(l: &Load) -> String {
    let stages = l.rate_stages();
    if let (Some(first), Some(last)) = (stages.first(), stages.last()) {
        return format!(
            "{} stages, {} to {} requests/s",
            stages.len(),
            first.rate,
            last.rate
        );
    }
    match l.rate {
        Some(r) => format!(
            "{r} requests/s ({})",
            match l.arrival {
                LoadArrival::Poisson => "poisson",
                LoadArrival::Constant => "constant",
            }
        ),
        None => format!("{} users", l.users),
    }
}

async fn start(ctx: &Ctx, l: &Load, timeout: Duration) -> Result<BackgroundLoad, OpError> {
    let target = ServiceTarget::parse(&l.target).map_err(OpError::bad)?;
    let path = path_of(ctx, l)?;
    if path == LoadPath::PortForward
        && (!l.mix.is_empty() || l.prompts.is_some() || l.generators > 1)
    {
        return Err(OpError::BadInput(format!(
            "load {}: a mix, prompts and several generators need inferbench's generator in the cluster, and this load goes through a port-forward (the cluster holds no inferbench image, or via: port-forward); send one request kind here",
            l.name
        )));
    }
    let baseline = crate::server_metrics::scrape_once(
        &ctx.admin,
        &ctx.namespace,
        &target.service,
        target.port,
    )
    .await;
    let running = match (path, &ctx.load_image) {
        (LoadPath::InCluster, Some(image)) => {
            start_in_cluster(ctx, l, &target, image, timeout).await?
        }
        _ => start_port_forward(ctx, l, &target).await?,
    };
    let recorder = running.recorder();
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
        format!(
            "load {}: {}, {}, {}",
            l.name,
            shape_words(l),
            l.request,
            path.name()
        ),
        false,
    );
    let scraper = crate::server_metrics::start(
        ctx.admin.clone(),
        ctx.namespace.clone(),
        target.service.clone(),
        target.port,
        ctx.scraped.clone(),
    );
    let gpu_scraper = crate::gpu_metrics::start(
        ctx.admin.clone(),
        ctx.namespace.clone(),
        ctx.gpu_scraped.clone(),
        ctx.scraped.clone(),
    );
    Ok(BackgroundLoad {
        running,
        scraper,
        gpu_scraper,
        baseline,
        spec: l.clone(),
        slo: request_slo(l),
        deadline: timeout,
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
        slo,
        deadline,
        progress,
        scraper,
        gpu_scraper,
        baseline,
        step: _,
    } = bg;
    let timed_out = || {
        OpError::TimedOut(format!(
            "load {} did not finish within its timeout",
            spec.name
        ))
    };
    let finished = match running {
        Running::PortForward { load, _forwarder } => {
            let finished = tokio::time::timeout(deadline, load.finish()).await;
            progress.abort();
            finished
                .map_err(|_| timed_out())?
                .map_err(|e| OpError::Api(format!("load {}: {e}", spec.name)))?
        }
        Running::InCluster { pod, recorder } => {
            let ended = tokio::time::timeout(deadline, pod.finish(&recorder)).await;
            progress.abort();
            ended.map_err(|_| timed_out())?.map_err(load_pod_error)?;
            recorder.finished()
        }
    };
    drop(scraper);
    drop(gpu_scraper);
    let target = ServiceTarget::parse(&spec.target).map_err(OpError::bad)?;
    let after = crate::server_metrics::scrape_once(
        &ctx.admin,
        &ctx.namespace,
        &target.service,
        target.port,
    )
    .await;
    let mut report = stats::summarize(
        &LoadIdentity {
            name: &spec.name,
            target: &spec.target,
            request: &crate::load_mix::describe(&spec),
            users: spec.users,
            slo: slo.as_ref(),
            stages: &spec
                .rate_stages()
                .iter()
                .map(|s| load::stages::PlannedStage {
                    rps: s.rate,
                    seconds: s.duration.as_secs_f64(),
                })
                .collect::<Vec<_>>(),
            variants: &crate::load_mix::variant_names(&spec),
        },
        &finished,
    );
    report.server_view = baseline
        .zip(after)
        .and_then(|(before, after)| crate::server_view::between(&before, &after));
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
    let offered = r
        .offered_rps
        .map(|o| format!(" of {o:.1}/s offered"))
        .unwrap_or_default();
    let tokens = match (&r.ttft_ms, &r.itl_ms) {
        (Some(t), Some(i)) => format!(
            ", TTFT p99 {:.0} ms, ITL p99 {:.1} ms, {:.0} tokens/s",
            t.p99, i.p99, r.output_tokens_per_s
        ),
        _ => String::new(),
    };
    let goodput = r
        .goodput
        .as_ref()
        .map(|g| format!(", goodput {:.1}%", g.ratio * 100.0))
        .unwrap_or_default();
    let goodput = match &r.saturation {
        Some(s) => format!("{goodput}, {}", s.words()),
        None => goodput,
    };
    format!(
        "{} requests ({:.1}/s{offered}, {}), {} failed, p50 {:.0} ms, p99 {:.0} ms{tokens}{goodput}{}",
        r.requests,
        r.throughput_rps,
        r.path.name(),
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
        // A generator pod is deleted as its handle drops.
        drop(bg);
    }
}
