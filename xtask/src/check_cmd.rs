//! `cargo xtask check`: static checks of a team's own manifests, no cluster.
//! Thin: read the objects, call `check::check`, print or write the rendering.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["manifests", "chart", "kustomize", "profile"])))]
pub struct CheckArgs {
    /// Plain Kubernetes manifests: a file, or a folder searched recursively for *.yaml/*.yml.
    #[arg(long, value_name = "PATH")]
    pub manifests: Option<PathBuf>,
    /// A Helm chart folder, rendered with the pinned Helm (`helm template`).
    #[arg(long, value_name = "DIR")]
    pub chart: Option<PathBuf>,
    /// Values files for --chart, layered in order (like `helm -f`). Without
    /// any, every `ci/*-values.yaml` of the chart is checked on its own
    /// (chart-testing's convention), or the chart's defaults when it has none.
    #[arg(long = "values", short = 'f', value_name = "FILE", requires = "chart")]
    pub values: Vec<PathBuf>,
    /// A kustomization folder (a base or an overlay), rendered with `kubectl kustomize`.
    #[arg(long, value_name = "DIR")]
    pub kustomize: Option<PathBuf>,
    /// A profile file whose `spec.template` names the chart (with its
    /// values), overlay or manifests, and the target (paths relative to it).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<String>,
    /// How to print the findings (sarif: SARIF 2.1.0 for GitHub code scanning).
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Write the findings here instead of stdout (a one-line summary still goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the findings as SARIF 2.1.0 to FILE (for GitHub code
    /// scanning), whatever --format prints: one run gives both.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    #[command(flatten)]
    pub choose: crate::own_template_cmd::TargetArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Sarif,
}

impl From<FormatArg> for check::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => check::Format::Text,
            FormatArg::Json => check::Format::Json,
            FormatArg::Sarif => check::Format::Sarif,
        }
    }
}

/// The template a profile file names, as check's arguments, with its
/// target choices under the command line's.
fn from_profile(args: &CheckArgs) -> anyhow::Result<CheckArgs> {
    let Some(name) = &args.profile else {
        return Ok(args.clone());
    };
    let profile = scenario::profile::load(name)?;
    let Some(t) = profile.spec.template else {
        bail!(
            "profile {name}: no `spec.template` (it binds a template of ours); name a chart, overlay or manifests under spec.template, or use --chart, --kustomize or --manifests"
        );
    };
    Ok(CheckArgs {
        chart: t.helm.as_ref().map(|h| h.chart.clone()),
        values: t.helm.map(|h| h.values).unwrap_or_default(),
        kustomize: t.kustomize,
        manifests: t.manifests,
        choose: {
            let spec = args.choose.over(&t.target);
            crate::own_template_cmd::TargetArgs {
                target: spec.workload,
                container: spec.container,
                service: spec.service,
            }
        },
        profile: None,
        ..args.clone()
    })
}

/// The sources the arguments name: one, or for a chart without `-f` one
/// per `ci/*-values.yaml` (the same variants `run --chart` runs).
fn sources(args: &CheckArgs) -> anyhow::Result<Vec<check::Source>> {
    use scenario::template_spec::{HelmSpec, TemplateSpec};
    let spec = TemplateSpec {
        helm: args.chart.clone().map(|chart| HelmSpec {
            chart,
            values: args.values.clone(),
        }),
        kustomize: args.kustomize.clone(),
        manifests: args.manifests.clone(),
        target: Default::default(),
        serve_with: Default::default(),
    };
    crate::own_template_cmd::variants(&spec)
        .iter()
        .map(|(_, one)| Ok(runner::own_template::source_of(one)?))
        .collect()
}

/// The pinned Helm or kubectl, got (downloaded or built, then cached) only
/// when a source needs it.
pub(crate) fn tools_for(sources: &[check::Source]) -> anyhow::Result<check::Tools> {
    use check::source::ToolName;
    use environment::tools::{ToolSource, Toolchain};
    let mut tools = check::Tools::default();
    let needs: Vec<ToolName> = sources.iter().filter_map(check::Source::needs).collect();
    if needs.is_empty() {
        return Ok(tools);
    }
    let chain = Toolchain::new(ToolSource::from_env()?);
    if needs.contains(&ToolName::Helm) {
        tools.helm = Some(chain.helm().context("getting the pinned Helm")?);
    }
    if needs.contains(&ToolName::Kubectl) {
        tools.kubectl = Some(
            chain
                .kubectl()
                .context("getting the pinned kubectl (for kustomize)")?,
        );
    }
    Ok(tools)
}

pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let args = &from_profile(args)?;
    let sources = sources(args)?;
    for source in &sources {
        source.validate()?;
    }
    let tools = tools_for(&sources)?;
    let base = std::env::current_dir().unwrap_or_default();
    let mut text = String::new();
    let mut merged: Option<check::Report> = None;
    let mut failed = Vec::new();
    for source in &sources {
        let objects = check::load(source, &tools)?;
        let mut report = check::check(&objects);
        report.add(check::lint(source, &tools)?);
        // What the built-in scenarios would act on. Named by the user, it
        // must be found; discovered, a problem is a note here (the rules
        // say what is wrong with the workloads).
        let choice = check::Choice {
            workload: args.choose.target.clone(),
            container: args.choose.container.clone(),
            service: args.choose.service.clone(),
        };
        let named = choice != check::Choice::default();
        match check::discover(&objects, &choice) {
            Ok(t) => eprintln!("{}: scenarios act on {}", source.describe(), t.describe()),
            Err(e) if named => bail!("{}: {e}", source.describe()),
            Err(e) => eprintln!("{}: no target for the scenarios: {e}", source.describe()),
        }
        eprintln!(
            "{}: {} error(s), {} warning(s), {} info in {} object(s)",
            source.describe(),
            report.count(check::Severity::Error),
            report.count(check::Severity::Warning),
            report.count(check::Severity::Info),
            report.checked.len()
        );
        if report.has_errors() {
            failed.push(source.describe());
        }
        if args.format == FormatArg::Text {
            if sources.len() > 1 {
                text.push_str(&format!("== {}\n", source.describe()));
            }
            text.push_str(&check::render::render(&report, check::Format::Text, &base)?);
        }
        match &mut merged {
            Some(m) => m.merge(report),
            None => merged = Some(report),
        }
    }
    // JSON and SARIF hold one report: a chart's values files merged, each
    // finding once (code scanning shows one alert per place).
    let rendered = match (&merged, args.format) {
        (Some(m), FormatArg::Json | FormatArg::Sarif) => {
            check::render::render(m, args.format.into(), &base)?
        }
        _ => text,
    };
    if let (Some(file), Some(m)) = (&args.sarif, &merged) {
        let sarif = check::render::render(m, check::Format::Sarif, &base)?;
        std::fs::write(file, sarif).with_context(|| format!("writing {}", file.display()))?;
        eprintln!("SARIF written to {}", file.display());
    }
    match &args.output {
        Some(file) => {
            std::fs::write(file, &rendered)
                .with_context(|| format!("writing {}", file.display()))?;
            eprintln!("findings written to {}", file.display());
        }
        None => print!("{rendered}"),
    }
    if !failed.is_empty() {
        let errors = merged
            .as_ref()
            .map_or(0, |m| m.count(check::Severity::Error));
        bail!(
            "check failed: {errors} error-severity finding(s) in {}",
            failed.join(", ")
        );
    }
    Ok(())
}
