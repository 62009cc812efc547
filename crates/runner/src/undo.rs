//! A fault outside the scenario's namespace (e.g. a fake GPU marked
//! unhealthy), remembered so the scenario's end can revert it.
//! The `inject` module makes and reverts them.

/// A fault outside the scenario's namespace, undone when the scenario ends.
pub struct Undo {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub what: String,
}
