//! Executing one step: its `try` operations (with retries), the default
//! catch that collects evidence and diagnoses a failure, the step's own
//! `catch` and `finally`, and each operation under its timeout and Ctrl-C.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;

use crate::context::{Ctx, OpError, OpOutcome, OpResult};
use crate::timeouts::timeout_for;
use crate::verdict::Failure;
use crate::{diagnose, evidence, expect, inject, loads, ops};
use report::{Block, Diagnosis, FailureKind, OperationReport, Outcome, StepReport, TimelineSource};
use scenario::model::{Action, Operation, Step, Timeouts, format_duration};
use scenario::plan::slug;
use scenario::render::{self, render_action};

pub(crate) fn skipped_step(step: &Step, why: &str) -> StepReport {
    let now = Timestamp::now();
    StepReport {
        name: step.name.clone(),
        description: step.description.clone(),
        started: now,
        finished: now,
        outcome: Outcome::Skipped,
        attempts: 0,
        error: Some(why.to_string()),
        failure: None,
        operations: Vec::new(),
    }
}

type StepResult = (
    StepReport,
    Option<Failure>,
    Vec<Diagnosis>,
    Vec<report::Artifact>,
);

/// The failure an operation's report describes, in step `step`.
fn failure_of(step: &str, r: &OperationReport) -> Option<Failure> {
    let kind = r.failure?;
    Some(Failure {
        step: step.to_string(),
        error: r.error.clone().unwrap_or_default(),
        kind,
        check: r.check,
        observed: r.observation.clone(),
    })
}

pub(crate) async fn run_step(
    ctx: &mut Ctx,
    step: &Step,
    scenario_t: &Timeouts,
    suite_t: &Timeouts,
    report_dir: &Path,
    artifacts_root: &Path,
) -> StepResult {
    let started = Timestamp::now();
    let mut ops = Vec::new();
    let mut failure: Option<Failure> = None;
    let mut attempts = 0;
    ctx.step = step.name.clone();
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
            let failed = failure_of(&step.name, &r);
            ops.push(r);
            if failed.is_some() && !op.continue_on_error {
                failure = failed;
                break;
            }
            if ctx.cancel.is_cancelled() {
                failure = Some(Failure {
                    step: step.name.clone(),
                    error: OpError::Interrupted.to_string(),
                    kind: FailureKind::Interrupted,
                    check: None,
                    observed: None,
                });
                break;
            }
        }
        if failure.is_none() || ctx.cancel.is_cancelled() {
            break;
        }
    }
    let mut diagnoses = Vec::new();
    let mut artifacts = Vec::new();
    if let Some(Failure { error, .. }) = &failure {
        ctx.recorder.note(
            TimelineSource::Step,
            "step failed",
            None,
            format!("step {}: {}", step.name, error.lines().next().unwrap_or("")),
            true,
        );
        if !ctx.cancel.is_cancelled() {
            let t0 = Timestamp::now();
            let mut ev = evidence::collect(&ctx.admin, &ctx.namespace).await;
            ev.attach_history(&ctx.recorder.replica_set_history());
            let written = ev.write(
                report_dir,
                &artifacts_root.join(slug(&step.name)),
                &ctx.loads,
            );
            diagnoses = diagnose::diagnose(&step.name, failure.as_ref(), &ev, &ctx.loads);
            let (outcome, observed, err) = match written {
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
                failure: err.as_ref().map(|_| FailureKind::ApiError),
                error: err,
                check: None,
                expected: None,
                observed,
                observation: None,
            });
            for op in &step.catch {
                let r = run_op(ctx, op, Block::Catch, scenario_t, suite_t).await;
                ops.push(r);
            }
        }
    }
    // A recording of what a passed step left, when asked for.
    if failure.is_none() && ctx.record_evidence && !ctx.cancel.is_cancelled() {
        let mut ev = evidence::collect(&ctx.admin, &ctx.namespace).await;
        ev.attach_history(&ctx.recorder.replica_set_history());
        match ev.write_recording(
            report_dir,
            &artifacts_root.join(slug(&step.name)),
            &ctx.loads,
        ) {
            Ok(a) => artifacts.push(a),
            Err(e) => ctx
                .console
                .op_failed("record evidence", &format!("writing evidence.json: {e}")),
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
            description: step
                .description
                .as_deref()
                .map(|d| render::text(d, &ctx.bindings)),
            started,
            finished: Timestamp::now(),
            outcome,
            attempts,
            error: failure.as_ref().map(|f| f.error.clone()),
            failure: failure.as_ref().map(|f| f.kind),
            operations: ops,
        },
        failure,
        diagnoses,
        artifacts,
    )
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
    let description = render::title(op, &ctx.bindings);
    ctx.console.op(kind, &description);
    let started = Timestamp::now();
    let mut cancel = ctx.cancel.clone();
    // Operations watch their own timeout; this outer one (with slack) only
    // guards against an operation that forgets to.
    let guard = timeout + Duration::from_secs(30);
    let result = tokio::select! {
        r = tokio::time::timeout(guard, dispatch(ctx, &op.action, timeout)) => match r {
            Ok(r) => r,
            Err(_) => Err(OpError::TimedOut(format!("{kind} did not finish within {}", format_duration(timeout)))),
        },
        _ = cancel.cancelled() => Err(OpError::Interrupted),
    };
    let mut report = OperationReport {
        block,
        kind: kind.to_string(),
        description,
        started,
        finished: Timestamp::now(),
        outcome: Outcome::Passed,
        failure: None,
        error: None,
        check: None,
        expected: None,
        observed: None,
        observation: None,
    };
    match result {
        Ok(OpOutcome::Passed { check, observed }) => {
            ctx.console.info(&format!(
                "  ✓ {}",
                observed.text.lines().next().unwrap_or("")
            ));
            report.check = check.as_ref().map(|c| c.kind);
            report.expected = check.map(|c| c.expected);
            report.observed = Some(observed.text).filter(|t| !t.is_empty());
            report.observation = Some(observed.value).filter(|v| !v.is_null());
        }
        Ok(OpOutcome::NotMet { check, observed }) => {
            let error = format!(
                "{} not met: expected {}; observed {}",
                check.kind.name(),
                check.expected,
                observed.text
            );
            ctx.console.op_failed(kind, &error);
            report.outcome = Outcome::Failed;
            report.failure = Some(FailureKind::NotMet);
            report.error = Some(error);
            report.check = Some(check.kind);
            report.expected = Some(check.expected);
            report.observed = Some(observed.text);
            report.observation = Some(observed.value);
        }
        Err(e) => {
            let error = e.to_string();
            ctx.console.op_failed(kind, &error);
            report.outcome = Outcome::Failed;
            report.failure = Some(e.kind());
            report.error = Some(error);
        }
    }
    report
}

/// Runs one action with its bindings filled in.
async fn dispatch(ctx: &mut Ctx, action: &Action, timeout: Duration) -> OpResult {
    let rendered = render_action(action, &ctx.bindings).map_err(OpError::bad)?;
    let action = &rendered;
    match action {
        Action::Apply(a) => ops::apply(ctx, a).await,
        Action::Assert(a) => ops::assert(ctx, a, timeout).await,
        Action::Wait(w) => ops::wait(ctx, w, timeout).await,
        Action::Rollout(r) => ops::rollout(ctx, r).await,
        Action::Rollback(r) => ops::rollback(ctx, r).await,
        Action::Scale(s) => ops::scale(ctx, s).await,
        Action::Canary(c) => ops::canary(ctx, c, timeout).await,
        Action::Load(l) => loads::load(ctx, l, timeout).await,
        Action::Inject(i) => inject::inject(ctx, i).await,
        Action::Expect(x) => expect::expect(ctx, x, timeout).await,
        Action::Sleep(s) => {
            tokio::time::sleep(s.duration).await;
            Ok(OpOutcome::done(""))
        }
        Action::Script(s) => ops::script(ctx, s, timeout).await,
    }
}
