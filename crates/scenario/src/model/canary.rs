//! `canary`: a canary release decided as a step. A stable and a canary
//! Deployment serve behind one Service; the canary is promoted (scaled up
//! to the stable track's size, the stable track then scaled to zero) or
//! aborted (scaled to zero), by the scenario's say or by an analysis of
//! what a finished load saw: the share of the canary's answers that were
//! errors, told from the stable track's by the version each response
//! carries (`x-inference-version`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Canary {
    /// `deployment/NAME` of the stable track.
    pub stable: String,
    /// `deployment/NAME` of the canary track.
    pub canary: String,
    /// `promote`, `abort`, or `analyze` (the default: decide from `analysis`).
    #[serde(default)]
    pub decision: CanaryDecision,
    /// What `analyze` decides on.
    #[serde(default)]
    pub analysis: Option<CanaryAnalysis>,
    /// The canary's replicas after a promotion (default: the stable track's).
    #[serde(default)]
    pub replicas: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CanaryDecision {
    #[default]
    Analyze,
    Promote,
    Abort,
}

/// The canary's error share in a finished load, against a limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryAnalysis {
    /// A load that ran before (waited for when it runs in the background).
    pub load: String,
    /// The version the canary's responses carry (`x-inference-version`).
    pub version: String,
    /// The most the canary's share of error answers may be (0 to 1); above
    /// it, the canary is aborted.
    #[serde(default = "default_max_error_rate")]
    pub max_error_rate: f64,
    /// The fewest answers from the canary to judge it on; fewer is an error
    /// (the Service may not select the canary's pods).
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
}

fn default_max_error_rate() -> f64 {
    0.01
}

fn default_min_requests() -> u64 {
    5
}

impl Canary {
    /// What is wrong with it before anything runs.
    pub fn lint(&self) -> Result<(), String> {
        for (field, target) in [("stable", &self.stable), ("canary", &self.canary)] {
            if !target.starts_with("deployment/") && !target.contains("{{") {
                return Err(format!("canary.{field} {target:?}: give deployment/NAME"));
            }
        }
        if self.stable == self.canary {
            return Err("canary.stable and canary.canary name the same Deployment".into());
        }
        match (&self.decision, &self.analysis) {
            (CanaryDecision::Analyze, None) => {
                return Err("canary: decision analyze (the default) needs analysis: { load, version, maxErrorRate }; or give decision: promote or abort".into());
            }
            (_, Some(a)) if !(0.0..=1.0).contains(&a.max_error_rate) => {
                return Err(format!(
                    "canary.analysis.maxErrorRate {}: give a share from 0 to 1 (0.01 is 1%)",
                    a.max_error_rate
                ));
            }
            _ => {}
        }
        Ok(())
    }
}
