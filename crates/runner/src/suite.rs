//! A whole run: every planned instance, concurrently where they may share
//! the cluster, and the [`RunReport`] that comes of it.

use std::cell::RefCell;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use jiff::Timestamp;

use crate::cancel::Cancel;
use crate::console::Console;
use crate::instance::{run_instance, skipped};
use crate::options::{RunError, RunOptions};
use crate::own_template::OwnTemplate;
use report::{HarnessInfo, Outcome, RunReport, SCHEMA_VERSION, ScenarioReport};
use scenario::Scenario;
use scenario::plan;
use scenario::schedule::Schedule;

/// A fresh id per run: `YYYYMMDD-HHMMSS-xxxx`.
pub fn new_run_id() -> String {
    let now = Timestamp::now();
    format!(
        "{}-{:04x}",
        now.strftime("%Y%m%d-%H%M%S"),
        crate::random_suffix(0xffff)
    )
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

type Own = Option<Arc<OwnTemplate>>;

/// Every instance of the run that `--only` selects, and the template
/// variant each applies: the plan once per variant of the team's template,
/// the variant's bindings under the profile's, or once with the profile's
/// serving template.
/// The instances to run, the template each runs against, and why an
/// instance is skipped before it starts (parallel vectors).
type Planned<'a> = (Vec<plan::Instance<'a>>, Vec<Own>, Vec<Option<String>>);

fn plan_variants<'a>(
    scenarios: &'a [(std::path::PathBuf, Scenario)],
    opts: &RunOptions,
) -> Result<Planned<'a>, RunError> {
    let variants: Vec<Own> = if opts.own_templates.is_empty() {
        vec![None]
    } else {
        opts.own_templates.iter().cloned().map(Some).collect()
    };
    let selected = |inst: &plan::Instance<'_>| {
        opts.only.is_empty() || opts.only.iter().any(|o| inst.name().contains(o.as_str()))
    };
    let (mut insts, mut templates, mut skips) = (Vec::new(), Vec::new(), Vec::new());
    for (n, own) in variants.into_iter().enumerate() {
        let mut base = opts.profile_bindings.clone();
        if let Some(own) = &own {
            for (k, v) in own.bindings() {
                base.entry(k).or_insert(v);
            }
        }
        for mut inst in plan::instances(scenarios, &base, &opts.set)? {
            // On a team's template, a scenario that deploys only our own
            // fixtures tests nothing of theirs: listed once, skipped.
            let skip = (own.is_some() && !inst.scenario.deploys_serving_template()).then(|| {
                "deploys only inferbench's own fixtures, not the serving template: it tests the cluster, not this template (`cargo xtask e2e` without a template runs it)".to_string()
            });
            if skip.is_some() && n > 0 {
                continue;
            }
            inst.variant = match skip {
                Some(_) => None,
                None => own.as_ref().and_then(|o| o.variant.clone()),
            };
            if selected(&inst) {
                insts.push(inst);
                templates.push(if skip.is_some() { None } else { own.clone() });
                skips.push(skip);
            }
        }
    }
    Ok((insts, templates, skips))
}

/// Runs every scenario (each matrix entry on its own) and reports.
///
/// Instances run `opts.parallel` at a time, each in its own namespace;
/// exclusive ones (`spec.exclusive`) run after the others, each as soon as
/// no running scenario needs the same share of the cluster
/// ([`Schedule`]). The report lists the scenarios in plan order,
/// whatever order they finished in, so it reads the same as a serial run.
pub async fn run(
    scenarios: &[(std::path::PathBuf, Scenario)],
    opts: &RunOptions,
    cancel: Cancel,
) -> Result<RunReport, RunError> {
    let client = k8s::connect(&opts.kubeconfig).await?;
    let (insts, templates, not_for_template) = plan_variants(scenarios, opts)?;
    let parallel = opts.parallel.max(1);
    let console = Console::new(opts.quiet, parallel > 1);
    let started = Timestamp::now();
    let mut reports: Vec<Option<ScenarioReport>> = insts.iter().map(|_| None).collect();
    // Why the instances not yet started are skipped (Ctrl-C, --fail-fast).
    let stop: RefCell<Option<String>> = RefCell::new(None);
    let not_for_template = &not_for_template;
    let run = |i: usize| {
        let (inst, own, client, console, cancel, stop) = (
            &insts[i],
            templates[i].clone(),
            &client,
            &console,
            cancel.clone(),
            &stop,
        );
        async move {
            if stop.borrow().is_none() && cancel.is_cancelled() {
                *stop.borrow_mut() = Some("interrupted (Ctrl-C)".to_string());
            }
            if let Some(why) = stop.borrow().as_ref() {
                return (i, skipped(inst, why));
            }
            if let Some(why) = not_for_template[i].as_deref() {
                return (i, skipped(inst, why));
            }
            if let Some(why) = inst.unmet_requirements(&opts.capabilities) {
                console.info(&format!("skipping {}: {why}", inst.name()));
                return (i, skipped(inst, &why));
            }
            let r = run_instance(client, inst, own, opts, console, cancel).await;
            if opts.fail_fast && !r.outcome.is_success() && stop.borrow().is_none() {
                *stop.borrow_mut() = Some("skipped: --fail-fast after an earlier failure".into());
            }
            (i, r)
        }
    };
    let mut schedule = Schedule::new(&insts, parallel);
    let mut running = FuturesUnordered::new();
    while !schedule.is_done() {
        running.extend(schedule.start().into_iter().map(run));
        let Some((i, r)) = running.next().await else {
            break;
        };
        reports[i] = Some(r);
        schedule.finished(i);
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
        templates: {
            let base = std::env::current_dir().unwrap_or_default();
            opts.own_templates.iter().map(|t| t.report(&base)).collect()
        },
        interrupted,
    })
}
