//! Filling an operation's `{{ name }}` placeholders from a scenario's
//! bindings, and naming an operation in a few words. One renderer for
//! bindings: the runner and `scenarios lint --profile` both use it.

use std::path::Path;

use crate::bindings::{self, Bindings};
use crate::model::{Action, Operation, format_duration};

/// What an operation does, in a few words, when it has no description.
pub fn summarize(a: &Action) -> String {
    match a {
        Action::Apply(x) => match (&x.file, &x.kustomize) {
            (Some(f), _) => format!("apply {f}"),
            (None, Some(k)) => format!("apply kustomize {k}"),
            _ => "apply inline resource".into(),
        },
        Action::Assert(x) => x
            .file
            .clone()
            .map(|f| format!("assert {f}"))
            .unwrap_or_else(|| "assert inline resource".into()),
        Action::Wait(x) => match (&x.rollout, &x.resource) {
            (Some(r), _) => format!("wait for rollout of {r}"),
            (None, Some(r)) => format!("wait for {r} {}", x.condition.clone().unwrap_or_default()),
            _ => "wait".into(),
        },
        Action::Rollout(x) => format!("roll out {}", x.target),
        Action::Rollback(x) => format!(
            "roll back {}{}",
            x.target,
            x.to_revision
                .map(|r| format!(" to revision {r}"))
                .unwrap_or_default()
        ),
        Action::Scale(x) => format!("scale {} to {}", x.target, x.replicas),
        Action::Canary(x) => match (&x.decision, &x.analysis) {
            (crate::model::CanaryDecision::Analyze, Some(a)) => {
                format!("canary {}: promote or abort on load {}", x.canary, a.load)
            }
            (d, _) => format!("canary {}: {d:?}", x.canary).to_lowercase(),
        },
        Action::Load(x) => format!(
            "load {}: {} on {}{}",
            x.name,
            match x.rate {
                Some(r) => format!("{r} requests/s"),
                None => format!("{} users", x.users),
            },
            x.target,
            if x.background { " (background)" } else { "" }
        ),
        Action::Inject(x) => format!(
            "inject {}{}",
            x.fault,
            x.target
                .as_ref()
                .map(|t| format!(" into {t}"))
                .unwrap_or_default()
        ),
        Action::Expect(_) => "expect".into(),
        Action::Sleep(x) => format!("sleep {}", format_duration(x.duration)),
        Action::Script(x) => format!("script: {}", x.run.lines().next().unwrap_or("")),
    }
}

/// An operation's title as the console and the report show it: its
/// description, or else a summary of it, with the bindings filled in
/// (`load load: 4 users on service/mock-server:8000`, never
/// `service/{{ server }}:{{ port }}`). Where a placeholder cannot be
/// filled the text stays as written; running the operation reports why.
pub fn title(op: &Operation, bindings: &Bindings) -> String {
    match &op.description {
        Some(d) => text(d, bindings),
        None => render_action(&op.action, bindings)
            .map(|a| summarize(&a))
            .unwrap_or_else(|_| summarize(&op.action)),
    }
}

/// `text` with its placeholders filled, or as written when one cannot be.
pub fn text(text: &str, bindings: &Bindings) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    bindings::render(Path::new("(text)"), text, bindings).unwrap_or_else(|_| text.to_string())
}

/// Fills `{{ name }}` placeholders in every string of an operation from
/// the scenario's bindings, so matrix values reach rollouts and loads too.
pub fn render_action(action: &Action, bindings: &Bindings) -> Result<Action, String> {
    fn walk(v: &mut serde_json::Value, b: &Bindings, typed: bool) -> Result<(), String> {
        match v {
            serde_json::Value::String(s) if s.contains("{{") => {
                // A string that is one placeholder takes the binding's own
                // type (a number stays a number in a JSON patch).
                let whole = s
                    .trim()
                    .strip_prefix("{{")
                    .and_then(|r| r.strip_suffix("}}"))
                    .map(str::trim)
                    .filter(|n| typed && !n.contains("{{") && !n.contains("}}"))
                    .and_then(|n| b.get(n));
                match whole {
                    Some(value) => *v = value.clone(),
                    None => {
                        *s = bindings::render(Path::new("(operation)"), s, b)
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for i in items {
                    walk(i, b, typed)?;
                }
            }
            serde_json::Value::Object(m) => {
                // Keys too: `env: { "{{ versionEnv }}": v2 }`.
                let templated: Vec<String> =
                    m.keys().filter(|k| k.contains("{{")).cloned().collect();
                for key in templated {
                    let filled = bindings::render(Path::new("(operation)"), &key, b)
                        .map_err(|e| e.to_string())?;
                    if let Some(v) = m.remove(&key) {
                        m.insert(filled, v);
                    }
                }
                for (_, i) in m.iter_mut() {
                    walk(i, b, typed)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let original = serde_json::to_value(action).map_err(|e| e.to_string())?;
    let mut typed = original.clone();
    walk(&mut typed, bindings, true)?;
    if let Ok(a) = serde_json::from_value(typed) {
        return Ok(a);
    }
    // Where the field wants text (an env value), the binding goes in as text.
    let mut text = original;
    walk(&mut text, bindings, false)?;
    serde_json::from_value(text).map_err(|e| format!("after filling bindings: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Operation;

    #[test]
    fn bindings_reach_every_string_of_an_operation() {
        let op: Operation = yaml_serde::from_str(
            "rollout: { target: deployment/m, env: { MOCK_VERSION: \"{{ v }}\" } }",
        )
        .expect("operation");
        let b: Bindings = [("v".to_string(), serde_json::json!("v2"))].into();
        match render_action(&op.action, &b).expect("rendered") {
            Action::Rollout(r) => {
                assert_eq!(r.env.get("MOCK_VERSION").map(String::as_str), Some("v2"))
            }
            other => panic!("{other:?}"),
        }
        let err = render_action(&op.action, &Bindings::new()).unwrap_err();
        assert!(err.contains("v"), "{err}");
    }

    #[test]
    fn titles_show_rendered_values() {
        let b: Bindings = [
            ("server".to_string(), serde_json::json!("mock-server")),
            ("port".to_string(), serde_json::json!(8000)),
            ("version".to_string(), serde_json::json!("1.10")),
        ]
        .into();
        let op: Operation = yaml_serde::from_str(
            "load: { name: during, target: \"service/{{ server }}:{{ port }}\", users: 4, duration: 40s }",
        )
        .expect("operation");
        assert_eq!(
            title(&op, &b),
            "load during: 4 users on service/mock-server:8000"
        );
        let op: Operation = yaml_serde::from_str(
            "rollout: { target: \"deployment/{{ server }}\", env: { V: v2 } }\ndescription: \"{{ server }} to {{ version }}\"",
        )
        .expect("operation");
        assert_eq!(title(&op, &b), "mock-server to 1.10");
        // An unknown name leaves the text as written; running it says why.
        let op: Operation = yaml_serde::from_str("wait: { rollout: \"deployment/{{ nope }}\" }")
            .expect("operation");
        assert_eq!(title(&op, &b), "wait for rollout of deployment/{{ nope }}");
    }

    #[test]
    fn binding_keys_are_filled_too() {
        let op: Operation =
            yaml_serde::from_str("rollout: { target: deployment/m, env: { \"{{ e }}\": v2 } }")
                .expect("operation");
        let b: Bindings = [("e".to_string(), serde_json::json!("INFERENCE_VERSION"))].into();
        match render_action(&op.action, &b).expect("rendered") {
            Action::Rollout(r) => assert_eq!(
                r.env.get("INFERENCE_VERSION").map(String::as_str),
                Some("v2")
            ),
            other => panic!("{other:?}"),
        }
    }
}
