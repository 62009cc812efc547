//! What a scenario needs the cluster's share of to itself (`spec.exclusive`).

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A part of the cluster a scenario can need to itself.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterShare {
    /// The nodes' CPU: the scenario measures CPU (an HPA on CPU) that
    /// concurrent scenarios would share.
    Cpu,
    /// The GPU pool: the scenario takes GPUs out of it or exhausts it.
    Gpus,
    /// The nodes themselves: the scenario drains, cordons or restarts them.
    Nodes,
}

impl ClusterShare {
    pub const ALL: [ClusterShare; 3] = [ClusterShare::Cpu, ClusterShare::Gpus, ClusterShare::Nodes];

    /// The name scenarios write.
    pub fn name(self) -> &'static str {
        match self {
            ClusterShare::Cpu => "cpu",
            ClusterShare::Gpus => "gpus",
            ClusterShare::Nodes => "nodes",
        }
    }
}

/// `spec.exclusive`: `false` (the default) runs beside other scenarios;
/// `true` needs the whole cluster; a list (`[cpu]`, `[gpus, nodes]`) needs
/// those shares only, so two exclusive scenarios that need different
/// shares run beside each other, after the shared ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Exclusive {
    /// `true`: the whole cluster; `false`: nothing.
    Whole(bool),
    /// These shares of the cluster.
    Of(Vec<ClusterShare>),
}

impl Default for Exclusive {
    fn default() -> Self {
        Exclusive::Whole(false)
    }
}

impl Exclusive {
    /// Whether the scenario needs anything to itself.
    pub fn any(&self) -> bool {
        match self {
            Exclusive::Whole(w) => *w,
            Exclusive::Of(shares) => !shares.is_empty(),
        }
    }

    /// Whether a scenario's own matrix entries must not run together
    /// either: each changes the nodes (a cordon, a drain) that the others
    /// would be placed on.
    pub fn apart_from_siblings(&self) -> bool {
        match self {
            Exclusive::Whole(_) => false,
            Exclusive::Of(shares) => shares.contains(&ClusterShare::Nodes),
        }
    }

    /// Whether two scenarios with these needs must not run together.
    pub fn conflicts_with(&self, other: &Exclusive) -> bool {
        match (self, other) {
            (Exclusive::Whole(false), _) | (_, Exclusive::Whole(false)) => false,
            (Exclusive::Whole(true), o) | (o, Exclusive::Whole(true)) => o.any(),
            (Exclusive::Of(a), Exclusive::Of(b)) => a.iter().any(|s| b.contains(s)),
        }
    }
}

impl<'de> Deserialize<'de> for Exclusive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Exclusive;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                let names: Vec<&str> = ClusterShare::ALL.iter().map(|s| s.name()).collect();
                write!(
                    f,
                    "true, false, or a list of what the scenario needs to itself ({})",
                    names.join(", ")
                )
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Exclusive, E> {
                Ok(Exclusive::Whole(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Exclusive, A::Error> {
                let mut shares = Vec::new();
                while let Some(s) = seq.next_element::<ClusterShare>()? {
                    if !shares.contains(&s) {
                        shares.push(s);
                    }
                }
                Ok(Exclusive::Of(shares))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Exclusive, String> {
        yaml_serde::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_a_flag_or_a_list_of_shares() {
        assert_eq!(parse("true"), Ok(Exclusive::Whole(true)));
        assert_eq!(parse("false"), Ok(Exclusive::Whole(false)));
        assert_eq!(
            parse("[cpu, gpus, cpu]"),
            Ok(Exclusive::Of(vec![ClusterShare::Cpu, ClusterShare::Gpus]))
        );
        let bad = parse("[disk]").expect_err("unknown share");
        assert!(bad.contains("cpu") && bad.contains("gpus"), "{bad}");
        let bad = parse("yes please").expect_err("not a flag");
        assert!(bad.contains("true, false, or a list"), "{bad}");
    }

    #[test]
    fn only_overlapping_needs_conflict() {
        let cpu = Exclusive::Of(vec![ClusterShare::Cpu]);
        let gpus = Exclusive::Of(vec![ClusterShare::Gpus]);
        let both = Exclusive::Of(vec![ClusterShare::Gpus, ClusterShare::Cpu]);
        let whole = Exclusive::Whole(true);
        let none = Exclusive::Whole(false);
        assert!(!cpu.conflicts_with(&gpus));
        assert!(cpu.conflicts_with(&both) && both.conflicts_with(&gpus));
        assert!(whole.conflicts_with(&cpu) && gpus.conflicts_with(&whole));
        assert!(whole.conflicts_with(&whole));
        assert!(!none.conflicts_with(&whole) && !whole.conflicts_with(&none));
        assert!(!Exclusive::Of(vec![]).conflicts_with(&whole));
    }
}
