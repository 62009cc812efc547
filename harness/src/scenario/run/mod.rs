//! Running scenarios against a cluster: one fresh namespace per scenario
//! (or matrix entry), steps with `try` / `catch` / `finally`, the default
//! evidence collection on failure, negative twins judged by where they
//! fail, and cleanup on success, failure and Ctrl-C (unless kept).
//!
//! The result is a [`RunReport`]; writing it to files is [`crate::report`]'s job.

pub mod console;
pub mod context;
pub mod diagnose;
pub mod evidence;
pub mod expect;
pub mod inject;
pub mod loads;
pub mod matching;
pub mod ops;
pub mod recorder;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use kube::Client;
use thiserror::Error;

use self::console::Console;
use self::context::{Ctx, DEFAULT_CLEANUP_TIMEOUT, timeout_for};
use crate::report::{
    Block, ClusterInfo, Diagnosis, ExpectedFailure, HarnessInfo, ImageInfo, OperationReport,
    Outcome, RunReport, SCHEMA_VERSION, ScenarioReport, StepReport, TimelineSource,
};
use crate::scenario::model::{
    Action, Capability, ExpectFailure, Operation, Scenario, Step, Timeouts,
};
use crate::scenario::profile;
use crate::template::{self, Bindings};

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] crate::k8s::K8sError),
    #[error("{0}")]
    Values(#[from] crate::template::TemplateError),
}

/// Ctrl-C, seen by every operation.
#[derive(Clone)]
pub struct Cancel(tokio::sync::watch::Receiver<bool>);

impl Cancel {
    /// A sender that cancels (send `true`) and the receiver operations hold.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Cancel) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Cancel(rx))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn cancelled(&mut self) {
        let _ = self.0.wait_for(|c| *c).await;
    }
}

pub struct RunOptions {
    pub kubeconfig: PathBuf,
    pub kubectl: Option<PathBuf>,
    /// The report folder; evidence goes to `artifacts/` inside it.
    pub report_dir: PathBuf,
    pub run_id: String,
    pub cluster: ClusterInfo,
    pub images: Vec<ImageInfo>,
    pub command: String,
    /// Leave namespaces in place after each scenario.
    pub keep: bool,
    /// Stop after the first scenario that fails.
    pub fail_fast: bool,
    pub quiet: bool,
    /// Suite-wide timeouts (scenarios and operations override them).
    pub timeouts: Timeouts,
    /// `--set name=value` bindings, over every scenario's.
    pub set: Bindings,
    /// The serving profile's bindings, under every scenario's.
    pub profile_bindings: Bindings,
    /// What the cluster and the profile offer; scenarios and steps that
    /// require more are skipped.
    pub capabilities: BTreeSet<Capability>,
}

/// One scenario, or one matrix entry of it: what actually runs.
pub struct Instance<'a> {
    pub file: &'a Path,
    pub scenario: &'a Scenario,
    pub entry: Option<String>,
    pub description: Option<String>,
    pub bindings: Bindings,
    pub expect_failure: Option<ExpectFailure>,
}

impl Instance<'_> {
    pub fn name(&self) -> String {
        match &self.entry {
            Some(e) => format!("{}[{e}]", self.scenario.metadata.name),
            None => self.scenario.metadata.name.clone(),
        }
    }
}

/// Expands matrices: one instance per entry (or one for a scenario without).
///
/// Bindings layer, later over earlier: `base` (the profile's), the
/// scenario's, the matrix entry's values file and values, then `set`. A
/// string binding may name others (`driftTo: "{{ server }}-canary"`); it is
/// filled from the layered result.
pub fn instances<'a>(
    scenarios: &'a [(PathBuf, Scenario)],
    base: &Bindings,
    set: &Bindings,
) -> Result<Vec<Instance<'a>>, RunError> {
    let mut out = Vec::new();
    for (file, s) in scenarios {
        let dir = file.parent().unwrap_or(Path::new("."));
        if s.spec.matrix.is_empty() {
            let mut bindings = base.clone();
            bindings.extend(s.spec.bindings.clone());
            bindings.extend(set.clone());
            let bindings = resolve_references(file, bindings)?;
            out.push(Instance {
                file,
                scenario: s,
                entry: None,
                description: s.metadata.description.clone(),
                bindings,
                expect_failure: s.spec.expect_failure.clone(),
            });
            continue;
        }
        for m in &s.spec.matrix {
            let mut bindings = base.clone();
            bindings.extend(s.spec.bindings.clone());
            if let Some(vf) = &m.values_file {
                bindings.extend(template::load_values(&dir.join(vf))?);
            }
            bindings.extend(m.values.clone());
            bindings.extend(set.clone());
            let bindings = resolve_references(file, bindings)?;
            out.push(Instance {
                file,
                scenario: s,
                entry: Some(m.name.clone()),
                description: m
                    .description
                    .clone()
                    .or_else(|| s.metadata.description.clone()),
                bindings,
                expect_failure: m
                    .expect_failure
                    .clone()
                    .or_else(|| s.spec.expect_failure.clone()),
            });
        }
    }
    Ok(out)
}

/// A fresh id per run: `YYYYMMDD-HHMMSS-xxxx`.
/// Fills string bindings that name other bindings (one level: a binding
/// that names one still holding a placeholder is an error).
fn resolve_references(file: &Path, bindings: Bindings) -> Result<Bindings, RunError> {
    let mut out = bindings.clone();
    for (name, value) in &bindings {
        if let serde_json::Value::String(text) = value
            && text.contains("{{")
        {
            let filled = template::render(file, text, &bindings)?;
            if filled.contains("{{") {
                return Err(RunError::Values(template::TemplateError::At {
                    file: file.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: format!(
                        "binding {name:?} = {text:?} names a binding that names another; bindings resolve one level deep"
                    ),
                }));
            }
            out.insert(name.clone(), serde_json::Value::String(filled));
        }
    }
    Ok(out)
}

pub fn new_run_id() -> String {
    let now = Timestamp::now();
    let noise = (now.subsec_nanosecond() as u32 ^ std::process::id()) & 0xffff;
    format!("{}-{noise:04x}", now.strftime("%Y%m%d-%H%M%S"))
}

fn namespace_for(inst: &Instance<'_>, run_id: &str) -> String {
    if let Some(ns) = &inst.scenario.spec.namespace {
        return ns.clone();
    }
    let suffix = &run_id[run_id.len().saturating_sub(4)..];
    let mut base: String = format!(
        "ib-{}{}",
        inst.scenario.metadata.name,
        inst.entry
            .as_ref()
            .map(|e| format!("-{e}"))
            .unwrap_or_default()
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        }
    })
    .collect();
    base.truncate(57);
    format!("{}-{suffix}", base.trim_end_matches('-'))
}

fn harness_info(command: &str) -> HarnessInfo {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(crate::workspace::repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    HarnessInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: commit,
        command: command.to_string(),
    }
}

/// Runs every scenario (each matrix entry on its own) and reports.
pub async fn run(
    scenarios: &[(PathBuf, Scenario)],
    opts: &RunOptions,
    cancel: Cancel,
) -> Result<RunReport, RunError> {
    let client = crate::k8s::connect(&opts.kubeconfig).await?;
    let insts = instances(scenarios, &opts.profile_bindings, &opts.set)?;
    let console = Console::new(opts.quiet);
    let started = Timestamp::now();
    let mut reports = Vec::new();
    let mut stop = None;
    for inst in &insts {
        if stop.is_none() && cancel.is_cancelled() {
            stop = Some("interrupted (Ctrl-C)".to_string());
        }
        if let Some(why) = &stop {
            reports.push(skipped(inst, why));
            continue;
        }
        if let Some(why) = unmet_requirements(inst, &opts.capabilities) {
            console.info(&format!("skipping {}: {why}", inst.name()));
            reports.push(skipped(inst, &why));
            continue;
        }
        let r = run_instance(&client, inst, opts, &console, cancel.clone()).await;
        if opts.fail_fast && !r.outcome.is_success() {
            stop = Some("skipped: --fail-fast after an earlier failure".into());
        }
        reports.push(r);
    }
    if cancel.is_cancelled() {
        stop = Some("interrupted (Ctrl-C)".into());
    }
    let ok = reports.iter().all(|r| r.outcome.is_success()) && !cancel.is_cancelled();
    Ok(RunReport {
        schema: SCHEMA_VERSION.to_string(),
        run_id: opts.run_id.clone(),
        started,
        finished: Timestamp::now(),
        outcome: if ok { Outcome::Passed } else { Outcome::Failed },
        harness: harness_info(&opts.command),
        cluster: opts.cluster.clone(),
        images: opts.images.clone(),
        scenarios: reports,
        interrupted: stop.filter(|s| s.starts_with("interrupted")),
    })
}

/// Why `inst` cannot run with `offered`: the scenario requires more, or
/// the step a negative twin must fail in would be skipped.
pub fn unmet_requirements(inst: &Instance<'_>, offered: &BTreeSet<Capability>) -> Option<String> {
    let spec = &inst.scenario.spec;
    let missing = profile::missing(&spec.requires, offered);
    if !missing.is_empty() {
        return Some(profile::describe_missing(&missing));
    }
    let x = inst.expect_failure.as_ref()?;
    let step = spec.steps.iter().find(|s| s.name == x.step)?;
    let missing = profile::missing(&step.requires, offered);
    (!missing.is_empty()).then(|| {
        format!(
            "negative twin of step {}, which {}",
            x.step,
            profile::describe_missing(&missing)
        )
    })
}

fn rel_file(file: &Path) -> String {
    let root = crate::workspace::repo_root();
    file.strip_prefix(&root)
        .unwrap_or(file)
        .display()
        .to_string()
}

fn skipped(inst: &Instance<'_>, why: &str) -> ScenarioReport {
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
        timeline: Vec::new(),
        diagnoses: Vec::new(),
        artifacts: Vec::new(),
    }
}

fn to_report_expectation(e: &ExpectFailure) -> ExpectedFailure {
    ExpectedFailure {
        step: e.step.clone(),
        message_contains: e.message_contains.clone(),
    }
}

/// Folder-safe form of a name (`a[b]` -> `a-b`).
fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The first step that failed in a scenario run, and its error.
pub struct Failure {
    pub step: String,
    pub error: String,
}

async fn run_instance(
    client: &Client,
    inst: &Instance<'_>,
    opts: &RunOptions,
    console: &Console,
    cancel: Cancel,
) -> ScenarioReport {
    let name = inst.name();
    let namespace = namespace_for(inst, &opts.run_id);
    let started = Timestamp::now();
    let clock = std::time::Instant::now();
    console.scenario_start(&name, &namespace);
    let mut report = skipped(inst, "");
    report.namespace = namespace.clone();
    report.started = started;
    report.error = None;
    if let Err(e) = crate::k8s::ensure_namespace(client, &namespace).await {
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
        namespace: namespace.clone(),
        bindings,
        scenario_dir: inst.file.parent().unwrap_or(Path::new(".")).to_path_buf(),
        repo_root: crate::workspace::repo_root(),
        kubeconfig: opts.kubeconfig.clone(),
        kubectl: opts.kubectl.clone(),
        recorder: recorder::Recorder::start(client, &namespace),
        loads: Vec::new(),
        background: BTreeMap::new(),
        console: console.clone(),
        cancel,
        undo: Vec::new(),
    };
    let artifacts_root = opts.report_dir.join("artifacts").join(slug(&name));
    let mut failure: Option<Failure> = None;
    let mut diagnoses: Vec<Diagnosis> = Vec::new();
    let mut artifacts = Vec::new();
    let timeouts = &inst.scenario.spec.timeouts;
    let mut blocked = false;
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
        if let Some(error) = step_failure {
            if failure.is_none() {
                failure = Some(Failure {
                    step: step.name.clone(),
                    error,
                });
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
        for e in loads::settle_all(&mut ctx).await {
            console.op_failed("load", &e);
        }
    }
    // A scenario that detected what it looked for explains it too.
    if failure.is_none() && has_detection(inst.scenario) && !ctx.cancel.is_cancelled() {
        let ev = evidence::collect(&ctx.client, &namespace).await;
        if let Ok(mut files) = ev.write(&opts.report_dir, &artifacts_root.join("end")) {
            artifacts.append(&mut files);
        }
        let step = detection_step(inst.scenario);
        diagnoses = diagnose::diagnose(&step, "", &ev, &ctx.loads)
            .into_iter()
            .filter(|d| d.decider != crate::report::Decider::Assertion)
            .collect();
    }
    for u in std::mem::take(&mut ctx.undo) {
        match inject::revert(&ctx, &u).await {
            Ok(()) => console.info(&format!("reverted: {}", u.what)),
            Err(e) => console.op_failed("revert", &e),
        }
    }
    let created_here = inst.scenario.spec.namespace.is_none();
    let (timeline, series) = ctx.recorder.finish();
    if opts.keep {
        console.info(&format!("kept namespace {namespace} (--keep)"));
    } else if created_here
        && let Err(e) =
            crate::k8s::delete_namespace(client, &namespace, DEFAULT_CLEANUP_TIMEOUT).await
    {
        console.op_failed("cleanup", &e.to_string());
    }
    let (outcome, error) = verdict(inst.expect_failure.as_ref(), failure.as_ref());
    report.outcome = outcome;
    report.error = error;
    report.loads = std::mem::take(&mut ctx.loads);
    report.timeline = timeline;
    report.series = series;
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

/// Judges a run against its expectation: a negative twin must fail in
/// the named step, with the named text.
pub fn verdict(
    expect: Option<&ExpectFailure>,
    failure: Option<&Failure>,
) -> (Outcome, Option<String>) {
    match (expect, failure) {
        (None, None) => (Outcome::Passed, None),
        (None, Some(f)) => (
            Outcome::Failed,
            Some(format!("step {}: {}", f.step, f.error)),
        ),
        (Some(x), None) => (
            Outcome::PassedUnexpectedly,
            Some(format!(
                "negative twin passed: step {} was expected to fail{}, so the assertion it proves cannot fail",
                x.step,
                x.message_contains
                    .as_ref()
                    .map(|m| format!(" with {m:?}"))
                    .unwrap_or_default()
            )),
        ),
        (Some(x), Some(f)) => {
            let text_ok = x
                .message_contains
                .as_ref()
                .is_none_or(|m| f.error.contains(m.as_str()));
            if f.step == x.step && text_ok {
                (
                    Outcome::FailedAsExpected,
                    Some(format!("step {}: {}", f.step, f.error)),
                )
            } else {
                (
                    Outcome::Failed,
                    Some(format!(
                        "expected to fail in step {}{}, but failed in step {}: {}",
                        x.step,
                        x.message_contains
                            .as_ref()
                            .map(|m| format!(" with {m:?}"))
                            .unwrap_or_default(),
                        f.step,
                        f.error
                    )),
                )
            }
        }
    }
}

fn skipped_step(step: &Step, why: &str) -> StepReport {
    let now = Timestamp::now();
    StepReport {
        name: step.name.clone(),
        description: step.description.clone(),
        started: now,
        finished: now,
        outcome: Outcome::Skipped,
        attempts: 0,
        error: Some(why.to_string()),
        operations: Vec::new(),
    }
}

type StepResult = (
    StepReport,
    Option<String>,
    Vec<Diagnosis>,
    Vec<crate::report::Artifact>,
);

async fn run_step(
    ctx: &mut Ctx,
    step: &Step,
    scenario_t: &Timeouts,
    suite_t: &Timeouts,
    report_dir: &Path,
    artifacts_root: &Path,
) -> StepResult {
    let started = Timestamp::now();
    let mut ops = Vec::new();
    let mut failure = None;
    let mut attempts = 0;
    ctx.recorder.note(
        TimelineSource::Step,
        "step",
        None,
        format!("step {} started", step.name),
        false,
    );
    for attempt in 1..=step.retries + 1 {
        attempts = attempt;
        ctx.console.step(&step.name, attempt);
        failure = None;
        for op in &step.try_ {
            let r = run_op(ctx, op, Block::Try, scenario_t, suite_t).await;
            let failed = r.outcome == Outcome::Failed;
            let err = r.error.clone();
            ops.push(r);
            if failed && !op.continue_on_error {
                failure = err;
                break;
            }
            if ctx.cancel.is_cancelled() {
                failure = Some("interrupted (Ctrl-C)".into());
                break;
            }
        }
        if failure.is_none() || ctx.cancel.is_cancelled() {
            break;
        }
    }
    let mut diagnoses = Vec::new();
    let mut artifacts = Vec::new();
    if let Some(error) = &failure {
        ctx.recorder.note(
            TimelineSource::Step,
            "step failed",
            None,
            format!("step {}: {}", step.name, error.lines().next().unwrap_or("")),
            true,
        );
        if !ctx.cancel.is_cancelled() {
            let t0 = Timestamp::now();
            let ev = evidence::collect(&ctx.client, &ctx.namespace).await;
            let written = ev.write(report_dir, &artifacts_root.join(slug(&step.name)));
            diagnoses = diagnose::diagnose(&step.name, error, &ev, &ctx.loads);
            let (outcome, detail, err) = match written {
                Ok(files) => {
                    let n = files.len();
                    artifacts = files;
                    (
                        Outcome::Passed,
                        Some(format!(
                            "{n} files: events, pods, logs, rollout history, endpoints"
                        )),
                        None,
                    )
                }
                Err(e) => (
                    Outcome::Failed,
                    None,
                    Some(format!("writing evidence: {e}")),
                ),
            };
            ops.push(OperationReport {
                block: Block::DefaultCatch,
                kind: "collect".into(),
                description:
                    "collect evidence (events, container states, logs, rollout history, endpoints)"
                        .into(),
                started: t0,
                finished: Timestamp::now(),
                outcome,
                error: err,
                detail,
            });
            for op in &step.catch {
                let r = run_op(ctx, op, Block::Catch, scenario_t, suite_t).await;
                ops.push(r);
            }
        }
    }
    for op in &step.finally {
        let r = run_op(ctx, op, Block::Finally, scenario_t, suite_t).await;
        ops.push(r);
    }
    let outcome = if failure.is_some() {
        Outcome::Failed
    } else {
        Outcome::Passed
    };
    (
        StepReport {
            name: step.name.clone(),
            description: step.description.clone(),
            started,
            finished: Timestamp::now(),
            outcome,
            attempts,
            error: failure.clone(),
            operations: ops,
        },
        failure,
        diagnoses,
        artifacts,
    )
}

/// What an operation does, in a few words, when it has no description.
pub fn summarize(a: &Action) -> String {
    match a {
        Action::Apply(x) => match (&x.file, &x.kustomize) {
            (Some(f), _) => format!("apply {f}"),
            (None, Some(k)) => format!("apply kustomize {k}"),
            _ => "apply inline resource".into(),
        },
        Action::Assert(x) => x
            .file
            .clone()
            .map(|f| format!("assert {f}"))
            .unwrap_or_else(|| "assert inline resource".into()),
        Action::Wait(x) => match (&x.rollout, &x.resource) {
            (Some(r), _) => format!("wait for rollout of {r}"),
            (None, Some(r)) => format!("wait for {r} {}", x.condition.clone().unwrap_or_default()),
            _ => "wait".into(),
        },
        Action::Rollout(x) => format!("roll out {}", x.target),
        Action::Rollback(x) => format!(
            "roll back {}{}",
            x.target,
            x.to_revision
                .map(|r| format!(" to revision {r}"))
                .unwrap_or_default()
        ),
        Action::Scale(x) => format!("scale {} to {}", x.target, x.replicas),
        Action::Load(x) => format!(
            "load {}: {} users on {}{}",
            x.name,
            x.users,
            x.target,
            if x.background { " (background)" } else { "" }
        ),
        Action::Inject(x) => format!(
            "inject {}{}",
            x.fault,
            x.target
                .as_ref()
                .map(|t| format!(" into {t}"))
                .unwrap_or_default()
        ),
        Action::Expect(_) => "expect".into(),
        Action::Sleep(x) => format!(
            "sleep {}",
            crate::scenario::model::format_duration(x.duration)
        ),
        Action::Script(x) => format!("script: {}", x.run.lines().next().unwrap_or("")),
    }
}

async fn run_op(
    ctx: &mut Ctx,
    op: &Operation,
    block: Block,
    scenario_t: &Timeouts,
    suite_t: &Timeouts,
) -> OperationReport {
    let kind = op.action.kind();
    let timeout = op
        .timeout
        .unwrap_or_else(|| timeout_for(kind, scenario_t, suite_t));
    let description = op
        .description
        .clone()
        .unwrap_or_else(|| summarize(&op.action));
    ctx.console.op(kind, &description);
    let started = Timestamp::now();
    let mut cancel = ctx.cancel.clone();
    // Operations watch their own timeout; this outer one (with slack) only
    // guards against an operation that forgets to.
    let guard = timeout + Duration::from_secs(30);
    let result = tokio::select! {
        r = tokio::time::timeout(guard, dispatch(ctx, &op.action, timeout)) => match r {
            Ok(r) => r,
            Err(_) => Err(format!("{kind} did not finish within {}", crate::scenario::model::format_duration(timeout))),
        },
        _ = cancel.cancelled() => Err("interrupted (Ctrl-C)".into()),
    };
    let (outcome, detail, error) = match result {
        Ok(detail) => (Outcome::Passed, detail, None),
        Err(e) => {
            ctx.console.op_failed(kind, &e);
            (Outcome::Failed, None, Some(e))
        }
    };
    if let Some(d) = &detail {
        ctx.console
            .info(&format!("  ✓ {}", d.lines().next().unwrap_or("")));
    }
    OperationReport {
        block,
        kind: kind.to_string(),
        description,
        started,
        finished: Timestamp::now(),
        outcome,
        error,
        detail,
    }
}

/// Fills `{{ name }}` placeholders in every string of an operation from
/// the scenario's bindings, so matrix values reach rollouts and loads too.
pub fn render_action(action: &Action, bindings: &Bindings) -> Result<Action, String> {
    fn walk(v: &mut serde_json::Value, b: &Bindings, typed: bool) -> Result<(), String> {
        match v {
            serde_json::Value::String(s) if s.contains("{{") => {
                // A string that is one placeholder takes the binding's own
                // type (a number stays a number in a JSON patch).
                let whole = s
                    .trim()
                    .strip_prefix("{{")
                    .and_then(|r| r.strip_suffix("}}"))
                    .map(str::trim)
                    .filter(|n| typed && !n.contains("{{") && !n.contains("}}"))
                    .and_then(|n| b.get(n));
                match whole {
                    Some(value) => *v = value.clone(),
                    None => {
                        *s = template::render(Path::new("(operation)"), s, b)
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for i in items {
                    walk(i, b, typed)?;
                }
            }
            serde_json::Value::Object(m) => {
                // Keys too: `env: { "{{ versionEnv }}": v2 }`.
                let templated: Vec<String> =
                    m.keys().filter(|k| k.contains("{{")).cloned().collect();
                for key in templated {
                    let filled = template::render(Path::new("(operation)"), &key, b)
                        .map_err(|e| e.to_string())?;
                    if let Some(v) = m.remove(&key) {
                        m.insert(filled, v);
                    }
                }
                for (_, i) in m.iter_mut() {
                    walk(i, b, typed)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let original = serde_json::to_value(action).map_err(|e| e.to_string())?;
    let mut typed = original.clone();
    walk(&mut typed, bindings, true)?;
    if let Ok(a) = serde_json::from_value(typed) {
        return Ok(a);
    }
    // Where the field wants text (an env value), the binding goes in as text.
    let mut text = original;
    walk(&mut text, bindings, false)?;
    serde_json::from_value(text).map_err(|e| format!("after filling bindings: {e}"))
}

async fn dispatch(ctx: &mut Ctx, action: &Action, timeout: Duration) -> ops::OpResult {
    let rendered = render_action(action, &ctx.bindings)?;
    let action = &rendered;
    match action {
        Action::Apply(a) => ops::apply(ctx, a).await,
        Action::Assert(a) => ops::assert(ctx, a, timeout).await,
        Action::Wait(w) => ops::wait(ctx, w, timeout).await,
        Action::Rollout(r) => ops::rollout(ctx, r).await,
        Action::Rollback(r) => ops::rollback(ctx, r).await,
        Action::Scale(s) => ops::scale(ctx, s).await,
        Action::Load(l) => loads::load(ctx, l, timeout).await,
        Action::Inject(i) => inject::inject(ctx, i).await,
        Action::Expect(x) => expect::expect(ctx, x, timeout).await,
        Action::Sleep(s) => {
            tokio::time::sleep(s.duration).await;
            Ok(None)
        }
        Action::Script(s) => ops::script(ctx, s, timeout).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(step: &str, error: &str) -> Failure {
        Failure {
            step: step.into(),
            error: error.into(),
        }
    }

    #[test]
    fn negative_twins_must_fail_where_they_say() {
        let x = ExpectFailure {
            step: "verify".into(),
            message_contains: Some("failed requests".into()),
        };
        assert_eq!(
            verdict(Some(&x), Some(&f("verify", "load had 3 failed requests"))).0,
            Outcome::FailedAsExpected
        );
        assert_eq!(
            verdict(Some(&x), Some(&f("deploy", "failed requests"))).0,
            Outcome::Failed
        );
        assert_eq!(
            verdict(Some(&x), Some(&f("verify", "timeout"))).0,
            Outcome::Failed
        );
        assert_eq!(verdict(Some(&x), None).0, Outcome::PassedUnexpectedly);
        assert_eq!(verdict(None, None).0, Outcome::Passed);
        assert_eq!(verdict(None, Some(&f("a", "b"))).0, Outcome::Failed);
    }

    #[test]
    fn bindings_reach_every_string_of_an_operation() {
        let op: Operation = yaml_serde::from_str(
            "rollout: { target: deployment/m, env: { MOCK_VERSION: \"{{ v }}\" } }",
        )
        .expect("operation");
        let b: Bindings = [("v".to_string(), serde_json::json!("v2"))].into();
        match render_action(&op.action, &b).expect("rendered") {
            Action::Rollout(r) => {
                assert_eq!(r.env.get("MOCK_VERSION").map(String::as_str), Some("v2"))
            }
            other => panic!("{other:?}"),
        }
        let err = render_action(&op.action, &Bindings::new()).unwrap_err();
        assert!(err.contains("v"), "{err}");
    }

    #[test]
    fn matrix_entries_override_bindings_and_carry_their_expectation() {
        let text = "apiVersion: inferbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: s }\nspec:\n  bindings: { a: 1, b: 1 }\n  matrix:\n    - name: one\n    - name: two\n      values: { b: 2 }\n      expectFailure: { step: x }\n  steps:\n    - name: x\n      try: [ { sleep: { duration: 1s } } ]\n";
        let s = crate::scenario::parse(Path::new("s.yaml"), text).expect("valid");
        let list = vec![(PathBuf::from("s.yaml"), s)];
        let set: Bindings = [("a".to_string(), serde_json::json!(9))].into();
        let insts = instances(&list, &Bindings::new(), &set).expect("instances");
        assert_eq!(insts.len(), 2);
        assert_eq!(insts[1].name(), "s[two]");
        assert_eq!(insts[1].bindings["b"], 2);
        assert_eq!(insts[1].bindings["a"], 9, "--set wins");
        assert!(insts[0].expect_failure.is_none());
        assert_eq!(
            insts[1].expect_failure.as_ref().map(|x| x.step.as_str()),
            Some("x")
        );
        assert!(namespace_for(&insts[1], "20261123-000000-ab12").starts_with("ib-s-two-ab12"));
    }

    #[test]
    fn binding_keys_are_filled_too() {
        let op: Operation =
            yaml_serde::from_str("rollout: { target: deployment/m, env: { \"{{ e }}\": v2 } }")
                .expect("operation");
        let b: Bindings = [("e".to_string(), serde_json::json!("INFERENCE_VERSION"))].into();
        match render_action(&op.action, &b).expect("rendered") {
            Action::Rollout(r) => assert_eq!(
                r.env.get("INFERENCE_VERSION").map(String::as_str),
                Some("v2")
            ),
            other => panic!("{other:?}"),
        }
    }

    const PROFILED: &str = "apiVersion: inferbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: s }\nspec:\n  requires: [containers]\n  bindings: { replicas: 2, drift: \"{{ server }}-canary\" }\n  matrix:\n    - name: plain\n    - name: twin\n      values: { drift: \"{{ server }}\" }\n      expectFailure: { step: knobs }\n  steps:\n    - name: generic\n      try: [ { sleep: { duration: 1s } } ]\n    - name: knobs\n      requires: [mock-server]\n      try: [ { sleep: { duration: 1s } } ]\n";

    #[test]
    fn profile_bindings_sit_under_the_scenario_and_bindings_may_name_them() {
        let s = crate::scenario::parse(Path::new("s.yaml"), PROFILED).expect("valid");
        let list = vec![(PathBuf::from("s.yaml"), s)];
        let base: Bindings = [
            ("server".to_string(), serde_json::json!("vllm")),
            ("replicas".to_string(), serde_json::json!(1)),
        ]
        .into();
        let insts = instances(&list, &base, &Bindings::new()).expect("instances");
        assert_eq!(insts[0].bindings["replicas"], 2, "the scenario wins");
        assert_eq!(insts[0].bindings["drift"], "vllm-canary");
        assert_eq!(insts[1].bindings["drift"], "vllm");
        let looped: Bindings = [
            ("server".to_string(), serde_json::json!("{{ other }}")),
            ("other".to_string(), serde_json::json!("x")),
        ]
        .into();
        let e = instances(&list, &looped, &Bindings::new())
            .err()
            .expect("two levels are refused")
            .to_string();
        assert!(e.contains("one level deep"), "{e}");
    }

    #[test]
    fn scenarios_and_twins_needing_more_than_offered_are_skipped_with_the_reason() {
        let s = crate::scenario::parse(Path::new("s.yaml"), PROFILED).expect("valid");
        let list = vec![(PathBuf::from("s.yaml"), s)];
        let base: Bindings = [("server".to_string(), serde_json::json!("m"))].into();
        let insts = instances(&list, &base, &Bindings::new()).expect("instances");
        let kwok = BTreeSet::new();
        let why = unmet_requirements(&insts[0], &kwok).expect("kwok runs no containers");
        assert!(why.contains("needs containers"), "{why}");
        let vllm_on_kind = BTreeSet::from([Capability::Containers, Capability::RealGpus]);
        assert_eq!(unmet_requirements(&insts[0], &vllm_on_kind), None);
        let why = unmet_requirements(&insts[1], &vllm_on_kind).expect("the twin's step is skipped");
        assert!(
            why.contains("negative twin of step knobs") && why.contains("mock-server"),
            "{why}"
        );
        let mock = BTreeSet::from([Capability::Containers, Capability::MockServer]);
        assert_eq!(unmet_requirements(&insts[1], &mock), None);
    }

    #[test]
    fn namespaces_are_dns_labels() {
        assert_eq!(
            slug("rolling-update[capacity gap]"),
            "rolling-update-capacity-gap"
        );
    }
}
