//! A kwok cluster end to end: a real control plane as local processes and
//! fake GPU nodes; a 1-GPU pod is scheduled onto the GPU pool and becomes
//! Running, a 64-GPU pod stays Pending with `Insufficient nvidia.com/gpu`,
//! and `down` leaves no process behind.
//!
//! Needs the pinned Kubernetes and etcd (built from the Go module proxy on
//! first use, cached) and builds kwok; no Docker.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cluster::kwok::{self, GPU_RESOURCE, process};
use cluster::{GPU_PRESENT_LABEL, GPU_TAINT_KEY, Provider, UpOptions, cluster_dir};
use k8s_openapi::api::core::v1::{Node, Pod, ServiceAccount};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};

const CLUSTER: &str = "inferbench-kwok-it";
const NAMESPACE: &str = "kwok-it";
const GPU_NODES: u32 = 3;

/// Deletes the cluster however the test ends.
struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        if std::env::var_os("INFERBENCH_KEEP_CLUSTER").is_some() {
            eprintln!("INFERBENCH_KEEP_CLUSTER set: leaving kwok cluster {CLUSTER} up");
            return;
        }
        if let Err(e) = cluster::down(Provider::Kwok, CLUSTER) {
            eprintln!("deleting kwok cluster {CLUSTER}: {e}");
        }
    }
}

#[test]
#[ignore = "builds kwok and runs a control plane"]
fn kwok_cluster_schedules_gpu_pods_and_down_leaves_nothing() {
    // Leftovers of an interrupted run.
    cluster::down(Provider::Kwok, CLUSTER).expect("clearing an earlier run");
    let _down = Down;
    let opts = UpOptions {
        provider: Provider::Kwok,
        name: CLUSTER.to_string(),
        cpu_workers: 1,
        gpu_workers: GPU_NODES,
        tool_source: None,
        ready_timeout: Duration::from_secs(120),
        ..UpOptions::default()
    };
    let report = cluster::up(&opts).expect("kwok up");
    assert!(report.created);
    assert_eq!(
        report.nodes.len(),
        1 + GPU_NODES as usize,
        "{:?}",
        report.nodes
    );
    assert!(
        report.nodes.iter().all(|n| n.state == "Ready"),
        "{:?}",
        report.nodes
    );
    let dir = cluster_dir(CLUSTER);
    let running = process::processes_of(&dir);
    assert_eq!(
        running.len(),
        5,
        "etcd, apiserver, kcm, scheduler, kwok: {running:?}"
    );

    let status = cluster::status(Provider::Kwok).expect("status");
    let mine = status
        .clusters
        .iter()
        .find(|c| c.name == CLUSTER)
        .expect("status lists the cluster");
    assert!(mine.components.iter().all(|c| c.running), "{mine:?}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(check_scheduling(&report.kubeconfig));
    rt.block_on(run_scheduling_scenarios(&report.kubeconfig));

    let down = cluster::down(Provider::Kwok, CLUSTER).expect("down");
    assert!(down.existed);
    assert!(down.leftovers.is_empty(), "{:?}", down.leftovers);
    assert!(!dir.exists(), "{} is removed", dir.display());
    // Gone, not even zombies: `down` in this process reaps its children.
    for p in running {
        assert!(
            !Path::new(&format!("/proc/{}", p.pid)).exists(),
            "{} (pid {}) is still there",
            p.component,
            p.pid
        );
    }
}

async fn check_scheduling(kubeconfig: &Path) {
    let client = k8s::connect(kubeconfig).await.expect("connect");

    // GPU nodes: Ready, labelled, tainted, 8 allocatable GPUs each.
    let nodes: Api<Node> = Api::all(client.clone());
    let gpu_nodes = nodes
        .list(&ListParams::default().labels(&format!("{GPU_PRESENT_LABEL}=true")))
        .await
        .expect("list GPU nodes")
        .items;
    assert_eq!(gpu_nodes.len(), GPU_NODES as usize);
    for n in &gpu_nodes {
        assert!(kwok::nodes::is_ready(n), "{:?} Ready", n.metadata.name);
        let alloc = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .expect("allocatable");
        assert_eq!(alloc[GPU_RESOURCE].0, "8");
        let taints = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        assert!(
            taints
                .iter()
                .any(|t| t.key == GPU_TAINT_KEY && t.effect == "NoSchedule")
        );
        let labels = n.metadata.labels.as_ref().expect("labels");
        assert_eq!(labels["nvidia.com/gpu.count"], "8");
        assert!(labels.contains_key("nvidia.com/gpu.product"));
    }
    let gpu_names: HashSet<String> = gpu_nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();

    k8s::ensure_namespace(&client, NAMESPACE)
        .await
        .expect("namespace");
    wait_for(
        "the default ServiceAccount",
        Duration::from_secs(60),
        || async {
            let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), NAMESPACE);
            sas.get_opt("default").await.ok().flatten().map(|_| ())
        },
    )
    .await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let fits = kwok::bench::gpu_pod("one-gpu", 1);
    let too_big = kwok::bench::gpu_pod("sixty-four-gpus", 64);
    pods.create(&PostParams::default(), &fits)
        .await
        .expect("create one-gpu");
    pods.create(&PostParams::default(), &too_big)
        .await
        .expect("create sixty-four-gpus");

    // The 1-GPU pod: bound to a GPU node, then Running and Ready.
    let running = wait_for("pod one-gpu Running", Duration::from_secs(60), || async {
        let p = pods.get("one-gpu").await.ok()?;
        let status = p.status.as_ref()?;
        let ready = status
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (status.phase.as_deref() == Some("Running") && ready).then_some(p)
    })
    .await;
    let node = running
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .expect("bound");
    assert!(gpu_names.contains(&node), "{node} is a GPU node");

    check_forwarder_endpoints(&client).await;

    // The 64-GPU pod: FailedScheduling for want of GPUs, and still Pending.
    let message = wait_for(
        "a FailedScheduling event for sixty-four-gpus",
        Duration::from_secs(60),
        || failed_scheduling(&client),
    )
    .await;
    eprintln!("FailedScheduling: {message}");
    assert!(message.contains("Insufficient nvidia.com/gpu"), "{message}");
    let pending = pods.get("sixty-four-gpus").await.expect("get");
    assert_eq!(
        pending.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    assert!(
        pending
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_none()
    );
}

/// The load forwarder sees the Service's endpoints through a real
/// EndpointSlice watch: the Service in front of the Running pod has one
/// ready endpoint (waited for, as a load waits), and a Service that selects
/// no pod has none, which the wait reports instead of hanging.
async fn check_forwarder_endpoints(client: &Client) {
    use k8s_openapi::api::core::v1::Service;
    use runner::forwarder::{ServiceForwarder, ServiceTarget};

    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    for (name, app) in [
        ("one-gpu", kwok::bench::APP_LABEL),
        ("nobody", "no-such-app"),
    ] {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name },
            "spec": {
                "selector": { "app": app },
                "ports": [{ "name": "http", "port": 8000, "targetPort": 8000 }]
            }
        }))
        .expect("service");
        services
            .create(&PostParams::default(), &svc)
            .await
            .expect("create service");
    }
    let target = |s: &str| ServiceTarget::parse(&format!("service/{s}:8000")).expect("target");

    let fwd = ServiceForwarder::start(client.clone(), NAMESPACE, &target("one-gpu"))
        .await
        .expect("forwarder to one-gpu");
    assert!(
        fwd.wait_for_ready_endpoint(Duration::from_secs(60)).await,
        "service/one-gpu gets a ready endpoint"
    );
    assert_eq!(fwd.ready_endpoints(), 1);
    // A forwarder started now has the endpoint the moment `start` returns:
    // it returns after the first list, not before.
    let again = ServiceForwarder::start(client.clone(), NAMESPACE, &target("one-gpu"))
        .await
        .expect("second forwarder to one-gpu");
    assert_eq!(again.ready_endpoints(), 1, "listed before start returns");

    let none = ServiceForwarder::start(client.clone(), NAMESPACE, &target("nobody"))
        .await
        .expect("forwarder to nobody");
    let started = Instant::now();
    assert!(
        !none.wait_for_ready_endpoint(Duration::from_secs(2)).await,
        "service/nobody has no ready endpoint"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(none.ready_endpoints(), 0);

    let missing = ServiceForwarder::start(client.clone(), NAMESPACE, &target("not-there")).await;
    assert!(
        matches!(
            missing,
            Err(runner::forwarder::ForwardError::NoService { .. })
        ),
        "a Service that does not exist is an error"
    );
}

/// The built-in scenarios through the runner, as `cargo xtask e2e
/// --provider kwok` runs them: the GPU scheduling scenario and its twin
/// come out as expected; scenarios that need containers are skipped, and
/// say why.
async fn run_scheduling_scenarios(kubeconfig: &Path) {
    use report::{ClusterInfo, Outcome};
    use runner::{self, Cancel, RunOptions};
    use scenario::{model::Timeouts, profile};

    let root = scenario::repo_root();
    let scenarios = scenario::load_all(&[
        root.join("scenarios/01-rolling-update-under-load.yaml"),
        root.join("scenarios/04-gpu-unschedulable.yaml"),
    ])
    .expect("scenarios load");
    let mock = profile::load("mock").expect("mock profile");
    let report_dir = tempfile::tempdir().expect("tempdir");
    let opts = RunOptions {
        kubeconfig: kubeconfig.to_path_buf(),
        kubectl: None,
        report_dir: report_dir.path().to_path_buf(),
        run_id: runner::new_run_id(),
        cluster: ClusterInfo {
            name: CLUSTER.into(),
            provider: "kwok".into(),
            kubernetes_version: String::new(),
            node_pools: Vec::new(),
            gpu_kind: "simulated".into(),
        },
        images: Vec::new(),
        command: "kwok_cluster test".into(),
        keep: false,
        fail_fast: false,
        parallel: 2,
        quiet: true,
        timeouts: Timeouts::default(),
        set: Default::default(),
        profile_bindings: mock.spec.bindings.clone(),
        // kwok offers no containers; the mock profile offers its knobs.
        capabilities: profile::offered(&Default::default(), &mock),
        record_evidence: false,
        own_templates: Vec::new(),
        node_exec: None,
        load_image: None,
        only: Vec::new(),
    };
    let (_tx, cancel) = Cancel::new();
    let report = runner::run(&scenarios, &opts, cancel)
        .await
        .expect("the runner runs");
    let outcome = |name: &str| {
        report
            .scenarios
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} in the report"))
    };
    let unschedulable = outcome("gpu-unschedulable[unschedulable]");
    assert_eq!(
        unschedulable.outcome,
        Outcome::Passed,
        "{:?}",
        unschedulable.error
    );
    assert_eq!(unschedulable.steps.len(), 3);
    // One twin per step: each fixes that step's defect, and the step's
    // check comes out not met observing a scheduled pod.
    for twin in ["fits", "tolerated", "selector-matches"] {
        let s = outcome(&format!("gpu-unschedulable[{twin}]"));
        assert_eq!(
            s.outcome,
            Outcome::FailedAsExpected,
            "{twin}: {:?}",
            s.error
        );
    }
    for entry in ["gated", "capacity-gap"] {
        let rolling = outcome(&format!("rolling-update-under-load[{entry}]"));
        assert_eq!(rolling.outcome, Outcome::Skipped);
        let why = rolling.error.as_deref().unwrap_or_default();
        assert!(why.contains("needs containers"), "{why}");
    }
    assert!(report.outcome.is_success());
}

async fn failed_scheduling(client: &Client) -> Option<String> {
    let events = k8s::events(client, NAMESPACE).await.ok()?;
    events
        .into_iter()
        .find(|e| {
            e.reason.as_deref() == Some("FailedScheduling")
                && e.involved_object.name.as_deref() == Some("sixty-four-gpus")
        })
        .and_then(|e| e.message)
}

async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "{what} did not happen within {}s",
            timeout.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
