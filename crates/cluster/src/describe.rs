//! What a running cluster offers, read from its API: node pools, their
//! GPUs (nodes' allocatable `nvidia.com/gpu`) and where the GPUs come from
//! (which device plugin's DaemonSet runs, see [`crate::device_plugins`]).
//! `run` reports it, and scenarios are matched against it (containers,
//! fake or real GPUs). What the kubeconfig's user may not read is reported
//! as such (403, with the permission it needs), never guessed around.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::device_plugins::{DevicePlugin, PluginKind, device_plugin};
use crate::{ClusterError, GPU_PRESENT_LABEL, POOL_LABEL, Provider};

/// Where a cluster's GPUs come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuKind {
    /// No node has or claims a GPU.
    None,
    /// inferbench's gpu-fakes (a device plugin for GPUs that do not exist).
    Fake,
    /// Real GPUs behind a device plugin.
    Real,
    /// Written into fake nodes (kwok): schedulable, never usable.
    Simulated,
    /// Nodes have or claim GPUs, but what advertises them could not be
    /// told (not readable, no known plugin, or both kinds running).
    Unknown { reason: String },
}

impl GpuKind {
    /// `none`, `fake`, `real`, `simulated`, `unknown` (as reports spell it).
    pub fn as_str(&self) -> &'static str {
        match self {
            GpuKind::None => "none",
            GpuKind::Fake => "fake",
            GpuKind::Real => "real",
            GpuKind::Simulated => "simulated",
            GpuKind::Unknown { .. } => "unknown",
        }
    }

    /// What GPUs a cluster has: GPU nodes (`any_gpu`), the device plugins
    /// its DaemonSets run (`plugins`; `Err`: why they could not be read),
    /// made by `provider` (`None`: not ours).
    pub fn of(
        any_gpu: bool,
        plugins: Result<&[DevicePlugin], String>,
        provider: Option<Provider>,
    ) -> GpuKind {
        if !any_gpu {
            return GpuKind::None;
        }
        if provider == Some(Provider::Kwok) {
            return GpuKind::Simulated;
        }
        let plugins = match plugins {
            Ok(p) => p,
            Err(reason) => return GpuKind::Unknown { reason },
        };
        let running = |kind: PluginKind| -> Vec<&DevicePlugin> {
            plugins
                .iter()
                .filter(|p| p.kind == kind && p.ready > 0)
                .collect()
        };
        let (fakes, nvidia) = (running(PluginKind::GpuFakes), running(PluginKind::Nvidia));
        let list = |ps: &[&DevicePlugin]| -> String {
            ps.iter()
                .map(|p| p.describe())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (fakes.is_empty(), nvidia.is_empty()) {
            (false, true) => GpuKind::Fake,
            (true, false) => GpuKind::Real,
            (false, false) => GpuKind::Unknown {
                reason: format!(
                    "both gpu-fakes ({}) and NVIDIA's device plugin ({}) run: which one advertises nvidia.com/gpu depends on the node; remove one",
                    list(&fakes),
                    list(&nvidia)
                ),
            },
            (true, true) => {
                let known: Vec<&DevicePlugin> = plugins
                    .iter()
                    .filter(|p| p.kind != PluginKind::Other)
                    .collect();
                GpuKind::Unknown {
                    reason: if known.is_empty() {
                        "nodes have or claim nvidia.com/gpu, but no DaemonSet runs gpu-fakes or NVIDIA's device plugin (none mounts /var/lib/kubelet/device-plugins with a known image)".to_string()
                    } else {
                        format!(
                            "nodes have or claim nvidia.com/gpu, but no device plugin pod is ready: {}",
                            list(&known)
                        )
                    },
                }
            }
        }
    }

    /// Why the kind is unknown, if it is.
    pub fn reason(&self) -> Option<&str> {
        match self {
            GpuKind::Unknown { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Whether `e` is the API server's 403.
fn forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

/// The device plugins the cluster's DaemonSets run, or why they could not
/// be read.
async fn device_plugins(client: kube::Client) -> Result<Vec<DevicePlugin>, String> {
    match Api::<DaemonSet>::all(client)
        .list(&ListParams::default())
        .await
    {
        Ok(l) => Ok(l.items.iter().filter_map(device_plugin).collect()),
        Err(e) if forbidden(&e) => Err(format!(
            "listing DaemonSets in all namespaces is forbidden (403) for this kubeconfig's user, so which device plugin advertises nvidia.com/gpu cannot be read: grant `list` on `daemonsets` (apiGroup `apps`) cluster-wide ({e})"
        )),
        Err(e) => Err(format!("listing DaemonSets in all namespaces failed: {e}")),
    }
}

/// One node pool (by [`POOL_LABEL`]; `default` for unlabelled nodes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolDescription {
    pub name: String,
    pub nodes: u32,
    /// The most `nvidia.com/gpu` any node of the pool can allocate.
    pub gpus_per_node: u32,
    /// `nvidia.com/gpu.product` of a node of the pool.
    pub gpu_product: Option<String>,
}

/// What a cluster is made of.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterDescription {
    /// The provider that made it; `None` for a cluster inferbench did not
    /// make (a kubeconfig given by hand).
    pub provider: Option<Provider>,
    /// `unknown (...)` when the API server would not say.
    pub kubernetes_version: String,
    pub pools: Vec<PoolDescription>,
    pub gpu_kind: GpuKind,
    /// Whole GPUs (attribute `type` = `gpu`) of driver `gpu.nvidia.com`
    /// in the cluster's ResourceSlices (DRA); 0 where there are none or
    /// they may not be listed.
    pub dra_gpu_devices: u32,
    /// MIG partitions (attribute `type` = `mig`) of the same driver.
    pub dra_mig_devices: u32,
    /// The VerticalPodAutoscaler API is served and its recommender
    /// (Deployment `kube-system/vpa-recommender`, as upstream and `up
    /// --with vpa` name it) has a replica available.
    pub vpa_recommender: bool,
}

impl ClusterDescription {
    /// Whether pods really run (assumed for a cluster we did not make).
    pub fn runs_containers(&self) -> bool {
        self.provider.is_none_or(Provider::runs_containers)
    }
}

/// Reads the cluster behind `kubeconfig`, made by `provider` (`None`: not
/// by inferbench).
pub async fn describe(
    kubeconfig: &Path,
    provider: Option<Provider>,
) -> Result<ClusterDescription, ClusterError> {
    let client = k8s::connect(kubeconfig).await?;
    let kubernetes_version = client
        .apiserver_version()
        .await
        .map(|v| v.git_version)
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| {
            if forbidden(&e) {
                ClusterError::Forbidden {
                    what: "list nodes".into(),
                    permission: "`list` on `nodes` (cluster-wide)".into(),
                    source: Box::new(e),
                }
            } else {
                ClusterError::Api {
                    what: "listing nodes".into(),
                    source: Box::new(e),
                }
            }
        })?
        .items;
    let (pools, any_gpu) = pools_of(&nodes);
    // kwok's GPUs are simulated whatever runs; other clusters say by their plugins.
    let plugins = if any_gpu && provider != Some(Provider::Kwok) {
        device_plugins(client.clone()).await
    } else {
        Ok(Vec::new())
    };
    let gpu_kind = GpuKind::of(any_gpu, plugins.as_deref().map_err(Clone::clone), provider);
    let (dra_gpu_devices, dra_mig_devices) = if any_gpu {
        dra_gpu_devices(client.clone()).await
    } else {
        (0, 0)
    };
    let vpa_recommender = vpa_recommender(client.clone()).await;
    Ok(ClusterDescription {
        provider,
        kubernetes_version,
        pools,
        gpu_kind,
        dra_gpu_devices,
        dra_mig_devices,
        vpa_recommender,
    })
}

/// Whether VerticalPodAutoscalers get recommendations here: their API is
/// served and `kube-system/vpa-recommender` has a replica available
/// (false when either cannot be read).
async fn vpa_recommender(client: kube::Client) -> bool {
    use k8s_openapi::api::apps::v1::Deployment;
    let served = client
        .list_api_group_resources("autoscaling.k8s.io/v1")
        .await
        .is_ok_and(|r| {
            r.resources
                .iter()
                .any(|r| r.name == "verticalpodautoscalers")
        });
    served
        && Api::<Deployment>::namespaced(client, "kube-system")
            .get_opt(crate::addons::VPA_RECOMMENDER)
            .await
            .ok()
            .flatten()
            .and_then(|d| d.status?.available_replicas)
            .is_some_and(|n| n > 0)
}

/// The whole GPUs and the MIG partitions of driver `gpu.nvidia.com` in all
/// ResourceSlices (0 when they cannot be listed: no DRA API, or not
/// allowed).
async fn dra_gpu_devices(client: kube::Client) -> (u32, u32) {
    use k8s_openapi::api::resource::v1::ResourceSlice;
    let Ok(list) = Api::<ResourceSlice>::all(client)
        .list(&ListParams::default())
        .await
    else {
        // No DRA API or not allowed: no claimable GPUs as far as we can tell.
        return (0, 0);
    };
    let devices: Vec<_> = list
        .items
        .iter()
        .filter(|s| s.spec.driver == "gpu.nvidia.com")
        .flat_map(|s| s.spec.devices.iter().flatten())
        .collect();
    let of_type = |ty: &str| {
        devices
            .iter()
            .filter(|d| {
                d.attributes
                    .as_ref()
                    .and_then(|a| a.get("type"))
                    .and_then(|t| t.string.as_deref())
                    == Some(ty)
            })
            .count() as u32
    };
    (of_type("gpu"), of_type("mig"))
}

/// The pools of `nodes`, and whether any node has or claims a GPU.
fn pools_of(nodes: &[Node]) -> (Vec<PoolDescription>, bool) {
    let mut pools: BTreeMap<String, PoolDescription> = BTreeMap::new();
    let mut any_gpu = false;
    for n in nodes {
        let labels = n.labels();
        let pool = labels
            .get(POOL_LABEL)
            .cloned()
            .unwrap_or_else(|| "default".into());
        let gpus = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get("nvidia.com/gpu"))
            .and_then(|q| q.0.parse::<u32>().ok())
            .unwrap_or(0);
        any_gpu |= gpus > 0 || labels.contains_key(GPU_PRESENT_LABEL);
        let entry = pools.entry(pool.clone()).or_insert(PoolDescription {
            name: pool,
            nodes: 0,
            gpus_per_node: 0,
            gpu_product: labels.get("nvidia.com/gpu.product").cloned(),
        });
        entry.nodes += 1;
        entry.gpus_per_node = entry.gpus_per_node.max(gpus);
    }
    (pools.into_values().collect(), any_gpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSpec, kwok};

    fn plugin(kind: PluginKind, ready: i32) -> DevicePlugin {
        DevicePlugin {
            namespace: "ns".into(),
            name: format!("{kind:?}").to_lowercase(),
            kind,
            scheduled: 2,
            ready,
        }
    }

    #[test]
    fn gpu_kind_follows_the_device_plugin_that_runs() {
        let fakes = [plugin(PluginKind::GpuFakes, 2)];
        let nvidia = [plugin(PluginKind::Nvidia, 1), plugin(PluginKind::Other, 1)];
        assert_eq!(GpuKind::of(false, Ok(&fakes), None), GpuKind::None);
        assert_eq!(
            GpuKind::of(true, Ok(&fakes), Some(Provider::Kwok)),
            GpuKind::Simulated
        );
        assert_eq!(
            GpuKind::of(true, Ok(&fakes), Some(Provider::Kind)),
            GpuKind::Fake
        );
        assert_eq!(GpuKind::of(true, Ok(&nvidia), None), GpuKind::Real);
    }

    #[test]
    fn no_plugin_or_both_or_none_ready_is_unknown_not_real() {
        let unknown = |plugins: &[DevicePlugin]| {
            GpuKind::of(true, Ok(plugins), None)
                .reason()
                .map(str::to_string)
                .expect("unknown")
        };
        assert!(unknown(&[]).contains("no DaemonSet runs gpu-fakes or NVIDIA"));
        assert!(unknown(&[plugin(PluginKind::Other, 1)]).contains("no DaemonSet"));
        let both = unknown(&[
            plugin(PluginKind::GpuFakes, 1),
            plugin(PluginKind::Nvidia, 1),
        ]);
        assert!(both.contains("both gpu-fakes"), "{both}");
        let idle = unknown(&[plugin(PluginKind::Nvidia, 0)]);
        assert!(
            idle.contains("no device plugin pod is ready: daemonset/nvidia in ns (0/2 ready)"),
            "{idle}"
        );
    }

    #[test]
    fn an_unreadable_plugin_list_is_reported_not_guessed() {
        let kind = GpuKind::of(true, Err("forbidden (403)".into()), Some(Provider::Kind));
        assert_eq!(kind.as_str(), "unknown");
        assert_eq!(kind.reason(), Some("forbidden (403)"));
    }

    #[test]
    fn a_403_is_told_apart_from_other_errors() {
        let status = |code| {
            kube::Error::Api(Box::new(
                kube::core::Status::failure("no", "Forbidden").with_code(code),
            ))
        };
        assert!(forbidden(&status(403)));
        assert!(!forbidden(&status(500)));
    }

    #[test]
    fn pools_count_nodes_and_gpus() {
        let spec = ClusterSpec::new("c", 1, 2).expect("spec");
        let nodes = kwok::nodes::node_objects(&spec, &kwok::GpuShape::default());
        let (pools, any_gpu) = pools_of(&nodes);
        assert!(any_gpu);
        let names: Vec<(&str, u32, u32)> = pools
            .iter()
            .map(|p| (p.name.as_str(), p.nodes, p.gpus_per_node))
            .collect();
        assert_eq!(names, [("cpu", 1, 0), ("gpu", 2, 8)]);
        assert_eq!(
            pools[1].gpu_product.as_deref(),
            Some("NVIDIA-H100-80GB-HBM3")
        );
    }

    #[test]
    fn only_kwok_clusters_run_no_containers() {
        let d = |provider| ClusterDescription {
            provider,
            kubernetes_version: String::new(),
            pools: Vec::new(),
            gpu_kind: GpuKind::None,
            dra_gpu_devices: 0,
            dra_mig_devices: 0,
            vpa_recommender: false,
        };
        assert!(d(None).runs_containers());
        assert!(d(Some(Provider::Kind)).runs_containers());
        assert!(!d(Some(Provider::Kwok)).runs_containers());
    }
}
