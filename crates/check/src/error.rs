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
    #[error("{0}: not a Helm chart (no Chart.yaml there; give the chart's folder)")]
    NotAChart(PathBuf),
    #[error("{0}: values file not found (paths are relative to where you run the command)")]
    ValuesNotFound(PathBuf),
    #[error("{0}: not a kustomization (no kustomization.yaml there; give the overlay's folder)")]
    NotAKustomization(PathBuf),
    #[error("{what}: `{command}` failed: {message}")]
    Tool {
        what: String,
        command: String,
        message: String,
    },
    #[error("rendering needs the {0} binary, and none was given")]
    ToolMissing(&'static str),
    #[error("{}: rendered to something that is not a Kubernetes object: {message}", template.display())]
    RenderedInvalid { template: PathBuf, message: String },
    #[error("cannot render {format}: {message}")]
    Render {
        format: &'static str,
        message: String,
    },
}
