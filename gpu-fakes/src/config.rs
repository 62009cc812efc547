//! Per-node-pool configuration of the fake GPUs and the names derived from it.

use serde::{Deserialize, Serialize};

/// Resource name of whole GPUs.
pub const RESOURCE_GPU: &str = "nvidia.com/gpu";
/// Resource name of time-sliced GPUs (NVIDIA's `renameByDefault: true`).
pub const RESOURCE_GPU_SHARED: &str = "nvidia.com/gpu.shared";

/// Which kubelet API offers the node's GPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GpuApi {
    /// The device plugin API (`nvidia.com/gpu` in the node's allocatable).
    #[default]
    DevicePlugin,
    /// Dynamic Resource Allocation (`gpu.nvidia.com` ResourceSlices).
    Dra,
    /// Both, over the same GPUs.
    Both,
}

impl GpuApi {
    /// Whether the device plugin runs.
    pub fn device_plugin(self) -> bool {
        matches!(self, GpuApi::DevicePlugin | GpuApi::Both)
    }

    /// Whether the DRA driver runs.
    pub fn dra(self) -> bool {
        matches!(self, GpuApi::Dra | GpuApi::Both)
    }

    /// The name the command line takes.
    pub fn as_str(self) -> &'static str {
        match self {
            GpuApi::DevicePlugin => "device-plugin",
            GpuApi::Dra => "dra",
            GpuApi::Both => "both",
        }
    }
}

/// Errors in a [`PoolConfig`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("gpu count must be between 1 and 64, got {0}")]
    GpuCount(u32),
    #[error("time-slicing replicas must be between 1 and 128, got {0}")]
    Replicas(u32),
    #[error("MIG profile {0:?} is not of the form <n>g.<m>gb (e.g. 1g.10gb)")]
    MigProfile(String),
    #[error("MIG and time-slicing cannot be combined in one pool")]
    MigWithReplicas,
}

/// What the fake GPUs of one node pool look like.
///
/// Naming rules (documented choice):
/// - `replicas == 1`, no MIG: resource `nvidia.com/gpu`, one device per GPU,
///   device id = the GPU's UUID.
/// - `replicas > 1`: time-slicing with NVIDIA's `renameByDefault: true`, i.e.
///   resource `nvidia.com/gpu.shared`, `count * replicas` devices with ids
///   `<uuid>::<replica>` (NVIDIA's annotated-id form).
/// - `mig_profile = Some("1g.10gb")`: resource `nvidia.com/mig-1g.10gb`
///   (the "mixed" MIG strategy), `mig_instances` devices per GPU with ids
///   `MIG-<uuid>-<n>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    pub gpu_count: u32,
    pub product: String,
    pub memory_mib: u64,
    pub replicas: u32,
    pub mig_profile: Option<String>,
    pub mig_instances: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            gpu_count: 2,
            product: "NVIDIA-H100-80GB-HBM3".into(),
            memory_mib: 81559,
            replicas: 1,
            mig_profile: None,
            mig_instances: 1,
        }
    }
}

impl PoolConfig {
    /// Checks the bounds and the MIG profile syntax.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=64).contains(&self.gpu_count) {
            return Err(ConfigError::GpuCount(self.gpu_count));
        }
        if !(1..=128).contains(&self.replicas) {
            return Err(ConfigError::Replicas(self.replicas));
        }
        if let Some(p) = &self.mig_profile {
            if self.replicas > 1 {
                return Err(ConfigError::MigWithReplicas);
            }
            let ok = p
                .split_once("g.")
                .map(|(g, m)| {
                    !g.is_empty()
                        && g.chars().all(|c| c.is_ascii_digit())
                        && m.strip_suffix("gb")
                            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                })
                .unwrap_or(false);
            if !ok || !(1..=7).contains(&self.mig_instances) {
                return Err(ConfigError::MigProfile(p.clone()));
            }
        }
        Ok(())
    }

    /// The extended resource name the device plugin registers.
    pub fn resource_name(&self) -> String {
        match &self.mig_profile {
            Some(p) => format!("nvidia.com/mig-{p}"),
            None if self.replicas > 1 => RESOURCE_GPU_SHARED.to_string(),
            None => RESOURCE_GPU.to_string(),
        }
    }

    /// `none`, `time-slicing` (GFD's values).
    pub fn sharing_strategy(&self) -> &'static str {
        if self.replicas > 1 {
            "time-slicing"
        } else {
            "none"
        }
    }

    /// Devices advertised per physical GPU.
    pub fn devices_per_gpu(&self) -> u32 {
        if self.mig_profile.is_some() {
            self.mig_instances
        } else {
            self.replicas
        }
    }

    /// The advertised device ids of GPU `uuid`.
    pub fn device_ids(&self, uuid: &str) -> Vec<String> {
        if self.mig_profile.is_some() {
            (0..self.mig_instances)
                .map(|n| format!("MIG-{}-{n}", uuid.trim_start_matches("GPU-")))
                .collect()
        } else if self.replicas > 1 {
            (0..self.replicas).map(|n| format!("{uuid}::{n}")).collect()
        } else {
            vec![uuid.to_string()]
        }
    }
}

/// A stable, UUID-shaped GPU id derived from the node name and index, so a
/// node keeps its GPU ids across restarts (as real GPUs do).
pub fn gpu_uuid(node: &str, index: u32) -> String {
    // FNV-1a, twice with different seeds, for 128 bits.
    fn fnv(seed: u64, data: &[u8]) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
        for b in data {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }
    let key = format!("{node}/{index}");
    // splitmix64 finalizer, so neighbouring indexes differ in every digit.
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let a = mix(fnv(1, key.as_bytes()));
    let b = mix(fnv(2, key.as_bytes()));
    format!(
        "GPU-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_follow_nvidia() {
        let mut c = PoolConfig::default();
        assert_eq!(c.resource_name(), "nvidia.com/gpu");
        c.replicas = 4;
        assert_eq!(c.resource_name(), "nvidia.com/gpu.shared");
        assert_eq!(c.device_ids("GPU-x").len(), 4);
        assert_eq!(c.sharing_strategy(), "time-slicing");
        c.replicas = 1;
        c.mig_profile = Some("1g.10gb".into());
        c.mig_instances = 7;
        c.validate().expect("valid");
        assert_eq!(c.resource_name(), "nvidia.com/mig-1g.10gb");
        c.mig_profile = Some("big".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn uuids_are_stable_and_distinct() {
        assert_eq!(gpu_uuid("n1", 0), gpu_uuid("n1", 0));
        assert_ne!(gpu_uuid("n1", 0), gpu_uuid("n1", 1));
        assert_eq!(gpu_uuid("n1", 0).len(), 40);
    }
}
