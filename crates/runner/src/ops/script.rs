//! `script`: a shell command with `KUBECONFIG` and `NAMESPACE` set (and
//! kubectl on PATH), its output's tail as the detail or the error.

use std::time::Duration;

use crate::context::{Ctx, OpResult};
use scenario::model::Script;

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
