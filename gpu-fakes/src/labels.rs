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

/// Merges the GFD labels into node `node`'s labels.
pub async fn apply_labels(
    client: kube::Client,
    node: &str,
    cfg: &PoolConfig,
) -> Result<(), LabelError> {
    let api: Api<Node> = Api::all(client);
    let patch = serde_json::json!({ "metadata": { "labels": gfd_labels(cfg) } });
    api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
