//! Running a rendering tool with a time limit, its stderr kept for the error.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::CheckError;

/// How long one render may take: a chart with many subcharts renders in
/// seconds, so this only stops a hung process.
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `program args` and returns its stdout; a non-zero exit is a
/// [`CheckError::Tool`] quoting stderr.
pub(crate) fn run(
    program: &Path,
    args: &[&std::ffi::OsStr],
    what: &str,
) -> Result<String, CheckError> {
    let shown = || {
        let mut s = program.display().to_string();
        for a in args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CheckError::Tool {
            what: what.to_string(),
            command: shown(),
            message: format!("cannot start it: {e}"),
        })?;
    // Drain both pipes on threads so a large chart cannot fill one and stall.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > RENDER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CheckError::Tool {
                    what: what.to_string(),
                    command: shown(),
                    message: format!("no result after {} s", RENDER_TIMEOUT.as_secs()),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(CheckError::Tool {
                    what: what.to_string(),
                    command: shown(),
                    message: e.to_string(),
                });
            }
        }
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if !status.success() {
        return Err(CheckError::Tool {
            what: what.to_string(),
            command: shown(),
            message: stderr.trim().to_string(),
        });
    }
    Ok(stdout)
}
