//! Prometheus (`up --with prometheus`): built from the Go module proxy,
//! put in a `FROM scratch` image, loaded onto the CPU pool's nodes and run in
//! namespace `monitoring`, scraping the pods annotated for it (the serving
//! fixtures are). KEDA's Prometheus scaler and `status` read it.

use super::{AddOn, AddOnContext, Installed};
use crate::{ClusterError, Component};
use environment::tools::{Toolchain, prometheus_release, versions};

const MANIFEST: &str = include_str!("../../assets/manifests/prometheus.yaml");

/// Prometheus' namespace, Deployment and Service name, and port.
pub const PROMETHEUS_NAMESPACE: &str = "monitoring";
pub const PROMETHEUS_NAME: &str = "prometheus";
pub const PROMETHEUS_PORT: u16 = 9090;

/// The image `up` builds and loads.
pub fn prometheus_image() -> String {
    format!(
        "inferbench.local/prometheus:{}",
        prometheus_release(versions::PROMETHEUS)
    )
}

/// The manifest `up` applies.
pub fn prometheus_manifest() -> String {
    super::fill_manifest(MANIFEST, &prometheus_image())
}

/// Prometheus in `monitoring`, ready (its `/-/ready`) when `up` returns.
#[derive(Debug, Clone, Copy)]
pub struct Prometheus;

impl Prometheus {
    pub const NAME: &'static str = "prometheus";
}

impl AddOn for Prometheus {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn applies(&self, ctx: &AddOnContext) -> bool {
        ctx.options.with.contains(&Component::Prometheus) && ctx.runs_containers()
    }

    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError> {
        let binary = Toolchain::new(ctx.host.tool_source).prometheus()?;
        let image = prometheus_image();
        // It runs on the CPU pool (its nodeSelector): the image goes there only.
        ctx.load_tool_image_on_cpu_pool(Self::NAME, &binary, &image)?;
        ctx.kubectl.apply(&prometheus_manifest())?;
        ctx.kubectl.wait_rollout_of(
            PROMETHEUS_NAMESPACE,
            &format!("deployment/{PROMETHEUS_NAME}"),
            ctx.options.ready_timeout,
        )?;
        Ok(Installed { image: Some(image) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_the_loaded_image_and_scrapes_annotated_pods() {
        let m = prometheus_manifest();
        assert!(!m.contains('@'), "every placeholder filled");
        assert!(m.contains(&format!("image: {}", prometheus_image())));
        assert!(m.contains("__meta_kubernetes_pod_annotation_prometheus_io_scrape"));
        insta::assert_snapshot!(m.replace(&prometheus_image(), "IMAGE"));
    }
}
