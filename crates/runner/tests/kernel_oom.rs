//! The kernel's word on an OOM kill, read on a real kind node: a trainer
//! pod whose memory grows past its limit is killed by the kernel's OOM
//! killer, and `node_kernel::oom_killed_containers` (through `docker
//! exec` and the node's `dmesg`) names exactly the container the kubelet
//! reports as terminated, and nothing for a pod that was not killed.
//!
//! On the shared kind cluster of `cargo xtask test`
//! (`INFERBENCH_TEST_CLUSTER`); without it the test says so and passes.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use runner::node_kernel::{NodeExec, oom_killed_containers};
use serde_json::json;

const NAMESPACE: &str = "ib-kernel-oom";

fn pod(name: &str, memory_per_epoch: u64) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "train",
                "image": "inferbench/mock-server:dev",
                "imagePullPolicy": "IfNotPresent",
                "args": ["train", "--epochs", "8", "--epoch-ms", "200",
                         "--epoch-cpu-ms", "1",
                         "--memory-per-epoch-bytes", memory_per_epoch.to_string()],
                "resources": {"requests": {"memory": "16Mi", "cpu": "10m"},
                              "limits": {"memory": "32Mi"}},
            }],
        },
    }))
    .expect("pod")
}

/// `(reason, exit code, container ID without the scheme, node, uid)` once the pod ended.
async fn ended(api: &Api<Pod>, name: &str) -> (String, i32, String, String, String) {
    for _ in 0..120 {
        let p = api.get(name).await.expect("pod");
        let t = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.terminated.clone());
        if let Some(t) = t {
            let id = t.container_id.unwrap_or_default();
            let id = id.rsplit("://").next().unwrap_or_default().to_string();
            let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
            let uid = p.metadata.uid.unwrap_or_default();
            return (t.reason.unwrap_or_default(), t.exit_code, id, node, uid);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("pod {name} did not end within a minute");
}

#[test]
#[ignore = "needs the shared kind cluster (INFERBENCH_TEST_CLUSTER)"]
fn the_kernel_log_names_the_container_its_oom_killer_ended() {
    let Some(cluster) = std::env::var("INFERBENCH_TEST_CLUSTER")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("INFERBENCH_TEST_CLUSTER is not set: no node to read");
        return;
    };
    let kubeconfig = cluster::cluster_dir(&cluster).join("kubeconfig");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = k8s::connect(&kubeconfig).await.expect("connect");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).expect("namespace");
        let _ = namespaces.create(&PostParams::default(), &ns).await;
        let api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
        // Names of this run's own: a pod an earlier run left may still be
        // terminating.
        let (grows, stays) = (
            format!("grows-{}", std::process::id()),
            format!("stays-{}", std::process::id()),
        );
        // 16 MiB more each epoch: past 32 Mi at the second or third.
        api.create(&PostParams::default(), &pod(&grows, 16 << 20))
            .await
            .expect("create grows");
        api.create(&PostParams::default(), &pod(&stays, 0))
            .await
            .expect("create stays");
        let exec = NodeExec::docker("docker");

        let (reason, code, id, node, uid) = ended(&api, &grows).await;
        assert_eq!(code, 137, "the grown trainer was killed ({reason})");
        let killed = oom_killed_containers(&exec, &node, &uid).expect("kernel log read");
        assert!(killed.contains(&id), "kernel log names {id}: {killed:?}");
        assert_eq!(killed.len(), 1, "{killed:?}");

        let (_, code, _, node, uid) = ended(&api, &stays).await;
        assert_eq!(code, 0, "the trainer that holds nothing completes");
        let killed = oom_killed_containers(&exec, &node, &uid).expect("kernel log read");
        assert!(killed.is_empty(), "{killed:?}");

        // The namespace stays (deleting it would leave the next run a
        // terminating namespace to create pods in); its pods go.
        for name in [&grows, &stays] {
            let _ = api.delete(name, &DeleteParams::default()).await;
        }
    });
}
