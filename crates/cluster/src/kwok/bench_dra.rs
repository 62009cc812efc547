//! The DRA path of the kwok benchmark: the fake GPU nodes' devices
//! published as ResourceSlices of driver `gpu.nvidia.com` (NVIDIA's
//! attribute names, as gpu-fakes publishes them on kind), the DeviceClass
//! `gpu.nvidia.com`, a ResourceClaimTemplate, and pods that claim their
//! GPUs from it instead of counting `nvidia.com/gpu`. kube-controller-manager
//! makes a ResourceClaim per pod and the scheduler allocates each from the
//! slices; kwok marks the pods Running (no kubelet prepares anything).

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{
    Container, Pod, PodResourceClaim, ResourceClaim as ContainerClaim,
};
use k8s_openapi::api::resource::v1::{
    DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice,
};
use kube::api::PostParams;
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::json;

use super::bench::{APP_LABEL, BenchReport, NAMESPACE, gpu_pod};
use super::{KwokError, api_err};

/// The driver whose devices the slices list (NVIDIA's name).
pub const DRIVER: &str = "gpu.nvidia.com";
/// The template every benchmark pod's claim is made from.
const TEMPLATE: &str = "bench-gpu";

/// The ResourceSlice of fake node `node`: `gpus` devices `gpu-0`.. with
/// NVIDIA's attributes and `memory_mib` of memory each.
pub fn node_slice(node: &str, gpus: u32, product: &str, memory_mib: u64) -> ResourceSlice {
    let devices: Vec<serde_json::Value> = (0..gpus)
        .map(|i| {
            json!({
                "name": format!("gpu-{i}"),
                "attributes": {
                    "type": { "string": "gpu" },
                    "uuid": { "string": format!("GPU-{node}-{i}") },
                    "productName": { "string": product.replace('-', " ") },
                    "index": { "int": i },
                },
                "capacity": { "memory": { "value": format!("{memory_mib}Mi") } },
            })
        })
        .collect();
    let v = json!({
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": { "name": format!("{node}-{DRIVER}") },
        "spec": {
            "driver": DRIVER,
            "nodeName": node,
            "pool": { "name": node, "generation": 1, "resourceSliceCount": 1 },
            "devices": devices,
        },
    });
    serde_json::from_value(v).unwrap_or_default()
}

/// The DeviceClass of whole GPUs (as gpu-fakes' on kind).
pub fn device_class() -> DeviceClass {
    serde_json::from_value(json!({
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": { "name": DRIVER },
        "spec": { "selectors": [{ "cel": {
            "expression": format!("device.driver == '{DRIVER}' && device.attributes['{DRIVER}'].type == 'gpu'"),
        } }] },
    }))
    .unwrap_or_default()
}

/// A claim template asking the DeviceClass for `gpus` devices.
pub fn claim_template(gpus: u32) -> ResourceClaimTemplate {
    serde_json::from_value(json!({
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": { "name": TEMPLATE, "namespace": NAMESPACE },
        "spec": { "spec": { "devices": { "requests": [{
            "name": "gpu",
            "exactly": { "deviceClassName": DRIVER, "count": gpus },
        }] } } },
    }))
    .unwrap_or_default()
}

/// A benchmark pod that claims its GPUs from [`claim_template`] (the GPU
/// pool's selector and toleration kept, no `nvidia.com/gpu`).
pub fn claim_pod(name: &str) -> Pod {
    let mut pod = gpu_pod(name, 0);
    if let Some(spec) = pod.spec.as_mut() {
        spec.resource_claims = Some(vec![PodResourceClaim {
            name: "gpu".into(),
            resource_claim_template_name: Some(TEMPLATE.into()),
            ..PodResourceClaim::default()
        }]);
        spec.containers = vec![Container {
            name: "main".into(),
            image: Some("registry.k8s.io/pause:3.10.1".into()),
            resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                claims: Some(vec![ContainerClaim {
                    name: "gpu".into(),
                    ..ContainerClaim::default()
                }]),
                ..Default::default()
            }),
            ..Container::default()
        }];
    }
    let labels: BTreeMap<String, String> = [("app".to_string(), APP_LABEL.to_string())].into();
    pod.metadata.labels = Some(labels);
    pod
}

/// Publishes the DeviceClass, every node's slice and the claim template.
pub async fn publish(
    client: &Client,
    nodes: &[String],
    gpus_per_node: u32,
    gpus_per_pod: u32,
    product: &str,
    memory_mib: u64,
    concurrency: usize,
) -> Result<(), KwokError> {
    let pp = PostParams::default();
    Api::<DeviceClass>::all(client.clone())
        .create(&pp, &device_class())
        .await
        .map_err(api_err("creating DeviceClass gpu.nvidia.com"))?;
    let slices: Api<ResourceSlice> = Api::all(client.clone());
    futures::stream::iter(nodes.iter().map(|n| {
        let (slices, pp) = (slices.clone(), pp.clone());
        let slice = node_slice(n, gpus_per_node, product, memory_mib);
        async move {
            slices
                .create(&pp, &slice)
                .await
                .map(|_| ())
                .map_err(api_err(format!("creating the ResourceSlice of {n}")))
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect::<Vec<()>>()
    .await?;
    Api::<ResourceClaimTemplate>::namespaced(client.clone(), NAMESPACE)
        .create(&pp, &claim_template(gpus_per_pod))
        .await
        .map_err(api_err("creating the ResourceClaimTemplate"))?;
    Ok(())
}

/// When every pod's claim existed (kube-controller-manager made it from the
/// template) and when `expected` of them were allocated (the scheduler),
/// watched.
pub async fn observe_claims(
    client: &Client,
    total: u32,
    expected: u32,
) -> Result<(Instant, Instant), KwokError> {
    let api: Api<ResourceClaim> = Api::namespaced(client.clone(), NAMESPACE);
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    let (mut created, mut allocated) = (HashSet::new(), HashSet::new());
    let (mut all_created, mut all_allocated) = (None, None);
    while let Some(ev) = stream.next().await {
        let claim = match ev {
            Ok(watcher::Event::Apply(c)) | Ok(watcher::Event::InitApply(c)) => c,
            _ => continue,
        };
        let Some(name) = claim.metadata.name.clone() else {
            continue;
        };
        if claim
            .status
            .as_ref()
            .is_some_and(|s| s.allocation.is_some())
        {
            allocated.insert(name.clone());
        }
        created.insert(name);
        let now = Instant::now();
        if all_created.is_none() && created.len() as u32 >= total {
            all_created = Some(now);
        }
        if all_allocated.is_none() && allocated.len() as u32 >= expected {
            all_allocated = Some(now);
        }
        if let (Some(c), Some(a)) = (all_created, all_allocated) {
            return Ok((c, a));
        }
    }
    Err(KwokError::Timeout {
        what: "watching the benchmark's ResourceClaims".into(),
        after: std::time::Duration::ZERO,
        detail: "the watch ended".into(),
    })
}

/// The device-plugin and DRA runs side by side: seconds per step, pods per
/// second, and the control plane's peak memory.
pub fn compare(plugin: &BenchReport, dra: &BenchReport) -> String {
    let mut out = format!(
        "device plugin vs DRA: {} GPU nodes x {} GPUs, {} pods x {} GPU\n{:<34} {:>14} {:>14} {:>8}\n",
        plugin.gpu_nodes,
        plugin.gpus_per_node,
        plugin.pods,
        plugin.gpus_per_pod,
        "",
        "device plugin",
        "DRA",
        "DRA/dp"
    );
    let row = |out: &mut String, name: &str, a: f64, b: f64, unit: &str| {
        let ratio = if a > 0.0 {
            format!("{:.2}x", b / a)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{name:<34} {:>14} {:>14} {ratio:>8}\n",
            format!("{a:.1}{unit}"),
            format!("{b:.1}{unit}")
        ));
    };
    row(
        &mut out,
        "nodes Ready",
        plugin.nodes_ready_s,
        dra.nodes_ready_s,
        " s",
    );
    row(
        &mut out,
        "slices published",
        plugin.slices_published_s.unwrap_or(0.0),
        dra.slices_published_s.unwrap_or(0.0),
        " s",
    );
    row(
        &mut out,
        "pods created",
        plugin.pods_created_s,
        dra.pods_created_s,
        " s",
    );
    if let (Some(c), Some(a)) = (dra.claims_created_s, dra.claims_allocated_s) {
        out.push_str(&format!(
            "{:<34} {:>14} {:>14}\n{:<34} {:>14} {:>14}\n",
            "claims created (controller)",
            "",
            format!("{c:.1} s"),
            "claims allocated (scheduler)",
            "",
            format!("{a:.1} s")
        ));
    }
    row(
        &mut out,
        "pods bound",
        plugin.pods_bound_s,
        dra.pods_bound_s,
        " s",
    );
    row(
        &mut out,
        "pods Running",
        plugin.pods_running_s,
        dra.pods_running_s,
        " s",
    );
    row(
        &mut out,
        "pods bound per second",
        plugin.bind_rate(),
        dra.bind_rate(),
        "",
    );
    let rss = |r: &BenchReport, who: &str| {
        r.processes
            .iter()
            .find(|p| p.component == who)
            .map_or(0.0, |p| p.peak_rss_mib)
    };
    for who in [
        "kube-apiserver",
        "etcd",
        "kube-scheduler",
        "kube-controller-manager",
    ] {
        row(
            &mut out,
            &format!("{who} peak RSS"),
            rss(plugin, who),
            rss(dra, who),
            " MiB",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_and_pods_claim_the_way_gpu_fakes_publishes() {
        let s = node_slice("n-1", 8, "NVIDIA-H100-80GB-HBM3", 81559);
        let devices = s.spec.devices.expect("devices");
        assert_eq!(devices.len(), 8);
        assert_eq!(s.spec.node_name.as_deref(), Some("n-1"));
        assert_eq!(s.spec.pool.name, "n-1");
        let a = devices[7].attributes.clone().expect("attributes");
        assert_eq!(a["type"].string.as_deref(), Some("gpu"));
        assert_eq!(
            a["productName"].string.as_deref(),
            Some("NVIDIA H100 80GB HBM3")
        );
        let t = claim_template(2);
        let req = &t
            .spec
            .spec
            .devices
            .expect("devices")
            .requests
            .expect("requests")[0];
        let exactly = req.exactly.as_ref().expect("exactly");
        assert_eq!(
            (exactly.device_class_name.as_str(), exactly.count),
            (DRIVER, Some(2))
        );
        let p = claim_pod("p");
        let spec = p.spec.expect("spec");
        assert_eq!(
            spec.resource_claims.expect("claims")[0]
                .resource_claim_template_name
                .as_deref(),
            Some(TEMPLATE)
        );
        let res = spec.containers[0].resources.clone().expect("resources");
        assert!(res.limits.is_none(), "no nvidia.com/gpu");
        assert_eq!(res.claims.expect("claims")[0].name, "gpu");
        assert!(spec.tolerations.is_some() && spec.node_selector.is_some());
        assert_eq!(device_class().metadata.name.as_deref(), Some(DRIVER));
    }

    #[test]
    fn compare_puts_both_paths_side_by_side() {
        let plugin = crate::kwok::bench::tests::sample_report();
        let dra = BenchReport {
            gpu_api: "dra",
            slices_published_s: Some(0.5),
            claims_created_s: Some(3.0),
            claims_allocated_s: Some(10.0),
            pods_bound_s: 12.0,
            ..plugin.clone()
        };
        let s = compare(&plugin, &dra);
        assert!(s.contains("pods bound"), "{s}");
        assert!(s.contains("3.00x"), "{s}");
        assert!(s.contains("claims allocated (scheduler)"), "{s}");
        assert!(dra.to_string().contains("16 claims allocated (scheduler)"));
    }
}
