//! A rolling update never takes down all serving capacity.

use serde_json::{Value, json};

use super::{Context, Rule};
use crate::finding::{Finding, Severity};
use crate::workload::scaled;

pub const RULE: Rule = Rule {
    id: "rolling-update-keeps-capacity",
    severity: Severity::Error,
    summary: "A rollout keeps at least one replica serving",
    help: "During a rollout the Deployment may take `maxUnavailable` replicas down (percentages round down against `replicas`, or the HPA's `minReplicas`). When that reaches the replica count, every serving replica can be gone at once while the new ones load their model: requests fail for minutes. Keep `replicas - maxUnavailable >= 1` (with one replica: `maxUnavailable: 0, maxSurge: 1`, if the GPU pool has room for the surge pod). `Recreate` always takes everything down.",
    run,
};

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in ctx.serving() {
        let Some(replicas) = w.replicas.filter(|r| *r > 0) else {
            continue;
        };
        let spec = &w.obj.value["spec"];
        let (strategy, default_unavailable, severity) = match w.obj.kind() {
            "StatefulSet" => (&spec["updateStrategy"], json!(1), Severity::Warning),
            _ => (&spec["strategy"], json!("25%"), Severity::Error),
        };
        let line = w.obj.line_of(&["strategy", "maxUnavailable"]);
        if strategy.get("type").and_then(Value::as_str) == Some("Recreate") {
            out.push(Finding::at(
                RULE.id,
                Severity::Warning,
                w.obj,
                line,
                "strategy Recreate stops every replica before the new ones load their model",
                "use type: RollingUpdate with maxUnavailable: 0 and maxSurge: 1 if the GPU pool has room for one more pod",
            ));
            continue;
        }
        if strategy.get("type").and_then(Value::as_str) == Some("OnDelete") {
            continue;
        }
        let raw = strategy
            .pointer("/rollingUpdate/maxUnavailable")
            .unwrap_or(&default_unavailable);
        let Some(unavailable) = scaled(raw, replicas, false) else {
            continue;
        };
        if replicas - unavailable < 1 {
            out.push(Finding::at(
                RULE.id,
                severity,
                w.obj,
                line,
                format!(
                    "maxUnavailable {raw} with {replicas} replica(s) lets a rollout take down every serving replica"
                ),
                "set maxUnavailable: 0 and maxSurge: 1 (or run more replicas) so one replica keeps serving while the next loads its model",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    fn with_strategy(replicas: i64, unavailable: &str) -> String {
        deployment(replicas, "", "").replace(
            "  selector:",
            &format!("  strategy:\n    type: RollingUpdate\n    rollingUpdate: {{maxUnavailable: {unavailable}, maxSurge: 1}}\n  selector:"),
        )
    }

    #[test]
    fn passes_with_zero_unavailable_or_spare_replicas() {
        assert!(run(&RULE, &with_strategy(1, "0")).is_empty());
        assert!(run(&RULE, &with_strategy(3, "1")).is_empty());
        assert!(run(&RULE, &with_strategy(3, "\"50%\"")).is_empty());
        // The default 25% rounds down to 0 for one replica.
        assert!(run(&RULE, &deployment(1, "", "")).is_empty());
    }

    #[test]
    fn fails_when_all_replicas_may_go() {
        let f = run(&RULE, &with_strategy(1, "1"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].line, 7);
        assert_eq!(run(&RULE, &with_strategy(2, "\"100%\"")).len(), 1);
    }

    #[test]
    fn the_hpa_floor_counts() {
        let y = format!(
            "{}---\nkind: HorizontalPodAutoscaler\nmetadata: {{name: vllm}}\nspec:\n  scaleTargetRef: {{kind: Deployment, name: vllm}}\n  minReplicas: 1\n",
            with_strategy(3, "1")
        );
        assert_eq!(run(&RULE, &y).len(), 1);
    }
}
