//! NetworkPolicy enforcement: kube-router's network policy controller on
//! every node (see `environment::tools::versions::KUBE_ROUTER` for why this
//! enforcer), so a policy a team ships really decides who reaches its
//! inference Service.

use super::{AddOn, AddOnContext, Installed};
use crate::ClusterError;
use environment::node_image::kube_router_image;
use environment::tools::ToolSource;

const MANIFEST: &str = include_str!("../../assets/manifests/network-policy-enforcer.yaml");

/// The enforcer's DaemonSet in `kube-system`, ready on every node. Only on
/// kind clusters made from our node image, which preloads its image; kind's
/// official image runs kindnetd, which enforces policies itself.
#[derive(Debug, Clone, Copy)]
pub struct NetworkPolicies;

impl NetworkPolicies {
    pub const NAME: &'static str = "network-policies";
    pub const DAEMONSET: &'static str = "network-policy-enforcer";
}

/// The manifest `up` applies.
pub fn network_policy_manifest() -> String {
    MANIFEST.replace("@IMAGE@", &kube_router_image())
}

impl AddOn for NetworkPolicies {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn applies(&self, ctx: &AddOnContext) -> bool {
        // The source the provider resolved when it prepared the host.
        ctx.runs_containers() && ctx.host.tool_source == ToolSource::BuildFromGoProxy
    }

    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError> {
        ctx.kubectl.apply(&network_policy_manifest())?;
        ctx.kubectl.wait_rollout_of(
            "kube-system",
            &format!("daemonset/{}", Self::DAEMONSET),
            ctx.options.ready_timeout,
        )?;
        Ok(Installed::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_the_preloaded_image() {
        let m = network_policy_manifest();
        assert!(!m.contains("@IMAGE@"));
        assert!(m.contains(&format!("image: {}", kube_router_image())));
        insta::assert_snapshot!(m.replace(&kube_router_image(), "IMAGE"));
    }
}
