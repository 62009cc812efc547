//! Defects and knobs as post-render patches on the discovered [`Target`]:
//! a built-in scenario says *what* to change (one replica, readiness on
//! another path, no GPU toleration, our mock standing in for the server),
//! never *where* in a template, and the change is made to the rendered
//! objects the way a Helm post-renderer would, for every template source
//! alike. Each patch returns what it changed ([`Applied`]: object, field,
//! before, after) for the report.

pub mod knobs;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::input::Object;
use crate::target::Target;

/// The GPU taint's key, which the GPU toleration names.
const GPU_KEY: &str = "nvidia.com/gpu";

/// One change to the target.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// `spec.replicas`.
    Replicas(i64),
    /// The Deployment's rolling update: `maxUnavailable` (int or percent).
    MaxUnavailable(Value),
    /// The Deployment's rolling update: `maxSurge` (int or percent).
    MaxSurge(Value),
    /// The serving container's readiness probe asks this HTTP path (on the
    /// port the Service targets when the probe is not HTTP), and no startup
    /// probe holds readiness back.
    ReadinessPath(String),
    /// The Service's selector gains a label no pod carries, as when a
    /// template's labels and selector drift apart.
    SelectorDrift,
    /// The serving container's memory limit (and request, when it has one).
    MemoryLimit(String),
    /// The serving container's `nvidia.com/gpu` limit (and request).
    GpuLimit(i64),
    /// Removes the pod's toleration of the GPU taint.
    DropGpuToleration,
    /// Replaces the pod's node selector.
    NodeSelector(BTreeMap<String, String>),
    /// A preStop pause of this many seconds (the `sleep` lifecycle action).
    PreStopSleep(i64),
    /// The pod's `terminationGracePeriodSeconds`.
    TerminationGrace(i64),
    /// The Deployment's `progressDeadlineSeconds` (when a stalled rollout
    /// is reported as `ProgressDeadlineExceeded`).
    ProgressDeadline(i64),
    /// The serving container's cpu request (what CPU utilisation, and so a
    /// CPU autoscaler, is measured against).
    CpuRequest(String),
    /// A label on the workload's pod template (not its selector): the
    /// harness marks the serving pods so its fixtures (a disruption
    /// budget) select them whatever labels the template uses.
    PodLabel { key: String, value: String },
    /// Sets one environment variable of the serving container.
    Env { name: String, value: String },
    /// The serving container's image (a new version of a chart's server).
    Image(String),
    /// One of the serving container's `resources`: `kind` is `limits` or
    /// `requests`, `name` the resource (`memory`, `nvidia.com/gpu`).
    Resource {
        kind: String,
        name: String,
        quantity: Value,
    },
    /// Our mock server stands in for the serving container: its image,
    /// with everything else of the pod spec kept (vLLM's command line runs
    /// the mock, which is `vllm` in its image too) but the cpu and memory
    /// requests, cut to what the mock needs.
    StandIn { image: String },
}

/// What a patch changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// `Deployment/name`.
    pub object: String,
    /// The field, as a path: `spec.template.spec.containers[vllm].image`.
    pub field: String,
    /// `null` when the field was absent.
    pub before: Value,
    /// `null` when the field was removed.
    pub after: Value,
}

impl Applied {
    /// `Deployment/llm spec.replicas: 2 → 1`.
    pub fn describe(&self) -> String {
        let show = |v: &Value| match v {
            Value::Null => "(absent)".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        format!(
            "{} {}: {} → {}",
            self.object,
            self.field,
            show(&self.before),
            show(&self.after)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("{object}: cannot {what}: {why}")]
    NotApplicable {
        object: String,
        what: String,
        why: String,
    },
}

/// Applies `patch` to the target's objects in `objects` (the ones
/// [`crate::discover`] indexed) and says what changed.
pub fn apply(
    objects: &mut [Object],
    target: &Target,
    patch: &Patch,
) -> Result<Vec<Applied>, PatchError> {
    let workload = &target.workload_ref;
    let not_applicable = |what: &str, why: &str| PatchError::NotApplicable {
        object: workload.clone(),
        what: what.into(),
        why: why.into(),
    };
    let kind = objects[target.workload].kind().to_string();
    let mut log = Edits::new(workload);
    match patch {
        Patch::Replicas(n) => {
            let w = &mut objects[target.workload].value;
            log.set(w, &["spec", "replicas"], json!(n));
        }
        Patch::MaxUnavailable(v) | Patch::MaxSurge(v) => {
            if kind != "Deployment" {
                return Err(not_applicable(
                    "set the rolling update",
                    "maxSurge and maxUnavailable belong to a Deployment",
                ));
            }
            let key = if matches!(patch, Patch::MaxSurge(_)) {
                "maxSurge"
            } else {
                "maxUnavailable"
            };
            let w = &mut objects[target.workload].value;
            if w.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
                log.set(w, &["spec", "strategy", "type"], json!("RollingUpdate"));
            }
            log.set(w, &["spec", "strategy", "rollingUpdate", key], v.clone());
        }
        Patch::ReadinessPath(path) => {
            let port = target.target_port.clone();
            let c = container(objects, target)?;
            // A startup probe holds readiness back too: the knob says what
            // the readiness probe alone lets through, so it goes.
            if let Some(startup) = c.as_object_mut().and_then(|o| o.remove("startupProbe")) {
                log.record(
                    format!(
                        "spec.template.spec.containers[{}].startupProbe",
                        target.container
                    ),
                    startup,
                    Value::Null,
                );
            }
            let probe = c
                .get("readinessProbe")
                .cloned()
                .unwrap_or_else(|| json!({}));
            if probe.get("httpGet").is_some() {
                log.set_in(
                    c,
                    &target.container,
                    &["readinessProbe", "httpGet", "path"],
                    json!(path),
                );
            } else {
                let mut new = probe.as_object().cloned().unwrap_or_default();
                for handler in ["exec", "tcpSocket", "grpc"] {
                    new.remove(handler);
                }
                new.insert("httpGet".into(), json!({"path": path, "port": port}));
                log.set_in(
                    c,
                    &target.container,
                    &["readinessProbe"],
                    Value::Object(new),
                );
            }
        }
        Patch::SelectorDrift => {
            let s = &mut objects[target.service].value;
            let mut slog = Edits::new(&format!("Service/{}", target.service_name));
            slog.set(
                s,
                &["spec", "selector", "inferbench.dev/drifted"],
                json!("true"),
            );
            return Ok(slog.done());
        }
        Patch::MemoryLimit(q) => {
            let c = container(objects, target)?;
            log.set_in(
                c,
                &target.container,
                &["resources", "limits", "memory"],
                json!(q),
            );
            log.set_request_if_present(c, &target.container, "memory", json!(q));
        }
        Patch::GpuLimit(n) => {
            let c = container(objects, target)?;
            log.set_in(
                c,
                &target.container,
                &["resources", "limits", GPU_KEY],
                json!(n),
            );
            log.set_request_if_present(c, &target.container, GPU_KEY, json!(n));
        }
        Patch::DropGpuToleration => {
            let spec = pod_spec(objects, target)?;
            let before = spec.get("tolerations").cloned().unwrap_or(Value::Null);
            let kept: Vec<Value> = before
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t.get("key").and_then(Value::as_str) != Some(GPU_KEY))
                .cloned()
                .collect();
            if before.as_array().map(Vec::len) == Some(kept.len()) || before.is_null() {
                return Err(not_applicable(
                    "drop the GPU toleration",
                    "the pod has no toleration for nvidia.com/gpu",
                ));
            }
            log.set(spec, &["tolerations"], Value::Array(kept));
            log.prefix_last("spec.template.spec.");
        }
        Patch::NodeSelector(map) => {
            let spec = pod_spec(objects, target)?;
            let value: Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            log.set(spec, &["nodeSelector"], Value::Object(value));
            log.prefix_last("spec.template.spec.");
        }
        Patch::PreStopSleep(seconds) => {
            let c = container(objects, target)?;
            log.set_in(
                c,
                &target.container,
                &["lifecycle", "preStop"],
                json!({"sleep": {"seconds": seconds}}),
            );
        }
        Patch::ProgressDeadline(seconds) => {
            if kind != "Deployment" {
                return Err(not_applicable(
                    "set the progress deadline",
                    "progressDeadlineSeconds belongs to a Deployment",
                ));
            }
            let w = &mut objects[target.workload].value;
            log.set(w, &["spec", "progressDeadlineSeconds"], json!(seconds));
        }
        Patch::PodLabel { key, value } => {
            let w = &mut objects[target.workload].value;
            let before = w
                .pointer("/spec/template/metadata/labels")
                .and_then(|l| l.get(key.as_str()))
                .cloned()
                .unwrap_or(Value::Null);
            set_path(
                w,
                &["spec", "template", "metadata", "labels", key.as_str()],
                json!(value),
            );
            log.record(
                format!("spec.template.metadata.labels[{key}]"),
                before,
                json!(value),
            );
        }
        Patch::CpuRequest(q) => {
            let c = container(objects, target)?;
            log.set_in(
                c,
                &target.container,
                &["resources", "requests", "cpu"],
                json!(q),
            );
        }
        Patch::TerminationGrace(seconds) => {
            let spec = pod_spec(objects, target)?;
            log.set(spec, &["terminationGracePeriodSeconds"], json!(seconds));
            log.prefix_last("spec.template.spec.");
        }
        Patch::Env { name, value } => {
            let c = container(objects, target)?;
            let mut env: Vec<Value> = c
                .get("env")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let before = env
                .iter()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(name.as_str()))
                .and_then(|e| e.get("value").cloned())
                .unwrap_or(Value::Null);
            env.retain(|e| e.get("name").and_then(Value::as_str) != Some(name.as_str()));
            env.push(json!({"name": name, "value": value}));
            c.as_object_mut()
                .map(|o| o.insert("env".into(), Value::Array(env)));
            log.record(
                format!(
                    "spec.template.spec.containers[{}].env[{name}]",
                    target.container
                ),
                before,
                json!(value),
            );
        }
        Patch::Image(image) => {
            let c = container(objects, target)?;
            log.set_in(c, &target.container, &["image"], json!(image));
        }
        Patch::Resource {
            kind,
            name,
            quantity,
        } => {
            if kind != "limits" && kind != "requests" {
                return Err(not_applicable(
                    &format!("set resources.{kind}"),
                    "a container's resources are `limits` and `requests`",
                ));
            }
            let c = container(objects, target)?;
            log.set_in(
                c,
                &target.container,
                &["resources", kind.as_str(), name.as_str()],
                quantity.clone(),
            );
        }
        Patch::StandIn { image } => {
            let c = container(objects, target)?;
            log.set_in(c, &target.container, &["image"], json!(image));
            log.set_in(
                c,
                &target.container,
                &["imagePullPolicy"],
                json!("IfNotPresent"),
            );
            // vLLM's image starts `python3 -m vllm.entrypoints.openai.api_server`
            // by itself, and some templates spell that out: the mock's image
            // has no Python, but it is `vllm`, and reads `vllm serve` flags.
            let command = c.get("command").and_then(Value::as_array).cloned();
            let runs_vllm = command
                .as_ref()
                .and_then(|cmd| cmd.first())
                .and_then(Value::as_str)
                .is_some_and(|p| p.rsplit('/').next() == Some("vllm"));
            if !runs_vllm {
                log.set_in(c, &target.container, &["command"], json!(["vllm", "serve"]));
            }
            // The team's requests are sized for a model on a GPU node (cores,
            // gigabytes); the mock needs a sliver, and a bench cluster's nodes
            // are small. Limits stay: the OOM scenarios turn them.
            for (resource, sliver) in [("cpu", "50m"), ("memory", "64Mi")] {
                log.set_request_if_present(c, &target.container, resource, json!(sliver));
            }
        }
    }
    Ok(log.done())
}

/// The serving container of the target's pod template.
fn container<'a>(objects: &'a mut [Object], target: &Target) -> Result<&'a mut Value, PatchError> {
    let name = target.container.clone();
    let object = target.workload_ref.clone();
    pod_spec(objects, target)?
        .get_mut("containers")
        .and_then(Value::as_array_mut)
        .and_then(|cs| {
            cs.iter_mut()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(name.as_str()))
        })
        .ok_or(PatchError::NotApplicable {
            object,
            what: "find the serving container".into(),
            why: format!("no container named {name}"),
        })
}

fn pod_spec<'a>(objects: &'a mut [Object], target: &Target) -> Result<&'a mut Value, PatchError> {
    objects[target.workload]
        .value
        .pointer_mut("/spec/template/spec")
        .ok_or(PatchError::NotApplicable {
            object: target.workload_ref.clone(),
            what: "find the pod template".into(),
            why: "no spec.template.spec".into(),
        })
}

/// The changes one patch made, in order.
struct Edits {
    object: String,
    applied: Vec<Applied>,
}

impl Edits {
    fn new(object: &str) -> Edits {
        Edits {
            object: object.to_string(),
            applied: Vec::new(),
        }
    }

    /// Records a change (nothing when the value was already `after`).
    fn record(&mut self, field: String, before: Value, after: Value) {
        if before == after {
            return;
        }
        self.applied.push(Applied {
            object: self.object.clone(),
            field,
            before,
            after,
        });
    }

    /// Sets `root.path` (creating the mappings on the way) and records it.
    fn set(&mut self, root: &mut Value, path: &[&str], value: Value) {
        let before = set_path(root, path, value.clone());
        self.record(path.join("."), before, value);
    }

    /// [`Edits::set`] inside the serving container `name`.
    fn set_in(&mut self, c: &mut Value, name: &str, path: &[&str], value: Value) {
        let before = set_path(c, path, value.clone());
        self.record(
            format!("spec.template.spec.containers[{name}].{}", path.join(".")),
            before,
            value,
        );
    }

    /// Sets the container's request for `resource` when it has one (a
    /// request must not exceed its limit, and an extended resource's must
    /// equal it).
    fn set_request_if_present(&mut self, c: &mut Value, name: &str, resource: &str, value: Value) {
        if c.pointer("/resources/requests")
            .and_then(|r| r.get(resource))
            .is_some()
        {
            self.set_in(c, name, &["resources", "requests", resource], value);
        }
    }

    /// Puts `prefix` before the last recorded field (set relative to the pod spec).
    fn prefix_last(&mut self, prefix: &str) {
        if let Some(a) = self.applied.last_mut() {
            a.field = format!("{prefix}{}", a.field);
        }
    }

    fn done(self) -> Vec<Applied> {
        self.applied
    }
}

/// Sets `path` under `root`, creating mappings (and replacing non-mappings)
/// on the way; returns the value it replaced (`null` when absent).
fn set_path(root: &mut Value, path: &[&str], value: Value) -> Value {
    let mut at = root;
    for key in &path[..path.len().saturating_sub(1)] {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at = at
            .as_object_mut()
            .map(|o| {
                o.entry(key.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
            })
            .expect("made a mapping above");
    }
    if !at.is_object() {
        *at = Value::Object(Map::new());
    }
    let Some(last) = path.last() else {
        return Value::Null;
    };
    at.as_object_mut()
        .and_then(|o| o.insert(last.to_string(), value))
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
