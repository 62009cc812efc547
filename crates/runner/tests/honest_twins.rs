//! Sabotage: a negative twin must not fail "as expected" for the wrong
//! reason. On the shared kind cluster of `cargo xtask test`
//! (`INFERBENCH_TEST_CLUSTER`):
//!
//! - with its autoscaler scaling on a metric no API serves (a per-pod
//!   custom metric, and the cluster has no custom metrics adapter), the
//!   autoscaling twin (capped at 2 replicas) ends in an error (timed out:
//!   the autoscaler has no metrics), not failed as expected. The sabotage is
//!   the scenario's own: the shared cluster's metrics-server is untouched;
//! - the GPU twin run under a ServiceAccount that cannot list events ends
//!   in an error (forbidden), not failed as expected.
//!
//! Each takes about a minute. Without `INFERBENCH_TEST_CLUSTER` they say so
//! and pass: they need a cluster with the mock-server image and fake GPUs,
//! which `cargo xtask test` brings up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use report::{ClusterInfo, FailureKind, Outcome, RunReport, ScenarioReport};
use runner::{Cancel, RunOptions};
use scenario::{model::Timeouts, profile};
use serde_json::json;

fn shared_cluster() -> Option<String> {
    std::env::var("INFERBENCH_TEST_CLUSTER")
        .ok()
        .filter(|s| !s.is_empty())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs one scenario file's twin entries against `kubeconfig`.
async fn run(file: &Path, kubeconfig: &Path, cluster: &str) -> RunReport {
    let scenarios = scenario::load_all(&[file.to_path_buf()]).unwrap_or_else(|e| panic!("{e}"));
    let mock = profile::load("mock").expect("mock profile");
    let report_dir = tempfile::tempdir().expect("tempdir");
    let opts = RunOptions {
        kubeconfig: kubeconfig.to_path_buf(),
        kubectl: None,
        report_dir: report_dir.path().to_path_buf(),
        run_id: runner::new_run_id(),
        cluster: ClusterInfo {
            name: cluster.into(),
            provider: "kind".into(),
            kubernetes_version: String::new(),
            node_pools: Vec::new(),
            gpu_kind: "fake".into(),
        },
        images: Vec::new(),
        command: "honest_twins test".into(),
        keep: false,
        fail_fast: false,
        parallel: 1,
        quiet: true,
        timeouts: Timeouts::default(),
        set: Default::default(),
        profile_bindings: mock.spec.bindings.clone(),
        capabilities: profile::offered(&Default::default(), &mock),
        record_evidence: false,
        own_templates: Vec::new(),
        node_exec: Some(runner::node_kernel::NodeExec::docker("docker")),
        load_image: Some("inferbench/mock-server:dev".into()),
        only: Vec::new(),
    };
    let (_tx, cancel) = Cancel::new();
    runner::run(&scenarios, &opts, cancel)
        .await
        .expect("the runner runs")
}

fn only(report: &RunReport) -> &ScenarioReport {
    assert_eq!(report.scenarios.len(), 1, "one twin ran");
    &report.scenarios[0]
}

fn step_failure(s: &ScenarioReport, step: &str) -> Option<FailureKind> {
    s.steps
        .iter()
        .find(|st| st.name == step)
        .and_then(|st| st.failure)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("scenario written");
    p
}

/// The autoscaling scenario's twin, shortened: the HPA capped at 2 must be
/// seen at 2 and limited. `{{ hpa }}` is the sabotaged autoscaler's file.
const AUTOSCALING_TWIN: &str = r#"
apiVersion: inferbench.dev/v1alpha1
kind: Scenario
metadata: { name: sabotaged-autoscaling }
spec:
  namespace: ib-honest-metrics
  bindings: { replicas: 1, modelLoadMs: 500, cpuRequest: 50m, cpuUsPerToken: 400, hpaMax: 2 }
  matrix:
    - name: max-2
      expectFailure:
        step: scale-up
        check: hpaReplicas
        observed: { maxReplicas: 2, highestReplicas: 2, scalingLimitedSeen: true }
  timeouts: { wait: 1m }
  steps:
    - name: deploy
      try:
        - apply: { file: "{{ servingTemplate }}" }
        - apply: { file: "HPA_FILE" }
        - wait: { rollout: "deployment/{{ server }}" }
    - name: scale-up
      try:
        - load: { name: pressure, target: "service/{{ server }}:{{ port }}", users: 2, duration: 30s, background: true }
        - expect: { hpaReplicas: { hpa: "{{ server }}", min: 3, max: 4 } }
          timeout: 30s
"#;

/// The fixture's autoscaler (`fixtures/mock-server/hpa.yaml`) with its CPU
/// metric swapped for a per-pod custom metric: no `custom.metrics.k8s.io`
/// API is registered on the test cluster, so the autoscaler reports
/// `ScalingActive` False (`FailedGetPodsMetric`), as it would with a broken
/// metrics pipeline.
const SABOTAGED_HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ server }}
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: "{{ server }}" }
  minReplicas: 1
  maxReplicas: {{ hpaMax }}
  metrics:
    - type: Pods
      pods:
        metric: { name: vllm_num_requests_waiting }
        target: { type: AverageValue, averageValue: "1" }
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      policies:
        - { type: Pods, value: 4, periodSeconds: 15 }
"#;

#[test]
#[ignore = "needs the shared kind cluster (INFERBENCH_TEST_CLUSTER) with the mock-server image"]
fn without_metrics_the_autoscaling_twin_is_an_error() {
    let Some(cluster) = shared_cluster() else {
        eprintln!("INFERBENCH_TEST_CLUSTER is not set: nothing to sabotage");
        return;
    };
    let kubeconfig = cluster::cluster_dir(&cluster).join("kubeconfig");
    let dir = tempfile::tempdir().expect("tempdir");
    let hpa = write(dir.path(), "hpa.yaml", SABOTAGED_HPA);
    let file = write(
        dir.path(),
        "autoscaling.yaml",
        &AUTOSCALING_TWIN.replace("HPA_FILE", &hpa.to_string_lossy()),
    );
    let rt = runtime();
    let report = rt.block_on(async {
        let client = k8s::connect(&kubeconfig).await.expect("connect");
        // A namespace of the test's own: gone before (an earlier run's may
        // still be terminating) and after.
        let gone = || k8s::delete_namespace(&client, "ib-honest-metrics", Duration::from_secs(120));
        gone().await.expect("an earlier run's namespace is deleted");
        let report = run(&file, &kubeconfig, &cluster).await;
        let _ = gone().await;
        report
    });
    let s = only(&report);
    assert_eq!(s.outcome, Outcome::Failed, "{:?}", s.error);
    assert_eq!(
        step_failure(s, "scale-up"),
        Some(FailureKind::TimedOut),
        "{:?}",
        s.error
    );
    let error = s.error.clone().unwrap_or_default();
    assert!(error.contains("ended in an error"), "{error}");
    assert!(error.contains("no metrics"), "{error}");
    assert!(error.contains("FailedGetPodsMetric"), "{error}");
}

/// The GPU scenario's first twin, in a namespace of the test's own.
fn gpu_twin(namespace: &str) -> String {
    format!(
        r#"
apiVersion: inferbench.dev/v1alpha1
kind: Scenario
metadata: {{ name: sabotaged-gpu }}
spec:
  namespace: {namespace}
  matrix:
    - name: fits
      expectFailure:
        step: too-many-gpus
        check: event
        observed: {{ matching: 0, podScheduled: true }}
  timeouts: {{ expect: 15s }}
  steps:
    - name: too-many-gpus
      try:
        - apply: {{ file: fixtures/gpu/workload.yaml, bindings: {{ name: gpu-hungry, gpus: 1 }} }}
        - expect: {{ event: {{ reason: FailedScheduling, messageContains: "Insufficient nvidia.com/gpu", involvedObject: Pod/gpu-hungry }} }}
"#
    )
}

const RBAC_NAMESPACE: &str = "ib-honest-rbac";
const RBAC_SA: &str = "no-events";

/// A ServiceAccount that may do everything the scenario needs in the
/// namespace but read events; and a kubeconfig that acts as it.
async fn limited_kubeconfig(admin: &Client, admin_kubeconfig: &Path, dir: &Path) -> PathBuf {
    let pp = PostParams::default();
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": RBAC_NAMESPACE}})).expect("ns");
    let _ = Api::<Namespace>::all(admin.clone()).create(&pp, &ns).await;
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), RBAC_NAMESPACE);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": RBAC_SA}})).expect("sa");
    let _ = sas.create(&pp, &sa).await;
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": RBAC_SA},
        "rules": [
            {"apiGroups": ["", "apps", "discovery.k8s.io"],
             "resources": ["pods", "pods/log", "services", "deployments", "replicasets", "endpoints", "endpointslices", "configmaps"],
             "verbs": ["*"]}
        ]
    }))
    .expect("role");
    let _ = Api::<Role>::namespaced(admin.clone(), RBAC_NAMESPACE)
        .create(&pp, &role)
        .await;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": RBAC_SA},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RBAC_SA},
        "subjects": [{"kind": "ServiceAccount", "name": RBAC_SA, "namespace": RBAC_NAMESPACE}]
    }))
    .expect("binding");
    let _ = Api::<RoleBinding>::namespaced(admin.clone(), RBAC_NAMESPACE)
        .create(&pp, &binding)
        .await;
    // The runner creates (or finds) its namespace.
    let cr: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": format!("{RBAC_NAMESPACE}-namespaces")},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create"]}]
    }))
    .expect("cluster role");
    let _ = Api::<ClusterRole>::all(admin.clone())
        .create(&pp, &cr)
        .await;
    let crb: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("{RBAC_NAMESPACE}-namespaces")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{RBAC_NAMESPACE}-namespaces")},
        "subjects": [{"kind": "ServiceAccount", "name": RBAC_SA, "namespace": RBAC_NAMESPACE}]
    }))
    .expect("cluster role binding");
    let _ = Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&pp, &crb)
        .await;
    let request = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}
    });
    let token: serde_json::Value = sas
        .create_subresource("token", RBAC_SA, &pp, &request)
        .await
        .expect("a token for the ServiceAccount");
    let token = token["status"]["token"]
        .as_str()
        .expect("token in the answer")
        .to_string();
    let mut kc = kube::config::Kubeconfig::read_from(admin_kubeconfig).expect("kubeconfig");
    for user in &mut kc.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            *auth = kube::config::AuthInfo {
                token: Some(token.clone().into()),
                ..Default::default()
            };
        }
    }
    let path = dir.join("no-events.kubeconfig");
    std::fs::write(&path, serde_json::to_string(&kc).expect("kubeconfig JSON"))
        .expect("kubeconfig written");
    path
}

async fn remove_rbac(admin: &Client) {
    let dp = DeleteParams::default();
    let name = format!("{RBAC_NAMESPACE}-namespaces");
    let _ = Api::<ClusterRoleBinding>::all(admin.clone())
        .delete(&name, &dp)
        .await;
    let _ = Api::<ClusterRole>::all(admin.clone())
        .delete(&name, &dp)
        .await;
    let _ = Api::<Namespace>::all(admin.clone())
        .delete(RBAC_NAMESPACE, &dp)
        .await;
}

#[test]
#[ignore = "needs the shared kind cluster (INFERBENCH_TEST_CLUSTER)"]
fn a_twin_that_cannot_list_events_is_an_error() {
    let Some(cluster) = shared_cluster() else {
        eprintln!("INFERBENCH_TEST_CLUSTER is not set: nothing to sabotage");
        return;
    };
    let kubeconfig = cluster::cluster_dir(&cluster).join("kubeconfig");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "gpu.yaml", &gpu_twin(RBAC_NAMESPACE));
    let rt = runtime();
    let report = rt.block_on(async {
        let admin = k8s::connect(&kubeconfig).await.expect("connect");
        let limited = limited_kubeconfig(&admin, &kubeconfig, dir.path()).await;
        let report = run(&file, &limited, &cluster).await;
        remove_rbac(&admin).await;
        report
    });
    let s = only(&report);
    assert_eq!(s.outcome, Outcome::Failed, "{:?}", s.error);
    assert_eq!(
        step_failure(s, "too-many-gpus"),
        Some(FailureKind::Forbidden),
        "{:?}",
        s.error
    );
    let error = s.error.clone().unwrap_or_default();
    assert!(error.contains("ended in an error (forbidden)"), "{error}");
}
