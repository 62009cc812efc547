//! A team's chart as a Helm release in the scenario's namespace, as teams
//! run it in production: an apply of the serving template is `helm upgrade
//! --install` with the run's patches as Helm's post-renderer, and a
//! rollback of its workload is `helm rollback` to the previous revision.
//! The release's history lives in the namespace and goes with it.

use std::ffi::OsString;
use std::time::Duration;

use crate::context::{Ctx, OpError};
use crate::own_template::HelmRelease;
use crate::post_render::PostRender;

/// How long one `helm` call may take: it applies objects and returns (no
/// `--wait`; the scenario's own steps wait).
const HELM_TIMEOUT: Duration = Duration::from_secs(180);

/// `helm upgrade --install` of the release with `plan` as post-renderer;
/// what Helm said (`Release "inferbench" has been upgraded ...`).
pub async fn upgrade(ctx: &Ctx, rel: &HelmRelease, plan: &PostRender) -> Result<String, OpError> {
    let Some((program, pre_args)) = &rel.post_renderer else {
        return Err(OpError::bad(
            "a Helm release needs a post-renderer program for the run's patches, and none was given",
        ));
    };
    let file = std::env::temp_dir().join(format!(
        "inferbench-post-render-{}-{}.json",
        ctx.namespace,
        std::process::id()
    ));
    let json = serde_json::to_vec_pretty(plan).map_err(|e| OpError::bad(e.to_string()))?;
    std::fs::write(&file, json)
        .map_err(|e| OpError::bad(format!("writing {}: {e}", file.display())))?;
    let mut args: Vec<OsString> = vec![
        "upgrade".into(),
        "--install".into(),
        rel.release.clone().into(),
        rel.chart.clone().into(),
    ];
    for v in &rel.values {
        args.push("--values".into());
        args.push(v.into());
    }
    args.push("--post-renderer".into());
    args.push(program.into());
    for a in pre_args {
        args.push("--post-renderer-args".into());
        args.push(a.into());
    }
    args.push("--post-renderer-args".into());
    args.push(file.clone().into());
    let said = helm(ctx, rel, args).await;
    let _ = std::fs::remove_file(&file);
    said
}

/// `helm rollback` of the release to `revision` (a Helm revision), or to
/// the previous one.
pub async fn rollback(
    ctx: &Ctx,
    rel: &HelmRelease,
    revision: Option<u64>,
) -> Result<String, OpError> {
    let revision = revision.unwrap_or(0).to_string();
    helm(
        ctx,
        rel,
        vec![
            "rollback".into(),
            rel.release.clone().into(),
            revision.into(),
        ],
    )
    .await
}

/// Runs Helm against the scenario's namespace, with a deadline.
async fn helm(ctx: &Ctx, rel: &HelmRelease, mut args: Vec<OsString>) -> Result<String, OpError> {
    args.extend([
        "--namespace".into(),
        ctx.namespace.clone().into(),
        "--kubeconfig".into(),
        ctx.kubeconfig.clone().into(),
    ]);
    let shown = args
        .iter()
        .take_while(|a| !a.to_string_lossy().contains('/'))
        .take(3)
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = tokio::process::Command::new(&rel.helm);
    cmd.args(&args).kill_on_drop(true);
    let out = tokio::time::timeout(HELM_TIMEOUT, cmd.output())
        .await
        .map_err(|_| {
            OpError::TimedOut(format!(
                "helm {shown} took longer than {}s",
                HELM_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| OpError::bad(format!("running {}: {e}", rel.helm.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(OpError::Api(format!(
            "helm {shown} failed: {}",
            stderr.trim()
        )));
    }
    Ok(summary(&shown, &stdout))
}

/// `helm upgrade --install inferbench: revision 2, deployed` from Helm's
/// release notes (`REVISION: 2`, `STATUS: deployed`), or its first line.
fn summary(shown: &str, stdout: &str) -> String {
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    match (field("REVISION:"), field("STATUS:")) {
        (Some(rev), Some(status)) => format!("{shown}: revision {rev}, {status}"),
        _ => format!(
            "{shown}: {}",
            stdout.lines().next().unwrap_or("succeeded").trim()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn helm_says_which_revision_it_made() {
        let out = "Release \"inferbench\" has been upgraded. Happy Helming!\nNAME: inferbench\nLAST DEPLOYED: Wed Dec  2 12:00:00 2026\nNAMESPACE: ib-x\nSTATUS: deployed\nREVISION: 2\nTEST SUITE: None\n";
        assert_eq!(
            summary("upgrade --install inferbench", out),
            "upgrade --install inferbench: revision 2, deployed"
        );
        assert_eq!(
            summary(
                "rollback inferbench",
                "Rollback was a success! Happy Helming!\n"
            ),
            "rollback inferbench: Rollback was a success! Happy Helming!"
        );
    }
}
