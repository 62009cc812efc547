//! The rules, one module each, and their registry.
//!
//! Adding a rule: a module with `pub const RULE: Rule` and its tests (a
//! passing and a failing case), and one line in [`RULES`].

use crate::finding::{Finding, Severity};
use crate::input::Object;
use crate::workload::Workload;

mod dev_shm;
mod gpu_scheduling;
pub mod helm_lint;
mod image_ref;
mod pdb;
mod prestop;
mod readiness;
mod requests;
mod rolling_update;
mod service_selector;
mod serving_workload;

/// What the rules look at: every object, and every object with a pod template.
pub struct Context<'a> {
    pub objects: &'a [Object],
    pub workloads: Vec<Workload<'a>>,
}

impl Context<'_> {
    pub fn serving(&self) -> impl Iterator<Item = &Workload<'_>> {
        self.workloads.iter().filter(|w| w.serving)
    }
}

/// One rule: a stable id, the worst severity it reports, and help text
/// (for SARIF's `rules[]` and the README).
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub help: &'static str,
    pub run: fn(&Context<'_>) -> Vec<Finding>,
}

pub const RULES: &[Rule] = &[
    serving_workload::RULE,
    readiness::RULE,
    requests::RULE,
    gpu_scheduling::TOLERATION,
    gpu_scheduling::POOL,
    image_ref::RULE,
    rolling_update::RULE,
    pdb::RULE,
    prestop::RULE,
    service_selector::RULE,
    dev_shm::RULE,
    helm_lint::RULE,
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use super::*;

    /// Runs one rule on YAML text and returns the findings' (severity, message).
    pub fn run(rule: &Rule, yaml: &str) -> Vec<Finding> {
        let objects =
            crate::input::parse_documents(Path::new("t.yaml"), yaml).expect("test YAML parses");
        let ctx = Context {
            objects: &objects,
            workloads: crate::workload::workloads(&objects),
        };
        (rule.run)(&ctx)
    }

    /// A serving vLLM Deployment; `extra` is spliced into the pod spec and
    /// `container` into the container (both at their own indentation).
    pub fn deployment(replicas: i64, pod: &str, container: &str) -> String {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: vllm
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: vllm}}
  template:
    metadata:
      labels: {{app: vllm}}
    spec:
{pod}
      containers:
        - name: server
          image: vllm/vllm-openai:v0.30.0
          command: [vllm, serve]
          args: [Qwen/Qwen2.5-0.5B-Instruct]
{container}
"
        )
    }
}
