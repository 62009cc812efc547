//! Service selectors that select the serving pods.

use serde_json::Value;

use super::{Context, Rule};
use crate::finding::{Finding, Severity};
use crate::workload::selects;

pub const RULE: Rule = Rule {
    id: "service-selects-serving-pods",
    severity: Severity::Error,
    summary: "Each Service selects pods, and the serving pods have a Service",
    help: "A Service whose selector matches no pod template has no endpoints: every request is refused, and nothing fails at apply time. A serving workload that no Service selects cannot be reached.",
    run,
};

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let services: Vec<_> = ctx
        .objects
        .iter()
        .filter(|o| o.kind() == "Service")
        .collect();
    for svc in &services {
        let Some(selector) = svc
            .value
            .pointer("/spec/selector")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        else {
            continue;
        };
        if !ctx
            .workloads
            .iter()
            .any(|w| selects(selector, w.pod_labels))
        {
            let serving_labels = ctx
                .serving()
                .next()
                .and_then(|w| w.pod_labels)
                .map(|l| Value::Object(l.clone()).to_string())
                .unwrap_or_else(|| "{}".to_string());
            out.push(Finding::at(
                RULE.id,
                Severity::Error,
                svc,
                svc.line_of(&["spec:", "selector:"]),
                format!(
                    "selector {selector} matches no pod template: the Service has no endpoints"
                ),
                format!("make spec.selector a subset of the serving pod labels {serving_labels}"),
            ));
        }
    }
    for w in ctx.serving() {
        let selected = services.iter().any(|s| {
            s.value
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty() && selects(&Value::Object(m.clone()), w.pod_labels))
        });
        if !selected {
            out.push(Finding::at(
                RULE.id,
                Severity::Warning,
                w.obj,
                w.obj.origin.line,
                "no Service of these manifests selects the serving pods",
                "add a Service whose selector matches the pod template's labels",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    fn with_service(selector: &str) -> String {
        format!(
            "{}---\nkind: Service\nmetadata: {{name: vllm}}\nspec:\n  selector: {selector}\n  ports: [{{port: 8000}}]\n",
            deployment(1, "", "")
        )
    }

    #[test]
    fn passes_when_the_selector_matches() {
        assert!(run(&RULE, &with_service("{app: vllm}")).is_empty());
    }

    #[test]
    fn fails_when_it_selects_nothing() {
        let f = run(&RULE, &with_service("{app: vllm-canary}"));
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].object, "Service/vllm");
        assert_eq!(f[0].line, 24);
    }
}
