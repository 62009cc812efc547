//! A profile's `spec.template`: a team's own template (a Helm chart with
//! values files, a kustomize overlay, or plain manifests), which of its
//! objects the scenarios act on, and what serves. Paths are relative to the
//! profile file, so a profile can live in the team's own repository.
//!
//! ```yaml
//! spec:
//!   template:
//!     helm: { chart: ../charts/llm, values: [../charts/llm/ci/dev-values.yaml] }
//!     target: { workload: Deployment/llm, container: vllm, service: llm }
//!     serveWith: mock
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the template comes from, and how it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateSpec {
    #[serde(default)]
    pub helm: Option<HelmSpec>,
    /// A kustomization folder (a base or an overlay).
    #[serde(default)]
    pub kustomize: Option<PathBuf>,
    /// Plain manifests: a file, or a folder of `*.yaml`/`*.yml`.
    #[serde(default)]
    pub manifests: Option<PathBuf>,
    /// Which objects the scenarios act on, where discovery cannot tell.
    #[serde(default)]
    pub target: TargetSpec,
    /// What serves: the template's own image, or our mock in its place.
    #[serde(default)]
    pub serve_with: ServeWith,
}

/// A Helm chart and its values files, layered in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmSpec {
    pub chart: PathBuf,
    #[serde(default)]
    pub values: Vec<PathBuf>,
}

/// Names for target discovery's choices (`Kind/name` or `name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSpec {
    #[serde(default)]
    pub workload: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
}

/// What serves the template's workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServeWith {
    /// The template's own image (real GPUs).
    #[default]
    Own,
    /// inferbench's mock server in the serving container's place.
    Mock,
}

impl TemplateSpec {
    /// Checks that exactly one source is named and makes its paths relative
    /// to `base` (the profile file's folder) absolute.
    pub fn resolve(&mut self, base: &Path) -> Result<(), String> {
        let named = [
            self.helm.is_some(),
            self.kustomize.is_some(),
            self.manifests.is_some(),
        ]
        .iter()
        .filter(|n| **n)
        .count();
        if named != 1 {
            return Err(format!(
                "spec.template must name exactly one of helm, kustomize or manifests (it names {named})"
            ));
        }
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(h) = &mut self.helm {
            join(&mut h.chart);
            h.values.iter_mut().for_each(join);
        }
        self.kustomize.iter_mut().for_each(join);
        self.manifests.iter_mut().for_each(join);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> TemplateSpec {
        yaml_serde::from_str(yaml).expect("test YAML parses")
    }

    #[test]
    fn paths_are_relative_to_the_profile() {
        let mut t = spec(
            "helm: { chart: ../charts/llm, values: [../charts/llm/ci/dev-values.yaml, /abs/v.yaml] }\nserveWith: mock\n",
        );
        t.resolve(Path::new("/team/ci")).expect("one source");
        let h = t.helm.expect("helm");
        assert_eq!(h.chart, PathBuf::from("/team/ci/../charts/llm"));
        assert_eq!(
            h.values,
            vec![
                PathBuf::from("/team/ci/../charts/llm/ci/dev-values.yaml"),
                PathBuf::from("/abs/v.yaml")
            ]
        );
        assert_eq!(t.serve_with, ServeWith::Mock);
    }

    #[test]
    fn exactly_one_source() {
        let mut none = spec("serveWith: own\n");
        assert!(
            none.resolve(Path::new("/p"))
                .unwrap_err()
                .contains("names 0")
        );
        let mut two = spec("kustomize: a\nmanifests: b\n");
        assert!(
            two.resolve(Path::new("/p"))
                .unwrap_err()
                .contains("names 2")
        );
    }

    #[test]
    fn unknown_fields_and_values_are_refused() {
        assert!(yaml_serde::from_str::<TemplateSpec>("chart: x\n").is_err());
        assert!(yaml_serde::from_str::<TemplateSpec>("manifests: x\nserveWith: tgi\n").is_err());
    }
}
