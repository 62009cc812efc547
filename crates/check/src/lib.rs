//! Static checks of rendered Kubernetes objects against rules that know
//! inference serving.
//!
//! The flow is `render -> objects -> discover -> check -> findings`: a
//! [`source`] (plain YAML, a Helm chart with values files, or a kustomize
//! overlay, each producing the same [`Object`]s with an [`Origin`] that
//! names the template or resource file) hands over the objects, [`workload`] finds the serving
//! workload (a Deployment or StatefulSet with an `nvidia.com/gpu` limit or an
//! OpenAI-compatible server), and the [`rules`] report [`Finding`]s that name
//! the object, the file and line, and the fix. [`render`] turns a [`Report`]
//! into text, JSON or SARIF 2.1.0 (GitHub code scanning).
//!
//! Generic linters (kube-linter, kube-score) check what any workload needs;
//! these rules check what a model server needs: readiness gated on model
//! load, GPU taint toleration and pool selection, rollouts and disruption
//! budgets that keep a replica serving, endpoint drain, `/dev/shm` for vLLM.
//!
//! This crate is pure: it must not depend on kube, tokio or any cluster code,
//! so `cargo xtask check` runs in seconds with no cluster.

pub mod error;
pub mod finding;
pub mod input;
pub mod patch;
pub mod render;
pub mod rules;
pub mod source;
pub mod target;
pub mod workload;

pub use error::CheckError;
pub use finding::{Finding, ObjectRef, Report, Severity};
pub use input::{Object, Origin, Renderer, load_manifests, parse_documents};
pub use patch::{Applied, Patch, PatchError};
pub use render::Format;
pub use source::{HelmChart, Source, Tools, lint, load, values_files_of};
pub use target::{Choice, DiscoverError, Target, discover};

/// Runs every rule on the objects. Findings come sorted by file, line and rule.
pub fn check(objects: &[Object]) -> Report {
    let ctx = rules::Context {
        objects,
        workloads: workload::workloads(objects),
    };
    let mut findings: Vec<Finding> = rules::RULES.iter().flat_map(|r| (r.run)(&ctx)).collect();
    finding::sort(&mut findings);
    Report {
        checked: objects.iter().map(ObjectRef::of).collect(),
        serving: ctx.serving().map(|w| ObjectRef::of(w.obj)).collect(),
        findings,
    }
}
