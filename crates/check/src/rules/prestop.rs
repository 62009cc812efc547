//! A pre-stop pause shorter than the termination grace period.

use serde_json::Value;

use super::{Context, Rule};
use crate::finding::{Finding, Severity};

pub const RULE: Rule = Rule {
    id: "prestop-drain",
    severity: Severity::Error,
    summary: "A preStop pause lets endpoints drain, within the grace period",
    help: "When a pod is deleted, the kubelet sends SIGTERM while the endpoint controller is still removing it from the Service: without a preStop pause, requests in flight and requests routed in that window fail. The pause must be shorter than `terminationGracePeriodSeconds` (default 30), which also has to leave time for the server to finish its in-flight generations; otherwise the kubelet kills the server mid-request.",
    run,
};

/// Seconds a preStop hook pauses: `sleep: {seconds}` or `exec: [.., "sleep N"]`.
fn pause_seconds(pre_stop: &Value) -> Option<f64> {
    if let Some(s) = pre_stop.pointer("/sleep/seconds") {
        return s.as_f64();
    }
    let words: Vec<String> = pre_stop
        .pointer("/exec/command")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(Value::as_str)
        .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let at = words
        .iter()
        .position(|w| w == "sleep" || w.ends_with("/sleep"))?;
    words.get(at + 1)?.trim_end_matches(';').parse().ok()
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in ctx.serving() {
        let grace = w
            .pod_spec
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_f64)
            .unwrap_or(30.0);
        for c in w.serving_containers() {
            let Some(pre_stop) = c.get("/lifecycle/preStop") else {
                out.push(Finding::at(
                    RULE.id,
                    Severity::Warning,
                    w.obj,
                    w.line_in(&c, "name:"),
                    format!("serving container `{}` has no preStop hook: requests in flight fail while the endpoint is removed", c.name),
                    "add lifecycle.preStop.sleep.seconds (5-10) so the Service stops routing before the server gets SIGTERM",
                ));
                continue;
            };
            let Some(pause) = pause_seconds(pre_stop) else {
                continue;
            };
            if pause >= grace {
                out.push(Finding::at(
                    RULE.id,
                    Severity::Error,
                    w.obj,
                    w.line_in(&c, "preStop:"),
                    format!("container `{}` pauses {pause} s in preStop but terminationGracePeriodSeconds is {grace}: the kubelet kills it before it can finish in-flight requests", c.name),
                    format!("raise terminationGracePeriodSeconds above {pause} plus the longest generation (e.g. {})", pause as i64 + 30),
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

    #[test]
    fn passes_with_a_short_pause() {
        let y = deployment(
            1,
            "      terminationGracePeriodSeconds: 60",
            "          lifecycle: {preStop: {sleep: {seconds: 10}}}",
        );
        assert!(run(&RULE, &y).is_empty());
        let y = deployment(
            1,
            "",
            "          lifecycle: {preStop: {exec: {command: [sh, -c, \"sleep 5\"]}}}",
        );
        assert!(run(&RULE, &y).is_empty());
    }

    #[test]
    fn fails_when_the_pause_outlasts_the_grace() {
        let y = deployment(
            1,
            "",
            "          lifecycle: {preStop: {exec: {command: [sleep, \"45\"]}}}",
        );
        let f = run(&RULE, &y);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
    }

    #[test]
    fn warns_without_a_hook() {
        let f = run(&RULE, &deployment(1, "", ""));
        assert_eq!(f[0].severity, Severity::Warning);
    }
}
