//! Renderings of a [`Report`]: text for people, JSON, SARIF 2.1.0.

use std::path::Path;

use crate::error::CheckError;
use crate::finding::Report;

mod json;
mod sarif;
mod text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            other => Err(format!(
                "unknown format `{other}` (expected text, json or sarif)"
            )),
        }
    }
}

/// Renders the report. Paths are shown relative to `base` when they lie
/// under it (SARIF needs repository-relative URIs), with `/` separators.
pub fn render(report: &Report, format: Format, base: &Path) -> Result<String, CheckError> {
    match format {
        Format::Text => Ok(text::render(report, base)),
        Format::Json => json::render(report, base),
        Format::Sarif => sarif::render(report, base),
    }
}

pub(crate) fn display_path(path: &Path, base: &Path) -> String {
    let rel = if base.as_os_str().is_empty() {
        path
    } else {
        path.strip_prefix(base).unwrap_or(path)
    };
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
pub(crate) mod fixture {
    use std::path::PathBuf;

    use crate::finding::{Finding, ObjectRef, Report, Severity};

    /// A fixed report for the snapshot tests of every rendering.
    pub fn report() -> Report {
        let f =
            |rule, severity, object: &str, file: &str, line, message: &str, fix: &str| Finding {
                rule,
                severity,
                object: object.to_string(),
                file: PathBuf::from(file),
                line,
                message: message.to_string(),
                fix: fix.to_string(),
            };
        let o = |object: &str, file: &str, line| ObjectRef {
            object: object.to_string(),
            file: PathBuf::from(file),
            line,
        };
        Report {
            checked: vec![
                o("Deployment/vllm", "/repo/deploy/deployment.yaml", 1),
                o("Service/vllm", "/repo/deploy/deployment.yaml", 60),
                o("PodDisruptionBudget/vllm", "/repo/deploy/pdb.yaml", 1),
            ],
            serving: vec![o("Deployment/vllm", "/repo/deploy/deployment.yaml", 1)],
            findings: vec![
                f(
                    "rolling-update-keeps-capacity",
                    Severity::Error,
                    "Deployment/vllm",
                    "/repo/deploy/deployment.yaml",
                    9,
                    "maxUnavailable 1 with 1 replica(s) lets a rollout take down every serving replica",
                    "set maxUnavailable: 0 and maxSurge: 1",
                ),
                f(
                    "readiness-gated-on-model-load",
                    Severity::Error,
                    "Deployment/vllm",
                    "/repo/deploy/deployment.yaml",
                    41,
                    "serving container `server`: readiness probes the liveness endpoint",
                    "point readinessProbe at /v1/models",
                ),
                f(
                    "vllm-dev-shm",
                    Severity::Warning,
                    "Deployment/vllm",
                    "/repo/deploy/deployment.yaml",
                    30,
                    "vLLM container `server` has no memory-backed /dev/shm",
                    "mount an emptyDir with medium: Memory at /dev/shm",
                ),
                f(
                    "image-immutable-ref",
                    Severity::Info,
                    "Deployment/vllm",
                    "/repo/deploy/deployment.yaml",
                    31,
                    "container `server` pins its image by digest",
                    "none needed",
                ),
                f(
                    "pdb-allows-drain",
                    Severity::Error,
                    "PodDisruptionBudget/vllm",
                    "/repo/deploy/pdb.yaml",
                    6,
                    "minAvailable 1 with 1 replica(s) of Deployment/vllm allows no disruption",
                    "with one replica use maxUnavailable: 1",
                ),
            ],
        }
    }
}
