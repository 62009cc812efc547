//! How the fake GPUs are offered: through which kubelet API (device plugin,
//! DRA, both) and shared or partitioned how (time-slicing, MIG), as
//! `cargo xtask up --gpu-api`, `--gpu-sharing` and `--mig` take them. These
//! become arguments of gpu-fakes' DaemonSet.

use crate::{ClusterError, GpuMode, Provider};

/// Which kubelet API offers the GPU pool's GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuApi {
    /// `nvidia.com/gpu` (or `.shared`, `mig-*`) in the nodes' allocatable.
    DevicePlugin,
    /// ResourceSlices of driver `gpu.nvidia.com` and the DeviceClasses
    /// `gpu.nvidia.com` and `mig.nvidia.com` (`resource.k8s.io/v1`).
    Dra,
    /// Both, over the same GPUs.
    Both,
}

impl GpuApi {
    /// The name `--gpu-api` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            GpuApi::DevicePlugin => "device-plugin",
            GpuApi::Dra => "dra",
            GpuApi::Both => "both",
        }
    }

    pub fn device_plugin(self) -> bool {
        matches!(self, GpuApi::DevicePlugin | GpuApi::Both)
    }

    pub fn dra(self) -> bool {
        matches!(self, GpuApi::Dra | GpuApi::Both)
    }

    /// What a cluster gets when `--gpu-api` is not given: fake GPUs on kind
    /// come through both APIs (a team's template may count `nvidia.com/gpu`
    /// or claim a GPU); real GPUs and kwok's simulated ones through the
    /// device plugin.
    pub fn default_for(provider: Provider, gpus: GpuMode) -> GpuApi {
        match (provider, gpus) {
            (Provider::Kind, GpuMode::Fake) => GpuApi::Both,
            _ => GpuApi::DevicePlugin,
        }
    }
}

/// How each fake GPU is shared or partitioned.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuPartitioning {
    /// Whole GPUs (`nvidia.com/gpu`).
    #[default]
    Whole,
    /// Time-slicing with this many replicas per GPU (`nvidia.com/gpu.shared`).
    TimeSlicing(u32),
    /// MIG: `instances` partitions of `profile` per GPU (`nvidia.com/mig-<profile>`).
    Mig { profile: String, instances: u32 },
}

impl GpuPartitioning {
    /// Parses `--gpu-sharing time-slicing:N`.
    pub fn time_slicing(arg: &str) -> Result<GpuPartitioning, ClusterError> {
        let bad = || {
            ClusterError::Unsupported(format!(
                "--gpu-sharing {arg:?}: expected time-slicing:N with N from 2 to 128 (replicas per GPU), e.g. time-slicing:4"
            ))
        };
        let n: u32 = arg
            .strip_prefix("time-slicing:")
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        if !(2..=128).contains(&n) {
            return Err(bad());
        }
        Ok(GpuPartitioning::TimeSlicing(n))
    }

    /// Parses `--mig PROFILE:N`, e.g. `1g.10gb:7`.
    pub fn mig(arg: &str) -> Result<GpuPartitioning, ClusterError> {
        let bad = || {
            ClusterError::Unsupported(format!(
                "--mig {arg:?}: expected PROFILE:N, a profile <g>g.<m>gb and 1 to 7 instances per GPU, e.g. 1g.10gb:7"
            ))
        };
        let (profile, n) = arg.split_once(':').ok_or_else(bad)?;
        let instances: u32 = n.parse().map_err(|_| bad())?;
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        let well_formed = profile
            .split_once("g.")
            .is_some_and(|(g, m)| digits(g) && m.strip_suffix("gb").is_some_and(digits));
        if !well_formed || !(1..=7).contains(&instances) {
            return Err(bad());
        }
        Ok(GpuPartitioning::Mig {
            profile: profile.to_string(),
            instances,
        })
    }

    /// The extended resource the device plugin registers.
    pub fn resource_name(&self) -> String {
        match self {
            GpuPartitioning::Whole => "nvidia.com/gpu".into(),
            GpuPartitioning::TimeSlicing(_) => "nvidia.com/gpu.shared".into(),
            GpuPartitioning::Mig { profile, .. } => format!("nvidia.com/mig-{profile}"),
        }
    }
}

/// The gpu-fakes arguments (`--flag`, value) that give `api` and `parts`.
pub fn gpu_fakes_args(api: GpuApi, parts: &GpuPartitioning) -> Vec<(&'static str, String)> {
    let mut args = vec![("--gpu-api", api.as_str().to_string())];
    match parts {
        GpuPartitioning::Whole => args.push(("--replicas", "1".into())),
        GpuPartitioning::TimeSlicing(n) => args.push(("--replicas", n.to_string())),
        GpuPartitioning::Mig { profile, instances } => {
            args.push(("--replicas", "1".into()));
            args.push(("--mig-profile", profile.clone()));
            args.push(("--mig-instances", instances.to_string()));
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_arguments_parse_or_say_what_is_expected() {
        assert_eq!(
            GpuPartitioning::time_slicing("time-slicing:4").expect("valid"),
            GpuPartitioning::TimeSlicing(4)
        );
        let e = GpuPartitioning::time_slicing("mps:4").expect_err("not time-slicing");
        assert!(e.to_string().contains("expected time-slicing:N"), "{e}");
        assert!(GpuPartitioning::time_slicing("time-slicing:1").is_err());
        let mig = GpuPartitioning::mig("1g.10gb:7").expect("valid");
        assert_eq!(mig.resource_name(), "nvidia.com/mig-1g.10gb");
        assert!(GpuPartitioning::mig("1g.10gb:8").is_err());
        assert!(GpuPartitioning::mig("big:2").is_err());
    }

    #[test]
    fn arguments_for_gpu_fakes() {
        let mig = GpuPartitioning::mig("3g.40gb:2").expect("valid");
        assert_eq!(
            gpu_fakes_args(GpuApi::Dra, &mig),
            vec![
                ("--gpu-api", "dra".to_string()),
                ("--replicas", "1".to_string()),
                ("--mig-profile", "3g.40gb".to_string()),
                ("--mig-instances", "2".to_string()),
            ]
        );
        assert_eq!(
            GpuApi::default_for(Provider::Kind, GpuMode::Fake),
            GpuApi::Both
        );
        assert_eq!(
            GpuApi::default_for(Provider::Kwok, GpuMode::Fake),
            GpuApi::DevicePlugin
        );
    }
}
