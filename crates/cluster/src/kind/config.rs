//! Rendering a [`ClusterSpec`] as a kind `Cluster` configuration
//! (`kind.x-k8s.io/v1alpha4`). Snapshots of the rendered configurations
//! live in `fixtures/kind/`.

use std::fmt::Write;

use crate::{ClusterSpec, NodeRole};

/// The kind configuration for `spec`. The node image is passed to
/// `kind create cluster --image` rather than written here, so the same
/// configuration serves the downloaded and the locally built image.
pub fn render(spec: &ClusterSpec) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Rendered by inferbench (cluster::kind::config) from ClusterSpec {:?}.",
        spec.name
    );
    let _ = writeln!(y, "kind: Cluster");
    let _ = writeln!(y, "apiVersion: kind.x-k8s.io/v1alpha4");
    let _ = writeln!(y, "name: {}", spec.name);
    let _ = writeln!(y, "nodes:");
    for pool in &spec.pools {
        for index in 0..pool.count {
            let role = match pool.role {
                NodeRole::ControlPlane => "control-plane",
                NodeRole::Worker => "worker",
            };
            let _ = writeln!(
                y,
                "  # pool {:?}, node {} of {}",
                pool.name,
                index + 1,
                pool.count
            );
            let _ = writeln!(y, "  - role: {role}");
            if !pool.labels.is_empty() {
                let _ = writeln!(y, "    labels:");
                for (k, v) in &pool.labels {
                    let _ = writeln!(y, "      {k}: {}", quote(v));
                }
            }
            if let Some(mounts) = pool.mounts.get(index as usize).filter(|m| !m.is_empty()) {
                let _ = writeln!(y, "    extraMounts:");
                for m in mounts {
                    let _ = writeln!(y, "      - hostPath: {}", quote(&m.host_path));
                    let _ = writeln!(y, "        containerPath: {}", quote(&m.container_path));
                }
            }
            if !pool.taints.is_empty() {
                let config_kind = match pool.role {
                    NodeRole::ControlPlane => "InitConfiguration",
                    NodeRole::Worker => "JoinConfiguration",
                };
                let _ = writeln!(y, "    kubeadmConfigPatches:");
                let _ = writeln!(y, "      - |");
                let _ = writeln!(y, "        kind: {config_kind}");
                let _ = writeln!(y, "        nodeRegistration:");
                let _ = writeln!(y, "          taints:");
                for t in &pool.taints {
                    let _ = writeln!(y, "            - key: {}", t.key);
                    let _ = writeln!(y, "              value: {}", quote(&t.value));
                    let _ = writeln!(y, "              effect: {}", t.effect);
                }
            }
        }
    }
    y
}

/// Nodes per pool of a configuration [`render`] wrote, read back from its
/// nodes' pool labels (`inferbench.dev/pool`); a configuration not ours
/// gives an empty map.
pub fn pool_sizes(text: &str) -> std::collections::BTreeMap<String, u32> {
    let mut sizes = std::collections::BTreeMap::new();
    let Ok(doc) = yaml_serde::from_str::<serde_json::Value>(text) else {
        return sizes;
    };
    for node in doc["nodes"].as_array().into_iter().flatten() {
        if let Some(pool) = node["labels"][crate::POOL_LABEL].as_str() {
            *sizes.entry(pool.to_string()).or_insert(0) += 1;
        }
    }
    sizes
}

/// YAML double-quoted scalar.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(name: &str, value: &str) {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../../../../fixtures/kind");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!(name, value));
    }

    #[test]
    fn default_cluster_config() {
        let spec = ClusterSpec::default_named("inferbench").expect("valid spec");
        snapshot("kind-cluster-default", &render(&spec));
    }

    #[test]
    fn pool_sizes_are_read_back_from_the_config() {
        let spec = ClusterSpec::new("shape", 1, 3).expect("valid spec");
        let sizes = pool_sizes(&render(&spec));
        assert_eq!(sizes.get("cpu"), Some(&1));
        assert_eq!(sizes.get("gpu"), Some(&3));
        assert!(pool_sizes("not: [a, kind config").is_empty());
    }

    #[test]
    fn control_plane_only_config() {
        let spec = ClusterSpec::new("tiny", 0, 0).expect("valid spec");
        snapshot("kind-cluster-control-plane-only", &render(&spec));
    }

    #[test]
    fn real_gpu_config_hands_each_worker_its_gpus_nvkind_style() {
        let mut spec = ClusterSpec::default_named("inferbench").expect("valid spec");
        let gpus = crate::real_gpus::parse_gpus(
            "0, NVIDIA H100 80GB HBM3, GPU-a, 81559\n1, NVIDIA H100 80GB HBM3, GPU-b, 81559\n2, NVIDIA H100 80GB HBM3, GPU-c, 81559\n",
        )
        .expect("gpus");
        let cache = std::path::PathBuf::from("/home/me/.cache/huggingface");
        let pool = spec
            .pools
            .iter_mut()
            .find(|p| p.name == "gpu")
            .expect("gpu pool");
        pool.mounts = crate::real_gpus::assign(&gpus, pool.count)
            .iter()
            .map(|ix| crate::real_gpus::node_mounts(ix, Some(&cache)))
            .collect();
        let text = render(&spec);
        snapshot("kind-cluster-real-gpus", &text);
        let doc: serde_json::Value = yaml_serde::from_str(&text).expect("valid YAML");
        let mounts: Vec<Vec<String>> = doc["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter(|n| n["labels"]["nvidia.com/gpu.present"] == "true")
            .map(|n| {
                n["extraMounts"]
                    .as_array()
                    .expect("mounts")
                    .iter()
                    .map(|m| m["containerPath"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .collect();
        assert_eq!(
            mounts,
            vec![
                vec![
                    "/var/run/nvidia-container-devices/0".to_string(),
                    "/var/run/nvidia-container-devices/2".to_string(),
                    "/var/lib/inferbench/hf-cache".to_string()
                ],
                vec![
                    "/var/run/nvidia-container-devices/1".to_string(),
                    "/var/lib/inferbench/hf-cache".to_string()
                ],
            ]
        );
    }

    #[test]
    fn rendered_config_is_valid_yaml_with_the_gpu_taint() {
        let spec = ClusterSpec::default_named("inferbench").expect("valid spec");
        let doc: serde_json::Value = yaml_serde::from_str(&render(&spec)).expect("valid YAML");
        let nodes = doc["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 4);
        let gpu: Vec<_> = nodes
            .iter()
            .filter(|n| n["labels"]["nvidia.com/gpu.present"] == "true")
            .collect();
        assert_eq!(gpu.len(), 2);
        let patch = gpu[0]["kubeadmConfigPatches"][0].as_str().expect("patch");
        let patch: serde_json::Value = yaml_serde::from_str(patch).expect("patch is YAML");
        assert_eq!(
            patch["nodeRegistration"]["taints"][0]["key"],
            "nvidia.com/gpu"
        );
        assert_eq!(
            patch["nodeRegistration"]["taints"][0]["effect"],
            "NoSchedule"
        );
    }
}
