//! What a scenario changes in a team's template, as post-render patches on
//! its target: our mock standing in for the serving container, then the
//! run's knobs (`replicas`, `readinessPath`, a twin's defect, ...) through
//! [`check::patch::knobs`]. The same [`PostRender`] patches the objects we
//! rendered ourselves (plain manifests, kustomize) and, as a Helm
//! post-renderer (`xtask post-render PLAN`), what `helm upgrade` renders.
//!
//! Every object loses a hard-coded `metadata.namespace`: it goes into the
//! scenario's namespace.

use std::collections::BTreeMap;

use check::patch::{self, Patch, knobs};
use check::{Applied, Object, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The label the harness puts on the serving pods (value: the workload's
/// name), which its fixtures select them by (`fixtures/disruption/pdb.yaml`).
pub const TARGET_LABEL: &str = "inferbench.dev/target";

/// The binding of a scenario that applies its own PodDisruptionBudget
/// (`fixtures/disruption/pdb.yaml`); the plan carries it beside the knobs.
pub const SCENARIO_BUDGET: &str = "pdbMaxUnavailable";

/// The patches one apply makes, serialisable so that a Helm post-renderer
/// process can make them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostRender {
    /// The target found when the template was prepared (`Deployment/llm`).
    pub workload: String,
    pub container: String,
    pub service: String,
    /// Our mock's image, when it stands in for the serving container.
    pub stand_in: Option<String>,
    /// The knobs this apply sets (bindings named in [`knobs::KNOBS`]).
    pub knobs: BTreeMap<String, Value>,
    /// The variable a rollout changes to make a new version.
    pub version_env: String,
    /// Environment a `rollout` step set on the serving container, after
    /// the knobs (a chart's new version is a `helm upgrade` with it).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The image a `rollout` step set on the serving container (after the
    /// stand-in's, as a rollout's image patch comes after it on our own
    /// templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The resources `rollout` steps set (`limits`/`requests` by name),
    /// merged over the template's, as a strategic merge patch would.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, BTreeMap<String, Value>>,
}

impl PostRender {
    /// The patched objects as one YAML stream, and every change made.
    pub fn apply(
        &self,
        mut objects: Vec<Object>,
        target: &Target,
    ) -> Result<(String, Vec<Applied>), String> {
        let mut changed = Vec::new();
        if let Some(image) = &self.stand_in {
            let stand_in = Patch::StandIn {
                image: image.clone(),
            };
            changed
                .extend(patch::apply(&mut objects, target, &stand_in).map_err(|e| e.to_string())?);
        }
        let server = objects[target.workload].name().to_string();
        let mark = Patch::PodLabel {
            key: TARGET_LABEL.into(),
            value: server.clone(),
        };
        changed.extend(patch::apply(&mut objects, target, &mark).map_err(|e| e.to_string())?);
        let wanted = knobs::patches(
            &self.knobs,
            &server,
            Some(&self.version_env),
            self.stand_in.is_some(),
        )?;
        let env = self.env.iter().map(|(name, value)| Patch::Env {
            name: name.clone(),
            value: value.clone(),
        });
        let image = self.image.clone().map(Patch::Image);
        let resources = self.resources.iter().flat_map(|(kind, by_name)| {
            by_name.iter().map(|(name, quantity)| Patch::Resource {
                kind: kind.clone(),
                name: name.clone(),
                quantity: quantity.clone(),
            })
        });
        for p in wanted
            .patches
            .into_iter()
            .chain(env)
            .chain(image)
            .chain(resources)
        {
            changed.extend(patch::apply(&mut objects, target, &p).map_err(|e| e.to_string())?);
        }
        // A replica count the scenario sets would be overridden by the
        // template's own autoscaler of the workload: it goes, and says so.
        let kind = objects[target.workload].kind().to_string();
        let scales_target = |o: &Object| {
            o.kind() == "HorizontalPodAutoscaler"
                && o.value
                    .pointer("/spec/scaleTargetRef/name")
                    .and_then(Value::as_str)
                    == Some(server.as_str())
                && o.value
                    .pointer("/spec/scaleTargetRef/kind")
                    .and_then(Value::as_str)
                    == Some(kind.as_str())
        };
        let drop_autoscaler = self.knobs.contains_key("replicas");
        // Two budgets over one pod make the Eviction API refuse every
        // eviction: a scenario that brings its own leaves the template's out.
        let pod_labels = objects[target.workload]
            .value
            .pointer("/spec/template/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let budgets_target = |o: &Object| {
            o.kind() == "PodDisruptionBudget"
                && o.value
                    .pointer("/spec/selector/matchLabels")
                    .and_then(Value::as_object)
                    .is_some_and(|m| m.iter().all(|(k, v)| pod_labels.get(k) == Some(v)))
        };
        let drop_budget = self.knobs.contains_key(SCENARIO_BUDGET);
        let mut yaml = String::new();
        for o in &objects {
            let left_out = if drop_autoscaler && scales_target(o) {
                Some("the scenario sets the replica count")
            } else if drop_budget && budgets_target(o) {
                Some("the scenario brings its own PodDisruptionBudget")
            } else {
                None
            };
            if let Some(why) = left_out {
                changed.push(Applied {
                    object: o.display(),
                    field: format!("(left out: {why})"),
                    before: Value::from("present"),
                    after: Value::Null,
                });
                continue;
            }
            let mut v = o.value.clone();
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("namespace");
            }
            yaml.push_str("---\n");
            yaml.push_str(&yaml_serde::to_string(&v).map_err(|e| e.to_string())?);
        }
        Ok((yaml, changed))
    }

    /// Patches a rendered YAML stream (a Helm post-renderer's input): the
    /// target is found again by the names it had when prepared.
    /// Merges a rollout's `resources` (`{limits: {...}, requests: {...}}`)
    /// into the plan; anything else is refused with what was expected.
    pub fn merge_resources(&mut self, resources: &Value) -> Result<(), String> {
        let expected =
            "a rollout's resources are `{limits: {NAME: QUANTITY}, requests: {NAME: QUANTITY}}`";
        let sections = resources
            .as_object()
            .ok_or_else(|| format!("{expected}, not {resources}"))?;
        for (kind, by_name) in sections {
            if kind != "limits" && kind != "requests" {
                return Err(format!("{expected}; `{kind}` is neither"));
            }
            let by_name = by_name
                .as_object()
                .ok_or_else(|| format!("{expected}, not {kind}: {by_name}"))?;
            let merged = self.resources.entry(kind.clone()).or_default();
            for (name, quantity) in by_name {
                merged.insert(name.clone(), quantity.clone());
            }
        }
        Ok(())
    }

    pub fn run(&self, rendered: &str) -> Result<(String, Vec<Applied>), String> {
        let objects = check::parse_documents(std::path::Path::new("(helm output)"), rendered)
            .map_err(|e| e.to_string())?;
        let choice = check::Choice {
            workload: Some(self.workload.clone()),
            container: Some(self.container.clone()),
            service: Some(self.service.clone()),
        };
        let target = check::discover(&objects, &choice).map_err(|e| {
            format!("the release's objects no longer have the prepared target: {e}")
        })?;
        self.apply(objects, &target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_yaml() -> String {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plain");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("examples/plain")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| format!("---\n{}", std::fs::read_to_string(f).expect("readable")))
            .collect()
    }

    fn plan() -> PostRender {
        PostRender {
            workload: "Deployment/qwen-chat".into(),
            container: "vllm".into(),
            service: "qwen-chat".into(),
            stand_in: Some("inferbench/mock-server:dev".into()),
            knobs: BTreeMap::from([("replicas".into(), Value::from(3))]),
            version_env: "MOCK_VERSION".into(),
            env: BTreeMap::from([("MOCK_VERSION".into(), "v2".into())]),
            image: None,
            resources: BTreeMap::new(),
        }
    }

    #[test]
    fn helm_output_is_patched_as_the_plan_says() {
        let (yaml, changed) = plan().run(&plain_yaml()).expect("patches");
        let fields: Vec<String> = changed.iter().map(|c| c.field.clone()).collect();
        assert!(yaml.contains("image: inferbench/mock-server:dev"), "{yaml}");
        assert!(yaml.contains("replicas: 3"), "{yaml}");
        assert!(yaml.contains("value: v2"), "{yaml}");
        assert!(!yaml.contains("namespace:"), "{yaml}");
        assert!(
            fields.iter().any(|f| f.contains("env")),
            "the rollout's env is a patch: {fields:?}"
        );
    }

    #[test]
    fn the_templates_autoscaler_goes_when_the_scenario_sets_replicas() {
        let hpa = "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: { name: qwen-chat }\nspec:\n  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: qwen-chat }\n  minReplicas: 2\n  maxReplicas: 4\n";
        let rendered = format!("{}{hpa}", plain_yaml());
        let (yaml, changed) = plan().run(&rendered).expect("patches");
        assert!(!yaml.contains("HorizontalPodAutoscaler"), "{yaml}");
        assert!(
            changed
                .iter()
                .any(|c| c.object == "HorizontalPodAutoscaler/qwen-chat" && c.after.is_null()),
            "the report says it was left out"
        );
        let mut keep = plan();
        keep.knobs.clear();
        let (yaml, _) = keep.run(&rendered).expect("patches");
        assert!(
            yaml.contains("HorizontalPodAutoscaler"),
            "no replica count set: it stays"
        );
    }

    #[test]
    fn the_templates_budget_goes_when_the_scenario_brings_one() {
        let mut p = plan();
        p.knobs.insert(SCENARIO_BUDGET.into(), Value::from(0));
        let (yaml, changed) = p.run(&plain_yaml()).expect("patches");
        assert!(!yaml.contains("PodDisruptionBudget"), "{yaml}");
        assert!(
            changed
                .iter()
                .any(|c| c.object.starts_with("PodDisruptionBudget/"))
        );
        let (yaml, _) = plan().run(&plain_yaml()).expect("patches");
        assert!(
            yaml.contains("PodDisruptionBudget"),
            "no budget of the scenario's: it stays"
        );
    }

    #[test]
    fn a_rollouts_image_and_resources_come_after_the_stand_in() {
        let mut p = plan();
        p.image = Some("registry.example/vllm:v0.11.1".into());
        p.merge_resources(&serde_json::json!({"limits": {"memory": "20Gi"}}))
            .expect("limits");
        p.merge_resources(&serde_json::json!({"requests": {"cpu": "2"}, "limits": {"cpu": "4"}}))
            .expect("merged");
        let (yaml, changed) = p.run(&plain_yaml()).expect("patches");
        assert!(
            yaml.contains("image: registry.example/vllm:v0.11.1"),
            "{yaml}"
        );
        assert!(
            !yaml.contains("image: inferbench/mock-server:dev"),
            "{yaml}"
        );
        let fields: Vec<&str> = changed.iter().map(|c| c.field.as_str()).collect();
        for f in [
            "spec.template.spec.containers[vllm].resources.limits.memory",
            "spec.template.spec.containers[vllm].resources.limits.cpu",
            "spec.template.spec.containers[vllm].resources.requests.cpu",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        let d: Vec<Value> = yaml_serde::Deserializer::from_str(&yaml)
            .map(|d| Value::deserialize(d).expect("yaml"))
            .collect();
        let limits = d
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .and_then(|o| o.pointer("/spec/template/spec/containers/0/resources/limits"))
            .expect("limits");
        assert_eq!(limits["memory"], "20Gi");
        assert_eq!(limits["cpu"], "4");
        assert_eq!(
            limits["nvidia.com/gpu"], 1,
            "the template's own limits stay"
        );
        let err = p
            .merge_resources(&serde_json::json!({"limit": {"memory": "1Gi"}}))
            .expect_err("a misspelt section");
        assert!(err.contains("`limit` is neither"), "{err}");
    }

    #[test]
    fn a_release_without_the_prepared_target_is_refused() {
        let mut p = plan();
        p.workload = "Deployment/other".into();
        let err = p.run(&plain_yaml()).expect_err("no such workload");
        assert!(err.contains("prepared target"), "{err}");
    }

    #[test]
    fn the_plan_survives_its_file() {
        let p = plan();
        let json = serde_json::to_string(&p).expect("serialises");
        let back: PostRender = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, p);
    }
}
