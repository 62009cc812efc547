//! A team's own template for `e2e` and `run`: from `--chart`/`--kustomize`/
//! `--manifests` or a profile's `spec.template`; get the pinned tool it
//! renders with, render it and find its target (`runner::own_template`),
//! once per variant (a chart's `ci/*-values.yaml`, chart-testing's
//! convention). Before any cluster work.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use runner::own_template::OwnTemplate;
use scenario::model::Capability;
use scenario::profile::{self, Profile, ProfileMetadata, ProfileSpec};
use scenario::template_spec::{HelmSpec, ServeWith, TargetSpec, TemplateSpec};

/// The team's own template, instead of a profile (paths relative to the
/// current folder).
#[derive(Debug, Clone, Default, Args)]
pub struct TemplateArgs {
    /// A Helm chart folder to run the scenarios on, installed as a Helm
    /// release per scenario. Without -f, every `ci/*-values.yaml` of the
    /// chart is a variant with its own verdicts (chart-testing's convention).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kustomize", "manifests", "profile"])]
    pub chart: Option<PathBuf>,
    /// Values files for --chart, layered in order (like `helm -f`).
    #[arg(long = "values", short = 'f', value_name = "FILE", requires = "chart")]
    pub values: Vec<PathBuf>,
    /// A kustomization folder (a base or an overlay) to run the scenarios on.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["manifests", "profile"])]
    pub kustomize: Option<PathBuf>,
    /// Plain manifests (a file, or a folder of *.yaml) to run the scenarios on.
    #[arg(long, value_name = "PATH", conflicts_with = "profile")]
    pub manifests: Option<PathBuf>,
    /// What serves the template's workload: our mock server in the serving
    /// container's place (fake GPUs), the template's own image (real GPUs),
    /// or auto: own on a cluster with real GPUs, else mock.
    #[arg(long, value_enum, default_value_t = ServeWithArg::Auto)]
    pub serve_with: ServeWithArg,
    #[command(flatten)]
    pub choose: TargetArgs,
}

/// What the scenarios act on, where discovery cannot tell (`check`, `run`
/// and `e2e` take the same).
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct TargetArgs {
    /// The serving workload (`Deployment/NAME`, or `NAME`), when the template has several.
    #[arg(long, value_name = "KIND/NAME")]
    pub target: Option<String>,
    /// The serving container, when the workload has several that could be.
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// The Service clients use, when several select the workload's pods.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

impl TargetArgs {
    /// These names, each over the one `spec` gives (a profile's).
    pub fn over(&self, spec: &TargetSpec) -> TargetSpec {
        TargetSpec {
            workload: self.target.clone().or(spec.workload.clone()),
            container: self.container.clone().or(spec.container.clone()),
            service: self.service.clone().or(spec.service.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ServeWithArg {
    #[default]
    Auto,
    Mock,
    Own,
}

impl TemplateArgs {
    fn given(&self) -> bool {
        self.chart.is_some() || self.kustomize.is_some() || self.manifests.is_some()
    }
}

/// The profile a run uses: one made from `--chart`/`--kustomize`/
/// `--manifests` when given, else `--profile`'s. `real_gpus` settles
/// `--serve-with auto`.
pub fn profile(t: &TemplateArgs, name: &str, real_gpus: bool) -> anyhow::Result<Profile> {
    if !t.given() {
        if t.choose != TargetArgs::default() {
            bail!(
                "--target, --container and --service choose within a team's template: give --chart, --kustomize or --manifests too"
            );
        }
        return Ok(profile::load(name)?);
    }
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let abs = |p: &Path| cwd.join(p);
    let spec = TemplateSpec {
        helm: t.chart.as_ref().map(|c| HelmSpec {
            chart: abs(c),
            values: t.values.iter().map(|v| abs(v)).collect(),
        }),
        kustomize: t.kustomize.as_deref().map(abs),
        manifests: t.manifests.as_deref().map(abs),
        target: t.choose.over(&TargetSpec::default()),
        serve_with: match t.serve_with {
            ServeWithArg::Mock => ServeWith::Mock,
            ServeWithArg::Own => ServeWith::Own,
            ServeWithArg::Auto if real_gpus => ServeWith::Own,
            ServeWithArg::Auto => ServeWith::Mock,
        },
    };
    let named = t
        .chart
        .as_ref()
        .or(t.kustomize.as_ref())
        .or(t.manifests.as_ref())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Ok(Profile {
        api_version: "inferbench.dev/v1alpha1".into(),
        kind: "Profile".into(),
        metadata: ProfileMetadata {
            name: named.clone(),
            description: Some(format!("{named}, from the command line")),
        },
        spec: ProfileSpec {
            provides: Default::default(),
            requires: Default::default(),
            bindings: Default::default(),
            template: Some(spec),
        },
    })
}

/// The template's specs to run: one, or for a chart given without values
/// files one per `ci/*-values.yaml` (named by the file: `dev-values`).
pub(crate) fn variants(spec: &TemplateSpec) -> Vec<(Option<String>, TemplateSpec)> {
    let Some(h) = spec.helm.as_ref().filter(|h| h.values.is_empty()) else {
        return vec![(None, spec.clone())];
    };
    let files = check::values_files_of(&h.chart);
    if files.is_empty() {
        return vec![(None, spec.clone())];
    }
    files
        .into_iter()
        .map(|file| {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut one = spec.clone();
            if let Some(h) = &mut one.helm {
                h.values = vec![file];
            }
            (Some(name), one)
        })
        .collect()
}

/// The rendered template's variants when `profile` names one; a mock
/// stand-in provides the mock's knobs.
pub fn prepare(profile: &mut Profile, quiet: bool) -> anyhow::Result<Vec<Arc<OwnTemplate>>> {
    let Some(spec) = profile.spec.template.clone() else {
        return Ok(Vec::new());
    };
    // Every variant renders with the same tool.
    let tools = crate::check_cmd::tools_for(&[runner::own_template::source_of(&spec)?])?;
    let mut out = Vec::new();
    for (variant, spec) in variants(&spec) {
        let mut own = OwnTemplate::prepare(&spec, &tools, environment::images::MOCK_SERVER_IMAGE)
            .with_context(|| {
            format!("profile {}: preparing its template", profile.metadata.name)
        })?;
        own.variant = variant;
        if let Some(rel) = &mut own.helm {
            // Helm runs this program as the release's post-renderer.
            rel.post_renderer = Some((post_renderer_program()?, vec!["post-render".into()]));
        }
        if !quiet {
            eprintln!(
                "==> {}: scenarios act on {}{}",
                own.source,
                own.target.describe(),
                if own.stand_in.is_some() {
                    ", our mock server standing in for the serving container"
                } else {
                    ""
                }
            );
        }
        out.push(Arc::new(own));
    }
    if spec.serve_with == ServeWith::Mock {
        profile.spec.provides.insert(Capability::MockServer);
    }
    Ok(out)
}

/// This program, where Helm can run it for the whole run: a rebuild
/// (`cargo xtask test` relinks xtask while it runs) replaces the file
/// behind the running process, so each process keeps its own link (or,
/// when the file is already replaced, a copy of the running image) in a
/// folder named by its pid; folders of processes that have ended go.
fn post_renderer_program() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    let prefix = "inferbench-post-render-";
    for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(prefix)
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = base.join(format!("{prefix}{}", std::process::id()));
    let program = dir.join("xtask");
    if program.is_file() {
        return Ok(program);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe().context("finding the xtask program")?;
    if std::fs::hard_link(&exe, &program).is_err() {
        // Linux keeps the running image at /proc/self/exe even when its
        // file was replaced.
        std::fs::copy("/proc/self/exe", &program)
            .or_else(|_| std::fs::copy(&exe, &program))
            .with_context(|| format!("copying the xtask program to {}", program.display()))?;
    }
    Ok(program)
}

/// `xtask post-render PLAN`: Helm's post-renderer. Reads the release's
/// rendered objects on stdin, writes them patched to stdout.
pub fn post_render(plan: &Path) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let text =
        std::fs::read_to_string(plan).with_context(|| format!("reading {}", plan.display()))?;
    let plan: runner::post_render::PostRender =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", plan.display()))?;
    let mut rendered = String::new();
    std::io::stdin()
        .read_to_string(&mut rendered)
        .context("reading Helm's rendered objects from stdin")?;
    let (yaml, _) = plan
        .run(&rendered)
        .map_err(|e| anyhow::anyhow!("post-render: {e}"))?;
    std::io::stdout()
        .write_all(yaml.as_bytes())
        .context("writing the patched objects")?;
    Ok(())
}

/// How many scenario runs at once: one at a time when the template's
/// server asks for GPUs (each run deploys it, with a surge during
/// rollouts, and a bench cluster's few fake GPUs hold one run's pods, not
/// several), else the default. `--parallel` overrides it.
pub fn parallelism(own: &[Arc<OwnTemplate>], quiet: bool) -> usize {
    match own.iter().find_map(|o| o.target.gpus.map(|g| (o, g))) {
        Some((o, gpus)) => {
            if !quiet {
                eprintln!(
                    "==> {} asks for {gpus} nvidia.com/gpu per pod: scenarios run one at a time (--parallel N to override)",
                    o.target.workload_ref
                );
            }
            1
        }
        None => runner::default_parallelism(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_args() -> TemplateArgs {
        TemplateArgs {
            chart: Some(environment::workspace::repo_root().join("examples/charts/llm")),
            ..Default::default()
        }
    }

    #[test]
    fn a_chart_without_values_runs_once_per_ci_values_file() {
        let p = profile(&chart_args(), "mock", false).expect("profile");
        let spec = p.spec.template.expect("a template");
        assert_eq!(spec.serve_with, ServeWith::Mock, "auto on fake GPUs");
        let names: Vec<Option<String>> = variants(&spec).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            vec![Some("dev-values".into()), Some("prod-values".into())]
        );
    }

    #[test]
    fn values_given_make_one_variant_and_auto_serves_own_on_real_gpus() {
        let mut a = chart_args();
        a.values = vec![PathBuf::from("values.yaml")];
        let spec = profile(&a, "mock", true)
            .expect("profile")
            .spec
            .template
            .expect("a template");
        assert_eq!(spec.serve_with, ServeWith::Own);
        let v = variants(&spec);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, None);
    }

    #[test]
    fn helm_gets_its_own_link_to_this_program() {
        let p = post_renderer_program().expect("a program");
        let exe = std::env::current_exe().expect("this program");
        assert_ne!(p, exe, "not the path a rebuild replaces");
        let len = |f: &Path| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        assert_eq!(
            len(&p),
            len(Path::new("/proc/self/exe")),
            "this program's image"
        );
        assert!(
            p.parent().and_then(Path::file_name).is_some_and(|d| d
                .to_string_lossy()
                .ends_with(&std::process::id().to_string())),
            "one folder per process: {}",
            p.display()
        );
        assert_eq!(post_renderer_program().expect("again"), p, "made once");
    }

    #[test]
    fn target_flags_need_a_template() {
        let a = TemplateArgs {
            choose: TargetArgs {
                target: Some("Deployment/x".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = profile(&a, "mock", false).expect_err("no template");
        assert!(err.to_string().contains("--chart"), "{err}");
    }
}
