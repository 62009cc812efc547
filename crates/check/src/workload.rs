//! Workloads, their containers, and which of them serve inference.
//!
//! The serving workload is a Deployment or StatefulSet with a container that
//! asks for a GPU (`nvidia.com/gpu`) or runs an OpenAI-compatible server
//! (`vllm serve`, vLLM's image, or our mock server).

use serde_json::{Map, Value};

use crate::input::Object;

pub const GPU: &str = "nvidia.com/gpu";

/// An object with a pod template.
#[derive(Debug, Clone)]
pub struct Workload<'a> {
    pub obj: &'a Object,
    pub pod_spec: &'a Value,
    pub pod_labels: Option<&'a Map<String, Value>>,
    /// Replicas the workload keeps (an HPA's `minReplicas` when one scales
    /// it); `None` for kinds without replicas.
    pub replicas: Option<i64>,
    pub serving: bool,
}

impl<'a> Workload<'a> {
    pub fn containers(&self) -> Vec<Container<'a>> {
        containers(self.pod_spec)
    }

    pub fn serving_containers(&self) -> Vec<Container<'a>> {
        self.containers()
            .into_iter()
            .filter(|c| !c.init && c.is_serving())
            .collect()
    }

    /// The line of a container's field, e.g. `(c, "readinessProbe:")`.
    pub fn line_in(&self, c: &Container<'_>, field: &str) -> usize {
        let name = format!("name: {}", c.name);
        self.obj.line_of(&["template:", "spec:", &name, field])
    }
}

/// One container (or init container) of a pod template.
#[derive(Debug, Clone, Copy)]
pub struct Container<'a> {
    pub name: &'a str,
    pub value: &'a Value,
    pub init: bool,
}

impl<'a> Container<'a> {
    pub fn get(&self, pointer: &str) -> Option<&'a Value> {
        self.value.pointer(pointer)
    }

    pub fn image(&self) -> &'a str {
        self.value
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `command` and `args` joined by spaces.
    pub fn command_line(&self) -> String {
        ["command", "args"]
            .iter()
            .filter_map(|k| self.value.get(*k).and_then(Value::as_array))
            .flatten()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn gpu_limit(&self) -> Option<f64> {
        let v = self.get("/resources/limits")?.get(GPU)?;
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|n| *n > 0.0)
    }

    pub fn is_vllm(&self) -> bool {
        let cmd = self.command_line();
        cmd.contains("vllm serve")
            || cmd.contains("vllm.entrypoints.openai.api_server")
            || self.image().contains("vllm")
    }

    pub fn is_mock(&self) -> bool {
        self.image().contains("mock-server") || self.command_line().contains("mock-server")
    }

    pub fn is_serving(&self) -> bool {
        self.gpu_limit().is_some() || self.is_vllm() || self.is_mock()
    }
}

pub fn containers(pod_spec: &Value) -> Vec<Container<'_>> {
    let mut out = Vec::new();
    for (key, init) in [("initContainers", true), ("containers", false)] {
        for c in pod_spec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(Container {
                name: c.get("name").and_then(Value::as_str).unwrap_or(""),
                value: c,
                init,
            });
        }
    }
    out
}

/// Every object with a pod template, in input order.
pub fn workloads(objects: &[Object]) -> Vec<Workload<'_>> {
    objects
        .iter()
        .filter_map(|obj| {
            let v = &obj.value;
            let (spec, labels) = match obj.kind() {
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => (
                    v.pointer("/spec/template/spec")?,
                    v.pointer("/spec/template/metadata/labels"),
                ),
                "CronJob" => (
                    v.pointer("/spec/jobTemplate/spec/template/spec")?,
                    v.pointer("/spec/jobTemplate/spec/template/metadata/labels"),
                ),
                "Pod" => (v.get("spec")?, v.pointer("/metadata/labels")),
                _ => return None,
            };
            let replicas = match obj.kind() {
                "Deployment" | "StatefulSet" | "ReplicaSet" => {
                    Some(hpa_min_replicas(objects, obj).unwrap_or_else(|| {
                        v.pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    }))
                }
                _ => None,
            };
            let serving = matches!(obj.kind(), "Deployment" | "StatefulSet")
                && containers(spec).iter().any(|c| !c.init && c.is_serving());
            Some(Workload {
                obj,
                pod_spec: spec,
                pod_labels: labels.and_then(Value::as_object),
                replicas,
                serving,
            })
        })
        .collect()
}

/// `minReplicas` (default 1) of a HorizontalPodAutoscaler scaling `obj`.
fn hpa_min_replicas(objects: &[Object], obj: &Object) -> Option<i64> {
    objects
        .iter()
        .filter(|o| o.kind() == "HorizontalPodAutoscaler")
        .find(|o| {
            o.value
                .pointer("/spec/scaleTargetRef/kind")
                .and_then(Value::as_str)
                == Some(obj.kind())
                && o.value
                    .pointer("/spec/scaleTargetRef/name")
                    .and_then(Value::as_str)
                    == Some(obj.name())
        })
        .map(|hpa| {
            hpa.value
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        })
}

/// Whether a `matchLabels`-style selector (plus `matchExpressions` with
/// `In`, `NotIn`, `Exists`, `DoesNotExist`) selects these labels. An empty
/// selector selects everything.
pub fn selects(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let empty = Map::new();
    let labels = labels.unwrap_or(&empty);
    let (match_labels, exprs) =
        if selector.get("matchLabels").is_some() || selector.get("matchExpressions").is_some() {
            (
                selector.get("matchLabels").and_then(Value::as_object),
                selector.get("matchExpressions").and_then(Value::as_array),
            )
        } else {
            (selector.as_object(), None)
        };
    let labels_ok = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = exprs.into_iter().flatten().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&Value> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let have = labels.get(key);
        match e.get("operator").and_then(Value::as_str) {
            Some("In") => have.is_some_and(|h| values.contains(&h)),
            Some("NotIn") => !have.is_some_and(|h| values.contains(&h)),
            Some("Exists") => have.is_some(),
            Some("DoesNotExist") => have.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// An int-or-percent scaled against `total` (Kubernetes' rounding: up when
/// `round_up`, else down). `None` for values that are neither.
pub fn scaled(value: &Value, total: i64, round_up: bool) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let pct: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
            let exact = pct * total as f64 / 100.0;
            Some(if round_up {
                exact.ceil()
            } else {
                exact.floor()
            } as i64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percentages_round_like_kubernetes() {
        assert_eq!(scaled(&json!("25%"), 1, false), Some(0));
        assert_eq!(scaled(&json!("25%"), 1, true), Some(1));
        assert_eq!(scaled(&json!("50%"), 3, false), Some(1));
        assert_eq!(scaled(&json!(2), 3, false), Some(2));
        assert_eq!(scaled(&json!("x"), 3, false), None);
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = json!({"app": "vllm", "tier": "gpu"});
        let labels = labels.as_object();
        assert!(selects(&json!({"app": "vllm"}), labels));
        assert!(!selects(&json!({"app": "other"}), labels));
        assert!(selects(&json!({"matchLabels": {"app": "vllm"}}), labels));
        assert!(selects(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}]}),
            labels
        ));
        assert!(!selects(
            &json!({"matchExpressions": [{"key": "x", "operator": "Exists"}]}),
            labels
        ));
    }
}
