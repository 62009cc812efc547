//! The Docker engine the kind provider runs on: finding or starting it,
//! installing it on Debian-family hosts, and working around hosts whose
//! capability bounding set makes `docker run --privileged` fail.
//!
//! Entry point: [`ensure_engine`]. It never changes a host where Docker
//! already works with privileged containers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::tools::exec::{Cmd, ExecError, is_root, which};
use crate::workspace::cache_dir;

/// The name our OCI runtime wrapper is registered under in dockerd.
pub const CAPFIX_RUNTIME: &str = "capfix";
/// The image used to probe privileged containers. Built locally from an
/// empty tarball; the host's `/usr`, `/bin`, `/lib` are bind-mounted in.
const PROBE_IMAGE: &str = "inferbench/probe:empty";
/// Debian packages that make up the engine.
pub const ENGINE_PACKAGES: &[&str] = &["docker.io", "containerd", "runc", "iptables", "jq"];

const ENGINE_WAIT: Duration = Duration::from_secs(90);
const APT_TIMEOUT: Duration = Duration::from_secs(1200);

/// Errors from setting up or talking to the Docker engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "Docker is not installed and this process is not root, so it cannot install it.\n\
         Install it yourself (Debian/Ubuntu: `sudo apt-get install docker.io`), start it \
         (`sudo systemctl start docker` or `sudo dockerd &`) and add yourself to the `docker` group, \
         or run this command as root."
    )]
    NotRootCannotInstall,
    #[error(
        "Docker is not installed and `apt-get` is not available here to install it.\n\
         Install a Docker engine for your distribution (https://docs.docker.com/engine/install/), \
         start it, and run this command again."
    )]
    NoApt,
    #[error(
        "the Docker engine is not running and this process is not root, so it cannot start it.\n\
         Start it (`sudo systemctl start docker`, or `sudo dockerd &`) and make sure `docker info` works \
         for your user (membership of the `docker` group)."
    )]
    NotRootCannotStart,
    #[error("installing Docker with apt-get failed: {0}")]
    Install(#[source] ExecError),
    #[error("dockerd did not answer within {after:?}; its log is {log}:\n{log_tail}")]
    EngineDidNotStart {
        after: Duration,
        log: PathBuf,
        log_tail: String,
    },
    #[error(
        "privileged containers fail on this host ({detail}), and the running dockerd was not started by \
         inferbench, so it is left alone.\nStop it and run again (inferbench then starts dockerd with its \
         `{CAPFIX_RUNTIME}` runtime), or register an OCI runtime that drops capabilities missing from \
         the host's bounding set."
    )]
    PrivilegedUnsupported { detail: String },
    #[error("privileged containers still fail after installing the {CAPFIX_RUNTIME} runtime: {0}")]
    CapfixDidNotHelp(String),
    #[error("cannot find `{0}` to wrap for the {CAPFIX_RUNTIME} runtime; install runc")]
    RuncMissing(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("unexpected output from docker: {0}")]
    Parse(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DockerError {
    let what = what.into();
    move |source| DockerError::Io { what, source }
}

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
    docker.api_version = docker.server_api_version().ok();

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

enum Probe {
    Ok,
    CapsMissing(String),
}

fn dockerd_log() -> PathBuf {
    cache_dir().join("docker").join("dockerd.log")
}

fn dockerd_marker() -> PathBuf {
    cache_dir()
        .join("docker")
        .join("dockerd.started-by-inferbench")
}

fn install_engine() -> Result<(), DockerError> {
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

fn start_dockerd(extra: &[&str]) -> Result<(), DockerError> {
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
fn dockerd_is_ours() -> bool {
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

fn stop_dockerd() -> Result<(), DockerError> {
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

fn wait_for_engine(docker: &Docker) -> Result<(), DockerError> {
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

/// The capfix wrapper script with the real runc and jq paths filled in.
pub fn capfix_script(runc: &Path, jq: &Path) -> String {
    include_str!("../assets/capfix-runtime.sh")
        .replace("@RUNC@", &runc.display().to_string())
        .replace("@JQ@", &jq.display().to_string())
}

/// Whether the capability bounding set of this process lacks any
/// capability up to `CAP_CHECKPOINT_RESTORE` (bit 40): a cheap hint that
/// privileged containers will need the capfix runtime.
pub fn bounding_set_incomplete() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|bnd| bnd & ((1u64 << 41) - 1) != (1u64 << 41) - 1)
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

    fn cli_missing(&self) -> bool {
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

    fn probe_privileged(&self) -> Result<Probe, DockerError> {
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
    fn capfix_script_has_paths_filled_in() {
        let s = capfix_script(Path::new("/usr/sbin/runc"), Path::new("/usr/bin/jq"));
        assert!(s.contains("RUNC=\"${INFERBENCH_CAPFIX_RUNC:-/usr/sbin/runc}\""));
        assert!(!s.contains("@RUNC@") && !s.contains("@JQ@"));
    }

    #[test]
    fn container_summary_parses_docker_ps_json() {
        let line = r#"{"Command":"\"/usr/local/bin/entrypoint /sbin/init\"","CreatedAt":"2026","ID":"abc","Image":"kindest/node:v1.34.4","Labels":"io.x-k8s.kind.cluster=inferbench","LocalVolumes":"1","Mounts":"","Names":"inferbench-control-plane","Networks":"kind","Ports":"","RunningFor":"1 minute","Size":"0B","State":"running","Status":"Up 1 minute"}"#;
        let c: ContainerSummary = serde_json::from_str(line).expect("parses");
        assert_eq!(c.names, "inferbench-control-plane");
        assert_eq!(c.state, "running");
    }
}
