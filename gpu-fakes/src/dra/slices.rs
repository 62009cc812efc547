//! Publishes the node's ResourceSlice and keeps it true: a new pool
//! generation whenever a GPU's health changes (an Unhealthy GPU's devices
//! withdrawn), and the slice published again when it is deleted (a kubelet
//! that restarts without the plugin registered wipes its node's slices).
//! Changes are seen through the GPUs' watch channel and a watch on the
//! slice; nothing polls.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::resource::v1::ResourceSlice;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;

use super::devices::{resource_slice, slice_name};
use crate::gpus::FakeGpus;

/// The field manager of our server-side applies.
const FIELD_MANAGER: &str = "gpu-fakes";

/// Errors publishing the slice.
#[derive(Debug, thiserror::Error)]
pub enum SliceError {
    #[error("Kubernetes API: {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("the ResourceSlice does not convert: {0}")]
    Convert(#[from] serde_json::Error),
    #[error("the watch on ResourceSlice {0} ended")]
    WatchEnded(String),
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> SliceError {
    let what = what.into();
    move |source| SliceError::Api { what, source }
}

/// Applies the slice at `generation`, owned by the Node (so it goes with it).
async fn apply(
    api: &Api<ResourceSlice>,
    gpus: &FakeGpus,
    node: &Node,
    generation: i64,
) -> Result<(), SliceError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let mut slice = resource_slice(gpus.config(), &gpus.gpus(), &name, generation);
    slice["metadata"]["ownerReferences"] = serde_json::json!([{
        "apiVersion": "v1", "kind": "Node", "name": name,
        "uid": node.metadata.uid.clone().unwrap_or_default(),
        "controller": true,
    }]);
    let typed: ResourceSlice = serde_json::from_value(slice)?;
    let slice_name = slice_name(&name);
    api.patch(
        &slice_name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&typed),
    )
    .await
    .map_err(api_err(format!("applying ResourceSlice {slice_name}")))?;
    let devices = typed.spec.devices.map_or(0, |d| d.len());
    tracing::info!(slice = %slice_name, generation, devices, "ResourceSlice published");
    Ok(())
}

/// Publishes node `node`'s slice and keeps it published; returns only on
/// an error.
pub async fn publish(client: kube::Client, node: &str, gpus: FakeGpus) -> Result<(), SliceError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node_obj = nodes
        .get(node)
        .await
        .map_err(api_err(format!("reading Node {node}")))?;
    let api: Api<ResourceSlice> = Api::all(client);
    let name = slice_name(node);
    // Go on from the generation a previous run left, so the scheduler never
    // sees it go back.
    let mut generation = api
        .get_opt(&name)
        .await
        .map_err(api_err(format!("reading ResourceSlice {name}")))?
        .map_or(0, |s| s.spec.pool.generation)
        + 1;
    apply(&api, &gpus, &node_obj, generation).await?;
    let mut health = gpus.watch_devices();
    health.borrow_and_update();
    let mut slice_watch = watcher::watch_object(api.clone(), &name).boxed();
    loop {
        tokio::select! {
            changed = health.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                health.borrow_and_update();
                generation += 1;
                apply(&api, &gpus, &node_obj, generation).await?;
            }
            event = slice_watch.next() => match event {
                Some(Ok(None)) => {
                    tracing::warn!(slice = %name, "ResourceSlice deleted: publishing it again");
                    generation += 1;
                    apply(&api, &gpus, &node_obj, generation).await?;
                }
                Some(Ok(Some(_))) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "watching the ResourceSlice (retrying)"),
                None => return Err(SliceError::WatchEnded(name)),
            },
        }
    }
}
