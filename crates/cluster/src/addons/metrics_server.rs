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

/// Waits until the metrics API lists node metrics. When it does not within
/// [`STALE_AFTER`] and the APIService fails discovery although
/// metrics-server is up (the stale connection described at `install`, e.g.
/// after metrics-server was scaled to zero), restarts kube-apiserver,
/// which only a restart heals, and waits again.
pub fn ensure_metrics_api(
    provider: &dyn ClusterProvider,
    cluster: &str,
    kubectl: &Kubectl,
    timeout: Duration,
) -> Result<(), ClusterError> {
    if wait_metrics_api(kubectl, STALE_AFTER.min(timeout)).is_err() && discovery_fails(kubectl) {
        eprintln!(
            "inferbench: the metrics API fails discovery although metrics-server is up; restarting kube-apiserver"
        );
        provider.restart_api_server(cluster)?;
    }
    wait_metrics_api(kubectl, timeout)
}

/// How long the metrics API may take to list nodes once metrics-server
/// is rolled out (its first scrape) before a failing discovery counts as
/// the stale connection.
const STALE_AFTER: Duration = Duration::from_secs(60);

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

/// Polls the metrics API until it lists node metrics.
pub fn wait_metrics_api(kubectl: &Kubectl, timeout: Duration) -> Result<(), ClusterError> {
    kubectl.poll(
        "the metrics API (metrics.k8s.io) to list nodes",
        timeout,
        |k| {
            let out = k
                .cmd()
                .args(["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"])
                .timeout(Duration::from_secs(30))
                .run()?;
            let v: serde_json::Value =
                serde_json::from_str(&out.stdout).map_err(|e| ClusterError::Parse {
                    what: "metrics API".into(),
                    detail: e.to_string(),
                })?;
            Ok(v["items"]
                .as_array()
                .filter(|items| !items.is_empty())
                .map(|_| ()))
        },
    )
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
