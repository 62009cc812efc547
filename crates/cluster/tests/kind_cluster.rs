//! A real kind cluster, end to end: up, nodes Ready with the GPU pool,
//! the mock server behind a Service answering HTTP, the metrics API
//! returning numbers, Prometheus scraping the mock's vLLM metrics, down
//! with no containers left.
//!
//! `cargo xtask test` brings one cluster up for all its cluster tests and
//! names it in `INFERBENCH_TEST_CLUSTER`; this test then runs `up` against
//! it (the reuse path: nothing is created twice) and leaves it up for the
//! others. Run alone, it brings up and deletes a cluster of its own.
//!
//! Cold (nothing cached) this builds Kubernetes and the node image (about
//! 30 minutes on 2 cores); warm it takes about 3 minutes.

use std::time::Duration;

use cluster::kubectl::Kubectl;
use cluster::{self, UpOptions};

/// The cluster of this test when it runs alone.
const OWN_CLUSTER: &str = "inferbench-it";
const NAMESPACE: &str = "inferbench-it";

/// The shared cluster `cargo xtask test` brought up, if any.
fn shared_cluster() -> Option<String> {
    std::env::var("INFERBENCH_TEST_CLUSTER")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Deletes what the test made when it ends, pass or fail: the cluster it
/// brought up itself (unless INFERBENCH_KEEP_CLUSTER is set), or, on a
/// shared cluster, its namespace.
struct Teardown {
    cluster: String,
    shared: bool,
    /// Set once the cluster is up.
    kubectl: Option<Kubectl>,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let name = &self.cluster;
        if self.shared {
            let Some(k) = &self.kubectl else { return };
            match k.run(&[
                "delete",
                "namespace",
                NAMESPACE,
                "--ignore-not-found",
                "--wait=false",
            ]) {
                Ok(_) => eprintln!("namespace {NAMESPACE} deleted from shared cluster {name}"),
                Err(e) => eprintln!("deleting namespace {NAMESPACE} failed: {e}"),
            }
            return;
        }
        if std::env::var_os("INFERBENCH_KEEP_CLUSTER").is_some() {
            eprintln!("INFERBENCH_KEEP_CLUSTER set: leaving cluster {name} up");
            return;
        }
        match cluster::down(cluster::Provider::Kind, name) {
            Ok(r) if r.leftovers.is_empty() => eprintln!("cluster {name} deleted"),
            Ok(r) => eprintln!(
                "cluster {name} deleted but containers remain: {:?}",
                r.leftovers
            ),
            Err(e) => eprintln!("deleting cluster {name} failed: {e}"),
        }
    }
}

fn workload(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: mock-server
  namespace: {NAMESPACE}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: mock-server}}
  template:
    metadata:
      labels: {{app: mock-server, app.kubernetes.io/name: mock-server}}
      annotations: {{prometheus.io/scrape: "true", prometheus.io/port: "8000"}}
    spec:
      containers:
        - name: mock-server
          image: {image}
          imagePullPolicy: IfNotPresent
          ports:
            - {{name: http, containerPort: 8000}}
          readinessProbe:
            httpGet: {{path: /health, port: http}}
            periodSeconds: 2
          resources:
            requests: {{cpu: 50m, memory: 32Mi}}
          volumeMounts:
            - {{name: data, mountPath: /data}}
      volumes:
        - name: data
          persistentVolumeClaim: {{claimName: mock-server-data}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: mock-server-data
  namespace: {NAMESPACE}
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {{storage: 10Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: mock-server
  namespace: {NAMESPACE}
spec:
  selector: {{app: mock-server}}
  ports:
    - {{name: http, port: 80, targetPort: http}}
"#
    )
}

#[test]
#[ignore = "needs Docker and a kind cluster: run cargo xtask test"]
fn kind_cluster_end_to_end() {
    let shared = shared_cluster();
    let opts = UpOptions {
        name: shared.clone().unwrap_or_else(|| OWN_CLUSTER.to_string()),
        with: vec![cluster::Component::Prometheus],
        ..UpOptions::default()
    };
    let mut teardown = Teardown {
        cluster: opts.name.clone(),
        shared: shared.is_some(),
        kubectl: None,
    };
    let report = cluster::up(&opts).expect("cluster up");
    teardown.kubectl = Some(Kubectl::new(
        report.kubectl.clone(),
        report.kubeconfig.clone(),
    ));
    assert!(
        shared.is_none() || !report.created,
        "the shared cluster {} was up already, so up must reuse it",
        opts.name
    );
    eprintln!("{}", report.how_to_reach());
    eprintln!("timings: {:?}", report.timings);
    let k = Kubectl::new(report.kubectl.clone(), report.kubeconfig.clone());

    // All nodes Ready; the GPU pool labelled and tainted.
    let nodes: serde_json::Value =
        serde_json::from_str(&k.run(&["get", "nodes", "-o", "json"]).expect("get nodes"))
            .expect("nodes JSON");
    let items = nodes["items"].as_array().expect("node list");
    assert_eq!(items.len(), 4, "1 control plane + 1 CPU + 2 GPU workers");
    for n in items {
        let ready = n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(ready, "node {} not Ready", n["metadata"]["name"]);
    }
    let gpu: Vec<_> = items
        .iter()
        .filter(|n| n["metadata"]["labels"]["nvidia.com/gpu.present"] == "true")
        .collect();
    assert_eq!(gpu.len(), 2, "two GPU-pool nodes");
    for n in &gpu {
        let tainted = n["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| {
                t["key"] == "nvidia.com/gpu"
                    && t["value"] == "present"
                    && t["effect"] == "NoSchedule"
            });
        assert!(
            tainted,
            "GPU node {} lacks the nvidia.com/gpu taint",
            n["metadata"]["name"]
        );
    }

    // Three checks that touch different objects run side by side (they
    // mostly wait on the cluster): the mock server through kubectl, the
    // fixture through kube-rs, and `up` again on the existing cluster.
    let image = report
        .mock_server_image
        .clone()
        .expect("mock-server image loaded");
    assert!(report.kubeconfig.exists());
    std::thread::scope(|s| {
        s.spawn(|| mock_server_serves_and_has_metrics(&k, &image));
        s.spawn(|| fixture_deploys_through_kube_rs(&report.kubeconfig, &image));
        s.spawn(|| reuse_rolls_pods_of_a_rebuilt_image(&opts, &k, &report));
        s.spawn(|| prometheus_scrapes_the_mock_servers_vllm_metrics(&k));
    });
}

/// Prometheus (`--with prometheus`) finds the annotated mock-server pod
/// and scrapes its vLLM metrics under their own names, labelled with the
/// pod, its namespace and app; a misspelled name is simply no series (what
/// a scaler pointed at it would read).
fn prometheus_scrapes_the_mock_servers_vllm_metrics(k: &Kubectl) {
    let query = |promql: &str| -> Result<serde_json::Value, cluster::ClusterError> {
        let path = format!(
            "/api/v1/namespaces/{}/services/{}:{}/proxy/api/v1/query?query={}",
            cluster::addons::PROMETHEUS_NAMESPACE,
            cluster::addons::PROMETHEUS_NAME,
            cluster::addons::PROMETHEUS_PORT,
            promql
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('"', "%22")
                .replace('=', "%3D")
        );
        let out = k
            .cmd()
            .args(["get", "--raw"])
            .arg(path)
            .timeout(Duration::from_secs(20))
            .run()?;
        Ok(serde_json::from_str(&out.stdout).unwrap_or_default())
    };
    let wanted = format!("vllm:num_requests_running{{namespace=\"{NAMESPACE}\"}}");
    let series = k
        .poll(
            "Prometheus to scrape the mock server's vllm:num_requests_running",
            Duration::from_secs(240),
            |_| {
                let answer = query(&wanted)?;
                Ok(answer["data"]["result"]
                    .as_array()
                    .filter(|r| !r.is_empty())
                    .cloned())
            },
        )
        .expect("the mock server's metrics in Prometheus");
    let labels = &series[0]["metric"];
    assert_eq!(labels["namespace"], NAMESPACE, "{series:?}");
    assert_eq!(labels["app"], "mock-server", "{series:?}");
    assert!(
        labels["pod"]
            .as_str()
            .is_some_and(|p| p.starts_with("mock-server-")),
        "{series:?}"
    );
    let misspelled = query(&format!(
        "vllm_num_requests_running{{namespace=\"{NAMESPACE}\"}}"
    ))
    .expect("Prometheus answers");
    assert_eq!(misspelled["status"], "success", "{misspelled}");
    assert_eq!(
        misspelled["data"]["result"],
        serde_json::json!([]),
        "no series under a misspelled name"
    );
}

/// The mock server (with a volume from the default StorageClass),
/// Available behind a Service, answers over HTTP (through the API server's
/// service proxy), and the metrics API returns numbers for its pod.
fn mock_server_serves_and_has_metrics(k: &Kubectl, image: &str) {
    k.apply(&workload(image)).expect("apply workload");
    k.cmd()
        .args([
            "-n",
            NAMESPACE,
            "wait",
            "--for=condition=Available",
            "deployment/mock-server",
            "--timeout=180s",
        ])
        .timeout(Duration::from_secs(200))
        .run()
        .expect("mock-server Available");
    let phase = k
        .run(&[
            "-n",
            NAMESPACE,
            "get",
            "pvc",
            "mock-server-data",
            "-o",
            "jsonpath={.status.phase}",
        ])
        .expect("get pvc");
    assert_eq!(
        phase.trim(),
        "Bound",
        "the default StorageClass provisions volumes"
    );
    let health = k
        .poll(
            "GET /health through the Service",
            Duration::from_secs(60),
            |k| {
                let out = k
                    .cmd()
                    .args(["get", "--raw"])
                    .arg(format!(
                        "/api/v1/namespaces/{NAMESPACE}/services/mock-server:http/proxy/health"
                    ))
                    .timeout(Duration::from_secs(20))
                    .run()?;
                Ok(Some(out.stdout))
            },
        )
        .expect("mock-server answers /health");
    eprintln!("GET /health -> {health}");

    // The metrics API returns numbers for the pod.
    let top = k
        .poll(
            "kubectl top pods to report the mock server",
            Duration::from_secs(240),
            |k| {
                let out = k
                    .cmd()
                    .args(["top", "pods", "-n", NAMESPACE, "--no-headers"])
                    .timeout(Duration::from_secs(30))
                    .run()?;
                Ok(out
                    .stdout
                    .lines()
                    .find(|l| l.starts_with("mock-server-"))
                    .filter(|l| {
                        let cols: Vec<&str> = l.split_whitespace().collect();
                        cols.len() >= 3 && cols[1].ends_with('m') && cols[2].ends_with("Mi")
                    })
                    .map(String::from))
            },
        )
        .expect("metrics for the mock-server pod");
    eprintln!("kubectl top pods: {top}");
}

/// `up` on an existing cluster reuses it, and a gpu-fakes image rebuilt
/// under the same tag replaces the running pods: here the DaemonSet is
/// made to look as if its pods ran an older build.
fn reuse_rolls_pods_of_a_rebuilt_image(opts: &UpOptions, k: &Kubectl, first: &cluster::UpReport) {
    use cluster::addons::IMAGE_ID_ANNOTATION;
    let gpu_fakes = first
        .gpu_fakes_image
        .clone()
        .expect("gpu-fakes image loaded");
    let image_id = environment::docker::Docker::detect()
        .image_id(&gpu_fakes)
        .expect("docker image inspect");
    let template_id = |k: &Kubectl| {
        k.run(&[
            "-n",
            "gpu-fakes",
            "get",
            "daemonset/gpu-fakes-gpu",
            "-o",
            &format!(
                "jsonpath={{.spec.template.metadata.annotations.{}}}",
                IMAGE_ID_ANNOTATION.replace('.', "\\.")
            ),
        ])
        .expect("get daemonset")
        .trim()
        .to_string()
    };
    let pod_uids = |k: &Kubectl| {
        let mut uids: Vec<String> = k
            .run(&[
                "-n",
                "gpu-fakes",
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/name=gpu-fakes",
                "-o",
                "jsonpath={range .items[*]}{.metadata.uid}{\"\\n\"}{end}",
            ])
            .expect("get pods")
            .lines()
            .map(String::from)
            .collect();
        uids.sort();
        uids
    };
    assert_eq!(
        template_id(k),
        image_id,
        "up annotates the pods with the image ID"
    );
    let stale = format!(
        r#"{{"spec":{{"template":{{"metadata":{{"annotations":{{"{IMAGE_ID_ANNOTATION}":"sha256:an-older-build"}}}}}}}}}}"#
    );
    k.run(&[
        "-n",
        "gpu-fakes",
        "patch",
        "daemonset/gpu-fakes-gpu",
        "-p",
        &stale,
    ])
    .expect("patch daemonset");
    k.run(&[
        "-n",
        "gpu-fakes",
        "rollout",
        "status",
        "daemonset/gpu-fakes-gpu",
        "--timeout=180s",
    ])
    .expect("stale rollout");
    let before = pod_uids(k);

    let again = cluster::up(opts).expect("cluster up again");
    assert!(!again.created, "an existing cluster is reused");
    assert_eq!(template_id(k), image_id, "the current image ID is back");
    let after = pod_uids(k);
    assert_eq!(after.len(), 2, "one gpu-fakes pod per GPU node: {after:?}");
    assert!(
        after.iter().all(|u| !before.contains(u)),
        "pods of the stale image were replaced: before {before:?}, after {after:?}"
    );
}

/// The mock-server fixture, rendered from its template and applied with
/// kube-rs (server-side apply), rolls out (watched, not polled), gates
/// readiness on the simulated model load, and answers through its Service
/// with the pod and namespace that served.
fn fixture_deploys_through_kube_rs(kubeconfig: &std::path::Path, image: &str) {
    use k8s;
    use scenario::bindings as template;
    const NS: &str = "inferbench-it-fixture";
    let root = environment::workspace::repo_root()
        .join("fixtures")
        .join("mock-server");
    let defaults = template::load_values(&root.join("values.yaml")).expect("fixture values");
    let overrides: template::Bindings = [
        ("image".to_string(), serde_json::json!(image)),
        ("modelLoadMs".to_string(), serde_json::json!(2000)),
        ("version".to_string(), serde_json::json!("fixture-v1")),
    ]
    .into();
    let manifest = template::render_file(&root.join("deployment.yaml"), &defaults, &overrides)
        .expect("fixture renders");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let client = k8s::connect(kubeconfig).await.expect("kube client");
        k8s::ensure_namespace(&client, NS).await.expect("namespace");
        let applied = k8s::apply_yaml(&client, NS, &manifest)
            .await
            .expect("server-side apply");
        let kinds: Vec<&str> = applied.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["Deployment", "Service"]);
        let started = std::time::Instant::now();
        let d = k8s::wait_rollout(&client, NS, "mock-server", Duration::from_secs(240))
            .await
            .expect("fixture rollout completes");
        let took = started.elapsed();
        assert_eq!(d.status.and_then(|s| s.available_replicas), Some(2));
        // Readiness waits for the 2 s model load, so the rollout cannot be instant.
        assert!(
            took >= Duration::from_secs(2),
            "rollout completed after {took:?}"
        );

        let req = http::Request::get(format!(
            "/api/v1/namespaces/{NS}/services/mock-server:http/proxy/v1/models"
        ))
        .body(kube::client::Body::empty())
        .expect("request");
        let resp = client.send(req).await.expect("service proxy answers");
        assert_eq!(resp.status(), 200);
        let pod = resp
            .headers()
            .get("x-inference-pod")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(pod.starts_with("mock-server-"), "x-inference-pod {pod:?}");
        assert_eq!(
            resp.headers()
                .get("x-inference-namespace")
                .and_then(|v| v.to_str().ok()),
            Some(NS)
        );
        assert_eq!(
            resp.headers()
                .get("x-inference-version")
                .and_then(|v| v.to_str().ok()),
            Some("fixture-v1")
        );

        k8s::delete_namespace(&client, NS, Duration::from_secs(180))
            .await
            .expect("namespace deleted");
    });
}
