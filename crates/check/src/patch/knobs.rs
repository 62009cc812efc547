//! The built-in scenarios' knobs as patches. A scenario (or a matrix
//! entry, a twin) turns a knob by setting a binding such as `replicas: 1`
//! or `readinessPath: /health`; on our own fixtures the binding fills a
//! placeholder, and on a team's template the same binding becomes a
//! [`Patch`] on the discovered target. Bindings that are no knob (names,
//! ports, the template's path) are left to the scenario.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Patch;

/// Knobs that set an environment variable only our mock server reads
/// (applied when it stands in for the server).
const MOCK_ENV: [(&str, &str); 3] = [
    ("modelLoadMs", "MOCK_MODEL_LOAD_MS"),
    ("cpuUsPerToken", "MOCK_CPU_US_PER_TOKEN"),
    ("memoryPerPayloadByte", "MOCK_MEMORY_PER_PAYLOAD_BYTE"),
];

/// Every knob this module maps, for listing unmapped ones.
pub const KNOBS: [&str; 13] = [
    "replicas",
    "progressDeadlineSeconds",
    "cpuRequest",
    "maxUnavailable",
    "maxSurge",
    "readinessPath",
    "serviceSelector",
    "memoryLimit",
    "preStopSeconds",
    "version",
    "modelLoadMs",
    "cpuUsPerToken",
    "memoryPerPayloadByte",
];

/// What the knobs of one run ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    pub patches: Vec<Patch>,
    /// Knobs set that only the mock server reads, while it does not stand in.
    pub need_mock: Vec<String>,
}

/// The patches for the knobs set in `set` (the bindings a scenario and its
/// matrix entry set, not the defaults under them). `version_env` is the
/// variable a new version changes (the profile's `versionEnv`); `server`
/// is the target's name (a `serviceSelector` other than it drifts the
/// Service's selector); `mock` says whether our mock stands in.
pub fn patches(
    set: &BTreeMap<String, Value>,
    server: &str,
    version_env: Option<&str>,
    mock: bool,
) -> Result<Knobs, String> {
    let mut out = Knobs {
        patches: Vec::new(),
        need_mock: Vec::new(),
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let int = |key: &str, v: &Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| format!("{key}: expected a whole number, got {}", text(v)))
    };
    for (key, v) in set {
        match key.as_str() {
            "replicas" => out.patches.push(Patch::Replicas(int(key, v)?)),
            "maxUnavailable" => out.patches.push(Patch::MaxUnavailable(v.clone())),
            "maxSurge" => out.patches.push(Patch::MaxSurge(v.clone())),
            "readinessPath" => out.patches.push(Patch::ReadinessPath(text(v))),
            "serviceSelector" if text(v) != server => out.patches.push(Patch::SelectorDrift),
            "memoryLimit" => out.patches.push(Patch::MemoryLimit(text(v))),
            "preStopSeconds" => out.patches.push(Patch::PreStopSleep(int(key, v)?)),
            "progressDeadlineSeconds" => {
                out.patches.push(Patch::ProgressDeadline(int(key, v)?));
            }
            "cpuRequest" => out.patches.push(Patch::CpuRequest(text(v))),
            "version" => match version_env {
                Some(name) => out.patches.push(Patch::Env {
                    name: name.to_string(),
                    value: text(v),
                }),
                None => return Err(
                    "version: the profile names no `versionEnv`, the variable a new version changes"
                        .into(),
                ),
            },
            _ => {
                if let Some((_, env)) = MOCK_ENV.iter().find(|(k, _)| k == key) {
                    if mock {
                        out.patches.push(Patch::Env {
                            name: env.to_string(),
                            value: text(v),
                        });
                    } else {
                        out.need_mock.push(key.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn set(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_twins_knobs_become_patches() {
        let k = patches(
            &set(&[
                ("replicas", json!(1)),
                ("maxUnavailable", json!(1)),
                ("maxSurge", json!(0)),
                ("readinessPath", json!("/health")),
                ("memoryLimit", json!("48Mi")),
                ("preStopSeconds", json!("25")),
                ("version", json!("v2")),
            ]),
            "llm",
            Some("INFERENCE_VERSION"),
            false,
        )
        .expect("valid knobs");
        assert_eq!(
            k.patches,
            vec![
                Patch::MaxSurge(json!(0)),
                Patch::MaxUnavailable(json!(1)),
                Patch::MemoryLimit("48Mi".into()),
                Patch::PreStopSleep(25),
                Patch::ReadinessPath("/health".into()),
                Patch::Replicas(1),
                Patch::Env {
                    name: "INFERENCE_VERSION".into(),
                    value: "v2".into()
                },
            ]
        );
        assert!(k.need_mock.is_empty());
    }

    #[test]
    fn a_selector_other_than_the_server_drifts() {
        let same = patches(
            &set(&[("serviceSelector", json!("llm"))]),
            "llm",
            None,
            false,
        );
        assert_eq!(same.expect("ok").patches, vec![]);
        let other = patches(
            &set(&[("serviceSelector", json!("llm-v0"))]),
            "llm",
            None,
            false,
        );
        assert_eq!(other.expect("ok").patches, vec![Patch::SelectorDrift]);
    }

    #[test]
    fn the_mocks_knobs_need_the_mock() {
        let knobs = set(&[("cpuUsPerToken", json!(40)), ("modelLoadMs", json!(8000))]);
        let own = patches(&knobs, "llm", None, false).expect("ok");
        assert_eq!(own.need_mock, vec!["cpuUsPerToken", "modelLoadMs"]);
        let mock = patches(&knobs, "llm", None, true).expect("ok");
        assert_eq!(
            mock.patches,
            vec![
                Patch::Env {
                    name: "MOCK_CPU_US_PER_TOKEN".into(),
                    value: "40".into()
                },
                Patch::Env {
                    name: "MOCK_MODEL_LOAD_MS".into(),
                    value: "8000".into()
                },
            ]
        );
    }

    #[test]
    fn bad_values_say_which_knob() {
        let err = patches(&set(&[("replicas", json!("two"))]), "llm", None, false)
            .expect_err("not a number");
        assert_eq!(err, "replicas: expected a whole number, got two");
        let err = patches(&set(&[("version", json!("v2"))]), "llm", None, false)
            .expect_err("no versionEnv");
        assert!(err.contains("versionEnv"), "{err}");
    }

    #[test]
    fn every_knob_is_listed() {
        for key in KNOBS {
            let one = set(&[(key, json!("1"))]);
            let k = patches(&one, "other", Some("V"), true).expect("maps");
            assert_eq!(k.patches.len(), 1, "{key}");
        }
    }
}
