//! Running scenarios against a cluster: one fresh namespace per scenario
//! (or matrix entry), steps with `try` / `catch` / `finally`, the default
//! evidence collection on failure, negative twins judged by where they
//! fail, and cleanup on success, failure and Ctrl-C (unless kept).
//!
//! The plan (which instances, which bindings) comes from
//! [`scenario::plan`]; this crate executes it: [`suite`] runs the
//! instances (concurrently, `parallel` at a time), [`instance`] one scenario,
//! [`step`] one step and its operations, [`verdict`] judges the outcome.
//! The result is a [`RunReport`]; writing it to files is [`report`]'s job.
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
//!    [`undo`] (faults to revert), [`verdict`].
//! 2. [`background`] (a load running in the background; on `forwarder`).
//! 3. [`context`]: what an operation reaches ([`context::Ctx`]) and returns
//!    ([`context::OpResult`]); on `cancel`, `console`, `recorder`,
//!    `background`, `undo`, `timeouts` only.
//! 4. The operations, each on `context` and leaves: [`ops`] (apply,
//!    assert, wait, rollout, rollback, scale, script), [`loads`] (on
//!    `background`, `forwarder`), [`inject`] (on `undo` and
//!    [`ops::split_target`]), [`expect`] (on `loads`, to settle a load).
//! 5. What a failure leaves behind: [`evidence`] (on `recorder`), then
//!    [`diagnose`] (on `evidence`).
//! 6. [`step`] (dispatches to the operations, collects evidence), then
//!    [`instance`] (the steps of one scenario, its cleanup and verdict),
//!    then [`suite`] (every instance).
//!
//! No operation module reaches back up to `step`, `instance` or `suite`,
//! and `context` reaches no operation.

pub mod background;
pub mod cancel;
pub mod console;
pub mod context;
pub mod diagnose;
pub mod evidence;
pub mod expect;
pub mod forwarder;
pub mod inject;
mod instance;
pub mod loads;
pub mod matching;
pub mod ops;
pub mod options;
pub mod recorder;
mod step;
mod suite;
pub mod timeouts;
pub mod undo;
pub mod verdict;
pub mod watch;

pub use cancel::Cancel;
pub use options::{RunError, RunOptions, default_parallelism};
pub use report::RunReport;
pub use suite::{new_run_id, run};
pub use verdict::{Failure, verdict};
