//! Kubernetes operations the scenarios build on, through kube-rs: connect
//! from a kubeconfig, server-side apply of multi-document YAML, namespaces,
//! and waits that watch (not poll) until a rollout completes.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Namespace};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};
use thiserror::Error;

/// Field manager for server-side apply.
pub const FIELD_MANAGER: &str = "inferbench";

#[derive(Debug, Error)]
pub enum K8sError {
    #[error("cannot read kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("cannot reach the API server: {0}")]
    Connect(#[source] kube::Error),
    #[error("document {index} of the manifest is not valid YAML: {message}")]
    Yaml { index: usize, message: String },
    #[error("document {index} has no {field}")]
    Missing { index: usize, field: &'static str },
    #[error("the cluster does not know {gvk} (document {index}): {source}")]
    UnknownKind {
        index: usize,
        gvk: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what} did not happen within {after:?}")]
    Timeout { what: String, after: Duration },
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> K8sError {
    let what = what.into();
    move |source| K8sError::Api { what, source }
}

/// Installs rustls' ring provider as the process default, once. Builds
/// that link both ring and aws-lc-rs (kube and goose's reqwest do) must
/// choose, or the first TLS connection panics.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client for the cluster that `kubeconfig` describes (its current
/// context). It retries what an API server under load answers (429, 503,
/// 504) with backoff.
pub async fn connect(kubeconfig: &Path) -> Result<Client, K8sError> {
    connect_with(kubeconfig, true).await
}

/// A client like [`connect`]'s that never retries: for requests whose 429
/// or 503 is the answer itself, not an API server under load. An eviction
/// that a PodDisruptionBudget refuses is a 429 (retrying it waits out any
/// timeout); a pod behind the API server's proxy may answer 503 itself.
pub async fn connect_direct(kubeconfig: &Path) -> Result<Client, K8sError> {
    connect_with(kubeconfig, false).await
}

/// A client like [`connect`]'s that acts as `user` in `groups` (HTTP
/// impersonation, as `kubectl --as --as-group`): the API server authorizes
/// every request as that user would be. The kubeconfig's own user must be
/// allowed to impersonate (cluster-admin is).
pub async fn connect_as(
    kubeconfig: &Path,
    user: &str,
    groups: &[String],
) -> Result<Client, K8sError> {
    let mut config = config(kubeconfig).await?;
    config.auth_info.impersonate = Some(user.to_string());
    config.auth_info.impersonate_groups = Some(groups.to_vec());
    Client::try_from(config).map_err(K8sError::Connect)
}

/// Writes to `dest` (owner-only) a copy of `kubeconfig` reduced to its
/// current context, whose user acts as `user` in `groups` (the kubeconfig
/// fields `as` and `as-groups`). Every client of that file (ours, kubectl,
/// Helm) then has each request authorized as that user would be.
pub fn write_impersonating_kubeconfig(
    kubeconfig: &Path,
    dest: &Path,
    user: &str,
    groups: &[String],
) -> Result<(), K8sError> {
    let path = kubeconfig.display().to_string();
    let bad = |message: String| K8sError::Kubeconfig {
        path: path.clone(),
        message,
    };
    let mut kc = Kubeconfig::read_from(kubeconfig).map_err(|e| bad(e.to_string()))?;
    let current = kc
        .current_context
        .clone()
        .ok_or_else(|| bad("it names no current-context".into()))?;
    let context = kc
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.clone())
        .ok_or_else(|| bad(format!("it has no context {current:?}")))?;
    let user_name = context.user.clone().unwrap_or_default();
    kc.contexts.retain(|c| c.name == current);
    kc.clusters.retain(|c| c.name == context.cluster);
    kc.auth_infos.retain(|a| a.name == user_name);
    let auth = kc
        .auth_infos
        .first_mut()
        .and_then(|a| a.auth_info.as_mut())
        .ok_or_else(|| bad(format!("it has no user {user_name:?}")))?;
    auth.impersonate = Some(user.to_string());
    auth.impersonate_groups = Some(groups.to_vec());
    let text = yaml_serde::to_string(&kc).map_err(|e| bad(e.to_string()))?;
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(dest)?.write_all(text.as_bytes())
    };
    write().map_err(|e| K8sError::Kubeconfig {
        path: dest.display().to_string(),
        message: format!("cannot write it: {e}"),
    })
}

async fn config(kubeconfig: &Path) -> Result<kube::Config, K8sError> {
    install_crypto_provider();
    let path = kubeconfig.display().to_string();
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| K8sError::Kubeconfig {
        path: path.clone(),
        message: e.to_string(),
    })?;
    kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| K8sError::Kubeconfig {
            path,
            message: e.to_string(),
        })
}

async fn connect_with(kubeconfig: &Path, retry: bool) -> Result<Client, K8sError> {
    let mut config = config(kubeconfig).await?;
    config.default_retry = retry;
    Client::try_from(config).map_err(K8sError::Connect)
}

/// One applied object, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

/// Server-side applies every document of `yaml`; namespaced objects without
/// a namespace go to `namespace`.
pub async fn apply_yaml(
    client: &Client,
    namespace: &str,
    yaml: &str,
) -> Result<Vec<Applied>, K8sError> {
    let mut kinds: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)> = HashMap::new();
    let mut applied = Vec::new();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for (index, doc) in split_documents(yaml).into_iter().enumerate() {
        let obj: DynamicObject = yaml_serde::from_str(doc).map_err(|e| K8sError::Yaml {
            index,
            message: e.to_string(),
        })?;
        let types = obj.types.clone().ok_or(K8sError::Missing {
            index,
            field: "apiVersion/kind",
        })?;
        let name = obj.metadata.name.clone().ok_or(K8sError::Missing {
            index,
            field: "metadata.name",
        })?;
        let gvk = GroupVersionKind::try_from(&types).map_err(|e| K8sError::Yaml {
            index,
            message: e.to_string(),
        })?;
        if !kinds.contains_key(&gvk) {
            let found = kube::discovery::pinned_kind(client, &gvk)
                .await
                .map_err(|source| K8sError::UnknownKind {
                    index,
                    gvk: format!("{}/{}", types.api_version, types.kind),
                    source,
                })?;
            kinds.insert(gvk.clone(), found);
        }
        let (ar, caps) = &kinds[&gvk];
        let (api, ns): (Api<DynamicObject>, Option<String>) = match caps.scope {
            Scope::Namespaced => {
                let ns = obj
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| namespace.to_string());
                (Api::namespaced_with(client.clone(), &ns, ar), Some(ns))
            }
            Scope::Cluster => (Api::all_with(client.clone(), ar), None),
        };
        api.patch(&name, &params, &Patch::Apply(&obj))
            .await
            .map_err(api_err(format!("applying {} {name}", types.kind)))?;
        applied.push(Applied {
            kind: types.kind,
            name,
            namespace: ns,
        });
    }
    Ok(applied)
}

/// Splits a multi-document YAML stream, dropping empty documents.
pub fn split_documents(yaml: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in yaml.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&yaml[start..pos]);
            start = pos + line.len();
        }
        pos += line.len();
    }
    docs.push(&yaml[start..]);
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Creates namespace `name` (labelled as ours) if it does not exist.
pub async fn ensure_namespace(client: &Client, name: &str) -> Result<(), K8sError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.to_string());
    ns.metadata.labels = Some(
        [(
            "app.kubernetes.io/managed-by".to_string(),
            FIELD_MANAGER.to_string(),
        )]
        .into(),
    );
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(api_err(format!("creating namespace {name}"))(e)),
    }
}

/// Deletes namespace `name` and waits (watching) until it is gone.
pub async fn delete_namespace(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<(), K8sError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let uid = match api
        .get_opt(name)
        .await
        .map_err(api_err(format!("reading namespace {name}")))?
    {
        Some(ns) => ns.uid().unwrap_or_default(),
        None => return Ok(()),
    };
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(api_err(format!("deleting namespace {name}"))(e)),
    }
    tokio::time::timeout(
        timeout,
        await_condition(api, name, conditions::is_deleted(&uid)),
    )
    .await
    .map_err(|_| K8sError::Timeout {
        what: format!("deletion of namespace {name}"),
        after: timeout,
    })?
    .map_err(|e| K8sError::Api {
        what: format!("watching namespace {name}"),
        source: wait_error(e),
    })?;
    Ok(())
}

fn wait_error(e: kube::runtime::wait::Error) -> kube::Error {
    match e {
        kube::runtime::wait::Error::ProbeFailed(w) => kube::Error::Service(Box::new(w)),
    }
}

/// Whether the pod's `Ready` condition is `True`.
pub fn pod_ready(p: &k8s_openapi::api::core::v1::Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether a Deployment's latest spec is fully rolled out and available.
pub fn rollout_complete(d: Option<&Deployment>) -> bool {
    let Some(d) = d else { return false };
    let (Some(spec), Some(status)) = (&d.spec, &d.status) else {
        return false;
    };
    let want = spec.replicas.unwrap_or(1);
    status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
        && status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
}

/// Watches Deployment `name` until its rollout completes, or `timeout`.
pub async fn wait_rollout(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<Deployment, K8sError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let found = tokio::time::timeout(timeout, await_condition(api, name, rollout_complete))
        .await
        .map_err(|_| K8sError::Timeout {
            what: format!("rollout of deployment {namespace}/{name}"),
            after: timeout,
        })?
        .map_err(|e| K8sError::Api {
            what: format!("watching deployment {namespace}/{name}"),
            source: wait_error(e),
        })?;
    found.ok_or_else(|| K8sError::Timeout {
        what: format!("deployment {namespace}/{name} to exist"),
        after: timeout,
    })
}

/// Events in `namespace`, oldest first: the evidence failure reports quote.
pub async fn events(client: &Client, namespace: &str) -> Result<Vec<Event>, K8sError> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let mut list = api
        .list(&ListParams::default())
        .await
        .map_err(api_err(format!("listing events in {namespace}")))?
        .items;
    list.sort_by_key(|e| {
        e.last_timestamp
            .clone()
            .map(|t| t.0)
            .or(e.event_time.clone().map(|t| t.0))
    });
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents() {
        let docs = split_documents("# c\n---\na: 1\n---\n\n---\nb: 2\n");
        assert_eq!(docs, vec!["a: 1\n", "b: 2\n"]);
        assert_eq!(split_documents("a: 1"), vec!["a: 1"]);
    }

    #[test]
    fn rollout_complete_needs_every_replica_updated_and_available() {
        let mut d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "m", "generation": 2},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}
        }))
        .expect("deployment");
        assert!(!rollout_complete(Some(&d)), "an old pod still runs");
        if let Some(s) = d.status.as_mut() {
            s.replicas = Some(2);
        }
        assert!(rollout_complete(Some(&d)));
        d.metadata.generation = Some(3);
        assert!(
            !rollout_complete(Some(&d)),
            "spec changed since last observed"
        );
        assert!(!rollout_complete(None));
    }

    #[test]
    fn an_impersonating_kubeconfig_keeps_only_the_current_context() {
        let dir = std::env::temp_dir().join(format!("ib-k8s-as-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let src = dir.join("config");
        std::fs::write(
            &src,
            "apiVersion: v1\nkind: Config\ncurrent-context: kind-a\n\
             clusters:\n- name: kind-a\n  cluster: { server: https://127.0.0.1:1 }\n\
             - name: kind-b\n  cluster: { server: https://127.0.0.1:2 }\n\
             contexts:\n- name: kind-a\n  context: { cluster: kind-a, user: kind-a }\n\
             - name: kind-b\n  context: { cluster: kind-b, user: kind-b }\n\
             users:\n- name: kind-a\n  user: { token: secret-a }\n- name: kind-b\n  user: { token: secret-b }\n",
        )
        .expect("kubeconfig");
        let dest = dir.join("as");
        let groups = vec!["system:serviceaccounts".to_string()];
        write_impersonating_kubeconfig(&src, &dest, "system:serviceaccount:ns:deployer", &groups)
            .expect("written");
        let kc = Kubeconfig::read_from(&dest).expect("readable");
        assert_eq!(kc.current_context.as_deref(), Some("kind-a"));
        assert_eq!(kc.clusters.len(), 1);
        assert_eq!(kc.contexts.len(), 1);
        let user = kc.auth_infos[0].auth_info.clone().expect("user");
        assert_eq!(
            user.impersonate.as_deref(),
            Some("system:serviceaccount:ns:deployer")
        );
        assert_eq!(user.impersonate_groups, Some(groups));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only");
        }
        let missing = dir.join("missing");
        assert!(write_impersonating_kubeconfig(&missing, &dest, "u", &[]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
