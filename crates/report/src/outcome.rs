//! How an operation that did not pass ended ([`FailureKind`]) and what a
//! checking operation checked ([`CheckKind`]): the typed outcomes every
//! renderer shows beside the expected and observed values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How an operation that did not pass ended: its check was *not met*
/// (it observed something else), or it could not judge (an error of a
/// named kind). Only `notMet` can make a negative twin fail as expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// The check ran and observed something other than what it expected.
    NotMet,
    /// The API server answered with an error (other than forbidden).
    ApiError,
    /// RBAC refused a request.
    Forbidden,
    /// The object the operation needs never appeared.
    NeverAppeared,
    /// Time ran out without anything to judge (the object existed, but the
    /// check could not be evaluated, e.g. an autoscaler without metrics).
    TimedOut,
    /// The scenario asked for something impossible (bad template, target, value).
    BadInput,
    /// Ctrl-C.
    Interrupted,
}

impl FailureKind {
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::NotMet => "not met",
            FailureKind::ApiError => "API error",
            FailureKind::Forbidden => "forbidden",
            FailureKind::NeverAppeared => "never appeared",
            FailureKind::TimedOut => "timed out",
            FailureKind::BadInput => "bad input",
            FailureKind::Interrupted => "interrupted",
        }
    }
}

/// What a checking operation checked (machine-readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CheckKind {
    /// `assert`: a partial object.
    Assert,
    /// `wait: { rollout }`.
    Rollout,
    /// `wait: { resource, condition }`.
    Condition,
    /// `expect: { event }`.
    Event,
    /// `expect: { containerTerminated / minRestarts }`.
    ContainerTerminated,
    /// `expect: { hpaReplicas }`.
    HpaReplicas,
    /// `expect: { zeroFailedRequests }`.
    ZeroFailedRequests,
    /// `expect: { failedRequests }`.
    FailedRequests,
    /// `expect: { servedBy }`.
    ServedBy,
    /// `expect: { endpoints }`.
    Endpoints,
    /// `expect: { podReplaced }`: a killed pod gone, another Ready.
    PodReplaced,
    /// `expect: { terminationMessage }`: a Job pod's JSON termination message.
    TerminationMessage,
    /// `expect: { access }`: a ServiceAccount's rights (SelfSubjectAccessReview).
    Access,
    /// `expect: { slo }`: a load's goodput and latency percentiles.
    Slo,
    /// `expect: { metric }`: a server metric scraped while loads ran.
    Metric,
    /// `expect: { vpaRecommendation }`: a container's memory limit against
    /// a VerticalPodAutoscaler's recommendation.
    VpaRecommendation,
    /// `load` (in the background: its requests could not run).
    Load,
    /// `script`: its exit status.
    Script,
}

impl CheckKind {
    /// Every kind, in the order of the enum.
    pub const ALL: [CheckKind; 18] = [
        CheckKind::Assert,
        CheckKind::Rollout,
        CheckKind::Condition,
        CheckKind::Event,
        CheckKind::ContainerTerminated,
        CheckKind::HpaReplicas,
        CheckKind::ZeroFailedRequests,
        CheckKind::FailedRequests,
        CheckKind::ServedBy,
        CheckKind::Endpoints,
        CheckKind::PodReplaced,
        CheckKind::TerminationMessage,
        CheckKind::Access,
        CheckKind::Slo,
        CheckKind::Metric,
        CheckKind::VpaRecommendation,
        CheckKind::Load,
        CheckKind::Script,
    ];

    /// The name as scenarios and `report.json` write it (`hpaReplicas`).
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Assert => "assert",
            CheckKind::Rollout => "rollout",
            CheckKind::Condition => "condition",
            CheckKind::Event => "event",
            CheckKind::ContainerTerminated => "containerTerminated",
            CheckKind::HpaReplicas => "hpaReplicas",
            CheckKind::ZeroFailedRequests => "zeroFailedRequests",
            CheckKind::FailedRequests => "failedRequests",
            CheckKind::ServedBy => "servedBy",
            CheckKind::Endpoints => "endpoints",
            CheckKind::PodReplaced => "podReplaced",
            CheckKind::TerminationMessage => "terminationMessage",
            CheckKind::Access => "access",
            CheckKind::Slo => "slo",
            CheckKind::Metric => "metric",
            CheckKind::VpaRecommendation => "vpaRecommendation",
            CheckKind::Load => "load",
            CheckKind::Script => "script",
        }
    }

    /// The kind a scenario names (`hpaReplicas`).
    pub fn from_name(name: &str) -> Option<CheckKind> {
        CheckKind::ALL.into_iter().find(|k| k.name() == name)
    }
}
