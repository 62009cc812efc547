//! The kind provider: clusters whose nodes are Docker containers, driven
//! through the `kind` binary ([`KindProvider`]), the configuration it is
//! given ([`config`]), its `down` and `status` ([`status`]), and real GPUs
//! handed to its nodes the way nvkind does ([`real_gpus`]).

pub mod config;
mod host_limits;
mod provider;
pub mod real_gpus;
pub mod status;

pub use provider::KindProvider;

/// The Docker label kind puts on every node container.
pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
/// The Docker label naming a node's role.
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";

/// The value of `key` in docker's `a=b,c=d` label list.
fn label_value(labels: &str, key: &str) -> Option<String> {
    labels
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_label_lists() {
        let l = "io.x-k8s.kind.cluster=inferbench,io.x-k8s.kind.role=worker";
        assert_eq!(label_value(l, ROLE_LABEL).as_deref(), Some("worker"));
        assert_eq!(label_value(l, "missing"), None);
    }
}
