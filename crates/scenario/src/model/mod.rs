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
//!
//! The parts, each a module of its own: the file and its spec (here),
//! [`Step`] and [`Operation`] (`step`), the actions (`actions`), what
//! scenarios require ([`Capability`]), and durations (`duration`).

mod actions;
mod canary;
mod capability;
mod duration;
mod exclusive;
mod slo;
mod step;

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use duration::opt_duration;

pub use actions::{
    ACTIONS, AccessRequest, Action, Apply, Assert, DEFAULT_MIN_REQUESTS, Expect, ExpectAccess,
    ExpectEndpoints, ExpectEvent, ExpectFailedRequests, ExpectPodReplaced, ExpectReplicas,
    ExpectServedBy, ExpectTerminationMessage, ExpectVpaRecommendation, Inject, Load, LoadArrival,
    LoadLengths, LoadMixEntry, LoadRef, LoadStage, LoadSweep, LoadVia, Rollback, Rollout, Scale,
    Script, Sleep, VpaBound, Wait,
};
pub use canary::{Canary, CanaryAnalysis, CanaryDecision};
pub use capability::Capability;
pub use duration::{format_duration, parse_duration};
pub use exclusive::{ClusterShare, Exclusive};
pub use slo::{ExpectMetric, ExpectSlo, LoadSlo, Threshold, known_figure};
pub use step::{Operation, Step};

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
    /// What the scenario needs to itself: `true` the whole cluster, or a
    /// list of shares (`[cpu]` when it measures CPU that concurrent
    /// scenarios would share, `[gpus]` when it takes GPUs out of the pool,
    /// `[nodes]` when it drains nodes). Others run concurrently, each in its
    /// own namespace; an exclusive one waits for them, then starts as soon
    /// as no running scenario needs the same share (its own matrix entries
    /// run together, unless it needs the nodes).
    #[serde(default)]
    pub exclusive: Exclusive,
    /// Run the operations as a ServiceAccount of the scenario's namespace
    /// (impersonated) instead of as the kubeconfig's user: what a team's
    /// deployer with namespace rights only can and cannot do.
    #[serde(default)]
    pub run_as: Option<RunAs>,
    /// About how long one run takes, when it is long (`2m`): among the
    /// instances that share the cluster, the longest start first, so that
    /// a long one does not start last and hold up the exclusive ones.
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub expected_duration: Option<std::time::Duration>,
    pub steps: Vec<Step>,
}

/// The identity a scenario's operations run as: a ServiceAccount the
/// harness creates in the scenario's namespace, bound there (a RoleBinding,
/// so namespace-scoped) to a ClusterRole. Evidence, events and clean-up
/// still use the kubeconfig's user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunAs {
    /// The ServiceAccount's name, e.g. `deployer`.
    pub service_account: String,
    /// The ClusterRole it is bound to in the namespace: `admin` (the
    /// default), `edit`, `view` or one of the cluster's own.
    #[serde(default = "default_run_as_role")]
    pub cluster_role: String,
}

fn default_run_as_role() -> String {
    "admin".into()
}

impl Scenario {
    /// Whether an operation names the profile's serving template
    /// (`{{ servingTemplate }}`): the scenarios a team's own template
    /// stands in for; the others deploy only our fixtures.
    pub fn deploys_serving_template(&self) -> bool {
        serde_json::to_string(&self.spec.steps).is_ok_and(|s| s.contains("servingTemplate"))
    }
}

impl ScenarioSpec {
    /// Every `expectFailure` with the path it sits at
    /// (`spec.expectFailure`, `spec.matrix[1].expectFailure`), in file order.
    pub fn expectations(&self) -> impl Iterator<Item = (String, &ExpectFailure)> {
        self.expect_failure
            .iter()
            .map(|x| ("spec.expectFailure".to_string(), x))
            .chain(self.matrix.iter().enumerate().filter_map(|(i, m)| {
                m.expect_failure
                    .as_ref()
                    .map(|x| (format!("spec.matrix[{i}].expectFailure"), x))
            }))
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

/// Where and how a negative twin must fail: proof that the scenario's
/// check can fail. The twin passes only when a check of the named step
/// comes out *not met* and what it observed matches `observed`; an error
/// (API, forbidden, an object that never appeared, a timeout with nothing
/// to judge) never counts.
///
/// ```yaml
/// expectFailure:
///   step: scale-up
///   check: hpaReplicas
///   observed: { currentReplicas: 2, maxReplicas: 2, scalingLimited: true }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectFailure {
    /// The step whose check must come out not met.
    pub step: String,
    /// The check that must come out not met (`hpaReplicas`, `event`,
    /// `zeroFailedRequests`, ...): any check of the step when absent.
    #[serde(default)]
    pub check: Option<String>,
    /// What that check must have observed: a partial object matched
    /// against its observation. Leaves are values to equal, or operators:
    /// `{ gte: 1 }`, `{ gt: 0 }`, `{ lte: 2 }`, `{ lt: 3 }`, `{ contains: "text" }`.
    #[serde(default)]
    pub observed: Option<serde_json::Value>,
    /// No longer read (lint says what to write instead): a twin matched
    /// on error text could pass on any error.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub message_contains: Option<serde_json::Value>,
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
