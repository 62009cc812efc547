//! What a cluster or a serving profile offers, and scenarios and steps
//! require.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a cluster or a serving profile offers, and scenarios and steps require.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Pods really run (kind, not kwok): probes, OOM kills, logs, traffic.
    Containers,
    /// inferbench's gpu-fakes run on the GPU pool (fault injection on fake GPUs).
    GpuFakes,
    /// The GPU pool has real NVIDIA GPUs.
    RealGpus,
    /// Whole GPUs can be claimed through DRA: ResourceSlices of driver
    /// `gpu.nvidia.com` list devices of type `gpu` (`cargo xtask up
    /// --gpu-api dra|both`, the default on kind).
    Dra,
    /// The GPUs are partitioned with MIG and the partitions can be claimed
    /// through DRA (`cargo xtask up --mig PROFILE:N`): ResourceSlices list
    /// `gpu.nvidia.com` devices of type `mig`.
    Mig,
    /// VerticalPodAutoscalers get recommendations: the VPA recommender
    /// runs (`cargo xtask up --with vpa`).
    Vpa,
    /// The serving stack is inferbench's mock server and honours its knobs
    /// (model load time, CPU per token, memory per request byte, failure
    /// injection, the `x-inference-version` header).
    MockServer,
    /// The server answers `/health` while its model still loads (the mock
    /// in its own mode). vLLM does not listen before its model is loaded,
    /// and neither does the mock standing in for it (`vllm serve`), so a
    /// readiness probe on `/health` cannot pass early there.
    HealthBeforeLoad,
}

impl Capability {
    pub const ALL: [Capability; 8] = [
        Capability::Containers,
        Capability::GpuFakes,
        Capability::RealGpus,
        Capability::Dra,
        Capability::Mig,
        Capability::Vpa,
        Capability::MockServer,
        Capability::HealthBeforeLoad,
    ];

    /// The name scenarios write.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Containers => "containers",
            Capability::GpuFakes => "gpu-fakes",
            Capability::RealGpus => "real-gpus",
            Capability::Dra => "dra",
            Capability::Mig => "mig",
            Capability::Vpa => "vpa",
            Capability::MockServer => "mock-server",
            Capability::HealthBeforeLoad => "health-before-load",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
