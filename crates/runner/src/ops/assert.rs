//! `assert`: partial objects that must match what the cluster holds,
//! watched until they do or the timeout passes.

use std::time::Duration;

use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Api, ResourceExt};
use serde_json::Value;

use super::render::render_source;
use crate::context::{Ctx, OpResult};
use crate::{matching, watch};
use scenario::bindings::Bindings;
use scenario::model::Assert;

async fn dynamic_api(ctx: &Ctx, obj: &DynamicObject) -> Result<Api<DynamicObject>, String> {
    let types = obj
        .types
        .clone()
        .ok_or("the expected object has no apiVersion/kind")?;
    let gvk = GroupVersionKind::try_from(&types).map_err(|e| e.to_string())?;
    let (ar, caps) = kube::discovery::pinned_kind(&ctx.client, &gvk)
        .await
        .map_err(|e| {
            format!(
                "the cluster does not know {}/{}: {e}",
                types.api_version, types.kind
            )
        })?;
    Ok(match caps.scope {
        Scope::Namespaced => {
            let ns = obj
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| ctx.namespace.clone());
            Api::namespaced_with(ctx.client.clone(), &ns, &ar)
        }
        Scope::Cluster => Api::all_with(ctx.client.clone(), &ar),
    })
}

pub async fn assert(ctx: &mut Ctx, a: &Assert, timeout: Duration) -> OpResult {
    let yaml = render_source(
        ctx,
        a.file.as_deref(),
        a.resource.as_ref(),
        &Bindings::new(),
    )?;
    let mut details = Vec::new();
    for doc in k8s::split_documents(&yaml) {
        let expected: Value = yaml_serde::from_str(doc)
            .map_err(|e| format!("the expected object is not valid YAML: {e}"))?;
        let obj: DynamicObject =
            serde_json::from_value(expected.clone()).map_err(|e| e.to_string())?;
        let api = dynamic_api(ctx, &obj).await?;
        let kind = obj
            .types
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default();
        // Compare without apiVersion/kind (already matched by the API).
        let mut want = expected.clone();
        if let Some(m) = want.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        let cfg = match &obj.metadata.name {
            Some(n) => watch::named(n),
            None => kube::runtime::watcher::Config::default(),
        };
        let label = match &obj.metadata.name {
            Some(n) => format!("{kind}/{n}"),
            None => format!("any {kind}"),
        };
        let detail = watch::until(api, cfg, timeout, |objs: &[DynamicObject]| {
            if objs.is_empty() {
                return Err(format!("{label}: no such object"));
            }
            let mut why = Vec::new();
            for o in objs {
                let actual = serde_json::to_value(o).unwrap_or_default();
                match matching::contains(&want, &actual) {
                    Ok(()) => return Ok(format!("{kind}/{} matches", o.name_any())),
                    Err(e) => why.push(format!("{kind}/{}: {e}", o.name_any())),
                }
            }
            Err(why.join("; "))
        })
        .await
        .map_err(|e| format!("assert {label} failed {e}"))?;
        details.push(detail);
    }
    Ok(Some(details.join("; ")))
}
