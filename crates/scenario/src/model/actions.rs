//! What an operation does: the [`Action`] enum, one variant per action
//! name in [`ACTIONS`], and each action's own fields.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::canary::Canary;
use super::duration::{opt_duration, required_duration};

/// The action names an operation may hold (one of them).
pub const ACTIONS: [&str; 12] = [
    "apply", "assert", "wait", "rollout", "rollback", "scale", "canary", "load", "inject",
    "expect", "sleep", "script",
];
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
    Canary(Canary),
    Load(Load),
    Inject(Inject),
    Expect(Expect),
    Sleep(Sleep),
    Script(Script),
}

impl Action {
    /// Reads the action named `key` from its value.
    pub(super) fn from_key(
        key: &str,
        value: yaml_serde::Value,
    ) -> Result<Action, yaml_serde::Error> {
        use yaml_serde::from_value as v;
        Ok(match key {
            "apply" => Action::Apply(v(value)?),
            "assert" => Action::Assert(v(value)?),
            "wait" => Action::Wait(v(value)?),
            "rollout" => Action::Rollout(v(value)?),
            "rollback" => Action::Rollback(v(value)?),
            "scale" => Action::Scale(v(value)?),
            "canary" => Action::Canary(v(value)?),
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
            Action::Canary(_) => "canary",
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
    /// Closed loop: this many users, each sending its next request when
    /// the last one answered. Give `users` or `rate`.
    #[serde(default)]
    pub users: u32,
    /// Users started per second.
    #[serde(default)]
    pub ramp: Option<f64>,
    /// Open loop: requests per second, sent when due whether or not the
    /// earlier ones answered; latencies count from the due time.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Open-loop rates one after the other (a ramp, or steps); each stage
    /// gets its own figures in the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<LoadStage>,
    /// A rate sweep: each rate for `stage`, lowest first; the report says
    /// where the server saturates (latency doubles, answers fall behind).
    #[serde(default)]
    pub sweep: Option<LoadSweep>,
    /// How an open loop spaces its requests (default `poisson`).
    #[serde(default)]
    pub arrival: LoadArrival,
    /// Seed of the Poisson arrivals (the same seed, the same schedule).
    #[serde(default)]
    pub seed: u64,
    /// Per-request limits the load's goodput counts against.
    #[serde(default)]
    pub slo: Option<super::slo::LoadSlo>,
    /// Reuse connections between requests (default: a fresh connection
    /// per request, so the Service spreads every request anew).
    #[serde(default)]
    pub keep_alive: bool,
    /// Where requests come from: `in-cluster` (a generator pod beside the
    /// server, the default where the cluster holds inferbench's image) or
    /// `port-forward` (the harness, through the API server).
    #[serde(default)]
    pub via: Option<LoadVia>,
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub requests: Option<u64>,
    /// `completions`, `completions-stream`, `chat` or `chat-stream`.
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
    /// Weighted request variants, one drawn per request (in the cluster
    /// only): `mix: [{ weight: 3, request: chat-stream, maxTokens: { min:
    /// 16, max: 64 }, promptTokens: { mean: 200, stddev: 50 } }, { weight:
    /// 1, request: embeddings }]`. Replaces `request`; `maxTokens` fills in
    /// where an entry gives none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mix: Vec<LoadMixEntry>,
    /// A JSON-lines file of prompts (`{"prompt": "..."}` or `{"messages":
    /// [...]}` per line), one drawn per request where no `promptTokens`
    /// applies; relative to the scenario file (in the cluster only).
    #[serde(default)]
    pub prompts: Option<String>,
    /// Generator pods sharing the load (an indexed Job, spread over the
    /// nodes, starting together; in the cluster only): when one pod cannot
    /// drive the rate. Default 1.
    #[serde(default = "one")]
    pub generators: u32,
}

/// One request variant of a load's mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadMixEntry {
    /// How often it comes, relative to the other entries (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    /// `completions`, `completions-stream`, `chat`, `chat-stream` or `embeddings`.
    pub request: String,
    /// Output tokens asked for, drawn per request.
    #[serde(default)]
    pub max_tokens: Option<LoadLengths>,
    /// Prompt length in words (about a token each), drawn per request.
    #[serde(default)]
    pub prompt_tokens: Option<LoadLengths>,
}

fn one() -> u32 {
    1
}

/// A length drawn per request: a number, `{ min, max }` (uniform) or
/// `{ mean, stddev }` (normal, at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum LoadLengths {
    Fixed(u32),
    Uniform { min: u32, max: u32 },
    Normal { mean: f64, stddev: f64 },
}

/// One stage of a staged load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadStage {
    /// Requests per second.
    pub rate: f64,
    #[serde(with = "required_duration")]
    #[schemars(with = "String")]
    pub duration: Duration,
}

/// `sweep: { rates: [2, 4, 8, 16], stage: 10s }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadSweep {
    /// Requests per second of each stage, in the order they run.
    pub rates: Vec<f64>,
    /// How long each rate runs.
    #[serde(with = "required_duration")]
    #[schemars(with = "String")]
    pub stage: Duration,
}

impl Load {
    /// The stages of a staged or swept load (empty for the others).
    pub fn rate_stages(&self) -> Vec<LoadStage> {
        match &self.sweep {
            Some(s) => s
                .rates
                .iter()
                .map(|r| LoadStage {
                    rate: *r,
                    duration: s.stage,
                })
                .collect(),
            None => self.stages.clone(),
        }
    }

    /// Whether the load is an open loop (a rate, stages or a sweep).
    pub fn open_loop(&self) -> bool {
        self.rate.is_some() || !self.stages.is_empty() || self.sweep.is_some()
    }
}

/// How an open-loop load spaces its requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadArrival {
    /// Exponential gaps, as `vllm bench serve` and inference-perf send.
    #[default]
    Poisson,
    /// Even gaps of 1/rate.
    Constant,
}

/// Where a load's requests come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadVia {
    InCluster,
    PortForward,
}

pub(super) fn default_load_name() -> String {
    "load".to_string()
}

fn default_load_kind() -> String {
    "completions".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inject {
    /// `kill-pod`, `evict`, `drain`, `fill-memory`, `fail-readiness`, `gpu-unhealthy`, `gpu-xid`, `mock-config`.
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
    /// The pods the last `kill-pod` (or `evict`, `drain`) removed are gone (by UID),
    /// and a pod that did not exist before it became Ready.
    #[serde(default)]
    pub pod_replaced: Option<ExpectPodReplaced>,
    /// A pod of a Job ended with a JSON termination message that matches.
    #[serde(default)]
    pub termination_message: Option<Box<ExpectTerminationMessage>>,
    /// What a ServiceAccount may and may not do, asked as that account
    /// (impersonated) through SelfSubjectAccessReview.
    #[serde(default)]
    pub access: Option<Box<ExpectAccess>>,
    /// The named load's goodput and latency percentiles within bounds
    /// (waits for it to finish).
    #[serde(default)]
    pub slo: Option<Box<super::slo::ExpectSlo>>,
    /// A server metric scraped from the serving pods while loads ran.
    #[serde(default)]
    pub metric: Option<Box<super::slo::ExpectMetric>>,
    /// A VerticalPodAutoscaler's recommendation for a container of its
    /// target, against that container's memory limit (`up --with vpa`).
    #[serde(default)]
    pub vpa_recommendation: Option<ExpectVpaRecommendation>,
}

/// The fewest requests a load expectation needs to judge anything.
pub const DEFAULT_MIN_REQUESTS: u64 = 1;

fn default_min_requests() -> u64 {
    DEFAULT_MIN_REQUESTS
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadRef {
    #[serde(default = "default_load_name")]
    pub load: String,
    /// Not met when the load sent fewer requests than this.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
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
    /// Not met when the load sent fewer requests than this.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectServedBy {
    #[serde(default = "default_load_name")]
    pub load: String,
    /// The `x-inference-version` every successful response must carry.
    pub version: String,
    /// Not met when the load sent fewer requests than this.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
}

/// A pod of `job` ended with a JSON termination message (what the
/// container wrote to `/dev/termination-log`) that `matches` a pattern, as
/// `expectFailure.observed` patterns do: values to equal, or operator maps
/// (`{ gte: 1 }`, `{ contains: "x" }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectTerminationMessage {
    /// The Job's name (its pods carry `job-name: NAME`).
    pub job: String,
    /// The pattern the message's JSON must match.
    pub matches: serde_json::Value,
}

/// A ServiceAccount's rights in the scenario's namespace, each written as
/// `kubectl auth can-i` takes it: `VERB RESOURCE[.GROUP][/SUBRESOURCE]`
/// (`get secrets`, `patch deployments.apps`, `create pods/exec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectAccess {
    /// The account by name, in the scenario's namespace.
    #[serde(default)]
    pub service_account: Option<String>,
    /// Or the account a workload's pods run under (`deployment/NAME`,
    /// `statefulset/NAME`; `default` when its template names none).
    #[serde(default)]
    pub workload: Option<String>,
    /// What it must not be allowed to do.
    #[serde(default)]
    pub denied: Vec<String>,
    /// What it must be allowed to do.
    #[serde(default)]
    pub allowed: Vec<String>,
}

/// One `VERB RESOURCE[.GROUP][/SUBRESOURCE]`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
}

impl AccessRequest {
    pub fn parse(text: &str) -> Result<AccessRequest, String> {
        let mut words = text.split_whitespace();
        let (Some(verb), Some(what), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "{text:?}: write VERB RESOURCE, e.g. `get secrets` or `patch deployments.apps`"
            ));
        };
        let (resource, subresource) = match what.split_once('/') {
            Some((r, s)) => (r, Some(s.to_string())),
            None => (what, None),
        };
        let (resource, group) = match resource.split_once('.') {
            Some((r, g)) => (r, g),
            None => (resource, ""),
        };
        if resource.is_empty() || subresource.as_deref() == Some("") {
            return Err(format!("{text:?}: the resource is empty"));
        }
        Ok(AccessRequest {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            subresource,
        })
    }
}

/// The killed pods are gone and a new pod is Ready in their place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectPodReplaced {
    /// How many new Ready pods (default 1 per killed pod).
    #[serde(default)]
    pub min: Option<u32>,
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

/// `expect: { vpaRecommendation }`: once the recommender has recommended
/// for the container, its memory limit must be at least the bound named
/// (the upper bound by default: what the recommender thinks the container
/// may need at its peak, with its safety margin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectVpaRecommendation {
    /// The VerticalPodAutoscaler's name.
    pub vpa: String,
    /// The container (default: the first of the target's pod template).
    #[serde(default)]
    pub container: Option<String>,
    /// The bound the memory limit must cover.
    #[serde(default)]
    pub memory_limit_covers: VpaBound,
}

/// A bound of a VPA recommendation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum VpaBound {
    /// `upperBound`.
    #[default]
    UpperBound,
    /// `target`.
    Target,
}

impl VpaBound {
    /// The recommendation's field (`upperBound`).
    pub fn field(self) -> &'static str {
        match self {
            VpaBound::UpperBound => "upperBound",
            VpaBound::Target => "target",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sleep {
    #[serde(with = "required_duration")]
    #[schemars(with = "String")]
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Script {
    /// A shell command, run with `KUBECONFIG` and `NAMESPACE` set.
    pub run: String,
}
