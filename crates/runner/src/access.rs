//! `expect: { access }`: what a ServiceAccount may do in the scenario's
//! namespace, asked the way its pod would ask: the harness impersonates
//! `system:serviceaccount:NS:NAME` (with the groups the API server gives a
//! ServiceAccount) and sends a SelfSubjectAccessReview per request, and a
//! SelfSubjectRulesReview for the report (every rule the account holds
//! there). The RBAC authorizer's own reason (the RoleBinding and role that
//! allow it) is quoted for every request that is allowed.
//!
//! RBAC caches bindings, so a binding applied a moment ago may not count
//! yet: the reviews are asked again every second until the expectation
//! holds or the timeout passes.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec, SubjectAccessReviewStatus,
};
use kube::api::PostParams;
use kube::{Api, Client};
use report::CheckKind;
use serde_json::{Value, json};

use crate::context::{Check, Ctx, Observed, OpError, OpResult};
use crate::ops::split_target;
use scenario::model::{AccessRequest, ExpectAccess};

/// One request's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub request: String,
    pub allowed: bool,
    pub reason: String,
}

/// The account a workload's pods run under.
async fn account_of(ctx: &Ctx, workload: &str) -> Result<String, OpError> {
    let (kind, name) = split_target(workload)?;
    let spec = match kind.as_str() {
        "deployment" | "deploy" => {
            Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.namespace)
                .get(&name)
                .await
                .map_err(OpError::api(format!("reading {workload}")))?
                .spec
                .and_then(|s| s.template.spec)
        }
        "statefulset" | "sts" => Api::<StatefulSet>::namespaced(ctx.client.clone(), &ctx.namespace)
            .get(&name)
            .await
            .map_err(OpError::api(format!("reading {workload}")))?
            .spec
            .and_then(|s| s.template.spec),
        other => {
            return Err(OpError::BadInput(format!(
                "access.workload kind {other:?}: give deployment/NAME or statefulset/NAME"
            )));
        }
    };
    Ok(spec
        .and_then(|s| s.service_account_name)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into()))
}

/// The API server's answer, for the client's user, to whether it may do
/// `request` in `namespace` (a SelfSubjectAccessReview).
pub(crate) async fn ask(
    client: &Client,
    namespace: &str,
    request: ResourceAttributes,
) -> Result<SubjectAccessReviewStatus, kube::Error> {
    let ssar = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.to_string()),
                ..request
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let out = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &ssar)
        .await?;
    Ok(out.status.unwrap_or_default())
}

/// Whether an answer grants the request (allowed, and not denied outright).
pub(crate) fn grants(status: &SubjectAccessReviewStatus) -> bool {
    status.allowed && !status.denied.unwrap_or(false)
}

async fn review(client: &Client, namespace: &str, text: &str) -> Result<Answer, OpError> {
    let r = AccessRequest::parse(text).map_err(OpError::BadInput)?;
    let request = ResourceAttributes {
        verb: Some(r.verb),
        group: Some(r.group),
        resource: Some(r.resource),
        subresource: r.subresource,
        ..ResourceAttributes::default()
    };
    let status = ask(client, namespace, request)
        .await
        .map_err(OpError::api(format!("asking whether it can {text}")))?;
    Ok(Answer {
        request: text.to_string(),
        allowed: grants(&status),
        reason: status
            .reason
            .or(status.evaluation_error)
            .unwrap_or_default(),
    })
}

/// `get,list configmaps; * secrets`: the rules the account holds in the namespace.
async fn rules(client: &Client, namespace: &str) -> Result<Vec<String>, OpError> {
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.to_string()),
        },
        ..SelfSubjectRulesReview::default()
    };
    let out = Api::<SelfSubjectRulesReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(OpError::api("asking which rules it holds"))?;
    Ok(out
        .status
        .map(|s| {
            s.resource_rules
                .iter()
                .map(|r| {
                    let groups: Vec<String> = r
                        .api_groups
                        .iter()
                        .flatten()
                        .map(|g| {
                            if g.is_empty() {
                                "core".into()
                            } else {
                                g.clone()
                            }
                        })
                        .collect();
                    format!(
                        "{} {}{}",
                        r.verbs.join(","),
                        r.resources
                            .iter()
                            .flatten()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(","),
                        if groups.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", groups.join(","))
                        }
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Judges the answers against the expectation.
pub fn judge(
    account: &str,
    x: &ExpectAccess,
    answers: &[Answer],
    rules: &[String],
) -> (bool, Observed) {
    let find = |r: &String| answers.iter().find(|a| &a.request == r);
    let wrongly_allowed: Vec<&Answer> = x
        .denied
        .iter()
        .filter_map(find)
        .filter(|a| a.allowed)
        .collect();
    let wrongly_denied: Vec<&Answer> = x
        .allowed
        .iter()
        .filter_map(find)
        .filter(|a| !a.allowed)
        .collect();
    let held = wrongly_allowed.is_empty() && wrongly_denied.is_empty();
    let may: Vec<&str> = answers
        .iter()
        .filter(|a| a.allowed)
        .map(|a| a.request.as_str())
        .collect();
    let may_not: Vec<&str> = answers
        .iter()
        .filter(|a| !a.allowed)
        .map(|a| a.request.as_str())
        .collect();
    let mut parts = Vec::new();
    for a in &wrongly_allowed {
        parts.push(format!("can {} ({})", a.request, a.reason));
    }
    for a in &wrongly_denied {
        parts.push(format!(
            "cannot {}{}",
            a.request,
            if a.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", a.reason)
            }
        ));
    }
    if held {
        if !may_not.is_empty() {
            parts.push(format!("cannot {}", may_not.join(", ")));
        }
        if !may.is_empty() {
            parts.push(format!("can {}", may.join(", ")));
        }
    }
    let text = format!("serviceaccount/{account} {}", parts.join("; "));
    let reasons: serde_json::Map<String, Value> = answers
        .iter()
        .map(|a| (a.request.clone(), json!(a.reason)))
        .collect();
    let value = json!({
        "serviceAccount": account,
        "can": may,
        "cannot": may_not,
        "wronglyAllowed": wrongly_allowed.iter().map(|a| &a.request).collect::<Vec<_>>(),
        "wronglyDenied": wrongly_denied.iter().map(|a| &a.request).collect::<Vec<_>>(),
        "reasons": reasons,
        "rules": rules,
    });
    (held, Observed::new(text, value))
}

pub async fn access(ctx: &Ctx, x: &ExpectAccess, timeout: Duration) -> OpResult {
    let account = match (&x.service_account, &x.workload) {
        (Some(sa), _) => sa.clone(),
        (None, Some(w)) => account_of(ctx, w).await?,
        (None, None) => return Err(OpError::bad("access needs serviceAccount or workload")),
    };
    let ns = &ctx.namespace;
    let (user, groups) = crate::run_as::service_account_user(ns, &account);
    let client = k8s::connect_as(&ctx.kubeconfig, &user, &groups).await?;
    let mut parts = Vec::new();
    if !x.denied.is_empty() {
        parts.push(format!("cannot {}", x.denied.join(", ")));
    }
    if !x.allowed.is_empty() {
        parts.push(format!("can {}", x.allowed.join(", ")));
    }
    let check = Check::new(
        CheckKind::Access,
        format!("serviceaccount/{account} {}", parts.join("; ")),
    );
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut answers = Vec::new();
        for r in x.denied.iter().chain(&x.allowed) {
            answers.push(review(&client, ns, r).await?);
        }
        let (held, observed) = judge(&account, x, &answers, &[]);
        // A right granted does not go away by waiting (a binding applied
        // a moment ago may still be missing from RBAC's cache, the other
        // way round): only a right still refused is asked again.
        let granted_too_much = observed.value["wronglyAllowed"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        if held || granted_too_much || tokio::time::Instant::now() >= deadline {
            let rules = rules(&client, ns).await.unwrap_or_default();
            let (held, mut observed) = judge(&account, x, &answers, &rules);
            if !rules.is_empty() {
                const SHOWN: usize = 4;
                let more = rules.len().saturating_sub(SHOWN);
                observed.text = format!(
                    "{}; it holds {} rules here: {}{}",
                    observed.text,
                    rules.len(),
                    rules
                        .iter()
                        .take(SHOWN)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; "),
                    if more > 0 {
                        format!("; and {more} more (all in the observation's `rules`)")
                    } else {
                        String::new()
                    }
                );
            }
            return Ok(check.judge(held, observed));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(denied: &[&str], allowed: &[&str]) -> ExpectAccess {
        ExpectAccess {
            service_account: Some("llm".into()),
            workload: None,
            denied: denied.iter().map(|s| s.to_string()).collect(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn answer(request: &str, allowed: bool, reason: &str) -> Answer {
        Answer {
            request: request.into(),
            allowed,
            reason: reason.into(),
        }
    }

    #[test]
    fn a_right_too_many_is_named_with_the_binding_that_grants_it() {
        let x = expect(
            &["get secrets", "patch deployments.apps"],
            &["get configmaps"],
        );
        let granted = r#"RBAC: allowed by RoleBinding "llm-extra/ns" of ClusterRole "edit" to ServiceAccount "llm/ns""#;
        let answers = [
            answer("get secrets", true, granted),
            answer("patch deployments.apps", false, ""),
            answer("get configmaps", true, "RBAC: allowed by ..."),
        ];
        let (held, o) = judge("llm", &x, &answers, &[]);
        assert!(!held);
        assert_eq!(
            o.text,
            format!("serviceaccount/llm can get secrets ({granted})")
        );
        assert_eq!(o.value["wronglyAllowed"], json!(["get secrets"]));
        assert_eq!(o.value["cannot"], json!(["patch deployments.apps"]));
    }

    #[test]
    fn what_is_denied_and_allowed_as_expected_holds() {
        let x = expect(&["get secrets"], &["get configmaps"]);
        let answers = [
            answer("get secrets", false, ""),
            answer("get configmaps", true, "r"),
        ];
        let (held, o) = judge("llm", &x, &answers, &["get configmaps (core)".into()]);
        assert!(held);
        assert_eq!(
            o.text,
            "serviceaccount/llm cannot get secrets; can get configmaps"
        );
        assert_eq!(o.value["rules"], json!(["get configmaps (core)"]));
        let missing = expect(&[], &["list pods"]);
        let (held, o) = judge("llm", &missing, &[answer("list pods", false, "")], &[]);
        assert!(!held);
        assert_eq!(o.text, "serviceaccount/llm cannot list pods");
    }

    #[test]
    fn requests_are_parsed_like_kubectl_auth_can_i() {
        let r = AccessRequest::parse("create pods/exec").unwrap();
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str(), r.group.as_str()),
            ("create", "pods", "")
        );
        assert_eq!(r.subresource.as_deref(), Some("exec"));
        let r = AccessRequest::parse("patch deployments.apps").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.group.as_str()),
            ("deployments", "apps")
        );
        assert!(AccessRequest::parse("secrets").is_err());
    }
}
