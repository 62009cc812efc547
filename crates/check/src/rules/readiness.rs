//! Readiness gated on model load.

use serde_json::Value;

use super::{Context, Rule};
use crate::finding::{Finding, Severity};

pub const RULE: Rule = Rule {
    id: "readiness-gated-on-model-load",
    severity: Severity::Error,
    summary: "Readiness waits for the model to be loaded",
    help: "A model server answers its liveness endpoint long before the weights are on the GPU. Readiness must mean \"model loaded\": a readiness probe on an endpoint distinct from liveness (vLLM: /v1/models, the sim: /health/ready), or a startup probe that holds the others back until the model is loaded. Without it the Service sends requests to replicas that answer 503 during every rollout and restart.",
    run,
};

/// What a probe hits: `httpGet path@port`, `tcpSocket port`, `exec ...`, `grpc port`.
fn endpoint(probe: &Value) -> String {
    if let Some(h) = probe.get("httpGet") {
        let path = h.get("path").and_then(Value::as_str).unwrap_or("/");
        return format!(
            "httpGet {path} port {}",
            h.get("port").unwrap_or(&Value::Null)
        );
    }
    for kind in ["tcpSocket", "grpc"] {
        if let Some(p) = probe.get(kind) {
            return format!("{kind} port {}", p.get("port").unwrap_or(&Value::Null));
        }
    }
    if let Some(e) = probe.get("exec") {
        return format!("exec {}", e.get("command").unwrap_or(&Value::Null));
    }
    "an unknown handler".to_string()
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in ctx.serving() {
        for c in w.serving_containers() {
            let readiness = c.get("/readinessProbe");
            let liveness = c.get("/livenessProbe");
            let startup = c.get("/startupProbe");
            match (readiness, liveness) {
                (None, _) => out.push(Finding::at(
                    RULE.id,
                    Severity::Error,
                    w.obj,
                    w.line_in(&c, "name:"),
                    format!("serving container `{}` has no readiness probe: the Service sends requests to it before the model is loaded", c.name),
                    "add a readinessProbe on an endpoint that answers only once the model is loaded (vLLM: httpGet /v1/models)",
                )),
                (Some(r), Some(l)) if startup.is_none() && endpoint(r) == endpoint(l) => {
                    out.push(Finding::at(
                        RULE.id,
                        Severity::Error,
                        w.obj,
                        w.line_in(&c, "readinessProbe:"),
                        format!("serving container `{}`: readiness probes the liveness endpoint ({}) and there is no startup probe, so the pod turns ready before the model is loaded", c.name, endpoint(r)),
                        "point readinessProbe at a model-loaded endpoint (vLLM: /v1/models) or add a startupProbe on it",
                    ));
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    const LIVE: &str = "          livenessProbe: {httpGet: {path: /health, port: 8000}}";

    #[test]
    fn passes_with_a_distinct_readiness_path() {
        let c = format!(
            "{LIVE}\n          readinessProbe: {{httpGet: {{path: /v1/models, port: 8000}}}}"
        );
        assert!(run(&RULE, &deployment(1, "", &c)).is_empty());
    }

    #[test]
    fn passes_with_a_startup_probe() {
        let c = format!(
            "{LIVE}\n          readinessProbe: {{httpGet: {{path: /health, port: 8000}}}}\n          startupProbe: {{httpGet: {{path: /v1/models, port: 8000}}}}"
        );
        assert!(run(&RULE, &deployment(1, "", &c)).is_empty());
    }

    #[test]
    fn fails_on_the_liveness_path() {
        let c =
            format!("{LIVE}\n          readinessProbe: {{httpGet: {{path: /health, port: 8000}}}}");
        let f = run(&RULE, &deployment(1, "", &c));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].message.contains("/health"), "{}", f[0].message);
        assert_eq!(f[0].line, 20);
    }

    #[test]
    fn fails_without_readiness() {
        let f = run(&RULE, &deployment(1, "", LIVE));
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("no readiness probe"));
    }
}
