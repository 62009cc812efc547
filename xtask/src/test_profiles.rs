//! The serving profiles and a team's own template on the test cluster's
//! fake GPUs, as `cargo xtask test`'s last lane: the vLLM profile with our
//! mock standing in, and the example chart through `run --chart` (a Helm
//! release per scenario, one verdict per ci/*-values.yaml, helm rollback).

use anyhow::{Context, bail};

use crate::test_cmd::SharedCluster;

/// The vLLM profile's manifests on the fake GPUs, with the mock server
/// standing in for vLLM (`vllm serve ...`): the gated rolling update under
/// load (GPU requests, the start-up probe, the surge). Then the worked
/// example chart as a team would run it (`--chart`: a Helm release per
/// scenario, its target discovered, the scenarios' knobs as post-render
/// patches): the label drift once per ci/*-values.yaml, and a stalled
/// `helm upgrade` taken back by `helm rollback` on the dev values.
pub fn profiles_on_fake_gpus(cluster: &SharedCluster) -> anyhow::Result<()> {
    let mock = format!("image={}", environment::images::MOCK_SERVER_IMAGE);
    profile_on_fake_gpus(
        cluster,
        "the vllm profile on fake GPUs, the mock server standing in for vLLM",
        ("vllm", Default::default()),
        vec![mock],
        &["rolling-update-under-load[gated]"],
        (1, None),
    )?;
    // `e2e --chart` on the example chart: a Helm release per scenario and
    // one verdict per ci/*-values.yaml (the drifted selector, for dev and
    // prod values; its twin runs on our fixtures in `e2e`). The chart asks
    // one GPU per pod, so `run` would go one scenario at a time;
    // label-drift keeps its 2 replicas (no surge: only the Service
    // changes), so both runs fit the pool's 4 GPUs together.
    let chart = crate::own_template_cmd::TemplateArgs {
        chart: Some(environment::workspace::repo_root().join("examples/charts/llm")),
        ..Default::default()
    };
    profile_on_fake_gpus(
        cluster,
        "the example chart (--chart, each ci/*-values.yaml), the mock standing in",
        ("chart", chart),
        Vec::new(),
        &["label-drift[drifted]"],
        (2, Some(2)),
    )?;
    // A new version through `helm upgrade` that never becomes Ready, taken
    // back by `helm rollback`.
    let dev = crate::own_template_cmd::TemplateArgs {
        chart: Some(environment::workspace::repo_root().join("examples/charts/llm")),
        values: vec![
            environment::workspace::repo_root().join("examples/charts/llm/ci/dev-values.yaml"),
        ],
        ..Default::default()
    };
    profile_on_fake_gpus(
        cluster,
        "the example chart's dev values through a stalled rollout and helm rollback",
        ("chart-dev", dev),
        Vec::new(),
        &["bad-rollout-rollback[never-ready]"],
        (1, None),
    )
}

/// Runs the scenarios `only` names with `profile`, `parallel` at a time
/// (None: `run`'s default); all `expect` runs (the scenarios and their
/// twins) must come out as expected, none skipped.
fn profile_on_fake_gpus(
    cluster: &SharedCluster,
    title: &str,
    (profile, template): (&str, crate::own_template_cmd::TemplateArgs),
    set: Vec<String>,
    only: &[&str],
    (expect, parallel): (usize, Option<u16>),
) -> anyhow::Result<()> {
    eprintln!("==> {title}");
    let slug: String = profile
        .rsplit('/')
        .next()
        .unwrap_or(profile)
        .trim_end_matches(".yaml")
        .to_string();
    let report_dir = environment::workspace::repo_root()
        .join("target")
        .join(format!("{slug}-profile-report"));
    let args = crate::run_cmd::RunArgs {
        paths: Vec::new(),
        cluster: cluster.name.clone(),
        kubeconfig: Some(cluster.kubeconfig.clone()),
        common: crate::run_cmd::CommonRunArgs {
            report_dir: Some(report_dir),
            keep: false,
            fail_fast: false,
            parallel,
            quiet: true,
            set,
            junit: crate::run_cmd::JunitArg::Scenario,
            only: only.iter().map(|o| o.to_string()).collect(),
            profile: if template.chart.is_some() {
                scenario::profile::DEFAULT_PROFILE.to_string()
            } else {
                profile.to_string()
            },
            template: template.clone(),
        },
    };
    crate::run_cmd::run(&args).with_context(|| format!("profile {profile}"))?;
    // Every run (each scenario and its twin) must have run: skipping them
    // would pass too, and prove nothing.
    let path = args
        .common
        .report_dir
        .as_ref()
        .map(|d| d.join("report.json"))
        .context("report folder")?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let report: report::RunReport =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let ran: Vec<String> = report
        .scenarios
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                report::Outcome::Passed | report::Outcome::FailedAsExpected
            )
        })
        .map(|s| s.name.clone())
        .collect();
    if ran.len() != expect {
        bail!(
            "profile {profile} should run {expect} scenario runs ({}) as expected; ran {ran:?} ({})",
            only.join(", "),
            path.display()
        );
    }
    // A chart goes in as a Helm release (its rollback by `helm rollback`),
    // not as rendered objects.
    if template.chart.is_some() {
        if report.templates.is_empty()
            || !report
                .templates
                .iter()
                .all(|t| t.installed_with.starts_with("helm release"))
        {
            bail!(
                "the chart was not installed as a Helm release ({})",
                path.display()
            );
        }
        if only.iter().any(|o| o.starts_with("bad-rollout"))
            && !text.contains("helm rollback inferbench")
        {
            bail!(
                "the chart's rollback did not go through helm rollback ({})",
                path.display()
            );
        }
    }
    // A chart without -f: every ci/*-values.yaml has its own verdicts.
    if let Some(chart) = template
        .chart
        .as_ref()
        .filter(|_| template.values.is_empty())
    {
        for file in check::values_files_of(chart) {
            let variant = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !ran.iter().any(|n| n.ends_with(&format!("@{variant}"))) {
                bail!("no verdict for {} ({variant}): ran {ran:?}", file.display());
            }
        }
    }
    eprintln!("    ran as expected: {}", ran.join(", "));
    Ok(())
}
