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

use std::path::PathBuf;

use check::patch::knobs;
use check::{Applied, Object, Target};
use scenario::bindings::Bindings;
use scenario::template_spec::{ServeWith, TemplateSpec};
use serde_json::Value;

use crate::post_render::PostRender;

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
    /// How a chart is installed: a Helm release per scenario namespace.
    pub helm: Option<HelmRelease>,
    /// What `cargo xtask check` finds in the rendered objects, with the
    /// renderer's own lint (`helm lint`), before any cluster work.
    pub findings: Vec<check::Finding>,
    /// This variant's name when the template has several (a chart's
    /// `ci/dev-values.yaml` is `dev-values`); the scenarios' names carry it.
    pub variant: Option<String>,
}

/// The static check rules about what `decider` decides: a finding of
/// one of them on the template foretells that controller's refusal.
fn rules_behind(decider: report::Decider) -> &'static [&'static str] {
    use report::Decider as D;
    match decider {
        D::Scheduler => &["gpu-taint-toleration", "gpu-pool-selector"],
        D::KubeletProbes => &["readiness-gated-on-model-load"],
        D::RolloutController => &["rolling-update-keeps-capacity"],
        D::DisruptionBudget => &["pdb-allows-drain"],
        D::ServiceSelector => &["service-selects-serving-pods"],
        D::Service => &["rolling-update-keeps-capacity", "prestop-drain"],
        D::Admission | D::Kubelet => &["container-requests"],
        D::KernelOomKiller
        | D::Autoscaler
        | D::JobController
        | D::Rbac
        | D::NetworkPolicy
        | D::Assertion => &[],
    }
}

/// A chart installed as a release: `helm upgrade --install` with our
/// patches as its post-renderer, `helm rollback` to go back.
#[derive(Debug, Clone)]
pub struct HelmRelease {
    /// The pinned Helm.
    pub helm: PathBuf,
    pub chart: PathBuf,
    pub values: Vec<PathBuf>,
    /// The release name, as the template was rendered with (so the objects
    /// and their names are the ones discovered).
    pub release: String,
    /// The program Helm runs as post-renderer, with the arguments before
    /// the plan file (`xtask post-render`); without one, the rendered
    /// objects are applied server-side instead of as a release.
    pub post_renderer: Option<(PathBuf, Vec<String>)>,
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
        let mut checked = check::check(&objects);
        checked.add(check::lint(&source, tools)?);
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
            helm: match (&source, &tools.helm) {
                (check::Source::Helm(chart), Some(helm)) => Some(HelmRelease {
                    helm: helm.clone(),
                    chart: chart.dir.clone(),
                    values: chart.values.clone(),
                    release: chart.release.clone(),
                    post_renderer: None,
                }),
                _ => None,
            },
            findings: checked.findings,
            variant: None,
        })
    }

    /// This variant as the report shows it; file paths relative to `base`.
    pub fn report(&self, base: &std::path::Path) -> report::TemplateReport {
        report::TemplateReport {
            variant: self.variant.clone(),
            source: self.source.clone(),
            target: self.target.describe(),
            served_by: if self.stand_in.is_some() {
                "mock stand-in".into()
            } else {
                "own image".into()
            },
            installed_with: match &self.helm {
                Some(h) if h.post_renderer.is_some() => format!("helm release {}", h.release),
                _ => "server-side apply".into(),
            },
            findings: self
                .findings
                .iter()
                .map(|f| report::StaticFinding {
                    rule: f.rule.to_string(),
                    severity: f.severity.as_str().to_string(),
                    object: f.object.clone(),
                    file: f
                        .file
                        .strip_prefix(base)
                        .unwrap_or(&f.file)
                        .display()
                        .to_string(),
                    line: f.line,
                    message: f.message.clone(),
                })
                .collect(),
        }
    }

    /// Names in `d` the static checks' findings on this template that
    /// foretold what its deciding controller did (a scheduler that found
    /// no toleration for the GPU taint, `gpu-taint-toleration`), so a
    /// failure points back at the template's line that causes it.
    pub fn link_findings(&self, d: &mut report::Diagnosis) {
        let rules = rules_behind(d.decider);
        let foretold: Vec<&check::Finding> = self
            .findings
            .iter()
            .filter(|f| f.severity != check::Severity::Info && rules.contains(&f.rule))
            .collect();
        if foretold.is_empty() {
            return;
        }
        let names: Vec<String> = foretold.iter().map(|f| format!("`{}`", f.rule)).collect();
        d.summary.push_str(&format!(
            " `cargo xtask check` found this in the template before the run: {}.",
            names.join(", ")
        ));
        for f in foretold {
            d.evidence.push(format!(
                "check {} ({}): {} at {}:{}: {}",
                f.rule,
                f.severity.as_str(),
                f.object,
                f.file.display(),
                f.line,
                f.message
            ));
        }
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

    /// The post-render patches for an apply whose bindings are `bindings`.
    pub fn post_render(&self, bindings: &Bindings) -> PostRender {
        PostRender {
            workload: self.target.workload_ref.clone(),
            container: self.target.container.clone(),
            service: self.target.service_name.clone(),
            stand_in: self.stand_in.clone(),
            knobs: bindings
                .iter()
                .filter(|(k, _)| {
                    knobs::KNOBS.contains(&k.as_str())
                        || k.as_str() == crate::post_render::SCENARIO_BUDGET
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            version_env: self.version_env.clone(),
            env: Default::default(),
            image: None,
            resources: Default::default(),
        }
    }

    /// The objects to apply for a run whose bindings are `bindings`, as one
    /// YAML stream, and every change made to the template.
    pub fn render(&self, bindings: &Bindings) -> Result<(String, Vec<Applied>), String> {
        self.post_render(bindings)
            .apply(self.objects.clone(), &self.target)
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
    fn a_diagnosis_names_the_check_that_foretold_it() {
        let spec = TemplateSpec {
            helm: None,
            kustomize: None,
            manifests: Some(
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plain-broken"),
            ),
            target: Default::default(),
            serve_with: ServeWith::Mock,
        };
        let t = OwnTemplate::prepare(&spec, &check::Tools::default(), "m:dev").expect("prepares");
        let diagnosis = |decider| report::Diagnosis {
            step: "deploy".into(),
            decider,
            summary: "The scheduler placed no pod.".into(),
            evidence: Vec::new(),
        };
        let mut d = diagnosis(report::Decider::Scheduler);
        t.link_findings(&mut d);
        assert!(
            d.summary.contains("`gpu-taint-toleration`"),
            "{}",
            d.summary
        );
        assert!(
            d.evidence.iter().any(|e| e.contains("deployment.yaml")),
            "{:?}",
            d.evidence
        );
        let mut oom = diagnosis(report::Decider::KernelOomKiller);
        t.link_findings(&mut oom);
        assert_eq!(
            oom.summary, "The scheduler placed no pod.",
            "no rule is about OOM kills"
        );
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
