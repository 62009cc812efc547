//! Making sure an engine runs and can start privileged containers:
//! [`ensure_engine`] installs, starts, and (where the host's bounding set
//! requires it) restarts dockerd with the capfix runtime, saying on stderr
//! what it changes.

use std::path::{Path, PathBuf};

use super::apt::{apt_install, install_engine};
use super::capfix::{CAPFIX_RUNTIME, capfix_script};
use super::cli::Docker;
use super::dockerd::{dockerd_is_ours, dockerd_log, start_dockerd, stop_dockerd, wait_for_engine};
use super::error::{DockerError, io_err};
use super::probe::Probe;
use crate::tools::exec::{is_root, which};
use crate::workspace::cache_dir;

/// What [`ensure_engine`] had to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineSetup {
    /// apt-get installed the engine packages.
    pub installed: bool,
    /// dockerd was started (or restarted) by us.
    pub started: bool,
    /// The capfix runtime wrapper is the default runtime.
    pub capfix: bool,
}

/// Makes sure a Docker engine runs and can start privileged containers
/// (what kind needs), installing and starting it when this process may.
/// Says on stderr what it changes.
pub fn ensure_engine() -> Result<(Docker, EngineSetup), DockerError> {
    let mut setup = EngineSetup::default();
    let mut docker = Docker::detect();

    if !docker.engine_running() {
        let no_dockerd = which("dockerd").is_none() && !Path::new("/usr/sbin/dockerd").exists();
        if no_dockerd || docker.cli_missing() {
            install_engine()?;
            setup.installed = true;
            docker = Docker::detect();
        }
        if !docker.engine_running() {
            if !is_root() {
                return Err(DockerError::NotRootCannotStart);
            }
            eprintln!(
                "inferbench: starting dockerd (log: {})",
                dockerd_log().display()
            );
            start_dockerd(&[])?;
            setup.started = true;
            wait_for_engine(&docker)?;
        }
    }
    docker.pin_api_version();

    match docker.probe_privileged()? {
        Probe::Ok => {}
        Probe::CapsMissing(detail) => {
            if docker.default_runtime().ok().as_deref() == Some(CAPFIX_RUNTIME) {
                return Err(DockerError::CapfixDidNotHelp(detail));
            }
            if !is_root() || !dockerd_is_ours() {
                return Err(DockerError::PrivilegedUnsupported { detail });
            }
            let wrapper = install_capfix()?;
            eprintln!(
                "inferbench: this host's capability bounding set lacks capabilities Docker asks for \
                 (`docker run --privileged` failed: {detail}).\n\
                 inferbench: restarting dockerd with the `{CAPFIX_RUNTIME}` OCI runtime ({}), which drops \
                 those capabilities before calling runc.",
                wrapper.display()
            );
            stop_dockerd()?;
            let runtime = format!("{CAPFIX_RUNTIME}={}", wrapper.display());
            start_dockerd(&[
                "--add-runtime",
                &runtime,
                "--default-runtime",
                CAPFIX_RUNTIME,
            ])?;
            setup.started = true;
            wait_for_engine(&docker)?;
            match docker.probe_privileged()? {
                Probe::Ok => setup.capfix = true,
                Probe::CapsMissing(detail) => return Err(DockerError::CapfixDidNotHelp(detail)),
            }
        }
    }
    if docker.default_runtime().ok().as_deref() == Some(CAPFIX_RUNTIME) {
        setup.capfix = true;
    }
    Ok((docker, setup))
}

/// Writes our OCI runtime wrapper into the cache and returns its path.
fn install_capfix() -> Result<PathBuf, DockerError> {
    let runc = which("runc")
        .or_else(|| Some(PathBuf::from("/usr/sbin/runc")).filter(|p| p.exists()))
        .ok_or_else(|| DockerError::RuncMissing("runc".into()))?;
    if which("jq").is_none() {
        apt_install(&["jq"]).map_err(DockerError::Install)?;
    }
    let jq = which("jq").ok_or_else(|| DockerError::RuncMissing("jq".into()))?;
    let script = capfix_script(&runc, &jq);
    let path = cache_dir().join("docker").join("capfix-runtime");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    std::fs::write(&path, script).map_err(io_err(format!("writing {}", path.display())))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("chmod {}", path.display())))?;
    Ok(path)
}
