//! Resource requests on every container.

use super::{Context, Rule};
use crate::finding::{Finding, Severity};

pub const RULE: Rule = Rule {
    id: "container-requests",
    severity: Severity::Error,
    summary: "Every container requests CPU and memory",
    help: "Without requests the scheduler places pods as if they needed nothing: a model server lands on a node without room for its weights and KV cache and is OOM-killed or starved under load. Every container (init containers too) should request cpu and memory.",
    run,
};

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in &ctx.workloads {
        for c in w.containers() {
            let requests = c.get("/resources/requests");
            let missing: Vec<&str> = ["cpu", "memory"]
                .into_iter()
                .filter(|k| requests.and_then(|r| r.get(*k)).is_none())
                .collect();
            if missing.is_empty() {
                continue;
            }
            let (severity, what) = if missing.len() == 2 {
                (Severity::Error, "no resource requests".to_string())
            } else {
                (Severity::Warning, format!("no {} request", missing[0]))
            };
            out.push(Finding::at(
                RULE.id,
                severity,
                w.obj,
                w.line_in(&c, "resources:"),
                format!("container `{}` has {what}", c.name),
                format!(
                    "set resources.requests.{} to what the container needs at steady state",
                    missing.join(" and ")
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    #[test]
    fn passes_with_cpu_and_memory() {
        let c = "          resources: {requests: {cpu: 2, memory: 8Gi}}";
        assert!(run(&RULE, &deployment(1, "", c)).is_empty());
    }

    #[test]
    fn fails_without_requests() {
        let f = run(&RULE, &deployment(1, "", ""));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
    }

    #[test]
    fn warns_on_half_requests() {
        let c = "          resources: {requests: {cpu: 2}}";
        let f = run(&RULE, &deployment(1, "", c));
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("no memory request"));
    }
}
