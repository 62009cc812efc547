//! The Vertical Pod Autoscaler's recommender (`up --with vpa`): built from
//! the Go module proxy into a `FROM scratch` image loaded onto the CPU
//! pool, with the VPA's CRDs from the same module. It recommends requests
//! for the workloads a VerticalPodAutoscaler names, from metrics-server's
//! usage, tuned to settle within a scenario's minutes rather than a day's
//! (`assets/manifests/vpa-recommender.yaml` says how). Neither the updater
//! nor the admission controller runs: the harness reads the
//! recommendation, it does not let the VPA change pods.

use super::{AddOn, AddOnContext, Installed};
use crate::{ClusterError, Component};
use environment::tools::{Toolchain, versions, vpa_crds};

const MANIFEST: &str = include_str!("../../assets/manifests/vpa-recommender.yaml");

/// The recommender's Deployment (in `kube-system`).
pub const VPA_RECOMMENDER: &str = "vpa-recommender";
/// The CRD whose presence says a cluster has the VPA.
pub const VPA_CRD: &str = "verticalpodautoscalers.autoscaling.k8s.io";

/// The image `up` builds and loads.
pub fn vpa_recommender_image() -> String {
    format!(
        "inferbench.local/vpa-recommender:{}",
        versions::VPA.trim_start_matches('v')
    )
}

/// The recommender's manifest (RBAC, Deployment) `up` applies.
pub fn vpa_recommender_manifest() -> String {
    super::fill_manifest(MANIFEST, &vpa_recommender_image())
}

/// The VPA recommender in `kube-system`, ready when `up` returns.
#[derive(Debug, Clone, Copy)]
pub struct Vpa;

impl Vpa {
    pub const NAME: &'static str = "vpa";
}

impl AddOn for Vpa {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn applies(&self, ctx: &AddOnContext) -> bool {
        ctx.options.with.contains(&Component::Vpa) && ctx.runs_containers()
    }

    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError> {
        let binary = Toolchain::new(ctx.host.tool_source).vpa_recommender()?;
        let image = vpa_recommender_image();
        ctx.load_tool_image_on_cpu_pool(Self::NAME, &binary, &image)?;
        ctx.kubectl.apply(&vpa_crds()?)?;
        ctx.kubectl.run(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{VPA_CRD}"),
            "--timeout=60s",
        ])?;
        ctx.kubectl.apply(&vpa_recommender_manifest())?;
        ctx.kubectl.wait_rollout_of(
            "kube-system",
            &format!("deployment/{VPA_RECOMMENDER}"),
            ctx.options.ready_timeout,
        )?;
        Ok(Installed { image: Some(image) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_the_loaded_image_and_settles_in_minutes() {
        let m = vpa_recommender_manifest();
        assert!(!m.contains('@'), "every placeholder filled");
        assert!(m.contains(&format!("image: {}", vpa_recommender_image())));
        assert!(m.contains("--confidence-interval-memory="));
        insta::assert_snapshot!(m.replace(&vpa_recommender_image(), "IMAGE"));
    }
}
