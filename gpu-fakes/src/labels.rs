//! GPU feature discovery labels, applied to this node through the API server.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};

use crate::config::PoolConfig;

/// Errors applying labels.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// The GFD labels of a node pool.
pub fn gfd_labels(cfg: &PoolConfig) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(format!("nvidia.com/{k}"), v);
    };
    put("gpu.present", "true".into());
    put("gpu.product", cfg.product.clone());
    put("gpu.count", cfg.gpu_count.to_string());
    put("gpu.memory", cfg.memory_mib.to_string());
    put("gpu.replicas", cfg.replicas.to_string());
    put("gpu.sharing-strategy", cfg.sharing_strategy().into());
    if cfg.mig_profile.is_some() {
        put("mig.strategy", "mixed".into());
    }
    m
}

/// The merge patch of a node's labels: the GFD labels of `cfg`, and `null`
/// (removed) for a GFD label this configuration does not have, so a node
/// whose pool was MIG before does not keep `nvidia.com/mig.strategy`.
pub fn labels_patch(cfg: &PoolConfig) -> serde_json::Value {
    let mut labels: serde_json::Map<String, serde_json::Value> = gfd_labels(cfg)
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    labels
        .entry("nvidia.com/mig.strategy".to_string())
        .or_insert(serde_json::Value::Null);
    serde_json::json!({ "metadata": { "labels": labels } })
}

/// Merges the GFD labels into node `node`'s labels.
pub async fn apply_labels(
    client: kube::Client,
    node: &str,
    cfg: &PoolConfig,
) -> Result<(), LabelError> {
    let api: Api<Node> = Api::all(client);
    let patch = labels_patch(cfg);
    api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_without_mig_removes_the_mig_label() {
        let whole = labels_patch(&PoolConfig::default());
        assert!(whole["metadata"]["labels"]["nvidia.com/mig.strategy"].is_null());
        assert_eq!(whole["metadata"]["labels"]["nvidia.com/gpu.count"], "2");
        let mig = labels_patch(&PoolConfig {
            mig_profile: Some("1g.10gb".into()),
            mig_instances: 7,
            ..PoolConfig::default()
        });
        assert_eq!(
            mig["metadata"]["labels"]["nvidia.com/mig.strategy"],
            "mixed"
        );
    }
}
