//! The report model: run -> scenario -> step -> operation, plus what the
//! harness measured (load, time series) and what it collected when something
//! failed (timeline, evidence, diagnoses).
//!
//! Every renderer (JSON, JUnit XML, Markdown, HTML) reads this one model, and
//! the JSON form *is* this model, versioned by [`SCHEMA_VERSION`].

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::outcome::{CheckKind, FailureKind};

/// Bumped when a field changes meaning or disappears (adding one is not a bump).
pub const SCHEMA_VERSION: &str = "inferbench.dev/report/v2";

/// How something ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Passed,
    Failed,
    /// Not run (an earlier step failed, or the run was interrupted).
    Skipped,
    /// A negative twin: it was meant to fail where it failed.
    FailedAsExpected,
    /// A negative twin that passed: its assertion cannot fail, which is a defect.
    PassedUnexpectedly,
}

impl Outcome {
    /// Whether this counts as success for the run's verdict.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Outcome::Passed | Outcome::FailedAsExpected | Outcome::Skipped
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::FailedAsExpected => "failed as expected",
            Outcome::PassedUnexpectedly => "passed unexpectedly",
        }
    }
}

/// One `cargo xtask run` or `cargo xtask e2e`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Always [`SCHEMA_VERSION`].
    pub schema: String,
    /// Unique per run, e.g. `20261123-163000-ab12`.
    pub run_id: String,
    #[schemars(with = "String")]
    pub started: Timestamp,
    #[schemars(with = "String")]
    pub finished: Timestamp,
    pub outcome: Outcome,
    pub harness: HarnessInfo,
    pub cluster: ClusterInfo,
    /// Images under test (mock server, gpu-fakes, inference server).
    #[serde(default)]
    pub images: Vec<ImageInfo>,
    pub scenarios: Vec<ScenarioReport>,
    /// A team's own template the scenarios ran on, once per variant (a
    /// chart's values files); empty when they ran on our fixtures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateReport>,
    /// Set when the run stopped early (Ctrl-C, cluster lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

/// One variant of a team's template: what was rendered, what the
/// scenarios acted on, how it was installed and served, and what the static
/// checks (and `helm lint`) found before any cluster work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateReport {
    /// The variant's name (`dev-values`), which the scenarios' names carry
    /// after `@`; absent when the template has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// What was rendered: `helm chart charts/llm with ci/dev-values.yaml`.
    pub source: String,
    /// The workload, container and Service the scenarios acted on.
    pub target: String,
    /// `mock stand-in` (our mock server in the serving container's place)
    /// or `own image`.
    pub served_by: String,
    /// `helm release <name>` (upgrade --install, rollback) or `server-side apply`.
    pub installed_with: String,
    pub findings: Vec<StaticFinding>,
}

/// One finding of `cargo xtask check` (a rule, or `helm lint`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaticFinding {
    pub rule: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    pub object: String,
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HarnessInfo {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// The command line that produced this run.
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub name: String,
    /// `kind`, `kwok`, or `external` (a kubeconfig given by the user).
    pub provider: String,
    pub kubernetes_version: String,
    pub node_pools: Vec<NodePoolInfo>,
    /// `fake` (gpu-fakes), `real`, `simulated` (kwok nodes) or `none`.
    pub gpu_kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolInfo {
    pub name: String,
    pub nodes: u32,
    /// `nvidia.com/gpu` allocatable per node (0 for CPU pools).
    pub gpus_per_node: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_product: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    pub name: String,
    /// Image ID or digest when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One scenario, or one matrix entry of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioReport {
    /// `metadata.name`, with `[entry]` appended for matrix entries.
    pub name: String,
    /// The scenario file, relative to the repository when inside it.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The matrix entry's name, when the scenario has a matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix_entry: Option<String>,
    /// The bindings this run used (after the matrix entry was applied).
    #[serde(default)]
    pub values: BTreeMap<String, serde_json::Value>,
    /// Set for negative twins: where and how this run must fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_failure: Option<ExpectedFailure>,
    pub namespace: String,
    #[schemars(with = "String")]
    pub started: Timestamp,
    #[schemars(with = "String")]
    pub finished: Timestamp,
    pub outcome: Outcome,
    /// The first failure's text, as the failing operation reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub steps: Vec<StepReport>,
    #[serde(default)]
    pub loads: Vec<LoadReport>,
    /// Values over time, e.g. replicas of a Deployment or an HPA.
    #[serde(default)]
    pub series: Vec<Series>,
    /// GPU memory and utilization of each pod holding GPUs, read from the
    /// dcgm-exporter while loads ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<PodGpu>,
    /// What each VerticalPodAutoscaler of the namespace recommended at the
    /// end, beside what its target's pod template asks for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizing: Vec<ContainerSizing>,
    /// Kubernetes events, rollout steps, injected faults and load phases.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// One per failure, following Kubernetes' own evidence.
    #[serde(default)]
    pub diagnoses: Vec<Diagnosis>,
    /// Files in the report folder's `artifacts/`, relative to the report folder.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedFailure {
    /// The step whose check must come out *not met*.
    pub step: String,
    /// The check that must come out not met, when the twin names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckKind>,
    /// What that check must have observed: a partial object matched
    /// against the operation's `observation` (errors never match).
    pub observed: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[schemars(with = "String")]
    pub started: Timestamp,
    #[schemars(with = "String")]
    pub finished: Timestamp,
    pub outcome: Outcome,
    /// How many times `try` ran (1 + retries used).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How the step failed: a check not met, or an error of a named kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    pub operations: Vec<OperationReport>,
}

/// Which block of a step an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Block {
    Try,
    Catch,
    Finally,
    /// The harness's own evidence collection after a failure.
    DefaultCatch,
    Cleanup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    pub block: Block,
    /// `apply`, `assert`, `wait`, `rollout`, `rollback`, `scale`, `load`,
    /// `inject`, `expect`, `sleep`, `script`, `collect`.
    pub kind: String,
    /// The operation's description, or a summary the harness made.
    pub description: String,
    #[schemars(with = "String")]
    pub started: Timestamp,
    #[schemars(with = "String")]
    pub finished: Timestamp,
    pub outcome: Outcome,
    /// How it failed: its check was not met, or an error of a named kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    /// The error text (for failures of every kind, the line to quote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The check this operation made, for checking operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckKind>,
    /// What the check wanted, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What it did or saw, in words (the objects applied, the value found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// What it saw, as data: what negative twins match on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<serde_json::Value>,
}

/// What a `load` operation measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    /// The load's name (other operations refer to it).
    pub name: String,
    /// `service/name:port`.
    pub target: String,
    /// `completions`, `chat` or `chat-stream`.
    pub request: String,
    pub users: u32,
    #[schemars(with = "String")]
    pub started: Timestamp,
    #[schemars(with = "String")]
    pub finished: Timestamp,
    pub requests: u64,
    pub failures: u64,
    pub throughput_rps: f64,
    /// failures / requests, 0..1.
    pub error_rate: f64,
    pub latency_ms: Percentiles,
    /// Time to first token, for streaming requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<Percentiles>,
    /// Responses by HTTP status (`"200"`, `"503"`) or error class (`"connect"`, `"reset"`).
    #[serde(default)]
    pub by_status: BTreeMap<String, u64>,
    /// Responses by the `x-inference-version` header that answered them.
    #[serde(default)]
    pub by_version: BTreeMap<String, u64>,
    /// Error answers (HTTP 4xx and 5xx) by the `x-inference-version` they
    /// carried: a canary's errors told from the stable track's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_by_version: BTreeMap<String, u64>,
    /// Responses by the `x-inference-pod` header that answered them.
    #[serde(default)]
    pub by_pod: BTreeMap<String, u64>,
    /// One bucket per second (or coarser for long runs), from `started`.
    pub buckets: Vec<LoadBucket>,
    /// The first failed requests, with what came back.
    #[serde(default)]
    pub failed_samples: Vec<FailedRequest>,
    /// Where the requests were sent from.
    #[serde(default)]
    pub path: LoadPath,
    /// Requests per second the load was asked to send (an open-loop
    /// rate); `throughput_rps` is what it achieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rps: Option<f64>,
    /// Gaps between consecutive streamed tokens, over every token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_ms: Option<Percentiles>,
    /// Time per output token after the first, per request (vLLM's TPOT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<Percentiles>,
    /// Tokens the successful answers carried.
    #[serde(default)]
    pub output_tokens: u64,
    /// `output_tokens` per second of the load.
    #[serde(default)]
    pub output_tokens_per_s: f64,
    /// The share of requests that met the load's per-request SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<Goodput>,
    /// Each stage of a staged or swept load, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<LoadStageReport>,
    /// Where the stages' rates outgrew the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation: Option<Saturation>,
    /// The serving pods' own account of the same requests (their vLLM
    /// histograms before and after the load), when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_view: Option<ServerView>,
    /// Each variant of a mixed load, in mix order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mix: Vec<MixShare>,
}

/// One variant of a mixed load: what it was and how its requests went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MixShare {
    /// `3× chat-stream (out 16-64, prompt 200±50)`.
    pub variant: String,
    pub requests: u64,
    pub failures: u64,
    pub latency_ms: Percentiles,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<Percentiles>,
    pub output_tokens: u64,
}

/// What the serving pods measured of a load: the change in their
/// `vllm:e2e_request_latency_seconds` and `vllm:time_to_first_token_seconds`
/// sums and counts from just before the load to just after it. Beside the
/// client's figures it shows what the path between them adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerView {
    /// Requests the pods completed meanwhile (every client's, if loads overlapped).
    pub requests: u64,
    /// Mean end-to-end latency the pods measured.
    pub e2e_mean_ms: f64,
    /// Mean time to first token the pods measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_mean_ms: Option<f64>,
}

/// One stage of a staged or swept load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadStageReport {
    pub offered_rps: f64,
    /// Seconds from the load's start to the stage's.
    pub offset_s: f64,
    pub duration_s: f64,
    /// Requests due in the stage.
    pub requests: u64,
    pub failures: u64,
    /// Answers that completed within the stage, per second: the rate the
    /// server kept up with.
    pub achieved_rps: f64,
    pub latency_ms: Percentiles,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<Percentiles>,
    /// Share of the stage's requests that met the load's SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<f64>,
    /// Why this stage counts as saturated, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated: Option<String>,
}

/// The knee of a staged load: the last rate the server kept up with and
/// the first it did not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Saturation {
    /// The highest offered rate before the first saturated stage (the top
    /// rate when none saturated); None when the first already did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sustained_rps: Option<f64>,
    /// The first saturated stage's offered rate; None when none saturated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated_at_rps: Option<f64>,
}

impl Saturation {
    /// `kept up with 8 requests/s, saturated at 16`.
    pub fn words(&self) -> String {
        let r = crate::format::rate;
        match (self.max_sustained_rps, self.saturated_at_rps) {
            (Some(ok), Some(at)) => {
                format!("kept up with {} requests/s, saturated at {}", r(ok), r(at))
            }
            (Some(ok), None) => format!("kept up with every stage, up to {} requests/s", r(ok)),
            (None, Some(at)) => {
                format!("saturated already at the first stage, {} requests/s", r(at))
            }
            (None, None) => "no stage ran".to_string(),
        }
    }
}

/// Where a load's requests came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadPath {
    /// A generator pod in the scenario's namespace, to the Service's
    /// cluster DNS name: the path a client in the cluster takes.
    InCluster,
    /// The harness on the host, through an API-server port-forward per
    /// request (adds the API server and kubelet to every latency).
    #[default]
    PortForward,
}

impl LoadPath {
    pub fn name(self) -> &'static str {
        match self {
            LoadPath::InCluster => "in-cluster",
            LoadPath::PortForward => "port-forward",
        }
    }
}

/// Goodput as vLLM's benchmark and inference-perf define it: the requests
/// that succeeded within every per-request limit of the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Goodput {
    pub slo: RequestSlo,
    /// Requests that met it.
    pub good: u64,
    /// good / requests, 0..1.
    pub ratio: f64,
    /// Good requests per second.
    pub rps: f64,
}

/// Per-request limits, in milliseconds; an absent one is not judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestSlo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<f64>,
    /// Longest gap between two tokens of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub p50: f64,
    #[serde(default)]
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBucket {
    /// Seconds from the load's start to the bucket's start.
    pub offset_s: f64,
    /// Bucket width in seconds.
    pub width_s: f64,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedRequest {
    #[schemars(with = "String")]
    pub at: Timestamp,
    /// HTTP status, absent when no response came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error or the start of the response body.
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Request body size in bytes.
    pub request_bytes: u64,
}

/// A value sampled over time (replicas, ready replicas, HPA desired replicas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// e.g. `deployment/mock-server ready replicas`.
    pub name: String,
    /// e.g. `replicas`.
    pub unit: String,
    pub points: Vec<SeriesPoint>,
}

/// One pod's GPUs as the dcgm-exporter reported them while loads ran
/// (series attributed to the pod by its `pod` and `namespace` labels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodGpu {
    pub pod: String,
    /// The UUIDs of the GPUs (or MIG devices) attributed to the pod.
    pub gpus: Vec<String>,
    /// `DCGM_FI_DEV_FB_USED` summed over the pod's GPUs, in MiB.
    pub memory_used_mib: Vec<SeriesPoint>,
    /// `DCGM_FI_DEV_GPU_UTIL` averaged over the pod's GPUs, in percent.
    pub utilization_pct: Vec<SeriesPoint>,
}

/// One container as a VerticalPodAutoscaler saw it: the requests and
/// limits its target's pod template gives it, and the recommender's
/// recommendation (absent before the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSizing {
    pub vpa: String,
    /// The VPA's target, `Deployment/NAME`.
    pub target: String,
    pub container: String,
    pub requests: Resources,
    pub limits: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
    /// The memory limit is below the recommendation's upper bound: at the
    /// peak the recommender allows for, the container would be OOM-killed.
    #[serde(default)]
    pub memory_limit_below_upper_bound: bool,
}

/// CPU and memory quantities as Kubernetes writes them (`250m`, `128Mi`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

impl Resources {
    /// `cpu 50m, memory 32Mi`, or `-` when neither is given; memory the
    /// VPA writes in bytes (`89128960`) reads in MiB (`85Mi`).
    pub fn text(&self) -> String {
        let memory = self.memory.as_ref().map(|m| match m.parse::<u64>() {
            Ok(bytes) => format!("{}Mi", (bytes as f64 / 104_857.6).round() / 10.0),
            Err(_) => m.clone(),
        });
        let parts: Vec<String> = [("cpu", &self.cpu), ("memory", &memory)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
            .collect();
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A VPA recommendation for one container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    pub target: Resources,
    pub lower_bound: Resources,
    pub upper_bound: Resources,
}

impl PodGpu {
    /// The highest memory used, in MiB.
    pub fn peak_memory_mib(&self) -> Option<f64> {
        self.memory_used_mib
            .iter()
            .map(|p| p.value)
            .reduce(f64::max)
    }

    /// The mean and the highest utilization, in percent.
    pub fn utilization_mean_peak(&self) -> Option<(f64, f64)> {
        let values: Vec<f64> = self.utilization_pct.iter().map(|p| p.value).collect();
        let peak = values.iter().copied().reduce(f64::max)?;
        Some((values.iter().sum::<f64>() / values.len() as f64, peak))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    #[schemars(with = "String")]
    pub at: Timestamp,
    pub value: f64,
}

/// Where a timeline entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TimelineSource {
    /// A Kubernetes Event.
    Event,
    /// A rollout, rollback or scale the scenario made.
    Rollout,
    /// A fault the scenario injected.
    Fault,
    /// A load operation starting or ending.
    Load,
    /// A step starting or ending.
    Step,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    #[schemars(with = "String")]
    pub at: Timestamp,
    pub source: TimelineSource,
    /// Event reason, or what the harness did (`rollout`, `kill-pod`).
    pub reason: String,
    /// `kind/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub message: String,
    /// Kubernetes `Warning` events, failed steps.
    #[serde(default)]
    pub warning: bool,
}

/// Which part of Kubernetes (or of the service) decided what went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Decider {
    Scheduler,
    KubeletProbes,
    KernelOomKiller,
    RolloutController,
    ServiceSelector,
    Autoscaler,
    /// The kubelet, outside its probes: image pulls, restarts with back-off.
    Kubelet,
    /// The Job controller: retries, the backoff limit, completion.
    JobController,
    /// The API server's RBAC authorizer: what a subject may do.
    Rbac,
    /// The API server's admission (ResourceQuota, LimitRange) refusing a
    /// controller's pods.
    Admission,
    /// The Eviction API refusing a disruption its PodDisruptionBudget
    /// does not allow.
    DisruptionBudget,
    /// The cluster's NetworkPolicy enforcer, admitting or rejecting a
    /// client's connections by the namespace's NetworkPolicies.
    NetworkPolicy,
    /// The inference service itself answered with errors.
    Service,
    /// The scenario's own assertion, with no Kubernetes evidence beyond it.
    Assertion,
}

impl Decider {
    pub fn label(self) -> &'static str {
        match self {
            Decider::Scheduler => "scheduler",
            Decider::KubeletProbes => "kubelet probes",
            Decider::KernelOomKiller => "kernel OOM killer",
            Decider::RolloutController => "rollout controller",
            Decider::ServiceSelector => "Service selector",
            Decider::Autoscaler => "horizontal pod autoscaler",
            Decider::Kubelet => "kubelet",
            Decider::JobController => "Job controller",
            Decider::Rbac => "RBAC authorizer",
            Decider::Admission => "admission (ResourceQuota, LimitRange)",
            Decider::DisruptionBudget => "disruption budget (Eviction API)",
            Decider::NetworkPolicy => "NetworkPolicy enforcer",
            Decider::Service => "inference service",
            Decider::Assertion => "scenario assertion",
        }
    }
}

/// A one-paragraph explanation of one failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// The step whose failure this explains.
    pub step: String,
    pub decider: Decider,
    /// One paragraph: what happened, who decided it, what they recorded.
    pub summary: String,
    /// The records quoted (event lines, container states), verbatim.
    #[serde(default)]
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Relative to the report folder, e.g. `artifacts/rolling-update/events.txt`.
    pub path: String,
    pub description: String,
}
