//! The last build step: the component images imported into the node's
//! containerd, and the container committed as the node image.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::NodeImageError;
use crate::docker::Docker;

/// Starts containerd in a privileged container of `base`, imports every
/// image tarball into its `k8s.io` namespace, stops containerd and commits
/// the container as `reference` (what `kind build node-image` does).
pub(super) fn preload_and_commit(
    docker: &Docker,
    base: &str,
    tarballs: &[PathBuf],
    reference: &str,
) -> Result<(), NodeImageError> {
    let name = format!("inferbench-node-build-{}", std::process::id());
    let _ = docker
        .cmd()
        .args(["rm", "-f", &name])
        .timeout(Duration::from_secs(60))
        .run_unchecked();
    docker
        .cmd()
        .args([
            "run",
            "-d",
            "--init",
            "--privileged",
            "--name",
            &name,
            "--entrypoint",
            "sleep",
            base,
            "infinity",
        ])
        .timeout(Duration::from_secs(120))
        .run()?;
    let result = (|| -> Result<(), NodeImageError> {
        let exec = |args: &[&str]| docker.cmd().args(["exec", &name]).args(args);
        exec(&[
            "sh",
            "-c",
            "nohup containerd >/var/log/inferbench-preload.log 2>&1 &",
        ])
        .timeout(Duration::from_secs(30))
        .run()?;
        let start = Instant::now();
        loop {
            if exec(&["ctr", "version"])
                .timeout(Duration::from_secs(10))
                .run()
                .is_ok()
            {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = exec(&["cat", "/var/log/inferbench-preload.log"]).run_unchecked()?;
                return Err(NodeImageError::Build(format!(
                    "containerd did not start in the build container:\n{}",
                    log.stdout
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        for tar in tarballs {
            eprintln!("inferbench: preloading {}", tar.display());
            docker
                .cmd()
                .args(["exec", "-i", &name])
                .args([
                    "ctr",
                    "--namespace=k8s.io",
                    "images",
                    "import",
                    "--all-platforms",
                    "--no-unpack",
                    "--digests",
                    "--snapshotter=overlayfs",
                    "-",
                ])
                .stdin_file(tar)
                .timeout(Duration::from_secs(600))
                .run()?;
        }
        let list = exec(&["ctr", "--namespace=k8s.io", "images", "ls", "-q"])
            .timeout(Duration::from_secs(30))
            .output_string()?;
        eprintln!("inferbench: images in the node image:\n{list}");
        exec(&["sh", "-c", "pkill -x containerd; for i in $(seq 1 100); do pgrep -x containerd >/dev/null || exit 0; sleep 0.2; done; exit 1"])
            .timeout(Duration::from_secs(60))
            .run()?;
        docker
            .cmd()
            .args([
                "commit",
                "--change",
                r#"ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]"#,
                "--change",
                "CMD []",
                "--change",
                r#"ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY="""#,
                &name,
                reference,
            ])
            .timeout(Duration::from_secs(900))
            .run()?;
        Ok(())
    })();
    let _ = docker
        .cmd()
        .args(["rm", "-f", "-v", &name])
        .timeout(Duration::from_secs(120))
        .run_unchecked();
    result
}
