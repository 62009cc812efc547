//! The cluster-changing and checking actions, one file each: apply, assert,
//! wait, rollout, rollback, scale, script (`sleep` needs no file; `load`,
//! `inject` and `expect` have modules of their own beside this one). Each
//! returns what it observed, a check not met, or an error of a named kind
//! ([`OpResult`]).
//!
//! The files depend on [`crate::context`] and on the leaf helpers
//! ([`crate::watch`], [`crate::matching`]); among themselves only on
//! `target` (parsing `kind/name`) and `render` (manifest templates).

mod apply;
mod assert;
mod canary;
mod helm;
mod render;
mod rollback;
mod rollout;
mod scale;
mod script;
mod statefulset;
mod target;
mod wait;

pub use crate::context::OpResult;

/// Records what an operation on `deployment/name` did on the rollout
/// timeline, and returns it as the operation's outcome.
fn on_rollout_timeline(
    ctx: &mut crate::context::Ctx,
    op: &str,
    kind: &str,
    name: &str,
    msg: String,
) -> OpResult {
    ctx.recorder.note(
        report::TimelineSource::Rollout,
        op,
        Some(format!("{kind}/{name}")),
        msg.clone(),
        false,
    );
    Ok(crate::context::OpOutcome::done(msg))
}
pub use apply::apply;
pub use assert::assert;
pub use canary::canary;
pub use rollback::rollback;
pub use rollout::rollout;
pub use scale::scale;
pub use script::script;
pub use target::split_target;
pub use wait::wait;
