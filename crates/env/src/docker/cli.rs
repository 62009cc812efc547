//! A handle on a working engine through a chosen docker CLI: commands with
//! the API version pinned, images (inspect, build, load, save, import) and
//! containers by label.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::DockerError;
use crate::tools::exec::{Cmd, which};

/// A handle on a working Docker engine, through a chosen CLI.
#[derive(Debug, Clone)]
pub struct Docker {
    cli: PathBuf,
    api_version: Option<String>,
}

/// One container, as `docker ps` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ContainerSummary {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Names")]
    pub names: String,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Labels", default)]
    pub labels: String,
}

impl Docker {
    /// Picks the docker CLI: Debian's `/usr/bin/docker` (matching Debian's
    /// engine) when present, else `docker` on PATH.
    pub fn detect() -> Docker {
        let debian = PathBuf::from("/usr/bin/docker");
        let cli = if debian.exists() {
            debian
        } else {
            which("docker").unwrap_or_else(|| PathBuf::from("docker"))
        };
        Docker {
            cli,
            api_version: None,
        }
    }

    pub(super) fn cli_missing(&self) -> bool {
        !self.cli.exists() && which("docker").is_none()
    }

    /// The CLI in use.
    pub fn cli(&self) -> &Path {
        &self.cli
    }

    /// The engine's API version, to pass as `DOCKER_API_VERSION` to other
    /// tools (kind) whose docker CLI may be newer than the engine.
    pub fn api_version(&self) -> Option<&str> {
        self.api_version.as_deref()
    }

    /// A `docker` command with the API version pinned when known.
    pub fn cmd(&self) -> Cmd {
        let c = Cmd::new(&self.cli);
        match &self.api_version {
            Some(v) => c.env("DOCKER_API_VERSION", v),
            None => c,
        }
    }

    /// Whether `docker info` answers.
    pub fn engine_running(&self) -> bool {
        self.cmd()
            .args(["info", "--format", "{{.ServerVersion}}"])
            .timeout(Duration::from_secs(20))
            .run()
            .is_ok()
    }

    /// The engine's version, e.g. `20.10.24+dfsg1`.
    pub fn server_version(&self) -> Result<String, DockerError> {
        Ok(self
            .cmd()
            .args(["version", "--format", "{{.Server.Version}}"])
            .timeout(Duration::from_secs(20))
            .output_string()?)
    }

    /// Pins the API version to the running engine's (see [`Docker::api_version`]).
    pub(super) fn pin_api_version(&mut self) {
        self.api_version = self.server_api_version().ok();
    }

    fn server_api_version(&self) -> Result<String, DockerError> {
        Ok(self
            .cmd()
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .timeout(Duration::from_secs(20))
            .output_string()?)
    }

    /// The engine's default OCI runtime name.
    pub fn default_runtime(&self) -> Result<String, DockerError> {
        Ok(self
            .cmd()
            .args(["info", "--format", "{{.DefaultRuntime}}"])
            .timeout(Duration::from_secs(20))
            .output_string()?)
    }

    /// Whether an image with this reference exists locally.
    pub fn image_exists(&self, reference: &str) -> Result<bool, DockerError> {
        let out = self.inspect_image_id(reference).run_unchecked()?;
        Ok(out.status.success())
    }

    /// The local image's ID (`sha256:...`), which changes whenever the
    /// image is rebuilt with other content under the same tag.
    pub fn image_id(&self, reference: &str) -> Result<String, DockerError> {
        Ok(self.inspect_image_id(reference).output_string()?)
    }

    /// `docker image inspect --format {{.Id}} REFERENCE`.
    fn inspect_image_id(&self, reference: &str) -> Cmd {
        self.cmd()
            .args(["image", "inspect", "--format", "{{.Id}}", reference])
            .timeout(Duration::from_secs(30))
    }

    /// `docker build -t TAG [-f DOCKERFILE] DIR`, progress on stderr.
    pub fn build_image(
        &self,
        dir: &Path,
        tag: &str,
        dockerfile: Option<&Path>,
        timeout: Duration,
    ) -> Result<(), DockerError> {
        let mut c = self
            .cmd()
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-t", tag]);
        if let Some(f) = dockerfile {
            c = c.arg("-f").arg(f);
        }
        c.arg(dir)
            .timeout(timeout)
            .progress(format!("docker build {tag}"))
            .run()?;
        Ok(())
    }

    /// `docker load -i TARBALL`.
    pub fn load_image(&self, tarball: &Path) -> Result<(), DockerError> {
        self.cmd()
            .args(["load", "-i"])
            .arg(tarball)
            .timeout(Duration::from_secs(600))
            .run()?;
        Ok(())
    }

    /// `docker save -o TARBALL IMAGES...`.
    pub fn save_images(&self, tarball: &Path, images: &[&str]) -> Result<(), DockerError> {
        self.cmd()
            .args(["save", "-o"])
            .arg(tarball)
            .args(images)
            .timeout(Duration::from_secs(600))
            .run()?;
        Ok(())
    }

    /// `docker import` of a root filesystem tarball, with `--change` lines.
    pub fn import_rootfs(
        &self,
        tarball: &Path,
        reference: &str,
        changes: &[&str],
    ) -> Result<(), DockerError> {
        let mut c = self.cmd().arg("import");
        for change in changes {
            c = c.args(["--change", change]);
        }
        c.arg("-")
            .arg(reference)
            .stdin_file(tarball)
            .timeout(Duration::from_secs(900))
            .run()?;
        Ok(())
    }

    /// Containers (running or not) carrying `label` (`key` or `key=value`).
    pub fn containers_with_label(&self, label: &str) -> Result<Vec<ContainerSummary>, DockerError> {
        let out = self
            .cmd()
            .args(["ps", "-a", "--no-trunc", "--filter"])
            .arg(format!("label={label}"))
            .args(["--format", "{{json .}}"])
            .timeout(Duration::from_secs(30))
            .output_string()?;
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| DockerError::Parse(format!("{e}: {l}"))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_summary_parses_docker_ps_json() {
        let line = r#"{"Command":"\"/usr/local/bin/entrypoint /sbin/init\"","CreatedAt":"2026","ID":"abc","Image":"kindest/node:v1.34.4","Labels":"io.x-k8s.kind.cluster=inferbench","LocalVolumes":"1","Mounts":"","Names":"inferbench-control-plane","Networks":"kind","Ports":"","RunningFor":"1 minute","Size":"0B","State":"running","Status":"Up 1 minute"}"#;
        let c: ContainerSummary = serde_json::from_str(line).expect("parses");
        assert_eq!(c.names, "inferbench-control-plane");
        assert_eq!(c.state, "running");
    }
}
