//! `script`: a shell command with `KUBECONFIG` and `NAMESPACE` set (and
//! kubectl on PATH). Its exit status is its check: zero passes, anything
//! else is not met, with the exit code and the output's tail observed.

use std::time::Duration;

use report::CheckKind;
use serde_json::json;

use crate::context::{Check, Ctx, Observed, OpError, OpResult};
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
            OpError::TimedOut(format!(
                "script did not finish within {}",
                scenario::model::format_duration(timeout)
            ))
        })?
        .map_err(|e| OpError::bad(format!("cannot run sh: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let output = if out.status.success() {
        tail(&stdout, 20)
    } else {
        tail(&format!("{stdout}{stderr}"), 20)
    };
    let text = if out.status.success() {
        output.clone()
    } else {
        format!("script exited with {}: {output}", out.status)
    };
    let observed = Observed::new(text, json!({ "exitCode": code, "output": output }));
    Ok(Check::new(CheckKind::Script, "exit status 0").judge(out.status.success(), observed))
}

fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
