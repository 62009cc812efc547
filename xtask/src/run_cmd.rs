//! `cargo xtask run` (scenarios against the current cluster) and
//! `cargo xtask e2e` (bring up the default cluster, run every built-in
//! scenario, write the report, tear down).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use cluster::{self, ClusterDescription, GpuKind, Provider, UpOptions};
use report::{self, ClusterInfo, ImageInfo, NodePoolInfo, Outcome, RunReport};
use runner::{self, Cancel, RunOptions};
use scenario::model::Capability;
use scenario::model::Timeouts;
use scenario::profile::{self, Profile};

use crate::cluster_cmd::{GpusArg, ProviderArg, SourceArg};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum JunitArg {
    /// One testcase per scenario (matrix entry).
    #[default]
    Scenario,
    /// One testcase per step.
    Step,
}

/// Options `run` and `e2e` share.
#[derive(Debug, Clone, Args)]
pub struct CommonRunArgs {
    /// Report folder (default: reports/<run-id>).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Keep each scenario's namespace (and, for e2e, the cluster) for inspection.
    #[arg(long)]
    pub keep: bool,
    /// Stop after the first scenario that fails.
    #[arg(long)]
    pub fail_fast: bool,
    /// Scenario runs at once, each in its own namespace (default: two per
    /// core, 2 to 8). Scenarios marked `exclusive` run afterwards, beside
    /// exclusive ones that need other shares of the cluster.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// Print failures only.
    #[arg(long, short)]
    pub quiet: bool,
    /// Override a binding in every scenario, e.g. --set image=my/server:tag (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// JUnit testcases per scenario or per step.
    #[arg(long, value_enum, default_value_t = JunitArg::Scenario)]
    pub junit: JunitArg,
    /// Run only scenarios whose name contains this text (repeatable); a
    /// matrix entry or template variant by its full name, e.g.
    /// `bad-rollout-rollback[never-ready]` or `label-drift@dev-values`.
    #[arg(long)]
    pub only: Vec<String>,
    /// Serving profile: which inference server the scenarios deploy
    /// (a built-in name from fixtures/profiles/, or a profile file).
    #[arg(long, default_value = profile::DEFAULT_PROFILE)]
    pub profile: String,
    #[command(flatten)]
    pub template: crate::own_template_cmd::TemplateArgs,
}

/// Run scenarios against an existing cluster.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario files or folders (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// The inferbench cluster to use (its kubeconfig is found by name).
    #[arg(long, env = "INFERBENCH_CLUSTER", hide_env_values = true, default_value = cluster::DEFAULT_CLUSTER_NAME)]
    pub cluster: String,
    /// A kubeconfig to use instead of a named inferbench cluster.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonRunArgs,
}

/// Bring up the default cluster, run the built-in scenarios, write the report, tear down.
#[derive(Debug, Clone, Args)]
pub struct E2eArgs {
    /// Cluster name (created if missing, reused if present; kwok's default is inferbench-kwok).
    #[arg(long, env = "INFERBENCH_CLUSTER", hide_env_values = true, default_value = cluster::DEFAULT_CLUSTER_NAME)]
    pub cluster: String,
    /// Cluster provider. kwok runs no containers: only the scenarios that
    /// need none (GPU scheduling) run there, the rest are skipped.
    #[arg(long, value_enum, default_value_t = ProviderArg::Kind)]
    pub provider: ProviderArg,
    /// GPUs on the GPU pool: gpu-fakes, or the host's NVIDIA GPUs (kind only).
    #[arg(long, value_enum, default_value_t = GpusArg::Fake)]
    pub gpus: GpusArg,
    /// Tool source; default: INFERBENCH_TOOL_SOURCE, else download when dl.k8s.io answers, else build.
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    #[command(flatten)]
    pub common: CommonRunArgs,
}

fn parse_set(set: &[String]) -> anyhow::Result<scenario::bindings::Bindings> {
    Ok(scenario::bindings::parse_set(set)?)
}

/// Before any cluster work: a bad profile or `--set` fails, and a `--set`
/// name that no scenario, template or profile uses is warned about.
fn check_inputs(
    scenarios: &[(PathBuf, scenario::Scenario)],
    common: &CommonRunArgs,
) -> anyhow::Result<()> {
    let profile = crate::own_template_cmd::profile(&common.template, &common.profile, false)?;
    // A team's template renders and has one target, or the run stops here.
    crate::own_template_cmd::prepare(&mut profile.clone(), true)?;
    let set = parse_set(&common.set)?;
    let root = environment::workspace::repo_root();
    let known = scenario::usage::known_names(scenarios, &profile.spec.bindings, &root);
    for u in scenario::usage::unknown_set(&set, &known) {
        eprintln!("warning: {u}");
    }
    Ok(())
}

/// Set to `1` to write a recording of each scenario namespace's evidence
/// (`artifacts/<scenario>/<step>/evidence.json`) after every step, not
/// only after failed ones.
pub const RECORD_EVIDENCE_ENV: &str = "INFERBENCH_RECORD_EVIDENCE";

fn record_evidence_asked() -> bool {
    std::env::var(RECORD_EVIDENCE_ENV).is_ok_and(|v| v == "1" || v == "true")
}

/// The report's view of the cluster `name` that `d` describes.
fn cluster_info(name: &str, d: &ClusterDescription) -> ClusterInfo {
    ClusterInfo {
        name: name.to_string(),
        provider: d.provider.map_or("external", Provider::name).to_string(),
        kubernetes_version: d.kubernetes_version.clone(),
        node_pools: d
            .pools
            .iter()
            .map(|p| NodePoolInfo {
                name: p.name.clone(),
                nodes: p.nodes,
                gpus_per_node: p.gpus_per_node,
                gpu_product: p.gpu_product.clone(),
            })
            .collect(),
        gpu_kind: d.gpu_kind.as_str().to_string(),
    }
}

/// What the cluster offers scenarios.
fn cluster_capabilities(d: &ClusterDescription) -> BTreeSet<Capability> {
    let mut caps = BTreeSet::new();
    if d.runs_containers() {
        caps.insert(Capability::Containers);
    }
    match d.gpu_kind {
        GpuKind::Fake => {
            caps.insert(Capability::GpuFakes);
        }
        GpuKind::Real => {
            caps.insert(Capability::RealGpus);
        }
        GpuKind::None | GpuKind::Simulated | GpuKind::Unknown { .. } => {}
    }
    if d.dra_gpu_devices > 0 {
        caps.insert(Capability::Dra);
    }
    if d.dra_mig_devices > 0 {
        caps.insert(Capability::Mig);
    }
    if d.vpa_recommender {
        caps.insert(Capability::Vpa);
    }
    caps
}

/// Refuses a profile the cluster cannot serve, unless the server image is
/// overridden (the mock server standing in for vLLM, say).
fn check_profile(
    profile: &Profile,
    cluster: &BTreeSet<Capability>,
    set: &scenario::bindings::Bindings,
) -> anyhow::Result<()> {
    let missing = profile::missing(&profile.spec.requires, cluster);
    if missing.is_empty() || set.contains_key("image") {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
    bail!(
        "profile {:?} needs {} and this cluster lacks it.\n\
         Bring up a cluster with real GPUs (`cargo xtask up --gpus real`), or try the \
         profile's manifests on fake GPUs with the mock server standing in for the real \
         server: --set image={}",
        profile.metadata.name,
        names.join(", "),
        environment::images::MOCK_SERVER_IMAGE
    )
}

fn image_infos() -> Vec<ImageInfo> {
    [
        environment::images::MOCK_SERVER_IMAGE,
        environment::images::GPU_FAKES_IMAGE,
    ]
    .iter()
    .map(|name| ImageInfo {
        name: name.to_string(),
        id: std::process::Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", name])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
    })
    .collect()
}

fn select(
    mut loaded: Vec<(PathBuf, scenario::Scenario)>,
    only: &[String],
) -> anyhow::Result<Vec<(PathBuf, scenario::Scenario)>> {
    if only.is_empty() {
        return Ok(loaded);
    }
    // A scenario stays when its name contains the text, or the text names
    // one of its instances (`name[entry]`, `name@variant`); the runner then
    // picks the instances.
    loaded.retain(|(_, s)| {
        let name = s.metadata.name.as_str();
        only.iter().any(|o| {
            name.contains(o.as_str())
                || o.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('@'))
        })
    });
    if loaded.is_empty() {
        bail!("no scenario name contains any of {only:?}");
    }
    Ok(loaded)
}

/// Runs `scenarios`, writes the report folder, returns the report.
fn run_and_report(
    scenarios: &[(PathBuf, scenario::Scenario)],
    kubeconfig: &Path,
    cluster_name: &str,
    provider: Option<Provider>,
    common: &CommonRunArgs,
) -> anyhow::Result<RunReport> {
    let run_id = runner::new_run_id();
    let root = environment::workspace::repo_root();
    let report_dir = common
        .report_dir
        .clone()
        .unwrap_or_else(|| root.join("reports").join(&run_id));
    let kubectl = environment::tools::ToolSource::from_env()
        .ok()
        .and_then(|s| environment::tools::Toolchain::new(s).kubectl().ok())
        .or_else(|| environment::tools::exec::which("kubectl"));
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let set = parse_set(&common.set)?;
    let report = rt.block_on(async {
        let described = cluster::describe(kubeconfig, provider)
            .await
            .context("describing the cluster")?;
        let mut profile = crate::own_template_cmd::profile(
            &common.template,
            &common.profile,
            matches!(described.gpu_kind, GpuKind::Real),
        )?;
        let own_templates = crate::own_template_cmd::prepare(&mut profile, common.quiet)?;
        let cluster = cluster_info(cluster_name, &described);
        if let Some(reason) = described.gpu_kind.reason() {
            eprintln!(
                "warning: cannot tell whether this cluster's GPUs are fake or real, so scenarios that need either are skipped: {reason}"
            );
        }
        let cluster_caps = cluster_capabilities(&described);
        check_profile(&profile, &cluster_caps, &set)?;
        let capabilities = profile::offered(&cluster_caps, &profile);
        if !common.quiet {
            let names: Vec<&str> = capabilities.iter().map(|c| c.name()).collect();
            eprintln!(
                "==> profile {}, cluster {cluster_name} ({}, {} GPUs): offers {}",
                profile.metadata.name,
                cluster.provider,
                cluster.gpu_kind,
                if names.is_empty() { "no capabilities".to_string() } else { names.join(", ") }
            );
        }
        let (cancel_tx, cancel) = Cancel::new();
        crate::ctrl_c::install(cancel_tx);
        let opts = RunOptions {
            kubeconfig: kubeconfig.to_path_buf(),
            kubectl,
            report_dir: report_dir.clone(),
            run_id: run_id.clone(),
            cluster,
            images: image_infos(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            keep: common.keep,
            fail_fast: common.fail_fast,
            parallel: common.parallel.map_or_else(
                || crate::own_template_cmd::parallelism(&own_templates, common.quiet),
                usize::from,
            ),
            quiet: common.quiet,
            timeouts: Timeouts::default(),
            set,
            only: common.only.clone(),
            profile_bindings: profile.spec.bindings.clone(),
            capabilities,
            record_evidence: record_evidence_asked(),
            own_templates,
            // kind's nodes are containers: their kernel can be asked.
            node_exec: matches!(described.provider, Some(Provider::Kind)).then(|| {
                runner::node_kernel::NodeExec::docker(
                    environment::docker::Docker::detect().cli(),
                )
            }),
            // Our kind clusters hold the mock's image, whose `load` command
            // generates loads from inside the cluster; elsewhere loads go
            // through a port-forward.
            load_image: matches!(described.provider, Some(Provider::Kind))
                .then(|| environment::images::MOCK_SERVER_IMAGE.to_string()),
        };
        anyhow::Ok(runner::run(scenarios, &opts, cancel).await?)
    })?;
    let options = report::WriteOptions {
        junit: match common.junit {
            JunitArg::Scenario => report::junit::Granularity::Scenario,
            JunitArg::Step => report::junit::Granularity::Step,
        },
    };
    let written = report::write_folder_with(&report_dir, &report, &options)
        .with_context(|| format!("writing the report to {}", report_dir.display()))?;
    if let Err(e) = report::markdown::write_step_summary(&report) {
        eprintln!("warning: could not write the GitHub step summary: {e}");
    }
    // Background goose threads finish on their own; don't wait for them.
    rt.shutdown_timeout(Duration::from_secs(1));
    print_summary(&report);
    println!("report: {}", written.html.display());
    println!("        {}", written.markdown.display());
    Ok(report)
}

fn print_summary(r: &RunReport) {
    println!();
    for s in &r.scenarios {
        let secs = s.finished.duration_since(s.started).as_secs();
        println!("{:<20} {:>5}s  {}", s.outcome.label(), secs, s.name);
        if (!s.outcome.is_success() || s.outcome == Outcome::Skipped)
            && let Some(e) = &s.error
        {
            println!("{:<20}         {}", "", e.lines().next().unwrap_or(""));
        }
    }
    let count = |f: fn(Outcome) -> bool| r.scenarios.iter().filter(|s| f(s.outcome)).count();
    let ok = count(|o| matches!(o, Outcome::Passed | Outcome::FailedAsExpected));
    let bad = count(|o| !o.is_success());
    let skipped = count(|o| o == Outcome::Skipped);
    println!(
        "\n{ok} as expected, {bad} not, {skipped} skipped: {}{}",
        r.outcome.label(),
        r.interrupted
            .as_ref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default()
    );
}

fn load(paths: &[PathBuf], only: &[String]) -> anyhow::Result<Vec<(PathBuf, scenario::Scenario)>> {
    let paths = if paths.is_empty() {
        vec![environment::workspace::repo_root().join("scenarios")]
    } else {
        paths.to_vec()
    };
    select(scenario::load_all(&paths)?, only)
}

/// The kubeconfig given, or the one of the inferbench cluster `cluster`
/// (an error saying how to bring it up when it is not).
pub fn kubeconfig_of(
    cluster: &str,
    given: Option<&std::path::Path>,
) -> anyhow::Result<std::path::PathBuf> {
    if let Some(k) = given {
        return Ok(k.to_path_buf());
    }
    let k = cluster::cluster_dir(cluster).join("kubeconfig");
    if !k.is_file() {
        bail!(
            "cluster {cluster:?} is not up (no {}): run `cargo xtask up --name {cluster}` first, or pass --kubeconfig",
            k.display()
        );
    }
    Ok(k)
}

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let report = run_for_report(args)?;
    if !report.outcome.is_success() {
        bail!("scenarios failed (see the report)");
    }
    Ok(())
}

/// Runs the scenarios and writes the report; returns it, whatever the outcome.
pub fn run_for_report(args: &RunArgs) -> anyhow::Result<report::RunReport> {
    let scenarios = load(&args.paths, &args.common.only)?;
    check_inputs(&scenarios, &args.common)?;
    let kubeconfig = kubeconfig_of(&args.cluster, args.kubeconfig.as_deref())?;
    let provider = args
        .kubeconfig
        .is_none()
        .then(|| Provider::of_cluster(&args.cluster));
    run_and_report(
        &scenarios,
        &kubeconfig,
        &args.cluster,
        provider,
        &args.common,
    )
}

/// Deletes the e2e cluster when e2e ends, however it ends, if e2e created
/// it (a cluster that was up before is left up: a run never deletes what it
/// did not create) and --keep is off.
struct Teardown {
    provider: Provider,
    name: String,
    keep: bool,
    /// The cluster was up before e2e started.
    existed: bool,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let (provider, name) = (self.provider, &self.name);
        if self.existed {
            eprintln!(
                "cluster {name} was up before e2e started: it stays up (`cargo xtask down --provider {provider} --name {name}` deletes it)"
            );
            return;
        }
        if self.keep {
            eprintln!(
                "--keep: cluster {name} stays up (`cargo xtask down --provider {provider} --name {name}` deletes it)"
            );
            return;
        }
        eprintln!("==> deleting cluster {name}");
        if let Err(e) = cluster::down(provider, name) {
            eprintln!("deleting cluster {name} failed: {e}");
        }
    }
}

/// `cargo xtask e2e`: brings up (or reuses) the cluster, runs the built-in
/// scenarios (on kwok those that need no containers; the others are
/// reported as skipped), tears down what it created.
pub fn e2e(args: &E2eArgs) -> anyhow::Result<()> {
    let scenarios = load(&[], &args.common.only)?;
    // Fail on a bad profile or --set before minutes of cluster set-up.
    check_inputs(&scenarios, &args.common)?;
    let opts = UpOptions {
        provider: args.provider.into(),
        name: args.cluster.clone(),
        tool_source: args.source.map(Into::into),
        gpus: args.gpus.into(),
        ..UpOptions::default()
    };
    // The optional components the scenarios need come up with the cluster
    // (kind only: on kwok those scenarios are skipped with the reason).
    let opts = UpOptions {
        with: if opts.provider == Provider::Kind {
            crate::components::components_for(&scenarios)
        } else {
            Vec::new()
        },
        ..opts
    };
    opts.validate()?;
    let name = opts.cluster_name();
    eprintln!(
        "==> e2e: {} scenarios, {}; bringing up {} cluster {name}",
        scenarios.len(),
        args.common
            .template
            .chart
            .as_ref()
            .or(args.common.template.kustomize.as_ref())
            .or(args.common.template.manifests.as_ref())
            .map_or_else(
                || format!("profile {}", args.common.profile),
                |p| format!("template {}", p.display())
            ),
        opts.provider
    );
    let _teardown = Teardown {
        provider: opts.provider,
        name: name.clone(),
        keep: args.common.keep,
        existed: cluster::exists(opts.provider, &name),
    };
    let up = cluster::up(&opts)
        .with_context(|| format!("bringing up {} cluster {name:?}", opts.provider))?;
    let report = run_and_report(
        &scenarios,
        &up.kubeconfig,
        &name,
        Some(up.provider),
        &args.common,
    )?;
    if !report.outcome.is_success() {
        bail!("e2e failed: {} (see the report)", report.outcome.label());
    }
    Ok(())
}
