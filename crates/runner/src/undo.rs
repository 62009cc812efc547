//! A fault outside the scenario's namespace (a fake GPU marked unhealthy,
//! a cordoned node), remembered so the scenario's end can revert it.
//! The `inject` module makes and reverts them.

/// A fault outside the scenario's namespace, undone when the scenario ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// An admin call through the API server's pod proxy (gpu-fakes'
    /// `/admin/gpus/N/healthy`).
    Proxy {
        namespace: String,
        pod: String,
        port: u16,
        path: String,
        what: String,
    },
    /// A node a drain cordoned, schedulable again.
    Uncordon { node: String },
}

impl Undo {
    /// What reverting it does, as the console says it.
    pub fn what(&self) -> String {
        match self {
            Undo::Proxy { what, .. } => what.clone(),
            Undo::Uncordon { node } => format!("node {node} schedulable again (uncordoned)"),
        }
    }
}
