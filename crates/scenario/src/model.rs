//! The scenario file format.
//!
//! ```yaml
//! apiVersion: inferbench.dev/v1alpha1
//! kind: Scenario
//! metadata:
//!   name: rolling-update-under-load
//!   description: A rolling update with maxUnavailable 0 loses no request.
//! spec:
//!   bindings: { replicas: 2, image: "inferbench/mock-server:dev" }
//!   matrix:
//!     - name: small
//!       values: { replicas: 1 }
//!   timeouts: { apply: 30s, assert: 2m }
//!   steps:
//!     - name: deploy
//!       try:
//!         - apply: { file: fixtures/mock-server/deployment.yaml }
//!         - wait: { rollout: deployment/mock-server }
//!       catch:
//!         - script: { run: "kubectl get events" }
//! ```
//!
//! Each operation holds exactly one action (`apply`, `assert`, `wait`,
//! `rollout`, `rollback`, `scale`, `load`, `inject`, `expect`, `sleep`,
//! `script`) beside the optional `description`, `timeout`, `continueOnError`.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// The only `apiVersion` this harness reads.
pub const API_VERSION: &str = "inferbench.dev/v1alpha1";

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Must be `inferbench.dev/v1alpha1`.
    pub api_version: String,
    /// Must be `Scenario`.
    pub kind: String,
    pub metadata: Metadata,
    pub spec: ScenarioSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// A DNS-1123 label: lowercase letters, digits and `-`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioSpec {
    /// The namespace to run in; a fresh one per scenario run when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Variables available to templates as `{{ name }}`.
    #[serde(default)]
    pub bindings: BTreeMap<String, serde_json::Value>,
    /// Value sets: the scenario runs once per entry, each overriding `bindings`.
    #[serde(default)]
    pub matrix: Vec<MatrixEntry>,
    /// Set for a scenario that must fail (matrix entries can set their own).
    #[serde(default)]
    pub expect_failure: Option<ExpectFailure>,
    /// Timeouts by operation type, overriding the suite's defaults.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// What the cluster and serving profile must offer; without it the
    /// scenario is skipped, with the reason in the report.
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Run alone: the scenario needs the whole cluster to itself (it drains
    /// nodes, exhausts the GPU pool, or measures CPU that concurrent
    /// scenarios would share). Others run concurrently, each in its own
    /// namespace; an exclusive one waits for them and runs with none beside it.
    #[serde(default)]
    pub exclusive: bool,
    pub steps: Vec<Step>,
}

/// What a cluster or a serving profile offers, and scenarios and steps require.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Pods really run (kind, not kwok): probes, OOM kills, logs, traffic.
    Containers,
    /// inferbench's gpu-fakes run on the GPU pool (fault injection on fake GPUs).
    GpuFakes,
    /// The GPU pool has real NVIDIA GPUs.
    RealGpus,
    /// The serving stack is inferbench's mock server and honours its knobs
    /// (model load time, CPU per token, memory per request byte, failure
    /// injection, the `x-inference-version` header).
    MockServer,
}

impl Capability {
    pub const ALL: [Capability; 4] = [
        Capability::Containers,
        Capability::GpuFakes,
        Capability::RealGpus,
        Capability::MockServer,
    ];

    /// The name scenarios write.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Containers => "containers",
            Capability::GpuFakes => "gpu-fakes",
            Capability::RealGpus => "real-gpus",
            Capability::MockServer => "mock-server",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatrixEntry {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub values: BTreeMap<String, serde_json::Value>,
    /// A values file (YAML mapping) merged under `values`.
    #[serde(default)]
    pub values_file: Option<String>,
    /// A negative twin: this entry must fail in this step (with this text).
    #[serde(default)]
    pub expect_failure: Option<ExpectFailure>,
}

/// Where a negative twin must fail: proof that the scenario's assertion can fail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectFailure {
    /// The step that must fail.
    pub step: String,
    /// Text its error must contain.
    #[serde(default)]
    pub message_contains: Option<String>,
}

/// Timeouts keyed by operation type; unset ones inherit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub apply: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub assert: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub wait: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub rollout: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub load: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub expect: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub cleanup: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub script: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Keep going with the next step when this one fails.
    #[serde(default)]
    pub continue_on_error: bool,
    /// Run the `try` block again this many times when it fails.
    #[serde(default)]
    pub retries: u32,
    /// Skip this step unless the cluster and profile offer these.
    #[serde(default)]
    pub requires: Vec<Capability>,
    #[serde(rename = "try")]
    pub try_: Vec<Operation>,
    /// Runs when `try` fails (after the default evidence collection).
    #[serde(default)]
    pub catch: Vec<Operation>,
    /// Runs whatever happened.
    #[serde(default)]
    pub finally: Vec<Operation>,
}

/// One operation: exactly one action, plus options.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_error: bool,
    #[serde(flatten)]
    pub action: Action,
}

/// The action names an operation may hold (one of them).
pub const ACTIONS: [&str; 11] = [
    "apply", "assert", "wait", "rollout", "rollback", "scale", "load", "inject", "expect", "sleep",
    "script",
];
const OPERATION_OPTIONS: [&str; 3] = ["description", "timeout", "continueOnError"];

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Operation, D::Error> {
        use serde::de::Error;
        let map = yaml_serde::Mapping::deserialize(d)?;
        let mut action_keys = Vec::new();
        for key in map.keys() {
            let Some(k) = key.as_str() else {
                return Err(D::Error::custom("operation keys must be strings"));
            };
            if ACTIONS.contains(&k) {
                action_keys.push(k.to_string());
            } else if !OPERATION_OPTIONS.contains(&k) {
                return Err(D::Error::custom(format!(
                    "unknown operation key `{k}`; expected one action ({}) and optionally {}",
                    ACTIONS.join(", "),
                    OPERATION_OPTIONS.join(", ")
                )));
            }
        }
        let action_key = match action_keys.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(D::Error::custom(format!(
                    "operation has no action; expected exactly one of {}",
                    ACTIONS.join(", ")
                )));
            }
            many => {
                return Err(D::Error::custom(format!(
                    "operation has {} actions ({}); put each in an operation of its own",
                    many.len(),
                    many.join(", ")
                )));
            }
        };
        let mut action_value = yaml_serde::Value::Null;
        let mut options = yaml_serde::Mapping::new();
        for (k, v) in map {
            if k.as_str() == Some(action_key.as_str()) {
                action_value = v;
            } else {
                options.insert(k, v);
            }
        }
        let action = Action::from_key(&action_key, action_value)
            .map_err(|e| D::Error::custom(format!("in `{action_key}`: {e}")))?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Options {
            #[serde(default)]
            description: Option<String>,
            #[serde(default, with = "opt_duration")]
            timeout: Option<Duration>,
            #[serde(default)]
            continue_on_error: bool,
        }
        let o: Options = yaml_serde::from_value(yaml_serde::Value::Mapping(options))
            .map_err(D::Error::custom)?;
        Ok(Operation {
            description: o.description,
            timeout: o.timeout,
            continue_on_error: o.continue_on_error,
            action,
        })
    }
}

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Apply(Apply),
    Assert(Assert),
    Wait(Wait),
    Rollout(Rollout),
    Rollback(Rollback),
    Scale(Scale),
    Load(Load),
    Inject(Inject),
    Expect(Expect),
    Sleep(Sleep),
    Script(Script),
}

impl Action {
    /// Reads the action named `key` from its value.
    fn from_key(key: &str, value: yaml_serde::Value) -> Result<Action, yaml_serde::Error> {
        use yaml_serde::from_value as v;
        Ok(match key {
            "apply" => Action::Apply(v(value)?),
            "assert" => Action::Assert(v(value)?),
            "wait" => Action::Wait(v(value)?),
            "rollout" => Action::Rollout(v(value)?),
            "rollback" => Action::Rollback(v(value)?),
            "scale" => Action::Scale(v(value)?),
            "load" => Action::Load(v(value)?),
            "inject" => Action::Inject(v(value)?),
            "expect" => Action::Expect(v(value)?),
            "sleep" => Action::Sleep(v(value)?),
            "script" => Action::Script(v(value)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown action `{other}`"
                )));
            }
        })
    }

    /// The operation type, as timeouts and reports name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Apply(_) => "apply",
            Action::Assert(_) => "assert",
            Action::Wait(_) => "wait",
            Action::Rollout(_) => "rollout",
            Action::Rollback(_) => "rollback",
            Action::Scale(_) => "scale",
            Action::Load(_) => "load",
            Action::Inject(_) => "inject",
            Action::Expect(_) => "expect",
            Action::Sleep(_) => "sleep",
            Action::Script(_) => "script",
        }
    }
}

/// Manifests from a file, a kustomize directory, or inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Apply {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub kustomize: Option<String>,
    #[serde(default)]
    pub resource: Option<serde_json::Value>,
    /// Bindings for this apply only, over the scenario's.
    #[serde(default)]
    pub bindings: BTreeMap<String, serde_json::Value>,
}

/// A partial object that must match (retried until the timeout). Without
/// `metadata.name` it is a list assert: one object of that kind must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assert {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub resource: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Wait {
    /// `kind/name` whose rollout must complete.
    #[serde(default)]
    pub rollout: Option<String>,
    /// `kind/name` and a condition type that must be True.
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub condition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollout {
    /// `deployment/name`.
    pub target: String,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollback {
    pub target: String,
    /// A revision number; the previous revision when absent.
    #[serde(default)]
    pub to_revision: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scale {
    pub target: String,
    pub replicas: u32,
}

/// goose load against a Service, reached through a port-forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Load {
    /// Other operations refer to the load by this name (default `load`).
    #[serde(default = "default_load_name")]
    pub name: String,
    /// `service/name:port`.
    pub target: String,
    pub users: u32,
    /// Users started per second.
    #[serde(default)]
    pub ramp: Option<f64>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub requests: Option<u64>,
    /// `completions`, `chat` or `chat-stream`.
    #[serde(default = "default_load_kind")]
    pub request: String,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Size of each request body in bytes (the prompt is padded to it).
    #[serde(default)]
    pub prompt_bytes: Option<u64>,
    /// Extra request headers, e.g. `x-mock-fail`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Run in the background while the next operations run.
    #[serde(default)]
    pub background: bool,
}

fn default_load_name() -> String {
    "load".to_string()
}

fn default_load_kind() -> String {
    "completions".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inject {
    /// `kill-pod`, `evict`, `fill-memory`, `fail-readiness`, `gpu-unhealthy`, `mock-config`.
    pub fault: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// An event reason (e.g. `FailedScheduling`) and text its message must contain.
    #[serde(default)]
    pub event: Option<ExpectEvent>,
    /// A container termination reason, e.g. `OOMKilled` (current or last state).
    #[serde(default)]
    pub container_terminated: Option<String>,
    /// At least this many restarts of one container.
    #[serde(default)]
    pub min_restarts: Option<u32>,
    /// Label selector for the pods `containerTerminated` and `minRestarts` look at.
    #[serde(default)]
    pub selector: Option<String>,
    /// HPA `name` with replicas in `min..=max`.
    #[serde(default)]
    pub hpa_replicas: Option<ExpectReplicas>,
    /// The named load had no failed request (waits for it to finish).
    #[serde(default)]
    pub zero_failed_requests: Option<LoadRef>,
    /// The named load had at least `min` failed requests (waits for it to finish).
    #[serde(default)]
    pub failed_requests: Option<ExpectFailedRequests>,
    /// Every successful response of the named load came from `version`.
    #[serde(default)]
    pub served_by: Option<ExpectServedBy>,
    /// The Service's ready endpoints.
    #[serde(default)]
    pub endpoints: Option<ExpectEndpoints>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadRef {
    #[serde(default = "default_load_name")]
    pub load: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectFailedRequests {
    #[serde(default = "default_load_name")]
    pub load: String,
    pub min: u64,
    /// Only count failures with this HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectServedBy {
    #[serde(default = "default_load_name")]
    pub load: String,
    /// The `x-inference-version` every successful response must carry.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectEndpoints {
    pub service: String,
    /// Exactly this many ready endpoints.
    #[serde(default)]
    pub ready: Option<u32>,
    /// At least this many ready endpoints.
    #[serde(default)]
    pub min: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectEvent {
    pub reason: String,
    #[serde(default)]
    pub message_contains: Option<String>,
    #[serde(default)]
    pub involved_object: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectReplicas {
    pub hpa: String,
    pub min: u32,
    #[serde(default)]
    pub max: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sleep {
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Script {
    /// A shell command, run with `KUBECONFIG` and `NAMESPACE` set.
    pub run: String,
}

/// Parses `500ms`, `30s`, `2m`, `1h`, or combinations such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration: expected a number, e.g. 30s, 2m, 500ms, 1m30s"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "" => return Err(format!("{text:?} needs a unit (ms, s, m, h), e.g. {n}s")),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?}; use ms, s, m or h"
                ));
            }
        };
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(60_000) || ms == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}m", ms / 60_000)
    }
}

mod duration {
    use super::*;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

mod opt_duration {
    use super::*;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
