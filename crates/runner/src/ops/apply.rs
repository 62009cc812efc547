//! `apply`: manifests from a file, a kustomize directory or inline,
//! rendered and applied into the scenario's namespace.

use super::render::render_source;
use crate::context::{Ctx, OpError, OpOutcome, OpResult};
use crate::own_template::MARKER;
use report::TimelineSource;
use scenario::bindings as template;
use scenario::model::Apply;

pub async fn apply(ctx: &mut Ctx, a: &Apply) -> OpResult {
    let mut patched = Vec::new();
    let yaml = if let Some(own) = own_template(ctx, a)? {
        let mut b = ctx.bindings.clone();
        b.extend(a.bindings.clone());
        let (yaml, changed) = own.render(&b).map_err(|e| {
            OpError::bad(format!(
                "patching {} ({}): {e}",
                own.target.workload_ref, own.source
            ))
        })?;
        patched = changed.iter().map(check::Applied::describe).collect();
        if let Some(rel) = own.helm.as_ref().filter(|r| r.post_renderer.is_some()) {
            let plan = own.post_render(&b);
            let said = super::helm::upgrade(ctx, rel, &plan).await?;
            ctx.release_plans.push(plan);
            let mut said = format!("helm {said} ({})", own.source);
            if !patched.is_empty() {
                said.push_str(&format!(" (post-render patches: {})", patched.join("; ")));
            }
            ctx.recorder.note(
                TimelineSource::Rollout,
                "helm upgrade",
                None,
                said.clone(),
                false,
            );
            return Ok(OpOutcome::done(said));
        }
        yaml
    } else if let Some(dir) = &a.kustomize {
        let kubectl = ctx
            .kubectl
            .clone()
            .ok_or(OpError::bad("kustomize needs kubectl, which was not found"))?;
        let path = ctx.resolve(dir);
        let out = tokio::process::Command::new(kubectl)
            .arg("kustomize")
            .arg(&path)
            .output()
            .await
            .map_err(|e| OpError::bad(format!("running kubectl kustomize: {e}")))?;
        if !out.status.success() {
            return Err(OpError::bad(format!(
                "kubectl kustomize {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut b = ctx.bindings.clone();
        b.extend(a.bindings.clone());
        template::render(&path, &text, &b).map_err(OpError::bad)?
    } else {
        render_source(ctx, a.file.as_deref(), a.resource.as_ref(), &a.bindings)?
    };
    let applied = k8s::apply_yaml(&ctx.client, &ctx.namespace, &yaml).await?;
    let names: Vec<String> = applied
        .iter()
        .map(|o| format!("{}/{}", o.kind, o.name))
        .collect();
    let mut said = if names.is_empty() {
        "applied nothing (no object in the manifest)".to_string()
    } else {
        format!("applied {}", names.join(", "))
    };
    if !patched.is_empty() {
        said.push_str(&format!(" (patched: {})", patched.join("; ")));
    }
    ctx.recorder
        .note(TimelineSource::Rollout, "apply", None, said.clone(), false);
    Ok(OpOutcome::done(said))
}

/// The own template, when this `apply` names the serving template and the
/// run has one (`servingTemplate` is then [`MARKER`]).
fn own_template(
    ctx: &Ctx,
    a: &Apply,
) -> Result<Option<std::sync::Arc<crate::own_template::OwnTemplate>>, OpError> {
    let (Some(own), Some(file)) = (&ctx.own_template, &a.file) else {
        return Ok(None);
    };
    let mut b = ctx.bindings.clone();
    b.extend(a.bindings.clone());
    let named =
        template::render(std::path::Path::new("(apply file)"), file, &b).map_err(OpError::bad)?;
    Ok((named.trim() == MARKER).then(|| own.clone()))
}
