//! Running external commands with a timeout, capturing their output and,
//! for long builds, streaming their lines to stderr as progress.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How many bytes of a failed command's output an error keeps.
const TAIL_BYTES: usize = 4000;
/// How often a command with progress says that it is still running.
const HEARTBEAT: Duration = Duration::from_secs(60);

/// Errors from running an external command.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("`{program}` was not found on PATH")]
    NotFound { program: String },
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {after:?} and was killed{}", tail_suffix(.output_tail))]
    Timeout {
        command: String,
        after: Duration,
        output_tail: String,
    },
    #[error("`{command}` failed ({status}){}", tail_suffix(.output_tail))]
    Failed {
        command: String,
        status: String,
        output_tail: String,
    },
    #[error("I/O error while running `{command}`: {source}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

fn tail_suffix(tail: &str) -> String {
    let t = tail.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(":\n{t}")
    }
}

impl ExecError {
    /// The captured output of the failed command, if any.
    pub fn output_tail(&self) -> &str {
        match self {
            ExecError::Timeout { output_tail, .. } | ExecError::Failed { output_tail, .. } => {
                output_tail
            }
            _ => "",
        }
    }
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A command to run with a timeout. Built like `std::process::Command`.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    timeout: Duration,
    stdin: Option<StdinSource>,
    progress: Option<String>,
}

#[derive(Debug, Clone)]
enum StdinSource {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Cmd {
    /// A command with a default timeout of five minutes.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            timeout: Duration::from_secs(300),
            stdin: None,
            progress: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.envs.push((key.as_ref().to_owned(), None));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(StdinSource::Bytes(bytes.into()));
        self
    }

    pub fn stdin_file(mut self, path: impl AsRef<Path>) -> Self {
        self.stdin = Some(StdinSource::File(path.as_ref().to_owned()));
        self
    }

    /// Echo each output line to stderr, prefixed with `label`, while the
    /// command runs, and say every minute that it still runs: progress for
    /// long builds.
    pub fn progress(mut self, label: impl Into<String>) -> Self {
        self.progress = Some(label.into());
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        if s.len() > 300 {
            let mut cut = 300;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str(" …");
        }
        s
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.envs {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            c.current_dir(dir);
        }
        c
    }

    /// Runs the command; a non-zero exit status is an error.
    pub fn run(&self) -> Result<Output, ExecError> {
        let out = self.run_unchecked()?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(ExecError::Failed {
                command: self.display(),
                status: out.status.to_string(),
                output_tail: tail(&format!("{}{}", out.stdout, out.stderr)),
            })
        }
    }

    /// Runs the command and returns its trimmed stdout.
    pub fn output_string(&self) -> Result<String, ExecError> {
        Ok(self.run()?.stdout.trim().to_string())
    }

    /// Runs the command; returns its output whatever the exit status (only
    /// start failures and timeouts are errors).
    pub fn run_unchecked(&self) -> Result<Output, ExecError> {
        let mut c = self.command();
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        match &self.stdin {
            None => {
                c.stdin(Stdio::null());
            }
            Some(StdinSource::Bytes(_)) => {
                c.stdin(Stdio::piped());
            }
            Some(StdinSource::File(p)) => {
                let f = std::fs::File::open(p).map_err(|source| ExecError::Io {
                    command: self.display(),
                    source,
                })?;
                c.stdin(Stdio::from(f));
            }
        }
        let mut child = c.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ExecError::NotFound {
                    program: self.program.to_string_lossy().into_owned(),
                }
            } else {
                ExecError::Spawn {
                    command: self.display(),
                    source,
                }
            }
        })?;
        let writer = if let Some(StdinSource::Bytes(bytes)) = &self.stdin {
            let mut pipe = child.stdin.take();
            let bytes = bytes.clone();
            Some(thread::spawn(move || {
                if let Some(p) = pipe.as_mut() {
                    let _ = p.write_all(&bytes);
                }
                drop(pipe);
            }))
        } else {
            None
        };
        let stdout = reader(child.stdout.take(), self.progress.clone());
        let stderr = reader(child.stderr.take(), self.progress.clone());
        let status = wait_with_timeout(&mut child, self.timeout, self.progress.as_deref());
        let out = stdout.join().unwrap_or_default();
        let err = stderr.join().unwrap_or_default();
        if let Some(w) = writer {
            let _ = w.join();
        }
        match status {
            Ok(Some(status)) => Ok(Output {
                status,
                stdout: out,
                stderr: err,
            }),
            Ok(None) => Err(ExecError::Timeout {
                command: self.display(),
                after: self.timeout,
                output_tail: tail(&format!("{out}{err}")),
            }),
            Err(source) => Err(ExecError::Io {
                command: self.display(),
                source,
            }),
        }
    }
}

fn reader<R: Read + Send + 'static>(
    pipe: Option<R>,
    progress: Option<String>,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let Some(pipe) = pipe else {
            return String::new();
        };
        let mut collected = Vec::<u8>::new();
        let mut r = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Some(label) = &progress {
                        let text = String::from_utf8_lossy(&line);
                        eprintln!("  [{label}] {}", text.trim_end());
                    }
                    collected.extend_from_slice(&line);
                }
            }
        }
        String::from_utf8_lossy(&collected).into_owned()
    })
}

/// Waits for `child` up to `timeout`; kills it (and returns `None`) after.
fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
    heartbeat: Option<&str>,
) -> std::io::Result<Option<ExitStatus>> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    let mut next_beat = HEARTBEAT;
    loop {
        if let Some(label) = heartbeat
            && start.elapsed() >= next_beat
        {
            eprintln!("  [{label}] still running ({}s)", start.elapsed().as_secs());
            next_beat += HEARTBEAT;
        }
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

fn tail(s: &str) -> String {
    if s.len() <= TAIL_BYTES {
        return s.to_string();
    }
    let mut start = s.len() - TAIL_BYTES;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// Finds `program` on PATH (or returns it when it is a path that exists).
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether this process runs as root (from `/proc/self/status`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = Cmd::new("sh")
            .args(["-c", "echo hi; echo err >&2; exit 3"])
            .run_unchecked();
        let out = out.expect("sh runs");
        assert_eq!(out.stdout.trim(), "hi");
        assert_eq!(out.stderr.trim(), "err");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn times_out() {
        let err = Cmd::new("sleep")
            .arg("5")
            .timeout(Duration::from_millis(200))
            .run()
            .expect_err("must time out");
        assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
    }

    #[test]
    fn feeds_stdin() {
        let out = Cmd::new("cat")
            .stdin_bytes("abc")
            .output_string()
            .expect("cat runs");
        assert_eq!(out, "abc");
    }

    #[test]
    fn missing_program_is_not_found() {
        let err = Cmd::new("inferbench-no-such-program")
            .run()
            .expect_err("missing");
        assert!(matches!(err, ExecError::NotFound { .. }));
    }
}
