//! A team's own template in place of our serving fixture. The profile's
//! `spec.template` is rendered once (Helm, kustomize or plain manifests)
//! and the target discovered in it; each time a scenario applies the
//! serving template, the run's knobs (`replicas`, `readinessPath`, a twin's
//! defect, ...) become post-render patches on that target
//! ([`check::patch::knobs`]), our mock stands in for the server when asked,
//! and the objects go into the scenario's namespace.
//!
//! Containment: a hard-coded `metadata.namespace` is dropped (the object
//! goes into the scenario namespace, as `helm template` renders
//! `.Release.Namespace` as `default`); a cluster-scoped object is refused,
//! since it would outlive the run.

use check::patch::{self, Patch, knobs};
use check::{Applied, Object, Target};
use scenario::bindings::Bindings;
use scenario::template_spec::{ServeWith, TemplateSpec};
use serde_json::Value;

/// The value of `servingTemplate` that stands for the own template.
pub const MARKER: &str = "(own template)";

/// Kinds that are not namespaced, which a template must not create here.
const CLUSTER_SCOPED: [&str; 12] = [
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "IngressClass",
    "RuntimeClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "DeviceClass",
];

/// The rendered template, its target, and how it serves.
#[derive(Debug, Clone)]
pub struct OwnTemplate {
    /// What was rendered, for people (`helm chart charts/llm with ...`).
    pub source: String,
    pub objects: Vec<Object>,
    pub target: Target,
    /// Our mock's image, when it stands in for the serving container.
    pub stand_in: Option<String>,
    /// The variable a rollout changes to make a new version.
    pub version_env: String,
}

/// A template that cannot run here, before any cluster work.
#[derive(Debug, thiserror::Error)]
pub enum OwnTemplateError {
    #[error(transparent)]
    Render(#[from] check::CheckError),
    #[error("{template}: {error}")]
    Discover {
        template: String,
        error: check::DiscoverError,
    },
    #[error(
        "{object} ({file}): a cluster-scoped object would outlive the scenario's namespace; leave it out of the template for this run (a values file or an overlay without it)"
    )]
    ClusterScoped { object: String, file: String },
    #[error("spec.template names no helm chart, kustomize folder or manifests")]
    NoSource,
}

/// What `spec` renders from: the Helm chart with its values, the
/// kustomization, or the manifests.
pub fn source_of(spec: &TemplateSpec) -> Result<check::Source, OwnTemplateError> {
    match (&spec.helm, &spec.kustomize, &spec.manifests) {
        (Some(h), _, _) => Ok(check::Source::Helm(check::HelmChart::new(
            &h.chart,
            h.values.clone(),
        ))),
        (None, Some(k), _) => Ok(check::Source::Kustomize(k.clone())),
        (None, None, Some(m)) => Ok(check::Source::Manifests(m.clone())),
        (None, None, None) => Err(OwnTemplateError::NoSource),
    }
}

impl OwnTemplate {
    /// Renders the profile's template with `tools` and finds its target.
    pub fn prepare(
        spec: &TemplateSpec,
        tools: &check::Tools,
        mock_image: &str,
    ) -> Result<OwnTemplate, OwnTemplateError> {
        let source = source_of(spec)?;
        source.validate()?;
        let objects = check::load(&source, tools)?;
        if let Some(o) = objects.iter().find(|o| CLUSTER_SCOPED.contains(&o.kind())) {
            return Err(OwnTemplateError::ClusterScoped {
                object: o.display(),
                file: o.origin.file.display().to_string(),
            });
        }
        let choice = check::Choice {
            workload: spec.target.workload.clone(),
            container: spec.target.container.clone(),
            service: spec.target.service.clone(),
        };
        let target =
            check::discover(&objects, &choice).map_err(|error| OwnTemplateError::Discover {
                template: source.describe(),
                error,
            })?;
        let stand_in = (spec.serve_with == ServeWith::Mock).then(|| mock_image.to_string());
        // A rollout changes this variable: the mock reports it as the
        // served version (the `servedBy` checks read it); a team's own
        // server just restarts with it, as with an image bump.
        let version_env = if stand_in.is_some() {
            "MOCK_VERSION"
        } else {
            "INFERENCE_VERSION"
        };
        Ok(OwnTemplate {
            source: source.describe(),
            objects,
            target,
            stand_in,
            version_env: version_env.into(),
        })
    }

    /// The workload's name (`deployment/<server>` in the scenarios).
    pub fn server(&self) -> &str {
        self.objects[self.target.workload].name()
    }

    /// The profile bindings the scenarios use for the serving target.
    pub fn bindings(&self) -> Bindings {
        Bindings::from([
            ("servingTemplate".to_string(), Value::from(MARKER)),
            ("server".to_string(), Value::from(self.server())),
            (
                "service".to_string(),
                Value::from(self.target.service_name.clone()),
            ),
            ("port".to_string(), Value::from(self.target.port)),
            (
                "versionEnv".to_string(),
                Value::from(self.version_env.clone()),
            ),
        ])
    }

    /// The objects to apply for a run whose bindings are `bindings`, as one
    /// YAML stream, and every change made to the template.
    pub fn render(&self, bindings: &Bindings) -> Result<(String, Vec<Applied>), String> {
        let mut objects = self.objects.clone();
        let mut changed = Vec::new();
        let mock = self.stand_in.is_some();
        if let Some(image) = &self.stand_in {
            changed.extend(
                patch::apply(
                    &mut objects,
                    &self.target,
                    &Patch::StandIn {
                        image: image.clone(),
                    },
                )
                .map_err(|e| e.to_string())?,
            );
        }
        let set: std::collections::BTreeMap<String, Value> = bindings
            .iter()
            .filter(|(k, _)| knobs::KNOBS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let wanted = knobs::patches(&set, self.server(), Some(&self.version_env), mock)?;
        for p in &wanted.patches {
            changed.extend(patch::apply(&mut objects, &self.target, p).map_err(|e| e.to_string())?);
        }
        let mut yaml = String::new();
        for o in &objects {
            let mut v = o.value.clone();
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("namespace");
            }
            yaml.push_str("---\n");
            yaml.push_str(&yaml_serde::to_string(&v).map_err(|e| e.to_string())?);
        }
        Ok((yaml, changed))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn plain() -> OwnTemplate {
        let spec = TemplateSpec {
            helm: None,
            kustomize: None,
            manifests: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plain")),
            target: Default::default(),
            serve_with: ServeWith::Mock,
        };
        OwnTemplate::prepare(
            &spec,
            &check::Tools::default(),
            "inferbench/mock-server:dev",
        )
        .expect("the plain example prepares")
    }

    #[test]
    fn the_bindings_name_the_discovered_target() {
        let t = plain();
        let b = t.bindings();
        assert_eq!(b["server"], "qwen-chat");
        assert_eq!(b["service"], "qwen-chat");
        assert_eq!(b["port"], 80);
        assert_eq!(b["servingTemplate"], MARKER);
    }

    #[test]
    fn knobs_become_patches_and_the_mock_stands_in() {
        let t = plain();
        let mut b = t.bindings();
        b.insert("replicas".into(), Value::from(1));
        b.insert("readinessPath".into(), Value::from("/health"));
        b.insert("modelLoadMs".into(), Value::from(8000));
        b.insert("unrelated".into(), Value::from("x"));
        let (yaml, changed) = t.render(&b).expect("renders");
        let lines: Vec<String> = changed.iter().map(Applied::describe).collect();
        insta::assert_snapshot!(lines.join("\n"));
        assert!(yaml.contains("image: inferbench/mock-server:dev"), "{yaml}");
        assert!(!yaml.contains("namespace:"), "{yaml}");
        assert_eq!(k8s::split_documents(&yaml).len(), t.objects.len());
    }

    #[test]
    fn a_bad_knob_is_an_error_naming_it() {
        let t = plain();
        let mut b = t.bindings();
        b.insert("replicas".into(), Value::from("many"));
        let err = t.render(&b).expect_err("not a number");
        assert!(err.starts_with("replicas:"), "{err}");
    }
}
