//! The plan of a run: which scenario instances run (one per scenario, or one
//! per matrix entry), with which bindings, in which namespace, and which are
//! skipped because the cluster or the serving profile lacks what they need.
//!
//! Pure: nothing here talks to a cluster. The runner executes the plan.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::bindings::{self, Bindings, TemplateError};
use crate::model::{Capability, Exclusive, ExpectFailure, Scenario};
use crate::profile;

/// One scenario, or one matrix entry of it: what actually runs.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    pub file: &'a Path,
    pub scenario: &'a Scenario,
    pub entry: Option<String>,
    pub description: Option<String>,
    pub bindings: Bindings,
    pub expect_failure: Option<ExpectFailure>,
    /// Which variant of a team's template this runs against, when it has
    /// several (a chart's `ci/*-values.yaml`, one verdict each).
    pub variant: Option<String>,
}

impl<'a> Instance<'a> {
    /// `scenario` or `scenario[entry]`, with `@variant` after it for a
    /// variant of the template (`rolling-update@dev-values`).
    pub fn name(&self) -> String {
        let mut name = match &self.entry {
            Some(e) => format!("{}[{e}]", self.scenario.metadata.name),
            None => self.scenario.metadata.name.clone(),
        };
        if let Some(v) = &self.variant {
            name.push('@');
            name.push_str(v);
        }
        name
    }

    /// The namespace this instance runs in: the scenario's own, or a fresh
    /// DNS label `ib-<scenario>[-<entry>]-<last 4 of the run id>`.
    pub fn namespace(&self, run_id: &str) -> String {
        if let Some(ns) = &self.scenario.spec.namespace {
            return ns.clone();
        }
        let suffix = &run_id[run_id.len().saturating_sub(4)..];
        let part = |p: &Option<String>| p.as_ref().map(|e| format!("-{e}")).unwrap_or_default();
        let mut base = dns_safe(&format!(
            "ib-{}{}{}",
            self.scenario.metadata.name,
            part(&self.entry),
            part(&self.variant)
        ));
        base.truncate(57);
        format!("{}-{suffix}", base.trim_end_matches('-'))
    }

    /// What this instance needs the cluster's share of to itself.
    pub fn exclusive(&self) -> &'a Exclusive {
        &self.scenario.spec.exclusive
    }

    /// The scenario's `expectedDuration` (zero when it gives none).
    pub fn expected_duration(&self) -> std::time::Duration {
        self.scenario.spec.expected_duration.unwrap_or_default()
    }

    /// Why this instance cannot run with `offered`: the scenario requires
    /// more, or the step a negative twin must fail in would be skipped.
    pub fn unmet_requirements(&self, offered: &BTreeSet<Capability>) -> Option<String> {
        let spec = &self.scenario.spec;
        let missing = profile::missing(&spec.requires, offered);
        if !missing.is_empty() {
            return Some(profile::describe_missing(&missing));
        }
        let x = self.expect_failure.as_ref()?;
        let step = spec.steps.iter().find(|s| s.name == x.step)?;
        let missing = profile::missing(&step.requires, offered);
        (!missing.is_empty()).then(|| {
            format!(
                "negative twin of step {}, which {}",
                x.step,
                profile::describe_missing(&missing)
            )
        })
    }
}

/// Expands matrices: one instance per entry (or one for a scenario without).
///
/// Bindings layer, later over earlier: `base` (the profile's), the
/// scenario's, the matrix entry's values file and values, then `set`. A
/// string binding may name others (`driftTo: "{{ server }}-canary"`); it is
/// filled from the layered result.
/// `text` lower-cased, with every character a DNS label may not hold
/// replaced by `-` (names of namespaces and pods the harness makes).
pub fn dns_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

pub fn instances<'a>(
    scenarios: &'a [(PathBuf, Scenario)],
    base: &Bindings,
    set: &Bindings,
) -> Result<Vec<Instance<'a>>, TemplateError> {
    let mut out = Vec::new();
    for (file, s) in scenarios {
        let dir = file.parent().unwrap_or(Path::new("."));
        if s.spec.matrix.is_empty() {
            let mut bindings = base.clone();
            bindings.extend(s.spec.bindings.clone());
            bindings.extend(set.clone());
            let bindings = resolve_references(file, bindings)?;
            out.push(Instance {
                file,
                scenario: s,
                entry: None,
                description: s.metadata.description.clone(),
                bindings,
                expect_failure: s.spec.expect_failure.clone(),
                variant: None,
            });
            continue;
        }
        for m in &s.spec.matrix {
            let mut bindings = base.clone();
            bindings.extend(s.spec.bindings.clone());
            if let Some(vf) = &m.values_file {
                bindings.extend(bindings::load_values(&dir.join(vf))?);
            }
            bindings.extend(m.values.clone());
            bindings.extend(set.clone());
            let bindings = resolve_references(file, bindings)?;
            out.push(Instance {
                file,
                scenario: s,
                entry: Some(m.name.clone()),
                description: m
                    .description
                    .clone()
                    .or_else(|| s.metadata.description.clone()),
                bindings,
                expect_failure: m
                    .expect_failure
                    .clone()
                    .or_else(|| s.spec.expect_failure.clone()),
                variant: None,
            });
        }
    }
    Ok(out)
}

/// Fills string bindings that name other bindings (one level: a binding
/// that names one still holding a placeholder is an error).
fn resolve_references(file: &Path, bindings: Bindings) -> Result<Bindings, TemplateError> {
    let mut out = bindings.clone();
    for (name, value) in &bindings {
        if let serde_json::Value::String(text) = value
            && text.contains("{{")
        {
            let filled = bindings::render(file, text, &bindings)?;
            if filled.contains("{{") {
                return Err(TemplateError::At {
                    file: file.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: format!(
                        "binding {name:?} = {text:?} names a binding that names another; bindings resolve one level deep"
                    ),
                });
            }
            out.insert(name.clone(), serde_json::Value::String(filled));
        }
    }
    Ok(out)
}

/// Folder-safe form of a name (`a[b]` -> `a-b`).
pub fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_entries_override_bindings_and_carry_their_expectation() {
        let text = "apiVersion: inferbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: s }\nspec:\n  bindings: { a: 1, b: 1 }\n  matrix:\n    - name: one\n    - name: two\n      values: { b: 2 }\n      expectFailure: { step: x, observed: { exitCode: 1 } }\n  steps:\n    - name: x\n      try: [ { script: { run: \"true\" } } ]\n";
        let s = crate::parse(Path::new("s.yaml"), text).expect("valid");
        let list = vec![(PathBuf::from("s.yaml"), s)];
        let set: Bindings = [("a".to_string(), serde_json::json!(9))].into();
        let insts = instances(&list, &Bindings::new(), &set).expect("instances");
        assert_eq!(insts.len(), 2);
        assert_eq!(insts[1].name(), "s[two]");
        assert_eq!(insts[1].bindings["b"], 2);
        assert_eq!(insts[1].bindings["a"], 9, "--set wins");
        assert!(insts[0].expect_failure.is_none());
        assert_eq!(
            insts[1].expect_failure.as_ref().map(|x| x.step.as_str()),
            Some("x")
        );
        assert!(
            insts[1]
                .namespace("20261123-000000-ab12")
                .starts_with("ib-s-two-ab12")
        );
        let mut variant = insts[1].clone();
        variant.variant = Some("dev-values".into());
        assert_eq!(variant.name(), "s[two]@dev-values");
        assert_eq!(
            variant.namespace("20261123-000000-ab12"),
            "ib-s-two-dev-values-ab12",
            "each variant of a template runs in a namespace of its own"
        );
    }

    const PROFILED: &str = "apiVersion: inferbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: s }\nspec:\n  requires: [containers]\n  bindings: { replicas: 2, drift: \"{{ server }}-canary\" }\n  matrix:\n    - name: plain\n    - name: twin\n      values: { drift: \"{{ server }}\" }\n      expectFailure: { step: knobs, observed: { exitCode: 1 } }\n  steps:\n    - name: generic\n      try: [ { sleep: { duration: 1s } } ]\n    - name: knobs\n      requires: [mock-server]\n      try: [ { script: { run: \"true\" } } ]\n";

    #[test]
    fn profile_bindings_sit_under_the_scenario_and_bindings_may_name_them() {
        let s = crate::parse(Path::new("s.yaml"), PROFILED).expect("valid");
        let list = vec![(PathBuf::from("s.yaml"), s)];
        let base: Bindings = [
            ("server".to_string(), serde_json::json!("vllm")),
            ("replicas".to_string(), serde_json::json!(1)),
        ]
        .into();
        let insts = instances(&list, &base, &Bindings::new()).expect("instances");
        assert_eq!(insts[0].bindings["replicas"], 2, "the scenario wins");
        assert_eq!(insts[0].bindings["drift"], "vllm-canary");
        assert_eq!(insts[1].bindings["drift"], "vllm");
        let looped: Bindings = [
            ("server".to_string(), serde_json::json!("{{ other }}")),
            ("other".to_string(), serde_json::json!("x")),
        ]
        .into();
        let e = instances(&list, &looped, &Bindings::new())
            .expect_err("two levels are refused")
            .to_string();
        assert!(e.contains("one level deep"), "{e}");
    }

    #[test]
    fn scenarios_and_twins_needing_more_than_offered_are_skipped_with_the_reason() {
        let s = crate::parse(Path::new("s.yaml"), PROFILED).expect("valid");
        let list = vec![(PathBuf::from("s.yaml"), s)];
        let base: Bindings = [("server".to_string(), serde_json::json!("m"))].into();
        let insts = instances(&list, &base, &Bindings::new()).expect("instances");
        let kwok = BTreeSet::new();
        let why = insts[0]
            .unmet_requirements(&kwok)
            .expect("kwok runs no containers");
        assert!(why.contains("needs containers"), "{why}");
        let vllm_on_kind = BTreeSet::from([Capability::Containers, Capability::RealGpus]);
        assert_eq!(insts[0].unmet_requirements(&vllm_on_kind), None);
        let why = insts[1]
            .unmet_requirements(&vllm_on_kind)
            .expect("the twin's step is skipped");
        assert!(
            why.contains("negative twin of step knobs") && why.contains("mock-server"),
            "{why}"
        );
        let mock = BTreeSet::from([Capability::Containers, Capability::MockServer]);
        assert_eq!(insts[1].unmet_requirements(&mock), None);
    }

    #[test]
    fn namespaces_are_dns_labels() {
        assert_eq!(
            slug("rolling-update[capacity gap]"),
            "rolling-update-capacity-gap"
        );
    }
}
