//! Installing packages with apt-get on Debian-family hosts: the engine's
//! packages, and whatever else the environment needs.

use std::time::Duration;

use super::error::DockerError;
use crate::tools::exec::{Cmd, ExecError, is_root, which};

/// Debian packages that make up the engine.
pub const ENGINE_PACKAGES: &[&str] = &["docker.io", "containerd", "runc", "iptables", "jq"];

const APT_TIMEOUT: Duration = Duration::from_secs(1200);

pub(super) fn install_engine() -> Result<(), DockerError> {
    if which("apt-get").is_none() {
        return Err(DockerError::NoApt);
    }
    if !is_root() {
        return Err(DockerError::NotRootCannotInstall);
    }
    eprintln!(
        "inferbench: installing the Docker engine with apt-get ({})",
        ENGINE_PACKAGES.join(" ")
    );
    apt_install(ENGINE_PACKAGES).map_err(DockerError::Install)
}

/// `apt-get update` then `apt-get install -y PACKAGES` (noninteractive),
/// with progress on stderr. Needs root.
pub fn apt_install(packages: &[&str]) -> Result<(), ExecError> {
    Cmd::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .timeout(APT_TIMEOUT)
        .progress("apt-get update")
        .run()?;
    Cmd::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .timeout(APT_TIMEOUT)
        .progress("apt-get install")
        .run()?;
    Ok(())
}
