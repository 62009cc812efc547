//! The dockerd process when we start it ourselves: started in its own
//! session with its log in the cache, marked as ours (so only ours is ever
//! restarted), stopped, and waited for.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cli::Docker;
use super::error::{DockerError, io_err};
use crate::tools::exec::{Cmd, which};
use crate::workspace::cache_dir;

const ENGINE_WAIT: Duration = Duration::from_secs(90);

pub(super) fn dockerd_log() -> PathBuf {
    cache_dir().join("docker").join("dockerd.log")
}

fn dockerd_marker() -> PathBuf {
    cache_dir()
        .join("docker")
        .join("dockerd.started-by-inferbench")
}

pub(super) fn start_dockerd(extra: &[&str]) -> Result<(), DockerError> {
    let log = dockerd_log();
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(io_err(format!("opening {}", log.display())))?;
    let err_file = file
        .try_clone()
        .map_err(io_err("duplicating the dockerd log handle"))?;
    let dockerd = which("dockerd").unwrap_or_else(|| PathBuf::from("/usr/sbin/dockerd"));
    // `setsid -f` forks dockerd into its own session so that it outlives us.
    let status = std::process::Command::new("setsid")
        .arg("-f")
        .arg(&dockerd)
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err_file)
        .status()
        .map_err(io_err("starting dockerd with setsid"))?;
    if !status.success() {
        return Err(DockerError::Parse(format!(
            "setsid dockerd exited with {status}"
        )));
    }
    std::fs::write(dockerd_marker(), extra.join(" "))
        .map_err(io_err("writing the dockerd marker"))?;
    Ok(())
}

/// Whether the running dockerd is one we started (so we may restart it).
pub(super) fn dockerd_is_ours() -> bool {
    let Some(pid) = dockerd_pid() else {
        return false;
    };
    let Ok(marker) = std::fs::metadata(dockerd_marker()) else {
        return false;
    };
    // The marker must be newer than the process start: compare with /proc.
    let proc_start = std::fs::metadata(format!("/proc/{pid}")).and_then(|m| m.modified());
    match (marker.modified(), proc_start) {
        (Ok(m), Ok(p)) => m + Duration::from_secs(5) >= p,
        _ => false,
    }
}

fn dockerd_pid() -> Option<u32> {
    std::fs::read_to_string("/var/run/docker.pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

pub(super) fn stop_dockerd() -> Result<(), DockerError> {
    let Some(pid) = dockerd_pid() else {
        return Ok(());
    };
    eprintln!("inferbench: stopping dockerd (pid {pid})");
    Cmd::new("kill")
        .args(["-TERM", &pid.to_string()])
        .timeout(Duration::from_secs(10))
        .run()?;
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        if start.elapsed() > Duration::from_secs(60) {
            return Err(DockerError::Parse(format!(
                "dockerd (pid {pid}) did not stop within 60s"
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

pub(super) fn wait_for_engine(docker: &Docker) -> Result<(), DockerError> {
    let start = Instant::now();
    while start.elapsed() < ENGINE_WAIT {
        if docker.engine_running() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = dockerd_log();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let log_tail = lines[lines.len().saturating_sub(20)..].join("\n");
    Err(DockerError::EngineDidNotStart {
        after: ENGINE_WAIT,
        log,
        log_tail,
    })
}
