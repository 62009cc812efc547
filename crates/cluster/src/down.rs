//! `down` and `exists` for every provider, behind `cargo xtask down` and
//! e2e's teardown.

use crate::kind::KindProvider;
use crate::kwok::KwokProvider;
use crate::{ClusterError, ClusterProvider, Provider, validate_name};

/// What `down` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DownReport {
    pub provider: Provider,
    pub name: String,
    pub existed: bool,
    /// What is left of the cluster afterwards (should be nothing), one
    /// description each: containers (kind), processes (kwok).
    pub leftovers: Vec<String>,
}

impl DownReport {
    /// Whether nothing of the cluster is left.
    pub fn is_clean(&self) -> bool {
        self.leftovers.is_empty()
    }
}

/// `cluster "x" deleted; no containers left`, and the like.
impl std::fmt::Display for DownReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = crate::status::cluster_word(self.provider);
        let noun = self.provider.leftover_noun();
        if !self.leftovers.is_empty() {
            write!(
                f,
                "{what} {:?} deleted but {noun} remain: {}",
                self.name,
                self.leftovers.join(", ")
            )
        } else if self.existed {
            write!(f, "{what} {:?} deleted; no {noun} left", self.name)
        } else {
            write!(f, "{what} {:?} does not exist; nothing to do", self.name)
        }
    }
}

/// Deletes cluster `name` of `provider` (kwok: the kind default name
/// means kwok's, see [`Provider::cluster_name`]) and reports what is left
/// of it. Builds a tool only when there is something to delete.
pub fn down(provider: Provider, name: &str) -> Result<DownReport, ClusterError> {
    let name = provider.cluster_name(name);
    validate_name(&name)?;
    match provider {
        Provider::Kind => KindProvider::tear_down(&name),
        Provider::Kwok => KwokProvider::tear_down(&name),
    }
}

/// Whether cluster `name` of `provider` is there (kind: it has containers;
/// kwok: its folder is a kwok cluster's). Cheap: builds no tool and starts
/// no engine, so a run can tell a cluster it created from one that was up
/// before.
pub fn exists(provider: Provider, name: &str) -> bool {
    let name = provider.cluster_name(name);
    match provider {
        Provider::Kind => KindProvider::is_present(&name),
        Provider::Kwok => KwokProvider::is_present(&name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(provider: Provider, existed: bool, leftovers: &[&str]) -> String {
        DownReport {
            provider,
            name: "c".into(),
            existed,
            leftovers: leftovers.iter().map(|s| s.to_string()).collect(),
        }
        .to_string()
    }

    #[test]
    fn down_says_what_it_did_in_the_providers_words() {
        assert_eq!(
            report(Provider::Kind, true, &[]),
            "cluster \"c\" deleted; no containers left"
        );
        assert_eq!(
            report(Provider::Kwok, false, &[]),
            "kwok cluster \"c\" does not exist; nothing to do"
        );
        assert_eq!(
            report(Provider::Kwok, true, &["etcd (pid 7)"]),
            "kwok cluster \"c\" deleted but processes remain: etcd (pid 7)"
        );
    }

    #[test]
    fn a_kwok_cluster_that_never_was_is_not_there() {
        let name = format!("kwok-unit-absent-{}", std::process::id());
        assert!(!exists(Provider::Kwok, &name));
        let r = down(Provider::Kwok, &name).expect("nothing to do");
        assert!(!r.existed && r.is_clean(), "{r:?}");
    }
}
