//! The JSON summary a Job's process (`train`, `score`, `score-check`)
//! leaves when it ends: printed to stdout (the pod's log) and written to
//! its summary file, by default `/dev/termination-log`, which Kubernetes
//! shows as the container's termination message.

use std::path::Path;

use serde::Serialize;

/// Prints `summary` as JSON and writes it to `path`. A summary file that
/// cannot be written is reported on stderr, not an error: the run's exit
/// status still tells how it ended.
pub fn write<T: Serialize>(path: &Path, summary: &T) -> std::io::Result<()> {
    let text = serde_json::to_string(summary).map_err(std::io::Error::other)?;
    println!("{text}");
    if let Err(e) = std::fs::write(path, &text) {
        eprintln!("cannot write the summary to {}: {e}", path.display());
    }
    Ok(())
}
