//! Running one scenario instance in its own namespace: the steps in order,
//! background loads settled, faults reverted, the namespace removed (unless
//! kept), and the verdict; and the report of an instance that is skipped.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use kube::Client;

use crate::cancel::Cancel;
use crate::console::Console;
use crate::context::Ctx;
use crate::options::RunOptions;
use crate::step::{run_step, skipped_step};
use crate::timeouts::DEFAULT_CLEANUP_TIMEOUT;
use crate::verdict::{Failure, verdict};
use crate::{diagnose, evidence, inject, loads, recorder, run_as};
use report::{Diagnosis, ExpectedFailure, Outcome, ScenarioReport};
use scenario::model::{Action, ExpectFailure, Operation, Scenario};
use scenario::plan::{Instance, slug};
use scenario::profile;

pub(crate) async fn run_instance(
    client: &Client,
    inst: &Instance<'_>,
    own_template: Option<std::sync::Arc<crate::own_template::OwnTemplate>>,
    opts: &RunOptions,
    console: &Console,
    cancel: Cancel,
) -> ScenarioReport {
    let console = &console.scenario();
    let name = inst.name();
    let namespace = inst.namespace(&opts.run_id);
    let started = Timestamp::now();
    let clock = std::time::Instant::now();
    console.scenario_start(&name, &namespace);
    let mut report = skipped(inst, "");
    report.namespace = namespace.clone();
    report.started = started;
    report.error = None;
    if let Err(e) = k8s::ensure_namespace(client, &namespace).await {
        report.outcome = Outcome::Failed;
        report.error = Some(format!("cannot create namespace {namespace}: {e}"));
        report.finished = Timestamp::now();
        console.scenario_end(&name, "failed", clock.elapsed().as_secs_f64());
        return report;
    }
    let mut bindings = inst.bindings.clone();
    bindings.insert("namespace".into(), namespace.clone().into());
    bindings.insert(
        "scenario".into(),
        inst.scenario.metadata.name.clone().into(),
    );
    let mut ctx = Ctx {
        client: client.clone(),
        admin: client.clone(),
        namespace: namespace.clone(),
        bindings,
        scenario_dir: inst.file.parent().unwrap_or(Path::new(".")).to_path_buf(),
        repo_root: scenario::repo_root(),
        kubeconfig: opts.kubeconfig.clone(),
        kubectl: opts.kubectl.clone(),
        recorder: recorder::Recorder::start(client, &namespace),
        loads: Vec::new(),
        background: BTreeMap::new(),
        console: console.clone(),
        cancel,
        undo: Vec::new(),
        last_kill: None,
        step: String::new(),
        record_evidence: opts.record_evidence,
        own_template,
        release_plans: Vec::new(),
        node_exec: opts.node_exec.clone(),
        load_image: opts.load_image.clone(),
        scraped: Default::default(),
        gpu_scraped: Default::default(),
        terminations: Default::default(),
    };
    let artifacts_root = opts.report_dir.join("artifacts").join(slug(&name));
    let mut failure: Option<Failure> = None;
    let mut diagnoses: Vec<Diagnosis> = Vec::new();
    let mut artifacts = Vec::new();
    let timeouts = &inst.scenario.spec.timeouts;
    let mut blocked = false;
    // Held to the end: dropping it removes its kubeconfig.
    let mut _identity = None;
    if let Some(run_as) = &inst.scenario.spec.run_as {
        match run_as::prepare(client, &opts.kubeconfig, &namespace, run_as).await {
            Ok(id) => {
                let msg = format!(
                    "operations run as {} (ClusterRole {} bound in the namespace)",
                    id.user, run_as.cluster_role
                );
                console.info(&msg);
                ctx.recorder.note(
                    report::TimelineSource::Step,
                    "runAs",
                    Some(format!("ServiceAccount/{}", run_as.service_account)),
                    msg,
                    false,
                );
                ctx.client = id.client.clone();
                ctx.kubeconfig = id.kubeconfig().to_path_buf();
                _identity = Some(id);
            }
            Err(e) => {
                console.op_failed("runAs", &e.to_string());
                failure = Some(Failure {
                    step: inst
                        .scenario
                        .spec
                        .steps
                        .first()
                        .map(|s| s.name.clone())
                        .unwrap_or_default(),
                    error: format!("runAs: {e}"),
                    kind: e.kind(),
                    check: None,
                    observed: None,
                });
                blocked = true;
            }
        }
    }
    for step in &inst.scenario.spec.steps {
        let missing = profile::missing(&step.requires, &opts.capabilities);
        if !missing.is_empty() {
            let why = profile::describe_missing(&missing);
            console.info(&format!("skipping step {}: {why}", step.name));
            report.steps.push(skipped_step(step, &why));
            continue;
        }
        if blocked || ctx.cancel.is_cancelled() {
            let why = if ctx.cancel.is_cancelled() {
                "interrupted"
            } else {
                "an earlier step failed"
            };
            report.steps.push(skipped_step(step, why));
            continue;
        }
        let (sr, step_failure, mut found, mut files) = run_step(
            &mut ctx,
            step,
            timeouts,
            &opts.timeouts,
            &opts.report_dir,
            &artifacts_root,
        )
        .await;
        diagnoses.append(&mut found);
        artifacts.append(&mut files);
        report.steps.push(sr);
        if let Some(f) = step_failure {
            if failure.is_none() {
                failure = Some(f);
            }
            if step.continue_on_error {
                console.info(&format!(
                    "step {} failed; continuing (continueOnError)",
                    step.name
                ));
            } else {
                blocked = true;
            }
        }
    }
    // Background loads end with the scenario; their numbers belong to it.
    if ctx.cancel.is_cancelled() {
        loads::abort_all(&mut ctx);
    } else {
        // A background load that could not run fails the step that started it.
        for (step, e) in loads::settle_all(&mut ctx).await {
            console.op_failed("load", &e.to_string());
            if let Some(sr) = report.steps.iter_mut().rev().find(|s| s.name == step) {
                sr.outcome = Outcome::Failed;
                sr.failure = Some(e.kind());
                sr.error = Some(format!("background load: {e}"));
            }
            if failure.is_none() {
                failure = Some(Failure {
                    step,
                    error: format!("background load: {e}"),
                    kind: e.kind(),
                    check: None,
                    observed: None,
                });
            }
        }
    }
    // A scenario that detected what it looked for explains it too.
    if failure.is_none() && has_detection(inst.scenario) && !ctx.cancel.is_cancelled() {
        let mut ev = evidence::collect(&ctx.admin, &namespace).await;
        ev.attach_history(&ctx.recorder.replica_set_history());
        if let Ok(mut files) = ev.write(&opts.report_dir, &artifacts_root.join("end"), &ctx.loads) {
            artifacts.append(&mut files);
        }
        let step = detection_step(inst.scenario);
        diagnoses = diagnose::diagnose(&step, None, &ev, &ctx.loads)
            .into_iter()
            .filter(|d| d.decider != report::Decider::Assertion)
            .collect();
    }
    for u in std::mem::take(&mut ctx.undo) {
        match inject::revert(&ctx, &u).await {
            Ok(()) => console.info(&format!("reverted: {}", u.what())),
            Err(e) => console.op_failed("revert", &e.to_string()),
        }
    }
    let created_here = inst.scenario.spec.namespace.is_none();
    let (timeline, mut series) = ctx.recorder.finish();
    series.extend(ctx.scraped.series());
    // Read before the namespace goes.
    report.sizing = crate::vpa::sizing(client, &namespace).await;
    if opts.keep {
        console.info(&format!("kept namespace {namespace} (--keep)"));
    } else if created_here
        && let Err(e) = k8s::delete_namespace(client, &namespace, DEFAULT_CLEANUP_TIMEOUT).await
    {
        console.op_failed("cleanup", &e.to_string());
    }
    let (outcome, error) = verdict(inst.expect_failure.as_ref(), failure.as_ref());
    report.outcome = outcome;
    report.error = error;
    report.loads = std::mem::take(&mut ctx.loads);
    report.timeline = timeline;
    report.series = series;
    report.gpus = ctx.gpu_scraped.pods();
    if let Some(own) = &ctx.own_template {
        for d in &mut diagnoses {
            own.link_findings(d);
        }
    }
    report.diagnoses = diagnoses;
    report.artifacts = artifacts;
    report.finished = Timestamp::now();
    console.scenario_end(&name, outcome.label(), clock.elapsed().as_secs_f64());
    report
}

fn is_detection(op: &Operation) -> bool {
    matches!(&op.action, Action::Expect(x) if x.failed_requests.is_some()
        || x.event.is_some()
        || x.container_terminated.is_some()
        || x.endpoints.as_ref().is_some_and(|e| e.ready == Some(0)))
}

fn has_detection(s: &Scenario) -> bool {
    s.spec
        .steps
        .iter()
        .any(|st| st.try_.iter().any(is_detection))
}

fn detection_step(s: &Scenario) -> String {
    s.spec
        .steps
        .iter()
        .find(|st| st.try_.iter().any(is_detection))
        .map(|st| st.name.clone())
        .unwrap_or_default()
}

fn rel_file(file: &Path) -> String {
    let root = scenario::repo_root();
    file.strip_prefix(&root)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// The report of an instance that did not run (or has not yet: a running
/// instance starts from it), with the reason as its error.
pub(crate) fn skipped(inst: &Instance<'_>, why: &str) -> ScenarioReport {
    let now = Timestamp::now();
    ScenarioReport {
        name: inst.name(),
        file: rel_file(inst.file),
        description: inst.description.clone(),
        matrix_entry: inst.entry.clone(),
        values: inst.bindings.clone(),
        expected_failure: inst.expect_failure.as_ref().map(to_report_expectation),
        namespace: String::new(),
        started: now,
        finished: now,
        outcome: Outcome::Skipped,
        error: Some(why.to_string()),
        steps: Vec::new(),
        loads: Vec::new(),
        series: Vec::new(),
        gpus: Vec::new(),
        sizing: Vec::new(),
        timeline: Vec::new(),
        diagnoses: Vec::new(),
        artifacts: Vec::new(),
    }
}

fn to_report_expectation(e: &ExpectFailure) -> ExpectedFailure {
    ExpectedFailure {
        step: e.step.clone(),
        check: e.check.as_deref().and_then(report::CheckKind::from_name),
        observed: e.observed.clone().unwrap_or_default(),
    }
}
