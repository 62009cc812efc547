//! What `up --with` adds to a kind cluster beyond the defaults.

use std::fmt;
use std::str::FromStr;

/// An optional component of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// Prometheus in `monitoring`, scraping the pods annotated
    /// `prometheus.io/scrape` ([`crate::addons::Prometheus`]).
    Prometheus,
    /// The Vertical Pod Autoscaler's recommender in `kube-system`,
    /// recommending requests for the workloads a VerticalPodAutoscaler
    /// names ([`crate::addons::Vpa`]).
    Vpa,
}

impl Component {
    pub const ALL: [Component; 2] = [Component::Prometheus, Component::Vpa];

    /// The name `--with` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Prometheus => "prometheus",
            Component::Vpa => "vpa",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Component {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Component::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Component::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown component {s:?} for --with; expected one of: {}",
                    known.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_parse_by_name_and_say_what_exists() {
        assert_eq!("prometheus".parse(), Ok(Component::Prometheus));
        assert_eq!(" vpa".parse(), Ok(Component::Vpa));
        let err = "prometheous".parse::<Component>().unwrap_err();
        assert!(err.contains("expected one of: prometheus, vpa"), "{err}");
    }
}
