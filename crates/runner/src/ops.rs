//! The cluster-changing and checking actions: apply, assert, wait,
//! rollout, rollback, scale, sleep, script. Each returns a detail line for
//! the report, or the error text the report quotes.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::context::Ctx;
use super::{matching, watch};
use report::TimelineSource;
use scenario::bindings::{self as template, Bindings};
use scenario::model::{Apply, Assert, Rollback, Rollout, Scale, Script, Wait};

pub type OpResult = Result<Option<String>, String>;

/// `kind/name` (e.g. `deployment/mock-server`).
pub fn split_target(target: &str) -> Result<(String, String), String> {
    match target.split_once('/') {
        Some((k, n)) if !k.is_empty() && !n.is_empty() => {
            Ok((k.to_ascii_lowercase(), n.to_string()))
        }
        _ => Err(format!(
            "target {target:?} is not `kind/name`, e.g. deployment/mock-server"
        )),
    }
}

fn deployment_name(target: &str) -> Result<String, String> {
    let (kind, name) = split_target(target)?;
    if kind == "deployment" || kind == "deploy" || kind == "deployments" {
        Ok(name)
    } else {
        Err(format!(
            "target {target:?}: only deployments are supported here"
        ))
    }
}

/// Bindings for a template file: `values.yaml` beside it, then the
/// scenario's bindings, then the operation's own.
fn bindings_for(ctx: &Ctx, file: &Path, extra: &Bindings) -> Result<Bindings, String> {
    let mut b = Bindings::new();
    if let Some(values) = file.parent().map(|d| d.join("values.yaml"))
        && values.is_file()
        && values != file
    {
        b = template::load_values(&values).map_err(|e| e.to_string())?;
    }
    b.extend(ctx.bindings.clone());
    b.extend(extra.clone());
    Ok(b)
}

fn render_source(
    ctx: &Ctx,
    file: Option<&str>,
    resource: Option<&Value>,
    extra: &Bindings,
) -> Result<String, String> {
    match (file, resource) {
        (Some(f), _) => {
            let path = ctx.resolve(f);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let b = bindings_for(ctx, &path, extra)?;
            template::render(&path, &text, &b).map_err(|e| e.to_string())
        }
        (None, Some(r)) => {
            let text = yaml_serde::to_string(r).map_err(|e| e.to_string())?;
            let mut b = ctx.bindings.clone();
            b.extend(extra.clone());
            template::render(Path::new("(inline resource)"), &text, &b).map_err(|e| e.to_string())
        }
        (None, None) => Err("nothing to render".into()),
    }
}

pub async fn apply(ctx: &mut Ctx, a: &Apply) -> OpResult {
    let yaml = if let Some(dir) = &a.kustomize {
        let kubectl = ctx
            .kubectl
            .clone()
            .ok_or("kustomize needs kubectl, which was not found")?;
        let path = ctx.resolve(dir);
        let out = tokio::process::Command::new(kubectl)
            .arg("kustomize")
            .arg(&path)
            .output()
            .await
            .map_err(|e| format!("running kubectl kustomize: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "kubectl kustomize {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut b = ctx.bindings.clone();
        b.extend(a.bindings.clone());
        template::render(&path, &text, &b).map_err(|e| e.to_string())?
    } else {
        render_source(ctx, a.file.as_deref(), a.resource.as_ref(), &a.bindings)?
    };
    let applied = k8s::apply_yaml(&ctx.client, &ctx.namespace, &yaml)
        .await
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = applied
        .iter()
        .map(|o| format!("{}/{}", o.kind, o.name))
        .collect();
    ctx.recorder.note(
        TimelineSource::Rollout,
        "apply",
        None,
        format!("applied {}", names.join(", ")),
        false,
    );
    Ok(Some(format!("applied {}", names.join(", "))))
}

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

/// `Some(reason)` when the Deployment's rollout can no longer complete.
fn rollout_failed(d: &Deployment) -> Option<String> {
    let status = d.status.as_ref()?;
    // A condition from before the latest change (e.g. a rollback just
    // made) says nothing about the rollout now under way.
    if status.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        return None;
    }
    let conds = status.conditions.as_ref()?;
    conds
        .iter()
        .find(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
        .map(|c| {
            format!(
                "deployment {} exceeded its progress deadline: {}",
                d.name_any(),
                c.message.clone().unwrap_or_default()
            )
        })
}

pub async fn wait(ctx: &mut Ctx, w: &Wait, timeout: Duration) -> OpResult {
    if let Some(target) = &w.rollout {
        let name = deployment_name(target)?;
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let mut failed = None;
        let result = watch::until(api, watch::named(&name), timeout, |ds: &[Deployment]| {
            let d = ds
                .first()
                .ok_or(format!("deployment/{name} does not exist"))?;
            if k8s::rollout_complete(Some(d)) {
                let s = d.status.clone().unwrap_or_default();
                return Ok(format!(
                    "deployment/{name} rolled out: {} replicas available",
                    s.available_replicas.unwrap_or(0)
                ));
            }
            if let Some(why) = rollout_failed(d) {
                failed = Some(why.clone());
                return Ok(String::new());
            }
            let s = d.status.clone().unwrap_or_default();
            Err(format!(
                "deployment/{name}: {} of {} updated, {} available",
                s.updated_replicas.unwrap_or(0),
                d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                s.available_replicas.unwrap_or(0)
            ))
        })
        .await
        .map_err(|e| format!("rollout of deployment/{name} did not complete {e}"))?;
        if let Some(why) = failed {
            return Err(why);
        }
        return Ok(Some(result));
    }
    let (Some(resource), Some(condition)) = (&w.resource, &w.condition) else {
        return Err("wait needs rollout, or resource with condition".into());
    };
    let (kind, name) = split_target(resource)?;
    let ar = resolve_kind(ctx, &kind).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &ar);
    let detail = watch::until(
        api,
        watch::named(&name),
        timeout,
        |objs: &[DynamicObject]| {
            let o = objs.first().ok_or(format!("{resource} does not exist"))?;
            let conds = o
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            match conds.iter().find(|c| c["type"] == condition.as_str()) {
                Some(c) if c["status"] == "True" => Ok(format!("{resource} is {condition}")),
                Some(c) => Err(format!(
                    "{resource} condition {condition} is {} ({}: {})",
                    c["status"], c["reason"], c["message"]
                )),
                None => Err(format!("{resource} has no {condition} condition yet")),
            }
        },
    )
    .await
    .map_err(|e| format!("{resource} did not become {condition} {e}"))?;
    Ok(Some(detail))
}

/// Finds the API resource for a short kind name (`deployment`, `hpa`, `pod`).
async fn resolve_kind(ctx: &Ctx, kind: &str) -> Result<kube::discovery::ApiResource, String> {
    let (group, version, kind) = match kind {
        "deployment" | "deploy" | "deployments" => ("apps", "v1", "Deployment"),
        "statefulset" | "sts" => ("apps", "v1", "StatefulSet"),
        "pod" | "pods" | "po" => ("", "v1", "Pod"),
        "service" | "svc" => ("", "v1", "Service"),
        "hpa" | "horizontalpodautoscaler" => ("autoscaling", "v2", "HorizontalPodAutoscaler"),
        "job" => ("batch", "v1", "Job"),
        "pvc" | "persistentvolumeclaim" => ("", "v1", "PersistentVolumeClaim"),
        other => {
            return Err(format!(
                "unknown kind {other:?}: use deployment, statefulset, pod, service, hpa, job or pvc"
            ));
        }
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    kube::discovery::pinned_kind(&ctx.client, &gvk)
        .await
        .map(|(ar, _)| ar)
        .map_err(|e| format!("the cluster does not serve {kind}: {e}"))
}

pub async fn rollout(ctx: &mut Ctx, r: &Rollout) -> OpResult {
    let name = deployment_name(&r.target)?;
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let d = api
        .get(&name)
        .await
        .map_err(|e| format!("reading deployment/{name}: {e}"))?;
    let containers = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let container = match &r.container {
        Some(c) => containers
            .iter()
            .find(|x| &x.name == c)
            .ok_or(format!("deployment/{name} has no container {c:?}"))?,
        None => containers
            .first()
            .ok_or(format!("deployment/{name} has no containers"))?,
    };
    let mut patch_container = json!({ "name": container.name });
    let mut changes = Vec::new();
    if let Some(image) = &r.image {
        patch_container["image"] = json!(image);
        changes.push(format!("image={image}"));
    }
    if !r.env.is_empty() {
        let env: Vec<Value> = r
            .env
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        patch_container["env"] = Value::Array(env);
        changes.extend(r.env.iter().map(|(k, v)| format!("{k}={v}")));
    }
    if let Some(res) = &r.resources {
        patch_container["resources"] = res.clone();
        changes.push(format!("resources={res}"));
    }
    let cause = format!("inferbench rollout: {}", changes.join(", "));
    let patch = json!({
        "metadata": { "annotations": { "kubernetes.io/change-cause": cause } },
        "spec": { "template": { "spec": { "containers": [patch_container] } } }
    });
    api.patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map_err(|e| format!("patching deployment/{name}: {e}"))?;
    let msg = format!("deployment/{name}: {}", changes.join(", "));
    ctx.recorder.note(
        TimelineSource::Rollout,
        "rollout",
        Some(format!("Deployment/{name}")),
        msg.clone(),
        false,
    );
    Ok(Some(msg))
}

fn revision_of(meta: &kube::api::ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get("deployment.kubernetes.io/revision")?
        .parse()
        .ok()
}

pub async fn rollback(ctx: &mut Ctx, r: &Rollback) -> OpResult {
    let name = deployment_name(&r.target)?;
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut d = api
        .get(&name)
        .await
        .map_err(|e| format!("reading deployment/{name}: {e}"))?;
    let current = revision_of(&d.metadata).unwrap_or(0);
    let uid = d.uid().unwrap_or_default();
    let rss: Vec<ReplicaSet> = Api::<ReplicaSet>::namespaced(ctx.client.clone(), &ctx.namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing replica sets: {e}"))?
        .items
        .into_iter()
        .filter(|rs| rs.owner_references().iter().any(|o| o.uid == uid))
        .collect();
    let mut revisions: Vec<(i64, &ReplicaSet)> = rss
        .iter()
        .filter_map(|rs| revision_of(&rs.metadata).map(|v| (v, rs)))
        .collect();
    revisions.sort_by_key(|(v, _)| *v);
    let target = match r.to_revision {
        Some(want) => revisions
            .iter()
            .find(|(v, _)| *v as u64 == want)
            .ok_or(format!(
                "deployment/{name} has no revision {want}; it has {:?}",
                revisions.iter().map(|(v, _)| v).collect::<Vec<_>>()
            ))?,
        None => revisions
            .iter()
            .rev()
            .find(|(v, _)| *v < current)
            .ok_or(format!(
                "deployment/{name} has no revision before {current} to roll back to"
            ))?,
    };
    let (rev, rs) = (target.0, target.1);
    let mut template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .ok_or("the replica set has no pod template")?;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove("pod-template-hash");
    }
    if let Some(spec) = d.spec.as_mut() {
        spec.template = template;
    }
    api.replace(&name, &PostParams::default(), &d)
        .await
        .map_err(|e| format!("rolling deployment/{name} back to revision {rev}: {e}"))?;
    let msg = format!(
        "deployment/{name}: rolled back from revision {current} to revision {rev} ({})",
        rs.name_any()
    );
    ctx.recorder.note(
        TimelineSource::Rollout,
        "rollback",
        Some(format!("Deployment/{name}")),
        msg.clone(),
        false,
    );
    Ok(Some(msg))
}

pub async fn scale(ctx: &mut Ctx, s: &Scale) -> OpResult {
    let name = deployment_name(&s.target)?;
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    api.patch_scale(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": s.replicas}})),
    )
    .await
    .map_err(|e| format!("scaling deployment/{name}: {e}"))?;
    let msg = format!("deployment/{name} scaled to {}", s.replicas);
    ctx.recorder.note(
        TimelineSource::Rollout,
        "scale",
        Some(format!("Deployment/{name}")),
        msg.clone(),
        false,
    );
    Ok(Some(msg))
}

pub async fn script(ctx: &mut Ctx, s: &Script, timeout: Duration) -> OpResult {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&s.run)
        .env("KUBECONFIG", &ctx.kubeconfig)
        .env("NAMESPACE", &ctx.namespace)
        .current_dir(&ctx.repo_root)
        .kill_on_drop(true);
    if let Some(dir) = ctx.kubectl.as_ref().and_then(|k| k.parent()) {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| {
            format!(
                "script did not finish within {}",
                scenario::model::format_duration(timeout)
            )
        })?
        .map_err(|e| format!("cannot run sh: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(Some(tail(&stdout, 20)))
    } else {
        Err(format!(
            "script exited with {}: {}",
            out.status,
            tail(&format!("{stdout}{stderr}"), 20)
        ))
    }
}

fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
