//! The host's NVIDIA GPUs in the GPU nodes, nvkind-style (see
//! [`crate::real_gpus`]): the NVIDIA runtime inside each new GPU node,
//! NVIDIA's device plugin and the `nvidia` RuntimeClass, GPU labels.

use super::{AddOn, AddOnContext, Installed};
use crate::ClusterError;
use crate::real_gpus;

/// Sets up the GPU nodes the provider handed host GPUs to (`--gpus real`,
/// after the host passed [`real_gpus::preflight`]).
#[derive(Debug, Clone, Copy)]
pub struct NvidiaGpus;

impl NvidiaGpus {
    pub const NAME: &'static str = "nvidia-gpus";
}

impl AddOn for NvidiaGpus {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn applies(&self, ctx: &AddOnContext) -> bool {
        ctx.host.host_gpus.is_some()
    }

    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError> {
        let Some(plan) = &ctx.host.host_gpus else {
            return Ok(Installed::default());
        };
        let docker = ctx.require_docker(Self::NAME)?;
        let all: Vec<u32> = plan.gpus.iter().map(|g| g.index).collect();
        let nodes = real_gpus::gpu_node_names(ctx.kubectl)?;
        // A reused cluster's nodes were set up when it was created.
        if ctx.created {
            for (node, mine) in nodes.iter().zip(&plan.assignment) {
                real_gpus::setup_node(docker, node, mine, &all)?;
            }
        }
        real_gpus::install_device_plugin(
            ctx.kubectl,
            &plan.assignment,
            &plan.gpus,
            ctx.options.ready_timeout,
        )?;
        Ok(Installed::default())
    }
}
