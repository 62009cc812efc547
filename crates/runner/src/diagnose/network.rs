//! Who may reach a Service: when a probe (`mock-server probe`, whose
//! termination message has `url`, `answered`, `refused`, `timedOut`) did
//! not see what its check expected, the NetworkPolicies that select the
//! pods behind the Service it asked, whom they admit, and the probing pod's
//! labels, so the report says why the cluster's enforcer let it through or
//! turned it away.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Found;
use crate::evidence::{Evidence, NetworkPolicyInfo, PodInfo};
use report::Decider;

/// The Service name an in-cluster URL asks (`http://llm:8000/x`,
/// `http://llm.ns.svc.cluster.local:8000`).
fn service_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', ':']).next()?;
    host.split('.').next().filter(|h| !h.is_empty())
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    // The labels a controller adds to its pods say nothing about who a pod is.
    let l: Vec<String> = labels
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("batch.kubernetes.io/")
                && !["controller-uid", "job-name", "pod-template-hash"].contains(&k.as_str())
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if l.is_empty() {
        return "no labels".into();
    }
    format!("labels {}", l.join(","))
}

/// What the probe in `observed` saw, explained by the namespace's policies.
pub fn reach_instead(ev: &Evidence, observed: &Value) -> Option<Found> {
    let url = observed["url"].as_str()?;
    let count = |k: &str| observed[k].as_u64().unwrap_or(0);
    let (answered, attempts) = (observed["answered"].as_u64()?, count("attempts"));
    let probe_name = observed["pod"].as_str()?;
    let service = service_of(url)?;
    let svc = ev.services.iter().find(|s| s.name == service)?;
    let client = ev.pods.iter().find(|p| p.name == probe_name);
    let servers: Vec<&PodInfo> = ev
        .pods
        .iter()
        .filter(|p| svc.matching_pods.contains(&p.name))
        .collect();
    let guarding: Vec<&NetworkPolicyInfo> = ev
        .network_policies
        .iter()
        .filter(|np| {
            np.restricts_ingress()
                && servers
                    .iter()
                    .any(|s| np.selects_pod(&s.labels) != Some(false))
        })
        .collect();
    let saw = format!(
        "pod {probe_name} ({}) asked {url} {attempts} times: answered {answered}, refused {}, timed out {}",
        client.map_or("labels unknown".into(), |p| labels_text(&p.labels)),
        count("refused"),
        count("timedOut"),
    );
    let summary = if guarding.is_empty() {
        format!(
            "No NetworkPolicy in namespace {} selects the pods behind service/{service}, so the cluster's enforcer admits every client: {saw}. Only a policy selecting those pods restricts who reaches them.",
            ev.namespace
        )
    } else {
        let rules: Vec<String> = guarding.iter().map(|p| p.describe()).collect();
        format!(
            "The cluster's NetworkPolicy enforcer decides who reaches the pods behind service/{service}: {}. {saw}{}",
            rules.join("; "),
            if answered == 0 {
                ": no policy admits it."
            } else {
                ". Where the pod matches none of the sources these policies admit, nothing enforced them: the cluster runs no NetworkPolicy enforcer, or its CNI ignores policies."
            }
        )
    };
    let evidence = ev
        .network_policies
        .iter()
        .map(NetworkPolicyInfo::describe)
        .chain(std::iter::once(format!(
            "service/{service} selects {} ({} pods)",
            labels_text(&svc.selector),
            servers.len()
        )))
        .collect();
    Some(Found::new(Decider::NetworkPolicy, summary, evidence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::ServiceInfo;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn evidence(policies: Vec<NetworkPolicyInfo>) -> Evidence {
        Evidence {
            namespace: "ib-x".into(),
            pods: vec![
                PodInfo {
                    name: "llm-abc".into(),
                    labels: labels(&[("app.kubernetes.io/name", "llm")]),
                    ..PodInfo::default()
                },
                PodInfo {
                    name: "probe-outsider-x".into(),
                    labels: labels(&[("inferbench.dev/role", "batch")]),
                    ..PodInfo::default()
                },
            ],
            services: vec![ServiceInfo {
                name: "llm".into(),
                selector: labels(&[("app.kubernetes.io/name", "llm")]),
                matching_pods: vec!["llm-abc".into()],
                ..ServiceInfo::default()
            }],
            network_policies: policies,
            ..Evidence::default()
        }
    }

    fn outsider(answered: u64, refused: u64) -> Value {
        json!({"url": "http://llm:8000/health", "attempts": 5, "answered": answered,
               "refused": refused, "timedOut": 0, "pod": "probe-outsider-x"})
    }

    #[test]
    fn without_a_policy_the_outsider_is_admitted_and_the_report_says_why() {
        let f = reach_instead(&evidence(vec![]), &outsider(5, 0)).unwrap();
        assert_eq!(f.decider, Decider::NetworkPolicy);
        assert!(
            f.summary.starts_with(
                "No NetworkPolicy in namespace ib-x selects the pods behind service/llm"
            ),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("pod probe-outsider-x (labels inferbench.dev/role=batch) asked http://llm:8000/health 5 times: answered 5, refused 0"), "{}", f.summary);
    }

    #[test]
    fn with_a_policy_the_rule_it_applies_is_quoted() {
        let p = NetworkPolicyInfo {
            name: "llm-gateway-only".into(),
            selects: labels(&[("app.kubernetes.io/name", "llm")]),
            policy_types: vec!["Ingress".into()],
            ingress: vec![
                "from pods inferbench.dev/role=gateway of this namespace on TCP/8000".into(),
            ],
            ..NetworkPolicyInfo::default()
        };
        let f = reach_instead(&evidence(vec![p]), &outsider(0, 5)).unwrap();
        assert!(f.summary.contains("networkpolicy/llm-gateway-only selects pods app.kubernetes.io/name=llm; admits only from pods inferbench.dev/role=gateway"), "{}", f.summary);
        assert!(
            f.summary
                .ends_with("refused 5, timed out 0: no policy admits it."),
            "{}",
            f.summary
        );
    }

    #[test]
    fn an_answer_despite_a_policy_points_at_the_missing_enforcer() {
        let p = NetworkPolicyInfo {
            name: "llm-gateway-only".into(),
            selects: labels(&[("app.kubernetes.io/name", "llm")]),
            ingress: vec!["from pods inferbench.dev/role=gateway of this namespace".into()],
            ..NetworkPolicyInfo::default()
        };
        let f = reach_instead(&evidence(vec![p]), &outsider(5, 0)).unwrap();
        assert!(f.summary.contains("answered 5"), "{}", f.summary);
        assert!(
            f.summary.ends_with(
                "the cluster runs no NetworkPolicy enforcer, or its CNI ignores policies."
            ),
            "{}",
            f.summary
        );
    }

    #[test]
    fn a_message_that_is_not_a_probe_is_left_to_the_job_rule() {
        let msg = json!({"outcome": "completed", "pod": "probe-outsider-x"});
        assert!(reach_instead(&evidence(vec![]), &msg).is_none());
        assert_eq!(
            service_of("http://llm.ns.svc.cluster.local:8000/x"),
            Some("llm")
        );
    }
}
