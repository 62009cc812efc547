//! The optional cluster components (`up --with`) a suite needs, which
//! `e2e` brings up with its cluster.

use std::path::PathBuf;

use scenario::model::Capability;

/// The components the scenarios (or any of their steps) require:
/// `requires: [vpa]` asks for the VPA recommender.
pub fn components_for(scenarios: &[(PathBuf, scenario::Scenario)]) -> Vec<cluster::Component> {
    let needs = |c: Capability| {
        scenarios.iter().any(|(_, s)| {
            s.spec.requires.contains(&c) || s.spec.steps.iter().any(|st| st.requires.contains(&c))
        })
    };
    let mut with = Vec::new();
    if needs(Capability::Vpa) {
        with.push(cluster::Component::Vpa);
    }
    with
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(requires: &str, step_requires: &str) -> (PathBuf, scenario::Scenario) {
        let file = PathBuf::from("s.yaml");
        let text = format!(
            "apiVersion: inferbench.dev/v1alpha1\nkind: Scenario\nmetadata: {{ name: s }}\nspec:\n  requires: {requires}\n  steps:\n    - name: x\n      requires: {step_requires}\n      try: [ {{ sleep: {{ duration: 1s }} }} ]\n"
        );
        let s = scenario::parse(&file, &text).expect("valid");
        (file, s)
    }

    #[test]
    fn the_vpa_comes_up_when_a_scenario_or_a_step_requires_it() {
        assert!(components_for(&[scenario("[containers]", "[]")]).is_empty());
        assert_eq!(
            components_for(&[scenario("[containers]", "[]"), scenario("[vpa]", "[]")]),
            [cluster::Component::Vpa]
        );
        assert_eq!(
            components_for(&[scenario("[]", "[vpa]")]),
            [cluster::Component::Vpa]
        );
    }

    #[test]
    fn the_built_in_suite_asks_for_the_vpa() {
        let dir = environment::workspace::repo_root().join("scenarios");
        let all = scenario::load_all(&[dir]).expect("the built-in scenarios load");
        assert!(components_for(&all).contains(&cluster::Component::Vpa));
    }
}
