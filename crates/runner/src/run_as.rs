//! `runAs`: a scenario's operations as a ServiceAccount of its namespace.
//!
//! The harness creates the ServiceAccount and a RoleBinding of the named
//! ClusterRole in the scenario's namespace (so the rights end at the
//! namespace, as a team's deployer's do), waits until RBAC grants what the
//! role says, and writes a kubeconfig whose user impersonates the account
//! (`as`, `as-groups`). Every operation's client (ours, and kubectl or Helm
//! in `script` and chart operations) is built from that file; the API
//! server's own answer to "who am I" (SelfSubjectReview) is recorded, so
//! the report shows the identity the server saw, not the one we asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::ResourceAttributes;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, RoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::context::OpError;
use scenario::model::RunAs;

/// How long a new RoleBinding may take to reach the RBAC authorizer.
const BINDING_TIMEOUT: Duration = Duration::from_secs(15);

/// The identity the operations run as; the kubeconfig lives in a
/// temporary folder removed when this is dropped.
pub struct Identity {
    pub client: Client,
    /// The user the API server says the operations' client is.
    pub user: String,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Identity {
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
}

/// The user name and groups the API server gives a ServiceAccount's token.
pub fn service_account_user(namespace: &str, account: &str) -> (String, Vec<String>) {
    (
        format!("system:serviceaccount:{namespace}:{account}"),
        vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".to_string(),
        ],
    )
}

/// One request the role's first concrete rule allows (wildcards made
/// concrete), to ask RBAC whether the binding has taken effect.
fn probe_request(rules: &[PolicyRule]) -> Option<ResourceAttributes> {
    let concrete = |v: &Option<Vec<String>>, wild: &str| {
        v.as_ref().and_then(|v| v.first()).map(|s| {
            if s == "*" {
                wild.to_string()
            } else {
                s.clone()
            }
        })
    };
    rules.iter().find_map(|r| {
        let resource = concrete(&r.resources, "pods")?;
        let verb = r.verbs.first().map(|v| {
            if v == "*" {
                "get".to_string()
            } else {
                v.clone()
            }
        })?;
        let group = concrete(&r.api_groups, "")?;
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r.to_string(), Some(s.to_string())),
            None => (resource, None),
        };
        Some(ResourceAttributes {
            verb: Some(verb),
            group: Some(group),
            resource: Some(resource),
            subresource,
            ..ResourceAttributes::default()
        })
    })
}

async fn allowed(client: &Client, namespace: &str, probe: &ResourceAttributes) -> bool {
    crate::access::ask(client, namespace, probe.clone())
        .await
        .is_ok_and(|s| crate::access::grants(&s))
}

/// Creates the account and its binding with `admin` (the kubeconfig's
/// user), and returns the client that acts as the account.
pub async fn prepare(
    admin: &Client,
    kubeconfig: &Path,
    namespace: &str,
    run_as: &RunAs,
) -> Result<Identity, OpError> {
    let account = &run_as.service_account;
    let role_name = &run_as.cluster_role;
    let role = Api::<ClusterRole>::all(admin.clone())
        .get_opt(role_name)
        .await
        .map_err(OpError::api(format!("reading clusterrole/{role_name}")))?
        .ok_or_else(|| {
            OpError::BadInput(format!(
                "runAs.clusterRole: the cluster has no ClusterRole {role_name:?} \
                 (`kubectl get clusterroles` lists them; admin, edit and view are built in)"
            ))
        })?;
    let ssa = PatchParams::apply("inferbench").force();
    Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
        .patch(
            account,
            &ssa,
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": { "name": account, "labels": { "app.kubernetes.io/managed-by": "inferbench" } },
            })),
        )
        .await
        .map_err(OpError::api(format!("creating serviceaccount/{account}")))?;
    let binding = format!("inferbench-run-as-{account}");
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .patch(
            &binding,
            &ssa,
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": { "name": binding, "labels": { "app.kubernetes.io/managed-by": "inferbench" } },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name },
                "subjects": [{ "kind": "ServiceAccount", "name": account, "namespace": namespace }],
            })),
        )
        .await
        .map_err(OpError::api(format!("creating rolebinding/{binding}")))?;

    let dir = tempfile::Builder::new()
        .prefix("inferbench-run-as-")
        .tempdir()
        .map_err(|e| OpError::Api(format!("cannot create a temporary folder: {e}")))?;
    let path = dir.path().join("kubeconfig");
    let (user, groups) = service_account_user(namespace, account);
    k8s::write_impersonating_kubeconfig(kubeconfig, &path, &user, &groups)?;
    let client = k8s::connect(&path).await?;

    // A binding reaches the RBAC authorizer through its informer: wait
    // until a request the role grants is allowed.
    if let Some(probe) = probe_request(&role.rules.unwrap_or_default()) {
        let deadline = tokio::time::Instant::now() + BINDING_TIMEOUT;
        while !allowed(&client, namespace, &probe).await {
            if tokio::time::Instant::now() >= deadline {
                return Err(OpError::TimedOut(format!(
                    "rolebinding/{binding}: serviceaccount/{account} was not granted {} {} within {BINDING_TIMEOUT:?}",
                    probe.verb.unwrap_or_default(),
                    probe.resource.unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let seen = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(OpError::api(
            "asking the API server who the operations run as",
        ))?
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_default();
    if seen != user {
        return Err(OpError::Api(format!(
            "the API server sees the operations' client as {seen:?}, not {user:?}: \
             the kubeconfig's user may not impersonate"
        )));
    }
    Ok(Identity {
        client,
        user: seen,
        kubeconfig: path,
        _dir: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let v = |x: &[&str]| Some(x.iter().map(|s| s.to_string()).collect());
        PolicyRule {
            api_groups: v(groups),
            resources: v(resources),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..PolicyRule::default()
        }
    }

    #[test]
    fn the_probe_is_the_first_rule_with_resources_made_concrete() {
        let rules = vec![
            PolicyRule {
                non_resource_urls: Some(vec!["/healthz".into()]),
                verbs: vec!["get".into()],
                ..PolicyRule::default()
            },
            rule(&[""], &["pods/portforward"], &["create"]),
        ];
        let p = probe_request(&rules).expect("a probe");
        assert_eq!(p.verb.as_deref(), Some("create"));
        assert_eq!(p.resource.as_deref(), Some("pods"));
        assert_eq!(p.subresource.as_deref(), Some("portforward"));

        let p = probe_request(&[rule(&["*"], &["*"], &["*"])]).expect("a probe");
        assert_eq!(
            (p.verb.as_deref(), p.group.as_deref(), p.resource.as_deref()),
            (Some("get"), Some(""), Some("pods"))
        );
        assert!(probe_request(&[]).is_none());
    }

    #[test]
    fn a_service_account_is_the_user_its_token_would_be() {
        let (user, groups) = service_account_user("ns1", "deployer");
        assert_eq!(user, "system:serviceaccount:ns1:deployer");
        assert!(groups.contains(&"system:serviceaccounts:ns1".to_string()));
    }
}
