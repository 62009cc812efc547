//! Reports: one model ([`model::RunReport`]) and the files made from it.
//!
//! [`write_folder`] writes every format into a run's report folder:
//! `report.json` (the model itself, [`json`]), `junit.xml` ([`junit`],
//! through quick-junit), `report.md` ([`markdown`]) and a self-contained
//! `report.html` ([`html`]: askama templates in `templates/`, checked when
//! this crate compiles, with SVG charts drawn in Rust). [`diff`] compares
//! two runs.
//!
//! This crate is pure: it turns a [`RunReport`] into files and back, and
//! must not depend on a Kubernetes client, the load engine or an async
//! runtime, so that `cargo xtask report` (render, diff, schema) builds
//! without them. The runner fills the model; this crate only reads it.

pub mod diff;
mod escape;
mod format;
pub mod html;
pub mod json;
pub mod junit;
mod load_words;
pub mod markdown;
pub mod model;
mod outcome;
mod svg;

use std::path::{Path, PathBuf};

pub use model::*;
pub use outcome::{CheckKind, FailureKind};

/// File names inside a report folder.
pub const REPORT_JSON: &str = "report.json";
pub const JUNIT_XML: &str = "junit.xml";
pub const REPORT_MARKDOWN: &str = "report.md";
pub const REPORT_HTML: &str = "report.html";

/// Errors from writing, reading or comparing reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid inferbench report: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{} has report schema {found:?}, but this harness reads {expected:?}; \
         render it with the harness version that wrote it, or run the scenarios again",
        path.display()
    )]
    SchemaMismatch {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
    #[error("serializing the report to JSON: {0}")]
    Serialize(#[source] serde_json::Error),
}

impl ReportError {
    pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| ReportError::Io { what, path, source }
    }
}

/// What [`write_folder_with`] writes, beyond the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// One JUnit testcase per scenario (default) or per step.
    pub junit: junit::Granularity,
}

/// The files [`write_folder`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub json: PathBuf,
    pub junit: PathBuf,
    pub markdown: PathBuf,
    pub html: PathBuf,
}

/// Writes `report.json`, `junit.xml` (one testcase per scenario),
/// `report.md` and `report.html` into `dir`, creating it if needed.
/// Leaves everything else there (the runner's `artifacts/`) alone.
pub fn write_folder(dir: &Path, report: &RunReport) -> Result<Written, ReportError> {
    write_folder_with(dir, report, &WriteOptions::default())
}

/// [`write_folder`] with options.
pub fn write_folder_with(
    dir: &Path,
    report: &RunReport,
    options: &WriteOptions,
) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(ReportError::io("creating report folder", dir))?;
    let written = Written {
        json: dir.join(REPORT_JSON),
        junit: dir.join(JUNIT_XML),
        markdown: dir.join(REPORT_MARKDOWN),
        html: dir.join(REPORT_HTML),
    };
    write_file(&written.json, &json::to_string(report)?)?;
    write_file(&written.junit, &junit::render(report, options.junit))?;
    write_file(&written.markdown, &markdown::render(report))?;
    write_file(&written.html, &html::render(report))?;
    Ok(written)
}

/// Writes through a temporary file and a rename, so that a reader (or a
/// CI upload racing the run) never sees half a report.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents).map_err(ReportError::io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(ReportError::io("renaming into place", path))
}
