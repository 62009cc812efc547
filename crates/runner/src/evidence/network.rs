//! NetworkPolicies as evidence: which pods each selects and whom it admits,
//! one line per ingress rule, so a report says why a client was refused or
//! let through.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

/// A NetworkPolicy, as far as ingress goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkPolicyInfo {
    pub name: String,
    /// `spec.podSelector`'s `matchLabels` (empty: every pod of the namespace).
    pub selects: BTreeMap<String, String>,
    /// The selector has `matchExpressions` too (shown, not judged here).
    pub selector_expressions: Vec<String>,
    pub policy_types: Vec<String>,
    /// One line per ingress rule: `from pods inferbench.dev/role=gateway on TCP/8000`.
    pub ingress: Vec<String>,
}

impl NetworkPolicyInfo {
    /// Whether it selects a pod with `labels` (`None` where expressions
    /// would decide).
    pub fn selects_pod(&self, labels: &BTreeMap<String, String>) -> Option<bool> {
        let by_labels = self.selects.iter().all(|(k, v)| labels.get(k) == Some(v));
        match (by_labels, self.selector_expressions.is_empty()) {
            (false, _) => Some(false),
            (true, true) => Some(true),
            (true, false) => None,
        }
    }

    /// Whether it restricts ingress to the pods it selects.
    pub fn restricts_ingress(&self) -> bool {
        self.policy_types.is_empty() || self.policy_types.iter().any(|t| t == "Ingress")
    }

    /// `networkpolicy/NAME selects pods app=llm; ingress: from ...`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "networkpolicy/{} selects {}",
            self.name,
            selector_text(&self.selects, &self.selector_expressions)
        );
        if !self.restricts_ingress() {
            s.push_str("; does not restrict ingress");
        } else if self.ingress.is_empty() {
            s.push_str("; admits no ingress at all");
        } else {
            let _ = write!(s, "; admits only {}", self.ingress.join(", or "));
        }
        s
    }
}

fn selector_text(labels: &BTreeMap<String, String>, expressions: &[String]) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.extend(expressions.iter().cloned());
    if parts.is_empty() {
        "every pod".into()
    } else {
        format!("pods {}", parts.join(","))
    }
}

fn selector(s: Option<&LabelSelector>) -> (BTreeMap<String, String>, Vec<String>) {
    let Some(s) = s else {
        return (BTreeMap::new(), Vec::new());
    };
    let labels = s.match_labels.clone().unwrap_or_default();
    let expressions = s
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            let values = e.values.clone().unwrap_or_default().join(",");
            format!("{} {} ({values})", e.key, e.operator)
        })
        .collect();
    (labels, expressions)
}

fn peer(p: &NetworkPolicyPeer) -> String {
    if let Some(block) = &p.ip_block {
        return format!("addresses {}", block.cidr);
    }
    let (pods, pod_exprs) = selector(p.pod_selector.as_ref());
    let pods = selector_text(&pods, &pod_exprs);
    match &p.namespace_selector {
        None => format!("{pods} of this namespace"),
        Some(ns) => {
            let (l, e) = selector(Some(ns));
            let namespaces = if l.is_empty() && e.is_empty() {
                "every namespace".to_string()
            } else {
                format!(
                    "namespaces {}",
                    selector_text(&l, &e).trim_start_matches("pods ")
                )
            };
            format!("{pods} of {namespaces}")
        }
    }
}

fn port(p: &NetworkPolicyPort) -> String {
    let protocol = p.protocol.as_deref().unwrap_or("TCP");
    match &p.port {
        None => format!("{protocol}, any port"),
        Some(IntOrString::Int(n)) => format!("{protocol}/{n}"),
        Some(IntOrString::String(name)) => format!("{protocol}/{name}"),
    }
}

pub fn network_policy_info(np: &NetworkPolicy) -> NetworkPolicyInfo {
    let spec = np.spec.clone().unwrap_or_default();
    let (selects, selector_expressions) = selector(spec.pod_selector.as_ref());
    let ingress = spec
        .ingress
        .iter()
        .flatten()
        .map(|rule| {
            let from: Vec<String> = rule.from.iter().flatten().map(peer).collect();
            let from = if from.is_empty() {
                "from anywhere".to_string()
            } else {
                format!("from {}", from.join(" or "))
            };
            let ports: Vec<String> = rule.ports.iter().flatten().map(port).collect();
            if ports.is_empty() {
                format!("{from}, any port")
            } else {
                format!("{from} on {}", ports.join(", "))
            }
        })
        .collect();
    NetworkPolicyInfo {
        name: np.name_any(),
        selects,
        selector_expressions,
        policy_types: spec.policy_types.unwrap_or_default(),
        ingress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> NetworkPolicyInfo {
        network_policy_info(&yaml_serde::from_str(yaml).expect("policy yaml"))
    }

    #[test]
    fn a_gateway_only_policy_reads_as_written() {
        let p = policy(
            r#"
metadata: { name: llm-gateway-only }
spec:
  podSelector: { matchLabels: { app.kubernetes.io/name: llm } }
  policyTypes: [Ingress]
  ingress:
    - from: [{ podSelector: { matchLabels: { inferbench.dev/role: gateway } } }]
      ports: [{ protocol: TCP, port: 8000 }]
"#,
        );
        assert_eq!(
            p.describe(),
            "networkpolicy/llm-gateway-only selects pods app.kubernetes.io/name=llm; admits only from pods inferbench.dev/role=gateway of this namespace on TCP/8000"
        );
        let llm = BTreeMap::from([("app.kubernetes.io/name".to_string(), "llm".to_string())]);
        assert_eq!(p.selects_pod(&llm), Some(true));
        assert_eq!(p.selects_pod(&BTreeMap::new()), Some(false));
    }

    #[test]
    fn deny_all_and_open_rules_say_so() {
        let deny = policy("metadata: { name: deny }\nspec: { podSelector: {} }");
        assert_eq!(
            deny.describe(),
            "networkpolicy/deny selects every pod; admits no ingress at all"
        );
        let open = policy(
            "metadata: { name: open }\nspec: { podSelector: {}, ingress: [{ ports: [{ port: http }] }] }",
        );
        assert!(
            open.describe()
                .ends_with("admits only from anywhere on TCP/http")
        );
        let egress =
            policy("metadata: { name: out }\nspec: { podSelector: {}, policyTypes: [Egress] }");
        assert!(!egress.restricts_ingress());
    }
}
