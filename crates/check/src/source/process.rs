//! Running a rendering tool through the harness's [`Cmd`] (time limit,
//! output captured), its stderr kept for the error.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use environment::tools::exec::Cmd;

use crate::error::CheckError;

/// How long one render may take: a chart with many subcharts renders in
/// seconds, so this only stops a hung process.
const RENDER_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `program args` and returns its stdout; a non-zero exit is a
/// [`CheckError::Tool`] quoting stderr.
pub(crate) fn run(program: &Path, args: &[&OsStr], what: &str) -> Result<String, CheckError> {
    let cmd = Cmd::new(program).args(args).timeout(RENDER_TIMEOUT);
    let failed = |message: String| CheckError::Tool {
        what: what.to_string(),
        command: cmd.display(),
        message,
    };
    let out = cmd.run_unchecked().map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(out.stderr.trim().to_string()));
    }
    Ok(out.stdout)
}
