//! Add-ons: what `up` installs once the nodes are Ready, in order, each a
//! small type implementing [`AddOn`] in its own file (modelled on kind's
//! `pkg/cluster/internal/create/actions`). Every add-on is idempotent: on a
//! reused cluster it runs again and leaves the cluster as a new one would be.
//!
//! | add-on | applies when |
//! |---|---|
//! | [`MetricsServer`] | the provider runs kubelets (kind) |
//! | [`NetworkPolicies`] | kind, on our node image (built from the Go module proxy) |
//! | [`MockServerImage`] | kind, unless `skip_mock_server` |
//! | [`NvidiaGpus`] | `--gpus real` (the host's GPUs were dealt to the nodes) |
//! | [`FakeRuntimeClass`] | kind, fake GPUs, a GPU pool, unless `skip_gpu_fakes` |
//! | [`GpuFakes`] | as [`FakeRuntimeClass`] |
//! | [`Prometheus`] | kind, `--with prometheus` |
//! | [`Vpa`] | kind, `--with vpa` |
//!
//! kwok has none: its post-create work (the fake Node objects, GPU
//! capacity included, and kwok's stages) is what its provider's `create`
//! is made of.

mod gpu_fakes;
mod metrics_server;
mod mock_server;
mod network_policies;
mod nvidia_gpus;
mod prometheus;
mod runtime_class;
mod vpa;

pub use gpu_fakes::{
    GpuFakes, IMAGE_ID_ANNOTATION, annotate_pod_template, gpu_fakes_manifest_path,
};
pub use metrics_server::{MetricsServer, ensure_metrics_api, metrics_server_manifest};
pub use mock_server::MockServerImage;
pub use network_policies::{NetworkPolicies, network_policy_manifest};
pub use nvidia_gpus::NvidiaGpus;
pub use prometheus::{
    PROMETHEUS_NAME, PROMETHEUS_NAMESPACE, PROMETHEUS_PORT, Prometheus, prometheus_image,
    prometheus_manifest,
};
pub use runtime_class::{FAKE_NVIDIA_RUNTIME_CLASS, FakeRuntimeClass};
pub use vpa::{VPA_CRD, VPA_RECOMMENDER, Vpa, vpa_recommender_image, vpa_recommender_manifest};

use crate::kubectl::Kubectl;
use crate::{ClusterError, ClusterProvider, GpuMode, HostSetup, UpOptions};
use environment::docker::Docker;

/// What an add-on sees of the cluster it installs into.
pub struct AddOnContext<'a> {
    pub options: &'a UpOptions,
    /// The cluster's name.
    pub cluster: &'a str,
    /// The cluster was created by this `up` (not reused).
    pub created: bool,
    pub provider: &'a dyn ClusterProvider,
    /// kubectl bound to the cluster's kubeconfig.
    pub kubectl: &'a Kubectl,
    /// What the provider prepared on this host.
    pub host: &'a HostSetup,
}

impl AddOnContext<'_> {
    /// The Docker engine whose containers are the nodes (kind).
    pub fn docker(&self) -> Option<&Docker> {
        self.host.docker.as_ref()
    }

    /// Whether pods really run (kubelets, containers).
    pub fn runs_containers(&self) -> bool {
        self.provider.provider().runs_containers()
    }

    /// Whether the GPU pool gets inferbench's fake GPUs.
    pub fn wants_gpu_fakes(&self) -> bool {
        let o = self.options;
        self.runs_containers()
            && o.gpus == GpuMode::Fake
            && o.gpu_workers > 0
            && !o.skip_gpu_fakes
            && self.docker().is_some()
    }

    /// The CPU pool's nodes, where the harness's own components run (their
    /// images are loaded there only); an error naming `component` when the
    /// cluster has no CPU worker.
    pub(crate) fn cpu_nodes(&self, component: &str) -> Result<Vec<String>, ClusterError> {
        let nodes: Vec<String> = self
            .kubectl
            .run(&[
                "get",
                "nodes",
                "-l",
                &format!("{}=cpu", crate::POOL_LABEL),
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ])?
            .split_whitespace()
            .map(String::from)
            .collect();
        if nodes.is_empty() {
            return Err(ClusterError::Unsupported(format!(
                "--with {component} runs on the CPU pool, and this cluster has no CPU worker \
                 (--cpu-workers 1 or more)"
            )));
        }
        Ok(nodes)
    }

    /// Builds the `FROM scratch` image `image` of one of our tools' static
    /// `binary` (see [`environment::images::build_tool_image`]) and loads it
    /// onto the CPU pool, where the component's manifest places it.
    pub(crate) fn load_tool_image_on_cpu_pool(
        &self,
        component: &str,
        binary: &std::path::Path,
        image: &str,
    ) -> Result<(), ClusterError> {
        let docker = self.require_docker(component)?;
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| component.to_string());
        environment::images::build_tool_image(docker, &name, binary, image)?;
        let cpu_nodes = self.cpu_nodes(component)?;
        self.provider.load_image_on(self.cluster, image, &cpu_nodes)
    }

    /// The Docker engine, for an add-on that needs one.
    pub(crate) fn require_docker(&self, addon: &str) -> Result<&Docker, ClusterError> {
        self.docker().ok_or_else(|| {
            ClusterError::Unsupported(format!(
                "{addon} needs a Docker engine, and the {} provider has none",
                self.provider.provider()
            ))
        })
    }
}

/// A component's manifest template with its image (`@IMAGE@`) and the
/// template's own digest (`@CONFIG_DIGEST@`, a pod-template annotation: a
/// changed manifest rolls the pod).
pub(crate) fn fill_manifest(template: &str, image: &str) -> String {
    let digest = format!(
        "{:016x}",
        environment::digest::fnv1a_64(template.as_bytes())
    );
    template
        .replace("@IMAGE@", image)
        .replace("@CONFIG_DIGEST@", &digest)
}

/// What an add-on installed that `up` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    /// The image it built and loaded onto the nodes.
    pub image: Option<String>,
}

/// One step after the nodes are Ready.
pub trait AddOn {
    /// A short name, also the step's name in `up`'s timings.
    fn name(&self) -> &'static str;
    /// Whether it has anything to do for this cluster.
    fn applies(&self, ctx: &AddOnContext) -> bool;
    /// Installs it (again, on a reused cluster) and waits until it works.
    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError>;
}

/// Every add-on, in the order `up` runs them.
pub fn all() -> Vec<Box<dyn AddOn>> {
    vec![
        Box::new(MetricsServer),
        Box::new(NetworkPolicies),
        Box::new(MockServerImage),
        Box::new(NvidiaGpus),
        Box::new(FakeRuntimeClass),
        Box::new(GpuFakes),
        Box::new(Prometheus),
        Box::new(Vpa),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_ons_run_in_this_order() {
        let names: Vec<&str> = all().iter().map(|a| a.name()).collect();
        assert_eq!(
            names,
            [
                "metrics-server",
                "network-policies",
                "mock-server-image",
                "nvidia-gpus",
                "fake-nvidia-runtime-class",
                "gpu-fakes",
                "prometheus",
                "vpa",
            ]
        );
    }
}
