//! Running scenarios against a cluster: one fresh namespace per scenario
//! (or matrix entry), steps with `try` / `catch` / `finally`, the default
//! evidence collection on failure, negative twins judged by the check not
//! met and what it observed (never by error text), and cleanup on success, failure and Ctrl-C (unless kept).
//!
//! The plan (which instances, which bindings) comes from
//! [`scenario::plan`]; this crate executes it: [`suite`] runs the
//! instances (concurrently, `parallel` at a time), [`instance`] one scenario,
//! [`step`] one step and its operations, [`verdict`] judges the outcome.
//! The result is a [`RunReport`]; writing it to files is [`report`]'s job.
//!
//! # Recording evidence
//!
//! A failed step leaves `artifacts/<scenario>/<step>/evidence.json`, an
//! [`evidence::Recording`] of the namespace's evidence and the loads so far;
//! [`options::RunOptions::record_evidence`] (`INFERBENCH_RECORD_EVIDENCE=1`
//! for `cargo xtask run` / `e2e`) writes one after every step.
//! `cargo xtask evidence record --namespace NS --output FILE` records any
//! namespace. [`diagnose::findings`] replays the rules on a recording; the
//! tests in `tests/diagnose_recorded.rs` do so for recordings of real runs.
//!
//! # Layering
//!
//! The modules form a DAG; each depends only on those in the layers above
//! it, and this root only declares modules and re-exports:
//!
//! 1. Leaves, no module of this crate: [`cancel`] (Ctrl-C), [`options`]
//!    (what a run is asked to do), [`console`], [`recorder`] (timeline and
//!    series from watches), [`watch`] (waiting by watching), [`matching`]
//!    (partial objects), [`forwarder`] (Service port-forwards), [`timeouts`],
//!    [`undo`] (faults to revert), [`outcome`] (what an operation returns:
//!    passed, not met, or an error of a named kind), [`verdict`].
//! 2. [`background`] (a load running in the background; on `forwarder`),
//!    [`watch`] (waiting by watching; on `outcome`).
//! 3. [`context`]: what an operation reaches ([`context::Ctx`]) and returns
//!    ([`context::OpResult`]); on `cancel`, `console`, `recorder`,
//!    `background`, `undo`, `outcome`, `timeouts` only.
//! 4. The operations, each on `context` and leaves: [`ops`] (apply,
//!    assert, wait, rollout, rollback, scale, script), [`loads`] (on
//!    `background`, `forwarder`), [`inject`] (on `undo` and
//!    [`ops::split_target`]), [`load_checks`] (pure checks of a finished
//!    load), [`hpa`], [`replaced`], and [`expect`] (on `loads`,
//!    `load_checks`, `hpa`, `replaced`).
//! 5. What a failure leaves behind: [`evidence`] (on `recorder`), then
//!    [`diagnose`] (on `evidence`).
//! 6. [`step`] (dispatches to the operations, collects evidence), then
//!    [`instance`] (the steps of one scenario, its cleanup and verdict),
//!    then [`suite`] (every instance).
//!
//! No operation module reaches back up to `step`, `instance` or `suite`,
//! and `context` reaches no operation.

pub mod access;
pub mod background;
pub mod cancel;
pub mod console;
pub mod context;
pub mod diagnose;
pub mod evidence;
pub mod expect;
pub mod expect_event;
pub mod exposition;
pub mod forwarder;
pub mod gpu_metrics;
pub mod hpa;
pub mod inject;
mod instance;
pub mod load_checks;
pub mod load_mix;
pub mod load_pod;
pub mod loads;
pub mod matching;
pub mod metric_check;
pub mod node_kernel;
pub mod ops;
pub mod options;
pub mod outcome;
pub mod own_template;
pub mod post_render;
pub mod recorder;
pub mod replaced;
pub mod run_as;
pub mod server_metrics;
pub mod server_view;
pub mod service_endpoints;
pub mod slo_check;
mod step;
mod suite;
pub mod termination_message;
pub mod terminations;
pub mod timeouts;
pub mod undo;
pub mod verdict;
pub mod vpa;
pub mod watch;

pub use cancel::Cancel;
pub use options::{RunError, RunOptions, default_parallelism};
pub use outcome::{Check, Observed, OpError, OpOutcome, OpResult};
pub use report::RunReport;
pub use suite::{new_run_id, run};
pub use verdict::{Failure, verdict};

/// A random number of at most `mask`'s bits, for names that must not
/// collide between runs (run ids, generator pods).
pub(crate) fn random_suffix(mask: u32) -> u32 {
    rand::random::<u32>() & mask
}
