//! Which device plugin advertises `nvidia.com/gpu` on a cluster, read from
//! its DaemonSets: a device plugin mounts the kubelet's
//! `/var/lib/kubelet/device-plugins` from the host. inferbench's gpu-fakes
//! (fake GPUs) and NVIDIA's `k8s-device-plugin` (real GPUs, also what the
//! GPU operator and most clouds run) are told apart by image and name.

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::ResourceExt;

/// The kubelet's device-plugin socket folder, which every plugin mounts.
pub const DEVICE_PLUGIN_DIR: &str = "/var/lib/kubelet/device-plugins";

/// Whose device plugin a DaemonSet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// inferbench's gpu-fakes: GPUs that do not exist.
    GpuFakes,
    /// NVIDIA's device plugin: the host's GPUs.
    Nvidia,
    /// Another vendor's plugin (not `nvidia.com/gpu`).
    Other,
}

/// A device-plugin DaemonSet and how many of its pods are ready.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DevicePlugin {
    pub namespace: String,
    pub name: String,
    pub kind: PluginKind,
    /// Nodes the DaemonSet should run on.
    pub scheduled: i32,
    /// Nodes where its pod is ready.
    pub ready: i32,
}

impl DevicePlugin {
    /// `daemonset/NAME in NAMESPACE (R/S ready)`.
    pub fn describe(&self) -> String {
        format!(
            "daemonset/{} in {} ({}/{} ready)",
            self.name, self.namespace, self.ready, self.scheduled
        )
    }
}

/// The device plugin `ds` runs, if it runs one.
pub fn device_plugin(ds: &DaemonSet) -> Option<DevicePlugin> {
    let pod = ds.spec.as_ref()?.template.spec.as_ref()?;
    let mounts_plugin_dir = pod.volumes.iter().flatten().any(|v| {
        v.host_path
            .as_ref()
            .is_some_and(|h| h.path.trim_end_matches('/') == DEVICE_PLUGIN_DIR)
    });
    if !mounts_plugin_dir {
        return None;
    }
    let images: Vec<&str> = pod
        .containers
        .iter()
        .filter_map(|c| c.image.as_deref())
        .collect();
    let name = ds.name_any();
    let namespace = ds.namespace().unwrap_or_default();
    let kind = if images.iter().any(|i| i.contains("inferbench/gpu-fakes"))
        || ds
            .labels()
            .get("app.kubernetes.io/name")
            .map(String::as_str)
            == Some("gpu-fakes")
    {
        PluginKind::GpuFakes
    } else if images
        .iter()
        .any(|i| i.contains("k8s-device-plugin") || i.contains("nvidia"))
        || name.contains("nvidia")
    {
        PluginKind::Nvidia
    } else {
        PluginKind::Other
    };
    let status = ds.status.clone().unwrap_or_default();
    Some(DevicePlugin {
        namespace,
        name,
        kind,
        scheduled: status.desired_number_scheduled,
        ready: status.number_ready,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DaemonSet of a fixture manifest, with `ready` of `scheduled` pods ready.
    pub(crate) fn fixture_daemonset(path: &str, scheduled: i32, ready: i32) -> DaemonSet {
        let root = environment::workspace::repo_root();
        let text = std::fs::read_to_string(root.join(path)).expect("fixture");
        let doc = text
            .split("\n---")
            .find(|d| d.contains("kind: DaemonSet"))
            .expect("a DaemonSet");
        let mut ds: DaemonSet = yaml_serde::from_str(doc).expect("DaemonSet yaml");
        ds.status = Some(k8s_openapi::api::apps::v1::DaemonSetStatus {
            desired_number_scheduled: scheduled,
            number_ready: ready,
            ..Default::default()
        });
        ds
    }

    #[test]
    fn our_fixtures_are_told_apart() {
        let fakes = device_plugin(&fixture_daemonset(
            "fixtures/gpu-fakes/gpu-fakes.yaml",
            2,
            2,
        ))
        .expect("gpu-fakes is a device plugin");
        assert_eq!(fakes.kind, PluginKind::GpuFakes);
        assert_eq!(
            fakes.describe(),
            "daemonset/gpu-fakes-gpu in gpu-fakes (2/2 ready)"
        );
        let nvidia = device_plugin(&fixture_daemonset(
            "fixtures/nvidia/device-plugin.yaml",
            1,
            0,
        ))
        .expect("NVIDIA's is a device plugin");
        assert_eq!(nvidia.kind, PluginKind::Nvidia);
        assert_eq!(nvidia.ready, 0);
    }

    #[test]
    fn a_daemonset_without_the_plugin_folder_is_no_plugin() {
        let mut ds = fixture_daemonset("fixtures/nvidia/device-plugin.yaml", 1, 1);
        if let Some(spec) = ds.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            spec.volumes = None;
        }
        assert_eq!(device_plugin(&ds), None);
    }
}
