//! The cluster's processes: started as children of the harness (same
//! process group, so a Ctrl-C in the terminal reaches them too), logged to
//! `logs/<name>.log`, recorded in `pids/<name>.pid`, and stopped by pid
//! (SIGTERM, then SIGKILL) from any process that can read those files.
//!
//! A pid is only ever signalled while `/proc/<pid>/cmdline` still names the
//! cluster folder, so a recycled pid is never hit.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{KwokError, io_err};
use environment::tools::exec::Cmd;

/// The programs a cluster runs, by process name (`argv[0]`'s file name).
pub const COMPONENTS: &[&str] = &[
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
];

/// Children started by this process, kept to reap them (no zombies) and to
/// tell an early exit from a slow start.
static CHILDREN: Mutex<Vec<Tracked>> = Mutex::new(Vec::new());

struct Tracked {
    dir: PathBuf,
    component: String,
    child: Child,
}

/// A process to start.
#[derive(Debug, Clone)]
pub struct Spec {
    pub component: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// `dir/logs/<component>.log`.
pub fn log_path(dir: &Path, component: &str) -> PathBuf {
    dir.join("logs").join(format!("{component}.log"))
}

fn pid_path(dir: &Path, component: &str) -> PathBuf {
    dir.join("pids").join(format!("{component}.pid"))
}

/// Starts `spec` in `dir` with its output in its log; records its pid.
pub fn spawn(dir: &Path, spec: &Spec) -> Result<u32, KwokError> {
    let log = log_path(dir, &spec.component);
    for sub in ["logs", "pids"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(io_err(format!("creating {}", d.display())))?;
    }
    let out = File::create(&log).map_err(io_err(format!("creating {}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(io_err(format!("opening {}", log.display())))?;
    let child = Command::new(&spec.program)
        .args(&spec.args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| KwokError::Spawn {
            component: spec.component.clone(),
            program: spec.program.display().to_string(),
            source,
        })?;
    let pid = child.id();
    let pidfile = pid_path(dir, &spec.component);
    std::fs::write(&pidfile, format!("{pid}\n"))
        .map_err(io_err(format!("writing {}", pidfile.display())))?;
    lock().push(Tracked {
        dir: dir.to_path_buf(),
        component: spec.component.clone(),
        child,
    });
    Ok(pid)
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Tracked>> {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner())
}

/// How `component` of `dir` exited, if it was started by this process and
/// has exited.
pub fn exit_status(dir: &Path, component: &str) -> Option<ExitStatus> {
    lock()
        .iter_mut()
        .find(|t| t.dir == dir && t.component == component)
        .and_then(|t| t.child.try_wait().ok().flatten())
}

/// Reaps the exited children of `dir` and forgets them.
fn reap(dir: &Path) {
    lock().retain_mut(|t| t.dir != dir || !matches!(t.child.try_wait(), Ok(Some(_)) | Err(_)));
}

/// Children of `dir` this process started that have not exited yet. A
/// process that is exiting loses its command line before it can be reaped,
/// so [`alive`] alone would call it gone too early.
fn unreaped(dir: &Path) -> Vec<u32> {
    lock()
        .iter_mut()
        .filter_map(|t| {
            (t.dir == dir && matches!(t.child.try_wait(), Ok(None))).then(|| t.child.id())
        })
        .collect()
}

/// The marker every one of a cluster's command lines contains.
fn marker(dir: &Path) -> String {
    format!("{}/", dir.display())
}

/// The arguments of `pid` (empty for zombies, kernel threads and the gone).
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` is a live process of the cluster in `dir`.
pub fn alive(pid: u32, dir: &Path) -> bool {
    let m = marker(dir);
    cmdline(pid).iter().any(|a| a.contains(&m))
}

/// A running process of a cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub component: String,
    /// Resident memory now, MiB.
    pub rss_mib: f64,
    /// Peak resident memory (VmHWM), MiB.
    pub peak_rss_mib: f64,
}

/// Every live process that is one of [`COMPONENTS`] and names `dir` on
/// its command line, whoever started it (found through /proc).
pub fn processes_of(dir: &Path) -> Vec<ProcessInfo> {
    let m = marker(dir);
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let args = cmdline(pid);
        let Some(argv0) = args.first() else { continue };
        let name = Path::new(argv0)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if COMPONENTS.contains(&name.as_str()) && args.iter().any(|a| a.contains(&m)) {
            let (rss_mib, peak_rss_mib) = memory_mib(pid);
            found.push(ProcessInfo {
                pid,
                component: name,
                rss_mib,
                peak_rss_mib,
            });
        }
    }
    found.sort_by(|a, b| a.component.cmp(&b.component));
    found
}

/// (VmRSS, VmHWM) of `pid` in MiB; zeros when unreadable.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// The pids recorded under `dir/pids`.
fn recorded_pids(dir: &Path) -> Vec<u32> {
    std::fs::read_dir(dir.join("pids"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|t| t.trim().parse::<u32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    // The shell's builtin `kill`: present wherever `sh` is.
    let _ = Cmd::new("sh")
        .args(["-c", "kill -s \"$0\" \"$@\" 2>/dev/null; true", sig])
        .args(pids.iter().map(u32::to_string))
        .timeout(Duration::from_secs(10))
        .run();
}

/// Stops every process of the cluster in `dir`: SIGTERM, up to `grace`
/// for them to exit, then SIGKILL. Returns the pids that survived even
/// that (normally none).
pub fn stop_all(dir: &Path, grace: Duration) -> Vec<u32> {
    let targets = || -> Vec<u32> {
        let mut pids: Vec<u32> = recorded_pids(dir)
            .into_iter()
            .filter(|p| alive(*p, dir))
            .collect();
        pids.extend(processes_of(dir).into_iter().map(|p| p.pid));
        pids.extend(unreaped(dir));
        pids.sort_unstable();
        pids.dedup();
        pids
    };
    let wait_gone = |limit: Duration| -> Vec<u32> {
        let start = Instant::now();
        loop {
            reap(dir);
            let left = targets();
            if left.is_empty() || start.elapsed() >= limit {
                return left;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    signal("TERM", &targets());
    let left = wait_gone(grace);
    signal("KILL", &left);
    let left = wait_gone(Duration::from_secs(5));
    reap(dir);
    left
}

/// The last `lines` lines of `path` (empty when unreadable).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawned_children_are_tracked_logged_and_stopped() {
        let dir = std::env::temp_dir().join(format!("inferbench-kwok-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        // `sh -c '...' <dir>/x`: the folder is on the command line, as with
        // the real components (but `sh` is not one of COMPONENTS).
        let spec = Spec {
            component: "sleeper".into(),
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done".into(),
                dir.join("x").into_os_string(),
            ],
        };
        let pid = spawn(&dir, &spec).expect("spawn");
        std::thread::sleep(Duration::from_millis(300));
        assert!(alive(pid, &dir), "running and naming the folder");
        assert!(!alive(pid, Path::new("/elsewhere")));
        assert_eq!(exit_status(&dir, "sleeper"), None);
        assert_eq!(
            std::fs::read_to_string(dir.join("pids/sleeper.pid"))
                .expect("pidfile")
                .trim(),
            pid.to_string()
        );
        let left = stop_all(&dir, Duration::from_secs(5));
        assert!(left.is_empty(), "{left:?}");
        assert!(!alive(pid, &dir));
        assert!(log_tail(&log_path(&dir, "sleeper"), 5).contains("started"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn early_exit_is_seen() {
        let dir = std::env::temp_dir().join(format!("inferbench-kwok-exit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spec = Spec {
            component: "quitter".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "echo bad flag >&2; exit 3".into()],
        };
        spawn(&dir, &spec).expect("spawn");
        let start = Instant::now();
        let status = loop {
            if let Some(s) = exit_status(&dir, "quitter") {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(3));
        assert!(log_tail(&log_path(&dir, "quitter"), 5).contains("bad flag"));
        assert!(stop_all(&dir, Duration::from_secs(1)).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
