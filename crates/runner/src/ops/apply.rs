//! `apply`: manifests from a file, a kustomize directory or inline,
//! rendered and applied into the scenario's namespace.

use super::render::render_source;
use crate::context::{Ctx, OpError, OpOutcome, OpResult};
use report::TimelineSource;
use scenario::bindings as template;
use scenario::model::Apply;

pub async fn apply(ctx: &mut Ctx, a: &Apply) -> OpResult {
    let yaml = if let Some(dir) = &a.kustomize {
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
    ctx.recorder.note(
        TimelineSource::Rollout,
        "apply",
        None,
        format!("applied {}", names.join(", ")),
        false,
    );
    Ok(OpOutcome::done(format!("applied {}", names.join(", "))))
}
