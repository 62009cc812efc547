//! A recording: the evidence of one namespace and the loads measured so
//! far, as JSON (`evidence.json`). The harness writes one beside the text
//! evidence of every failed step (and after every step with
//! `--record-evidence`); `cargo xtask evidence record` writes one for any
//! namespace. The diagnosis rules are tested on such recordings.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::model::Evidence;
use report::LoadReport;

/// The file name the harness gives a recording.
pub const RECORDING_FILE: &str = "evidence.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Recording {
    pub evidence: Evidence,
    /// The loads measured up to the recording (with their failed requests).
    pub loads: Vec<LoadReport>,
}

#[derive(Debug, Error)]
pub enum RecordingError {
    #[error("reading the recording {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the recording {path} is not valid: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Recording {
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a recording from `path`.
    pub fn load(path: &std::path::Path) -> Result<Recording, RecordingError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RecordingError::Read {
            path: shown.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| RecordingError::Parse {
            path: shown,
            source,
        })
    }
}
