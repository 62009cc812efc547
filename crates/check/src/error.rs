//! What can go wrong before any rule runs.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}: no such file or folder (give a manifest file or a folder of *.yaml/*.yml)")]
    NotFound(PathBuf),
    #[error("{0}: no Kubernetes manifests found (expected *.yaml or *.yml files with objects)")]
    NoManifests(PathBuf),
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: not valid YAML: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}:{line}: expected a Kubernetes object (a mapping with `kind`, `apiVersion` and `metadata`)", path.display())]
    NotAnObject { path: PathBuf, line: usize },
    #[error("cannot render {format}: {message}")]
    Render {
        format: &'static str,
        message: String,
    },
}
