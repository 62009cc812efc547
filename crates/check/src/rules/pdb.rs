//! A PodDisruptionBudget that lets nodes drain.

use serde_json::Value;

use super::{Context, Rule};
use crate::finding::{Finding, Severity};
use crate::workload::{scaled, selects};

pub const RULE: Rule = Rule {
    id: "pdb-allows-drain",
    severity: Severity::Error,
    summary: "The PodDisruptionBudget fits the replica count",
    help: "A PodDisruptionBudget protects serving capacity during node drains, but one that can never be satisfied (`minAvailable` >= replicas, `maxUnavailable: 0`) blocks every drain: GPU node upgrades and autoscaler scale-downs hang until someone deletes it. With one replica, `maxUnavailable: 1` is the only budget that lets a node drain. A PDB that selects no serving pod protects nothing.",
    run,
};

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pdb in ctx
        .objects
        .iter()
        .filter(|o| o.kind() == "PodDisruptionBudget")
    {
        let selector = pdb.value.pointer("/spec/selector").unwrap_or(&Value::Null);
        let targets: Vec<_> = ctx
            .workloads
            .iter()
            .filter(|w| selector.is_object() && selects(selector, w.pod_labels))
            .collect();
        if targets.is_empty() {
            out.push(Finding::at(
                RULE.id,
                Severity::Warning,
                pdb,
                pdb.line_of(&["selector:"]),
                "selects no pod of these manifests",
                "make spec.selector match the serving pod template's labels",
            ));
            continue;
        }
        for w in targets {
            let Some(replicas) = w.replicas else { continue };
            let min = pdb.value.pointer("/spec/minAvailable");
            let max = pdb.value.pointer("/spec/maxUnavailable");
            let allowed = match (min, max) {
                (Some(m), _) => {
                    scaled(m, replicas, true).map(|m| (replicas - m, "minAvailable", m))
                }
                (None, Some(m)) => scaled(m, replicas, true).map(|m| (m, "maxUnavailable", m)),
                (None, None) => None,
            };
            let Some((allowed, field, value)) = allowed else {
                continue;
            };
            if allowed < 1 {
                out.push(Finding::at(
                    RULE.id,
                    Severity::Error,
                    pdb,
                    pdb.line_of(&[field]),
                    format!(
                        "{field} {value} with {replicas} replica(s) of {} allows no disruption: every node drain blocks",
                        w.obj.display()
                    ),
                    if replicas == 1 {
                        "with one replica use maxUnavailable: 1 (or run two replicas and minAvailable: 1)".to_string()
                    } else {
                        format!("use maxUnavailable: 1 or minAvailable: {}", replicas - 1)
                    },
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    fn with_pdb(replicas: i64, budget: &str) -> String {
        format!(
            "{}---\nkind: PodDisruptionBudget\nmetadata: {{name: vllm}}\nspec:\n  {budget}\n  selector: {{matchLabels: {{app: vllm}}}}\n",
            deployment(replicas, "", "")
        )
    }

    #[test]
    fn passes_when_a_drain_can_proceed() {
        assert!(run(&RULE, &with_pdb(1, "maxUnavailable: 1")).is_empty());
        assert!(run(&RULE, &with_pdb(2, "minAvailable: 1")).is_empty());
        assert!(run(&RULE, &with_pdb(4, "minAvailable: \"50%\"")).is_empty());
    }

    #[test]
    fn fails_when_no_disruption_is_allowed() {
        for (replicas, budget) in [
            (1, "minAvailable: 1"),
            (2, "minAvailable: 2"),
            (3, "maxUnavailable: 0"),
            (2, "minAvailable: \"100%\""),
        ] {
            let f = run(&RULE, &with_pdb(replicas, budget));
            assert_eq!(f.len(), 1, "{budget}");
            assert_eq!(f[0].severity, Severity::Error);
            assert_eq!(f[0].object, "PodDisruptionBudget/vllm");
        }
    }

    #[test]
    fn warns_when_it_selects_nothing() {
        let y = with_pdb(2, "minAvailable: 1")
            .replace("{matchLabels: {app: vllm}}", "{matchLabels: {app: other}}");
        let f = run(&RULE, &y);
        assert_eq!(f[0].severity, Severity::Warning);
    }
}
