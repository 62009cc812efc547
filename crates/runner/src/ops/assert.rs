//! `assert`: partial objects that must match what the cluster holds,
//! watched until they do or the timeout passes.

use std::time::Duration;

use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Api, ResourceExt};
use report::CheckKind;
use serde_json::{Value, json};

use super::render::render_source;
use crate::context::{Check, Ctx, Observed, OpError, OpResult};
use crate::watch::{Seen, Watched};
use crate::{matching, watch};
use scenario::bindings::Bindings;
use scenario::model::Assert;

async fn dynamic_api(ctx: &Ctx, obj: &DynamicObject) -> Result<Api<DynamicObject>, OpError> {
    let types = obj
        .types
        .clone()
        .ok_or(OpError::bad("the expected object has no apiVersion/kind"))?;
    let gvk = GroupVersionKind::try_from(&types).map_err(OpError::bad)?;
    let (ar, caps) = kube::discovery::pinned_kind(&ctx.client, &gvk)
        .await
        .map_err(OpError::api(format!(
            "the cluster does not know {}/{}",
            types.api_version, types.kind
        )))?;
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

/// `status.conditions` by type: `{ Progressing: { status, reason } }`.
pub(crate) fn conditions(obj: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for c in obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = c.get("type").and_then(Value::as_str) {
            out.insert(
                t.to_string(),
                json!({ "status": c.get("status"), "reason": c.get("reason") }),
            );
        }
    }
    Value::Object(out)
}

/// What one object looked like to the assert: `actual` is the object cut
/// to the fields the assert names ([`matching::project`]).
fn seen(kind: &str, o: &DynamicObject, want: &Value, mismatch: Option<&str>) -> Value {
    let actual = serde_json::to_value(o).unwrap_or_default();
    json!({
        "object": format!("{kind}/{}", o.name_any()),
        "matches": mismatch.is_none(),
        "mismatch": mismatch,
        "conditions": conditions(&actual),
        "actual": matching::project(want, &actual),
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
    let mut values = Vec::new();
    for doc in k8s::split_documents(&yaml) {
        let expected: Value = yaml_serde::from_str(doc)
            .map_err(|e| OpError::bad(format!("the expected object is not valid YAML: {e}")))?;
        let obj: DynamicObject = serde_json::from_value(expected.clone()).map_err(OpError::bad)?;
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
        let check = Check::new(
            CheckKind::Assert,
            format!("{label} matches {}", compact(&want)),
        );
        let watched = watch::until(
            api,
            cfg,
            &format!("assert {label}"),
            timeout,
            |objs: &[DynamicObject]| {
                if objs.is_empty() {
                    return Seen::Absent(format!("{label}: no such object"));
                }
                let mut why = Vec::new();
                let mut each = Vec::new();
                for o in objs {
                    let actual = serde_json::to_value(o).unwrap_or_default();
                    match matching::contains(&want, &actual) {
                        Ok(()) => {
                            return Seen::Held(Observed::new(
                                format!("{kind}/{} matches", o.name_any()),
                                seen(&kind, o, &want, None),
                            ));
                        }
                        Err(e) => {
                            each.push(seen(&kind, o, &want, Some(&e)));
                            why.push(format!("{kind}/{}: {e}", o.name_any()));
                        }
                    }
                }
                let value = match each.as_slice() {
                    [one] => one.clone(),
                    _ => json!({ "objects": each }),
                };
                Seen::NotYet(Observed::new(why.join("; "), value))
            },
        )
        .await?;
        match watched {
            Watched::Held(o) => {
                details.push(o.text);
                values.push(o.value);
            }
            Watched::NotMet(o) => return Ok(check.not_met(o)),
        }
    }
    let value = match values.as_slice() {
        [one] => one.clone(),
        _ => json!({ "objects": values }),
    };
    Ok(Check::new(CheckKind::Assert, "every object matches")
        .passed(Observed::new(details.join("; "), value)))
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!("{}…", &s[..s.floor_char_boundary(200)])
    } else {
        s
    }
}
