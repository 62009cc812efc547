//! Whether this engine can start privileged containers (what kind needs):
//! a throwaway container from an empty local image, with the host's
//! binaries bind-mounted in.

use std::path::Path;
use std::time::Duration;

use super::cli::Docker;
use super::error::{DockerError, io_err};
use crate::tools::exec::Cmd;
use crate::workspace::cache_dir;

/// The image used to probe privileged containers. Built locally from an
/// empty tarball; the host's `/usr`, `/bin`, `/lib` are bind-mounted in.
const PROBE_IMAGE: &str = "inferbench/probe:empty";

pub(super) enum Probe {
    Ok,
    CapsMissing(String),
}

impl Docker {
    pub(super) fn probe_privileged(&self) -> Result<Probe, DockerError> {
        if !self.image_exists(PROBE_IMAGE)? {
            let dir = cache_dir().join("docker").join("probe-root");
            std::fs::create_dir_all(dir.join("etc"))
                .map_err(io_err("creating the probe image root"))?;
            let tar_path = cache_dir().join("docker").join("probe.tar");
            Cmd::new("tar")
                .arg("-C")
                .arg(&dir)
                .arg("-cf")
                .arg(&tar_path)
                .arg(".")
                .timeout(Duration::from_secs(30))
                .run()?;
            self.cmd()
                .args(["import", "-"])
                .arg(PROBE_IMAGE)
                .stdin_file(&tar_path)
                .timeout(Duration::from_secs(60))
                .run()?;
        }
        let mut c = self
            .cmd()
            .args(["run", "--rm", "--privileged", "--network", "none"]);
        for dir in ["/usr", "/bin", "/lib", "/lib64", "/sbin"] {
            if Path::new(dir).exists() {
                c = c.args(["-v", &format!("{dir}:{dir}:ro")]);
            }
        }
        let out = c
            .arg(PROBE_IMAGE)
            .args(["/bin/sh", "-c", "exit 0"])
            .timeout(Duration::from_secs(60))
            .run_unchecked()?;
        let text = format!("{}{}", out.stdout, out.stderr);
        if out.status.success() {
            Ok(Probe::Ok)
        } else if text.contains("unable to apply caps") || text.contains("apply caps") {
            let detail = text
                .lines()
                .find(|l| l.contains("caps"))
                .unwrap_or("unable to apply caps")
                .trim()
                .to_string();
            Ok(Probe::CapsMissing(detail))
        } else {
            Err(DockerError::Parse(format!(
                "the privileged probe container failed for another reason: {}",
                text.trim()
            )))
        }
    }
}
