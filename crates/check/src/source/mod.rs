//! Where a team's objects come from: plain manifests, a Helm chart with
//! values files, or a kustomize overlay. Each renderer produces the same
//! [`Object`]s, with an [`crate::Origin`] naming the file a finding should
//! point at (for Helm the template, for kustomize the resource file).
//!
//! Helm and kustomize run as the pinned binaries the caller hands over
//! ([`Tools`]): this crate starts processes but holds no cluster client.

mod helm;
mod kustomize;
mod locate;
mod process;

use std::path::{Path, PathBuf};

use crate::error::CheckError;
use crate::input::{Object, load_manifests};

pub use helm::{HelmChart, values_files_of};

/// A team's template, as `--manifests`, `--chart` or `--kustomize` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Plain YAML: a file, or a folder searched recursively.
    Manifests(PathBuf),
    /// A Helm chart folder with its values files.
    Helm(HelmChart),
    /// A kustomization folder (a base or an overlay).
    Kustomize(PathBuf),
}

impl Source {
    /// What a person would call it: `chart examples/charts/llm`.
    pub fn describe(&self) -> String {
        match self {
            Source::Manifests(p) => format!("manifests {}", p.display()),
            Source::Helm(c) => c.describe(),
            Source::Kustomize(p) => format!("kustomization {}", p.display()),
        }
    }

    /// What can be told without rendering: the chart, values files,
    /// kustomization or manifests exist. Run before any tool is fetched.
    pub fn validate(&self) -> Result<(), CheckError> {
        match self {
            Source::Manifests(p) if !p.exists() => Err(CheckError::NotFound(p.clone())),
            Source::Manifests(_) => Ok(()),
            Source::Helm(c) => helm::validate(c),
            Source::Kustomize(dir) => kustomize::kustomization_file(dir).map(|_| ()),
        }
    }

    /// The tool this source needs rendered with, if any.
    pub fn needs(&self) -> Option<ToolName> {
        match self {
            Source::Manifests(_) => None,
            Source::Helm(_) => Some(ToolName::Helm),
            Source::Kustomize(_) => Some(ToolName::Kubectl),
        }
    }
}

/// A rendering tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolName {
    Helm,
    /// `kubectl kustomize` (kustomize is built into kubectl).
    Kubectl,
}

/// The pinned binaries a source is rendered with.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub helm: Option<PathBuf>,
    pub kubectl: Option<PathBuf>,
}

impl Tools {
    fn get(&self, name: ToolName) -> Result<&Path, CheckError> {
        let (path, what) = match name {
            ToolName::Helm => (&self.helm, "helm"),
            ToolName::Kubectl => (&self.kubectl, "kubectl"),
        };
        path.as_deref().ok_or(CheckError::ToolMissing(what))
    }
}

/// The renderer's own findings: `helm lint` for a chart, none for the
/// others (kubectl kustomize has no lint).
pub fn lint(source: &Source, tools: &Tools) -> Result<Vec<crate::Finding>, CheckError> {
    match source {
        Source::Helm(chart) => helm::lint(chart, tools.get(ToolName::Helm)?),
        Source::Manifests(_) | Source::Kustomize(_) => Ok(Vec::new()),
    }
}

/// Renders `source` into objects. Nothing is installed anywhere.
pub fn load(source: &Source, tools: &Tools) -> Result<Vec<Object>, CheckError> {
    match source {
        Source::Manifests(path) => load_manifests(path),
        Source::Helm(chart) => helm::render(chart, tools.get(ToolName::Helm)?),
        Source::Kustomize(dir) => kustomize::render(dir, tools.get(ToolName::Kubectl)?),
    }
}
