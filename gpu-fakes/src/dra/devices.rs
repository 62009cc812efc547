//! What the DRA driver publishes: the devices of one node with NVIDIA's
//! attribute names, the node's ResourceSlice, and the DeviceClasses. Pure
//! functions over the pool's configuration and its GPUs' state.

use serde_json::{Value, json};

use super::{DRIVER_NAME, GPU_DEVICE_CLASS, MIG_DEVICE_CLASS};
use crate::config::PoolConfig;
use crate::gpus::Gpu;

/// The (fake) NVIDIA driver version the devices report.
pub const DRIVER_VERSION: &str = "550.54.15";
/// The CUDA driver version the devices report.
pub const CUDA_DRIVER_VERSION: &str = "12.4.0";

/// One device of the slice and the GPU behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceDevice {
    /// The device's name in the slice (`gpu-0`, `gpu-0-mig-1g10gb-2`).
    pub name: String,
    /// What `NVIDIA_VISIBLE_DEVICES` names it by (GPU or MIG UUID).
    pub visible_id: String,
    /// The index of its physical GPU.
    pub gpu_index: u32,
}

/// The architecture and CUDA compute capability of a product name, as
/// NVIDIA's driver reports them (`Unknown`, `0.0.0` for a product we do not
/// know).
pub fn architecture(product: &str) -> (&'static str, &'static str) {
    let p = product.to_ascii_uppercase();
    let has = |s: &str| p.contains(s);
    if has("B200") || has("B100") || has("GB200") {
        ("Blackwell", "10.0.0")
    } else if has("H100") || has("H200") || has("H800") || has("H20") {
        ("Hopper", "9.0.0")
    } else if has("L40") || has("L4") {
        ("Ada Lovelace", "8.9.0")
    } else if has("A100") || has("A30") || has("A800") {
        ("Ampere", "8.0.0")
    } else if has("A10") || has("A40") {
        ("Ampere", "8.6.0")
    } else if has("T4") {
        ("Turing", "7.5.0")
    } else if has("V100") {
        ("Volta", "7.0.0")
    } else {
        ("Unknown", "0.0.0")
    }
}

/// `NVIDIA-H100-80GB-HBM3` (GFD's label form) as NVML names it.
fn product_name(product: &str) -> String {
    product.replace('-', " ")
}

/// The GiB of a MIG profile (`1g.10gb` → 10).
fn mig_memory_gb(profile: &str) -> u64 {
    profile
        .split_once("g.")
        .and_then(|(_, m)| m.strip_suffix("gb"))
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// The devices a node publishes for `gpus`, healthy or not, in slice order.
pub fn node_devices(cfg: &PoolConfig, gpus: &[Gpu]) -> Vec<SliceDevice> {
    let mut out = Vec::new();
    for g in gpus {
        match &cfg.mig_profile {
            Some(profile) => {
                let short = profile.replace('.', "");
                for (n, id) in cfg.device_ids(&g.uuid).into_iter().enumerate() {
                    out.push(SliceDevice {
                        name: format!("gpu-{}-mig-{short}-{n}", g.index),
                        visible_id: id,
                        gpu_index: g.index,
                    });
                }
            }
            None => out.push(SliceDevice {
                name: format!("gpu-{}", g.index),
                visible_id: g.uuid.clone(),
                gpu_index: g.index,
            }),
        }
    }
    out
}

/// One device as `resource.k8s.io/v1` writes it, attributes named as
/// NVIDIA's driver names them.
fn device_json(cfg: &PoolConfig, gpu: &Gpu, d: &SliceDevice) -> Value {
    let (arch, cc) = architecture(&cfg.product);
    let s = |v: &str| json!({ "string": v });
    let mut attributes = json!({
        "uuid": s(&d.visible_id),
        "productName": s(&product_name(&cfg.product)),
        "brand": s("Nvidia"),
        "architecture": s(arch),
        "cudaComputeCapability": { "version": cc },
        "driverVersion": { "version": DRIVER_VERSION },
        "cudaDriverVersion": { "version": CUDA_DRIVER_VERSION },
        "pcieBusID": s(&gpu.pci_bus_id),
        "index": { "int": gpu.index },
        "minor": { "int": gpu.index },
    });
    let memory = match &cfg.mig_profile {
        Some(profile) => {
            attributes["type"] = s("mig");
            attributes["profile"] = s(profile);
            attributes["parentUUID"] = s(&gpu.uuid);
            format!("{}Gi", mig_memory_gb(profile))
        }
        None => {
            attributes["type"] = s("gpu");
            format!("{}Mi", cfg.memory_mib)
        }
    };
    json!({
        "name": d.name,
        "attributes": attributes,
        "capacity": { "memory": { "value": memory } },
    })
}

/// The name of a node's ResourceSlice.
pub fn slice_name(node: &str) -> String {
    format!("{node}-{DRIVER_NAME}")
}

/// The node's ResourceSlice: one pool named after the node, at
/// `generation`, listing the devices of the healthy GPUs (an Unhealthy
/// GPU's devices are withdrawn).
pub fn resource_slice(cfg: &PoolConfig, gpus: &[Gpu], node: &str, generation: i64) -> Value {
    let devices: Vec<Value> = node_devices(cfg, gpus)
        .iter()
        .filter_map(|d| {
            let gpu = gpus.iter().find(|g| g.index == d.gpu_index)?;
            gpu.healthy.then(|| device_json(cfg, gpu, d))
        })
        .collect();
    json!({
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {
            "name": slice_name(node),
            "labels": { "app.kubernetes.io/managed-by": "gpu-fakes" },
        },
        "spec": {
            "driver": DRIVER_NAME,
            "nodeName": node,
            "pool": { "name": node, "generation": generation, "resourceSliceCount": 1 },
            "devices": devices,
        },
    })
}

/// The DeviceClasses of NVIDIA's driver: whole GPUs and MIG partitions.
/// (`extendedResourceName: nvidia.com/gpu` needs the DRAExtendedResource
/// feature gate, alpha and off in 1.34, so it is not set.)
pub fn device_classes() -> Vec<Value> {
    let class = |name: &str, ty: &str| {
        json!({
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "gpu-fakes" } },
            "spec": {
                "selectors": [{ "cel": {
                    "expression": format!(
                        "device.driver == '{DRIVER_NAME}' && device.attributes['{DRIVER_NAME}'].type == '{ty}'"
                    ),
                } }],
            },
        })
    };
    vec![
        class(GPU_DEVICE_CLASS, "gpu"),
        class(MIG_DEVICE_CLASS, "mig"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpus::FakeGpus;

    #[test]
    fn whole_gpus_carry_nvidia_attributes_and_memory() {
        let gpus = FakeGpus::new(PoolConfig::default(), "node-a").gpus();
        let slice = resource_slice(&PoolConfig::default(), &gpus, "node-a", 3);
        let devices = slice["spec"]["devices"].as_array().expect("devices");
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0]["name"], "gpu-0");
        let a = &devices[1]["attributes"];
        assert_eq!(a["type"]["string"], "gpu");
        assert_eq!(a["uuid"]["string"], gpus[1].uuid.as_str());
        assert_eq!(a["productName"]["string"], "NVIDIA H100 80GB HBM3");
        assert_eq!(a["architecture"]["string"], "Hopper");
        assert_eq!(a["index"]["int"], 1);
        assert_eq!(devices[1]["capacity"]["memory"]["value"], "81559Mi");
        assert_eq!(slice["spec"]["pool"]["generation"], 3);
        assert_eq!(slice["metadata"]["name"], "node-a-gpu.nvidia.com");
    }

    #[test]
    fn unhealthy_gpus_are_withdrawn() {
        let fake = FakeGpus::new(PoolConfig::default(), "node-a");
        fake.set_healthy(0, false).expect("gpu 0");
        let slice = resource_slice(fake.config(), &fake.gpus(), "node-a", 2);
        let names: Vec<&str> = slice["spec"]["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert_eq!(names, ["gpu-1"]);
    }

    #[test]
    fn mig_partitions_are_devices_of_their_own() {
        let cfg = PoolConfig {
            gpu_count: 1,
            mig_profile: Some("1g.10gb".into()),
            mig_instances: 7,
            ..Default::default()
        };
        let gpus = FakeGpus::new(cfg.clone(), "n").gpus();
        let slice = resource_slice(&cfg, &gpus, "n", 1);
        let devices = slice["spec"]["devices"].as_array().expect("devices");
        assert_eq!(devices.len(), 7);
        assert_eq!(devices[6]["name"], "gpu-0-mig-1g10gb-6");
        let a = &devices[6]["attributes"];
        assert_eq!(a["type"]["string"], "mig");
        assert_eq!(a["profile"]["string"], "1g.10gb");
        assert_eq!(a["parentUUID"]["string"], gpus[0].uuid.as_str());
        assert_eq!(devices[6]["capacity"]["memory"]["value"], "10Gi");
    }

    #[test]
    fn architectures_follow_the_product() {
        assert_eq!(architecture("NVIDIA-H200").0, "Hopper");
        assert_eq!(architecture("NVIDIA-A100-SXM4-80GB").1, "8.0.0");
        assert_eq!(architecture("NVIDIA-A10G").1, "8.6.0");
        assert_eq!(architecture("NVIDIA-L4").0, "Ada Lovelace");
        assert_eq!(architecture("Mystery").0, "Unknown");
    }

    #[test]
    fn device_classes_select_by_type() {
        let c = device_classes();
        assert_eq!(c[0]["metadata"]["name"], "gpu.nvidia.com");
        assert_eq!(
            c[1]["spec"]["selectors"][0]["cel"]["expression"],
            "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'"
        );
    }
}
