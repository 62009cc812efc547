//! A whole run: every planned instance, concurrently where they may share
//! the cluster, and the [`RunReport`] that comes of it.

use std::cell::RefCell;

use futures::StreamExt;

use jiff::Timestamp;

use crate::cancel::Cancel;
use crate::console::Console;
use crate::instance::{run_instance, skipped};
use crate::options::{RunError, RunOptions};
use report::{HarnessInfo, Outcome, RunReport, SCHEMA_VERSION, ScenarioReport};
use scenario::Scenario;
use scenario::plan;

/// A fresh id per run: `YYYYMMDD-HHMMSS-xxxx`.
pub fn new_run_id() -> String {
    let now = Timestamp::now();
    let noise = (now.subsec_nanosecond() as u32 ^ std::process::id()) & 0xffff;
    format!("{}-{noise:04x}", now.strftime("%Y%m%d-%H%M%S"))
}

fn harness_info(command: &str) -> HarnessInfo {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(scenario::repo_root())
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
///
/// Instances run `opts.parallel` at a time, each in its own namespace;
/// exclusive ones (`spec.exclusive`) run after the others, in waves
/// ([`plan::waves`]) where no two scenarios need the same share of the
/// cluster (a scenario's matrix entries together). The report lists the scenarios in plan order,
/// whatever order they finished in, so it reads the same as a serial run.
pub async fn run(
    scenarios: &[(std::path::PathBuf, Scenario)],
    opts: &RunOptions,
    cancel: Cancel,
) -> Result<RunReport, RunError> {
    let client = k8s::connect(&opts.kubeconfig).await?;
    let insts = plan::instances(scenarios, &opts.profile_bindings, &opts.set)?;
    let parallel = opts.parallel.max(1);
    let console = Console::new(opts.quiet, parallel > 1);
    let started = Timestamp::now();
    let mut reports: Vec<Option<ScenarioReport>> = insts.iter().map(|_| None).collect();
    // Why the instances not yet started are skipped (Ctrl-C, --fail-fast).
    let stop: RefCell<Option<String>> = RefCell::new(None);
    for wave in plan::waves(&insts) {
        let runs = wave.into_iter().map(|i| {
            let (inst, client, console, cancel, stop) =
                (&insts[i], &client, &console, cancel.clone(), &stop);
            async move {
                if stop.borrow().is_none() && cancel.is_cancelled() {
                    *stop.borrow_mut() = Some("interrupted (Ctrl-C)".to_string());
                }
                if let Some(why) = stop.borrow().as_ref() {
                    return (i, skipped(inst, why));
                }
                if let Some(why) = inst.unmet_requirements(&opts.capabilities) {
                    console.info(&format!("skipping {}: {why}", inst.name()));
                    return (i, skipped(inst, &why));
                }
                let r = run_instance(client, inst, opts, console, cancel).await;
                if opts.fail_fast && !r.outcome.is_success() && stop.borrow().is_none() {
                    *stop.borrow_mut() =
                        Some("skipped: --fail-fast after an earlier failure".into());
                }
                (i, r)
            }
        });
        let mut done = futures::stream::iter(runs).buffer_unordered(parallel);
        while let Some((i, r)) = done.next().await {
            reports[i] = Some(r);
        }
    }
    let reports: Vec<ScenarioReport> = reports.into_iter().flatten().collect();
    let interrupted = cancel
        .is_cancelled()
        .then(|| "interrupted (Ctrl-C)".to_string());
    let ok = reports.iter().all(|r| r.outcome.is_success()) && interrupted.is_none();
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
        interrupted,
    })
}
