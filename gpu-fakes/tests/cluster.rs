//! On a real kind cluster with gpu-fakes deployed to the GPU pool (as
//! `cargo xtask up` does): the kubelet accepts the plugin. Uses the cluster
//! from `KUBECONFIG`; namespace `gpu-fakes`, 2 GPUs per GPU node (the default
//! rendering in `fixtures/gpu-fakes/gpu-fakes.yaml`).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::resource::v1::ResourceSlice;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

const NS: &str = "gpu-fakes";
const IMAGE: &str = "inferbench/gpu-fakes:dev";
const GPUS_PER_NODE: &str = "2";

/// The tests change the shared GPU pool (pods holding GPUs, a device made
/// unhealthy), so they take turns: each holds this for its whole run.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::try_default()
        .await
        .expect("KUBECONFIG must point at the kind cluster")
}

async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn gpu_nodes(c: &Client) -> Vec<Node> {
    Api::<Node>::all(c.clone())
        .list(&ListParams::default().labels("nvidia.com/gpu.present=true"))
        .await
        .expect("list nodes")
        .items
}

fn allocatable(n: &Node) -> Option<String> {
    n.status
        .as_ref()?
        .allocatable
        .as_ref()?
        .get("nvidia.com/gpu")
        .map(|q| q.0.clone())
}

fn gpu_pod(name: &str, gpus: u32) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "restartPolicy": "Never",
            "tolerations": [{ "key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule" }],
            "containers": [{
                "name": "main", "image": IMAGE, "imagePullPolicy": "Never",
                "args": ["show-env"],
                "resources": { "limits": { "nvidia.com/gpu": gpus.to_string() } },
            }],
        },
    }))
    .expect("pod")
}

async fn recreate(pods: &Api<Pod>, pod: Pod) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let _ = pods
        .delete(&name, &DeleteParams::default().grace_period(0))
        .await;
    poll("old pod gone", Duration::from_secs(60), || async {
        pods.get_opt(&name)
            .await
            .ok()
            .and_then(|p| p.is_none().then_some(()))
    })
    .await;
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
}

/// GET/POST through the API server's pod proxy to a gpu-fakes agent.
async fn agent_call(c: &Client, node: &str, method: &str, path: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    let list = pods
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/name=gpu-fakes")
                .fields(&format!("spec.nodeName={node}")),
        )
        .await
        .expect("agent pods");
    let agent = list
        .items
        .first()
        .and_then(|p| p.metadata.name.clone())
        .expect("an agent on the node");
    let uri = format!("/api/v1/namespaces/{NS}/pods/{agent}:9400/proxy{path}");
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Vec::new())
        .expect("request");
    c.request_text(req).await.expect("agent call")
}

#[tokio::test]
#[ignore = "needs a kind cluster: run cargo xtask test"]
async fn gpu_nodes_report_allocatable_and_labels() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let c = client().await;
    let nodes = gpu_nodes(&c).await;
    assert!(
        !nodes.is_empty(),
        "no nodes labelled nvidia.com/gpu.present=true"
    );
    for n in nodes {
        let name = n.metadata.name.clone().unwrap_or_default();
        let api: Api<Node> = Api::all(c.clone());
        let node = poll(
            "allocatable nvidia.com/gpu",
            Duration::from_secs(120),
            || async {
                let n = api.get(&name).await.ok()?;
                (allocatable(&n).as_deref() == Some(GPUS_PER_NODE)).then_some(n)
            },
        )
        .await;
        let labels = node.metadata.labels.unwrap_or_default();
        assert_eq!(
            labels.get("nvidia.com/gpu.count").map(String::as_str),
            Some(GPUS_PER_NODE)
        );
        assert!(labels.contains_key("nvidia.com/gpu.product"));
        assert_eq!(
            labels
                .get("nvidia.com/gpu.sharing-strategy")
                .map(String::as_str),
            Some("none")
        );
    }
}

#[tokio::test]
#[ignore = "needs a kind cluster: run cargo xtask test"]
async fn too_many_gpus_stay_pending_with_insufficient_event() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let c = client().await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    recreate(&pods, gpu_pod("it-too-many-gpus", 64)).await;
    let events: Api<Event> = Api::namespaced(c.clone(), NS);
    poll(
        "Insufficient nvidia.com/gpu event",
        Duration::from_secs(60),
        || async {
            let list = events
                .list(&ListParams::default().fields("involvedObject.name=it-too-many-gpus"))
                .await
                .ok()?;
            list.items
                .iter()
                .any(|e| {
                    e.message
                        .as_deref()
                        .unwrap_or("")
                        .contains("Insufficient nvidia.com/gpu")
                })
                .then_some(())
        },
    )
    .await;
    let p = pods.get("it-too-many-gpus").await.expect("pod");
    assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    let _ = pods
        .delete("it-too-many-gpus", &DeleteParams::default().grace_period(0))
        .await;
}

#[tokio::test]
#[ignore = "needs a kind cluster: run cargo xtask test"]
async fn allocated_pod_sees_devices_and_is_named_in_metrics() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let c = client().await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    recreate(&pods, gpu_pod("it-one-gpu", 1)).await;
    let node = poll("pod running", Duration::from_secs(120), || async {
        let p = pods.get("it-one-gpu").await.ok()?;
        let running = p.status.as_ref()?.phase.as_deref() == Some("Running");
        running.then(|| p.spec?.node_name).flatten()
    })
    .await;
    let logs = poll("show-env output", Duration::from_secs(30), || async {
        let l = pods.logs("it-one-gpu", &Default::default()).await.ok()?;
        l.contains("NVIDIA_VISIBLE_DEVICES=GPU-").then_some(l)
    })
    .await;
    assert_eq!(
        logs.lines().next().unwrap_or("").matches("GPU-").count(),
        1,
        "{logs}"
    );
    let metrics = agent_call(&c, &node, "GET", "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("DCGM_FI_DEV_GPU_UTIL{")
                && l.contains("pod=\"it-one-gpu\"")
                && l.contains(&format!("namespace=\"{NS}\""))),
        "{metrics}"
    );
    let _ = pods
        .delete("it-one-gpu", &DeleteParams::default().grace_period(0))
        .await;
}

#[tokio::test]
#[ignore = "needs a kind cluster: run cargo xtask test"]
async fn unhealthy_device_lowers_allocatable() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let c = client().await;
    let nodes = gpu_nodes(&c).await;
    let node = nodes
        .first()
        .and_then(|n| n.metadata.name.clone())
        .expect("a GPU node");
    let api: Api<Node> = Api::all(c.clone());
    agent_call(&c, &node, "POST", "/admin/gpus/1/unhealthy").await;
    poll(
        "allocatable drops to 1",
        Duration::from_secs(60),
        || async {
            let n = api.get(&node).await.ok()?;
            (allocatable(&n).as_deref() == Some("1")).then_some(())
        },
    )
    .await;
    agent_call(&c, &node, "POST", "/admin/gpus/1/healthy").await;
    poll("allocatable back to 2", Duration::from_secs(60), || async {
        let n = api.get(&node).await.ok()?;
        (allocatable(&n).as_deref() == Some(GPUS_PER_NODE)).then_some(())
    })
    .await;
}

/// The names of the devices node `node`'s gpu.nvidia.com slice lists.
async fn slice_devices(c: &Client, node: &str) -> Option<Vec<String>> {
    let api: Api<ResourceSlice> = Api::all(c.clone());
    let s = api
        .get_opt(&format!("{node}-gpu.nvidia.com"))
        .await
        .ok()??;
    Some(
        s.spec
            .devices
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.name)
            .collect(),
    )
}

#[tokio::test]
#[ignore = "needs a kind cluster: run cargo xtask test"]
async fn resource_slices_list_the_fake_gpus_and_withdraw_an_unhealthy_one() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let c = client().await;
    let api: Api<ResourceSlice> = Api::all(c.clone());
    for n in gpu_nodes(&c).await {
        let name = n.metadata.name.clone().unwrap_or_default();
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let slice = poll(
            "the node's ResourceSlice",
            Duration::from_secs(60),
            || async { api.get_opt(&format!("{name}-gpu.nvidia.com")).await.ok()? },
        )
        .await;
        assert_eq!(slice.spec.driver, "gpu.nvidia.com");
        assert_eq!(slice.spec.node_name.as_deref(), Some(name.as_str()));
        assert_eq!(slice.spec.pool.name, name);
        let devices = slice.spec.devices.unwrap_or_default();
        assert_eq!(devices.len().to_string(), GPUS_PER_NODE, "{name}");
        // The same GPUs GPU feature discovery labels the node with.
        let product = labels
            .get("nvidia.com/gpu.product")
            .expect("product label")
            .replace('-', " ");
        let memory = labels.get("nvidia.com/gpu.memory").expect("memory label");
        for d in &devices {
            let a = d.attributes.clone().unwrap_or_default();
            assert_eq!(a["productName"].string.as_deref(), Some(product.as_str()));
            assert_eq!(a["type"].string.as_deref(), Some("gpu"));
            assert!(
                a["uuid"]
                    .string
                    .as_deref()
                    .is_some_and(|u| u.starts_with("GPU-"))
            );
            let cap = d.capacity.clone().unwrap_or_default();
            assert_eq!(cap["memory"].value.0, format!("{memory}Mi"));
        }
    }
    let node = gpu_nodes(&c)
        .await
        .first()
        .and_then(|n| n.metadata.name.clone())
        .expect("a GPU node");
    agent_call(&c, &node, "POST", "/admin/gpus/1/unhealthy").await;
    let withdrawn = poll("gpu-1 withdrawn", Duration::from_secs(30), || async {
        slice_devices(&c, &node).await.filter(|d| d.len() == 1)
    })
    .await;
    agent_call(&c, &node, "POST", "/admin/gpus/1/healthy").await;
    assert_eq!(withdrawn, ["gpu-0"]);
    poll("gpu-1 back", Duration::from_secs(30), || async {
        slice_devices(&c, &node).await.filter(|d| d.len() == 2)
    })
    .await;
    // Deleted by someone (a kubelet restarting without the plugin does):
    // published again.
    api.delete(&format!("{node}-gpu.nvidia.com"), &DeleteParams::default())
        .await
        .expect("delete the slice");
    poll(
        "the slice published again",
        Duration::from_secs(30),
        || async { slice_devices(&c, &node).await.filter(|d| d.len() == 2) },
    )
    .await;
}

/// A pod on `node` whose GPU is claimed from the DeviceClass gpu.nvidia.com
/// (its claim made from a ResourceClaimTemplate of the same name).
async fn claim_pod(c: &Client, name: &str, node: &str) -> Pod {
    let templates: Api<k8s_openapi::api::resource::v1::ResourceClaimTemplate> =
        Api::namespaced(c.clone(), NS);
    let template = serde_json::from_value(serde_json::json!({
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
        "metadata": { "name": name, "namespace": NS },
        "spec": { "spec": { "devices": { "requests": [
            { "name": "gpu", "exactly": { "deviceClassName": "gpu.nvidia.com" } },
        ] } } },
    }))
    .expect("template");
    let _ = templates.create(&PostParams::default(), &template).await;
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": NS },
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": { "kubernetes.io/hostname": node },
            "tolerations": [{ "key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule" }],
            "resourceClaims": [{ "name": "gpu", "resourceClaimTemplateName": name }],
            "containers": [{
                "name": "main", "image": IMAGE, "imagePullPolicy": "Never",
                "args": ["show-env"],
                "resources": { "claims": [{ "name": "gpu" }] },
            }],
        },
    }))
    .expect("pod")
}

async fn running(pods: &Api<Pod>, name: &str, within: Duration) {
    poll(&format!("pod {name} Running"), within, || async {
        let p = pods.get(name).await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a kind cluster: run cargo xtask test"]
async fn a_restarted_kubelet_finds_both_plugins_again() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let c = client().await;
    let node = gpu_nodes(&c)
        .await
        .last()
        .and_then(|n| n.metadata.name.clone())
        .expect("a GPU node");
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    // Prepared by the DRA plugin before the restart...
    recreate(&pods, claim_pod(&c, "dra-before", &node).await).await;
    running(&pods, "dra-before", Duration::from_secs(120)).await;
    // kind's nodes are containers of the same name; the kubelet is a unit.
    let out = std::process::Command::new("docker")
        .args(["exec", &node, "systemctl", "restart", "kubelet"])
        .output()
        .expect("docker exec");
    assert!(
        out.status.success(),
        "restarting the kubelet on {node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...and after it: the kubelet only starts a pod with a claim once the
    // driver it names is registered and has prepared the claim.
    recreate(&pods, claim_pod(&c, "dra-after", &node).await).await;
    running(&pods, "dra-after", Duration::from_secs(90)).await;
    // The device plugin registered again too.
    let nodes: Api<Node> = Api::all(c.clone());
    poll(
        "nvidia.com/gpu advertised again",
        Duration::from_secs(60),
        || async {
            let n = nodes.get(&node).await.ok()?;
            (allocatable(&n).as_deref() == Some(GPUS_PER_NODE)).then_some(())
        },
    )
    .await;
    for name in ["dra-before", "dra-after"] {
        let _ = pods
            .delete(name, &DeleteParams::default().grace_period(0))
            .await;
    }
}
