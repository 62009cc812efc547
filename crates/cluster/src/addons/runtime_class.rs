//! The `nvidia` RuntimeClass on fake GPUs.

use super::{AddOn, AddOnContext, Installed};
use crate::ClusterError;

/// Templates written for real GPU nodes ask for `runtimeClassName: nvidia`
/// (NVIDIA's runtime in containerd); on fake GPUs that name maps to runc.
pub const FAKE_NVIDIA_RUNTIME_CLASS: &str = "apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: nvidia
  labels:
    app.kubernetes.io/part-of: inferbench
    inferbench.dev/gpus: fake
handler: runc
";

/// [`FAKE_NVIDIA_RUNTIME_CLASS`], wherever the fake GPUs go (with real
/// GPUs, NVIDIA's device plugin manifest brings the real one).
#[derive(Debug, Clone, Copy)]
pub struct FakeRuntimeClass;

impl FakeRuntimeClass {
    pub const NAME: &'static str = "fake-nvidia-runtime-class";
}

impl AddOn for FakeRuntimeClass {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn applies(&self, ctx: &AddOnContext) -> bool {
        ctx.wants_gpu_fakes()
    }

    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError> {
        ctx.kubectl.apply(FAKE_NVIDIA_RUNTIME_CLASS)?;
        Ok(Installed::default())
    }
}
