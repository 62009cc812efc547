//! metrics-server, so `kubectl top` and HPAs get numbers.

use std::time::Duration;

use super::{AddOn, AddOnContext, Installed};
use crate::kubectl::Kubectl;
use crate::{ClusterError, ClusterProvider};
use environment::node_image;

const METRICS_SERVER_MANIFEST: &str = include_str!("../../assets/manifests/metrics-server.yaml");

/// metrics-server (with `--kubelet-insecure-tls`), ready when the metrics
/// API lists node metrics. Needs kubelets: kind only.
#[derive(Debug, Clone, Copy)]
pub struct MetricsServer;

impl MetricsServer {
    pub const NAME: &'static str = "metrics-server";
}

impl AddOn for MetricsServer {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn applies(&self, ctx: &AddOnContext) -> bool {
        ctx.runs_containers()
    }

    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError> {
        install(ctx.kubectl, ctx.options.ready_timeout)?;
        ensure_metrics_api(
            ctx.provider,
            ctx.cluster,
            ctx.kubectl,
            STALE_AFTER,
            ctx.options.ready_timeout,
        )?;
        Ok(Installed::default())
    }
}

/// Applies metrics-server and waits until the metrics API answers with
/// node metrics.
///
/// The `APIService` is registered only once the Deployment is available:
/// registered earlier, kube-apiserver may dial the Service's ClusterIP before
/// kube-proxy has programmed it, and keep that connection (on hosts whose
/// egress is intercepted by a transparent proxy it even succeeds, and the
/// metrics API then answers 404 for the life of the API server).
fn install(kubectl: &Kubectl, timeout: Duration) -> Result<(), ClusterError> {
    let (workload, apiservice) = split_apiservice(&metrics_server_manifest());
    kubectl.apply(&workload)?;
    kubectl.wait_rollout("kube-system", "metrics-server", timeout)?;
    kubectl.apply(&apiservice).map(drop)
}

/// Waits until the metrics API lists node metrics. When the APIService
/// keeps failing discovery for `grace` (the stale connection described at
/// `install`, e.g. after metrics-server was scaled to zero and back),
/// restarts kube-apiserver once, which only a restart heals, and waits on.
pub fn ensure_metrics_api(
    provider: &dyn ClusterProvider,
    cluster: &str,
    kubectl: &Kubectl,
    grace: Duration,
    timeout: Duration,
) -> Result<(), ClusterError> {
    let mut failing_since: Option<std::time::Instant> = None;
    let mut restarted = false;
    kubectl.poll(
        "the metrics API (metrics.k8s.io) to list nodes",
        timeout,
        |k| {
            if lists_node_metrics(k)? {
                return Ok(Some(()));
            }
            if restarted || !discovery_fails(k) {
                failing_since = None;
                return Ok(None);
            }
            let since = *failing_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= grace {
                eprintln!(
                    "inferbench: the metrics API has failed discovery for {}s; restarting kube-apiserver",
                    grace.as_secs()
                );
                provider.restart_api_server(cluster)?;
                restarted = true;
            }
            Ok(None)
        },
    )
}

/// How long the metrics APIService may fail discovery after `up` applied
/// metrics-server (its first scrape takes a few seconds) before it counts
/// as the stale connection.
pub const STALE_AFTER: Duration = Duration::from_secs(45);

/// Whether the metrics APIService reports `FailedDiscoveryCheck`.
fn discovery_fails(kubectl: &Kubectl) -> bool {
    kubectl
        .run(&[
            "get",
            "apiservice",
            "v1beta1.metrics.k8s.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Available\")].reason}",
        ])
        .is_ok_and(|reason| reason.trim() == "FailedDiscoveryCheck")
}

/// Whether the metrics API lists at least one node's metrics now.
fn lists_node_metrics(kubectl: &Kubectl) -> Result<bool, ClusterError> {
    let out = kubectl
        .cmd()
        .args(["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"])
        .timeout(Duration::from_secs(30))
        .run_unchecked()?;
    if !out.status.success() {
        return Ok(false);
    }
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).map_err(|e| ClusterError::Parse {
            what: "metrics API".into(),
            detail: e.to_string(),
        })?;
    Ok(v["items"].as_array().is_some_and(|items| !items.is_empty()))
}

/// Splits a multi-document manifest into (everything else, APIService documents).
fn split_apiservice(manifest: &str) -> (String, String) {
    let mut rest = String::new();
    let mut api = String::new();
    for doc in manifest.split("\n---") {
        let target = if doc.lines().any(|l| l.trim() == "kind: APIService") {
            &mut api
        } else {
            &mut rest
        };
        target.push_str(doc);
        target.push_str("\n---");
    }
    (rest, api)
}

/// The metrics-server manifest inferbench applies.
pub fn metrics_server_manifest() -> String {
    METRICS_SERVER_MANIFEST.replace(
        "@METRICS_SERVER_IMAGE@",
        &node_image::metrics_server_image(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apiservice_is_applied_separately() {
        let (rest, api) = split_apiservice(&metrics_server_manifest());
        assert!(api.contains("kind: APIService") && !api.contains("kind: Deployment"));
        assert!(rest.contains("kind: Deployment") && !rest.contains("kind: APIService"));
        assert!(rest.contains("--kubelet-insecure-tls"));
        assert!(rest.contains("registry.k8s.io/metrics-server/metrics-server:v0.9.0"));
    }
}
