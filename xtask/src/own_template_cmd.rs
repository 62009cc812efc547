//! A profile's own template for `e2e` and `run`: get the pinned tool it
//! renders with, render it and find its target (`runner::own_template`),
//! and let the profile bind what the scenarios use. Before any cluster work.

use std::sync::Arc;

use anyhow::Context;
use runner::own_template::OwnTemplate;
use scenario::model::Capability;
use scenario::profile::Profile;
use scenario::template_spec::ServeWith;

/// The rendered template when `profile` names one; its bindings go under
/// the profile's own, and a mock stand-in provides the mock's knobs.
pub fn prepare(profile: &mut Profile, quiet: bool) -> anyhow::Result<Option<Arc<OwnTemplate>>> {
    let Some(spec) = profile.spec.template.clone() else {
        return Ok(None);
    };
    let source = runner::own_template::source_of(&spec)?;
    let tools = crate::check_cmd::tools_for(std::slice::from_ref(&source))?;
    let own = OwnTemplate::prepare(&spec, &tools, environment::images::MOCK_SERVER_IMAGE)
        .with_context(|| format!("profile {}: preparing its template", profile.metadata.name))?;
    for (k, v) in own.bindings() {
        profile.spec.bindings.entry(k).or_insert(v);
    }
    if spec.serve_with == ServeWith::Mock {
        profile.spec.provides.insert(Capability::MockServer);
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
    Ok(Some(Arc::new(own)))
}

/// How many scenario runs at once: one at a time when the template's
/// server asks for GPUs (each run deploys it, with a surge during
/// rollouts, and a bench cluster's few fake GPUs hold one run's pods, not
/// several), else the default. `--parallel` overrides it.
pub fn parallelism(own: Option<&OwnTemplate>, quiet: bool) -> usize {
    match own.and_then(|o| o.target.gpus.map(|g| (o, g))) {
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
