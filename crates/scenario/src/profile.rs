//! Serving profiles: which inference server the built-in scenarios deploy.
//!
//! A profile is a small YAML file (`fixtures/profiles/<name>.yaml`) that
//! binds the names scenarios use for the server under test
//! (`servingTemplate`, `server`, `port`, ...) and says what that server
//! offers. Scenarios stay the same across profiles; a scenario or step
//! that needs what a profile lacks (the mock server's knobs, say) is
//! skipped with the reason in the report.
//!
//! ```yaml
//! apiVersion: inferbench.dev/v1alpha1
//! kind: Profile
//! metadata: { name: vllm, description: vLLM on real GPUs }
//! spec:
//!   provides: []
//!   bindings:
//!     servingTemplate: fixtures/vllm/deployment.yaml
//!     server: vllm
//!     port: 8000
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::model::{API_VERSION, Capability};
use crate::bindings::Bindings;
use crate::template_spec::TemplateSpec;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "mock";

/// Bindings every profile must set: the scenarios use them.
pub const REQUIRED_BINDINGS: [&str; 3] = ["servingTemplate", "server", "port"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub api_version: String,
    pub kind: String,
    pub metadata: ProfileMetadata,
    pub spec: ProfileSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileMetadata {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileSpec {
    /// What the serving stack offers scenarios (the cluster adds its own).
    #[serde(default)]
    pub provides: BTreeSet<Capability>,
    /// What the cluster must offer for this profile to make sense
    /// (`real-gpus` for a server that needs CUDA).
    #[serde(default)]
    pub requires: BTreeSet<Capability>,
    /// Defaults under every scenario's bindings.
    #[serde(default)]
    pub bindings: Bindings,
    /// A team's own template instead of `servingTemplate` (paths relative
    /// to the profile file; see [`TemplateSpec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateSpec>,
}

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error(
        "no profile {name:?}: expected {path} (built-in profiles: {known}); or pass a profile file's path"
    )]
    Unknown {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The folder of built-in profiles.
pub fn profiles_dir() -> PathBuf {
    crate::repo_root().join("fixtures").join("profiles")
}

/// Names of the built-in profiles.
pub fn builtin_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(profiles_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension().is_some_and(|x| x == "yaml"))
                .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

/// Loads a built-in profile by name, or a profile file by path.
pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
    let as_path = Path::new(name_or_path);
    let path = if name_or_path.ends_with(".yaml") || name_or_path.contains('/') {
        as_path.to_path_buf()
    } else {
        profiles_dir().join(format!("{name_or_path}.yaml"))
    };
    if !path.is_file() {
        return Err(ProfileError::Unknown {
            name: name_or_path.to_string(),
            path,
            known: builtin_names().join(", "),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&path, &text)
}

/// Parses and checks a profile.
pub fn parse(path: &Path, text: &str) -> Result<Profile, ProfileError> {
    let profile: Profile = yaml_serde::from_str(text).map_err(|e| ProfileError::Parse {
        path: path.to_path_buf(),
        line: e.location().map(|l| l.line()).unwrap_or(1),
        message: e.to_string(),
    })?;
    let invalid = |message: String| ProfileError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if profile.api_version != API_VERSION {
        return Err(invalid(format!(
            "apiVersion is {:?}; expected {API_VERSION:?}",
            profile.api_version
        )));
    }
    if profile.kind != "Profile" {
        return Err(invalid(format!(
            "kind is {:?}; expected \"Profile\"",
            profile.kind
        )));
    }
    let mut profile = profile;
    if let Some(t) = &mut profile.spec.template {
        let base = path.parent().unwrap_or(Path::new("."));
        t.resolve(base).map_err(invalid)?;
        // Server, port and template come from the discovered target.
        return Ok(profile);
    }
    let missing: Vec<&str> = REQUIRED_BINDINGS
        .iter()
        .copied()
        .filter(|b| !profile.spec.bindings.contains_key(*b))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "spec.bindings must set {} (the built-in scenarios use them)",
            missing.join(", ")
        )));
    }
    // The Service is named like the server unless the profile says otherwise.
    if let Some(server) = profile.spec.bindings.get("server").cloned() {
        profile
            .spec
            .bindings
            .entry("service".into())
            .or_insert(server);
    }
    Ok(profile)
}

/// What a run offers: the cluster's capabilities plus the profile's.
pub fn offered(cluster: &BTreeSet<Capability>, profile: &Profile) -> BTreeSet<Capability> {
    cluster.union(&profile.spec.provides).copied().collect()
}

/// The capabilities in `required` that `offered` lacks.
pub fn missing<'a>(
    required: impl IntoIterator<Item = &'a Capability>,
    offered: &BTreeSet<Capability>,
) -> Vec<Capability> {
    let mut out: Vec<Capability> = required
        .into_iter()
        .filter(|c| !offered.contains(c))
        .copied()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// "needs a, b" for a skip reason.
pub fn describe_missing(missing: &[Capability]) -> String {
    let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
    format!(
        "needs {}, which this cluster and profile do not offer",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_load_and_bind_what_scenarios_use() {
        let names = builtin_names();
        assert!(names.contains(&"mock".to_string()), "{names:?}");
        assert!(names.contains(&"vllm".to_string()), "{names:?}");
        for n in names {
            let p = load(&n).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.metadata.name, n);
            let template = p.spec.bindings["servingTemplate"]
                .as_str()
                .expect("servingTemplate is a path");
            assert!(
                crate::repo_root().join(template).is_file(),
                "{n}: {template} exists"
            );
        }
        assert!(
            load("mock")
                .unwrap()
                .spec
                .provides
                .contains(&Capability::MockServer)
        );
        let vllm = load("vllm").unwrap();
        assert!(!vllm.spec.provides.contains(&Capability::MockServer));
        assert!(vllm.spec.requires.contains(&Capability::RealGpus));
    }

    #[test]
    fn an_unknown_profile_names_the_known_ones() {
        let e = load("tgi").unwrap_err().to_string();
        assert!(e.contains("no profile \"tgi\""), "{e}");
        assert!(e.contains("mock") && e.contains("vllm"), "{e}");
    }

    #[test]
    fn a_profile_without_the_scenario_bindings_is_refused() {
        let text = "apiVersion: inferbench.dev/v1alpha1\nkind: Profile\nmetadata: { name: x }\nspec:\n  bindings: { server: x }\n";
        let e = parse(Path::new("x.yaml"), text).unwrap_err().to_string();
        assert!(e.contains("servingTemplate, port"), "{e}");
        let text = "apiVersion: inferbench.dev/v1alpha1\nkind: Profile\nmetadata: { name: x }\nspec:\n  provides: [gpus]\n  bindings: {}\n";
        let e = parse(Path::new("x.yaml"), text).unwrap_err().to_string();
        assert!(e.starts_with("x.yaml:5:"), "{e}");
    }

    #[test]
    fn a_profile_with_its_own_template_needs_no_serving_bindings() {
        let text = "apiVersion: inferbench.dev/v1alpha1\nkind: Profile\nmetadata: { name: team }\nspec:\n  template:\n    manifests: ../deploy\n    serveWith: mock\n";
        let p = parse(Path::new("/team/ci/profile.yaml"), text).unwrap_or_else(|e| panic!("{e}"));
        let t = p.spec.template.expect("template");
        assert_eq!(t.manifests, Some(PathBuf::from("/team/ci/../deploy")));
        let bad = text.replace("    manifests: ../deploy\n", "");
        let e = parse(Path::new("/team/ci/profile.yaml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exactly one of helm, kustomize or manifests"),
            "{e}"
        );
    }

    #[test]
    fn missing_capabilities_are_listed_once_in_order() {
        let offered = BTreeSet::from([Capability::Containers]);
        let m = missing(
            &[
                Capability::MockServer,
                Capability::Containers,
                Capability::GpuFakes,
                Capability::MockServer,
            ],
            &offered,
        );
        assert_eq!(m, vec![Capability::GpuFakes, Capability::MockServer]);
        assert_eq!(
            describe_missing(&m),
            "needs gpu-fakes, mock-server, which this cluster and profile do not offer"
        );
    }
}
