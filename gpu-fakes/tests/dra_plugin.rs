//! The DRA kubelet plugin over real gRPC on real unix sockets: what the
//! kubelet's plugin watcher asks on the registration socket (through the
//! authority shim), and `NodePrepareResources` / `NodeUnprepareResources`
//! writing and removing CDI specs, with claims from a fixed source.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gpu_fakes::backend::FakeBackend;
use gpu_fakes::config::PoolConfig;
use gpu_fakes::dra::claims::{AllocatedDevice, ClaimAllocation, ClaimSource};
use gpu_fakes::dra::driver::{DraOptions, DraService, run};
use gpu_fakes::exporter::{Exporter, parse_exposition};
use gpu_fakes::gpus::FakeGpus;
use gpu_fakes::plugin::unix_channel;
use gpu_fakes::proto::dra::{
    Claim, NodePrepareResourcesRequest, NodeUnprepareResourcesRequest,
    dra_plugin_client::DraPluginClient,
};
use gpu_fakes::proto::pluginregistration::{
    InfoRequest, RegistrationStatus, registration_client::RegistrationClient,
};

const NODE: &str = "node-a";
const WAIT: Duration = Duration::from_secs(10);

/// Claims by UID, as the API server would answer.
struct Claims(BTreeMap<String, ClaimAllocation>);

#[tonic::async_trait]
impl ClaimSource for Claims {
    async fn allocation(&self, claim: &Claim) -> Result<ClaimAllocation, String> {
        self.0
            .get(&claim.uid)
            .cloned()
            .ok_or_else(|| format!("no claim {}", claim.uid))
    }
}

fn device(request: &str, pool: &str, device: &str) -> AllocatedDevice {
    AllocatedDevice {
        request: request.into(),
        driver: "gpu.nvidia.com".into(),
        pool: pool.into(),
        device: device.into(),
    }
}

fn claim(uid: &str) -> Claim {
    Claim {
        namespace: "ns".into(),
        uid: uid.into(),
        name: format!("claim-{uid}"),
    }
}

async fn wait_for(path: &Path) {
    let t0 = std::time::Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < WAIT, "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn registers_prepares_and_unprepares_over_unix_sockets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = DraOptions {
        plugins_dir: tmp.path().join("plugins"),
        registry_dir: tmp.path().join("plugins_registry"),
        cdi_dir: tmp.path().join("cdi"),
        poll_interval: Duration::from_millis(50),
    };
    let gpus = FakeGpus::new(PoolConfig::default(), NODE);
    let uuids: Vec<String> = gpus.gpus().iter().map(|g| g.uuid.clone()).collect();
    let claims = Claims(BTreeMap::from([
        (
            "two".to_string(),
            ClaimAllocation {
                devices: vec![device("gpu", NODE, "gpu-0"), device("gpu", NODE, "gpu-1")],
                pods: vec!["server-0".into()],
                containers: vec![
                    ("server-0".into(), "server".into()),
                    ("server-0".into(), "sidecar".into()),
                ],
            },
        ),
        (
            "elsewhere".to_string(),
            ClaimAllocation {
                devices: vec![device("gpu", "node-b", "gpu-0")],
                pods: vec![],
                containers: vec![],
            },
        ),
    ]));
    let service = DraService::new(gpus.clone(), NODE, Arc::new(claims), &opts.cdi_dir);
    let plugin = tokio::spawn(run(service.clone(), opts.clone()));
    wait_for(&opts.registration_socket()).await;

    // What the plugin watcher asks.
    let mut reg = RegistrationClient::new(
        unix_channel(&opts.registration_socket())
            .await
            .expect("registration socket"),
    );
    let info = reg
        .get_info(InfoRequest {})
        .await
        .expect("GetInfo")
        .into_inner();
    assert_eq!(info.r#type, "DRAPlugin");
    assert_eq!(info.name, "gpu.nvidia.com");
    assert_eq!(info.endpoint, opts.endpoint().display().to_string());
    assert_eq!(info.supported_versions, ["v1.DRAPlugin"]);
    assert!(!service.registered(), "not before the kubelet says so");
    reg.notify_registration_status(RegistrationStatus {
        plugin_registered: true,
        error: String::new(),
    })
    .await
    .expect("NotifyRegistrationStatus");
    assert!(service.registered());

    // What the kubelet asks before starting a pod with claims.
    wait_for(&opts.endpoint()).await;
    let mut dra = DraPluginClient::new(unix_channel(&opts.endpoint()).await.expect("endpoint"));
    let answer = dra
        .node_prepare_resources(NodePrepareResourcesRequest {
            claims: vec![claim("two"), claim("elsewhere"), claim("unknown")],
        })
        .await
        .expect("NodePrepareResources")
        .into_inner();
    let two = &answer.claims["two"];
    assert_eq!(two.error, "");
    let ids: Vec<&str> = two
        .devices
        .iter()
        .flat_map(|d| d.cdi_device_ids.iter().map(String::as_str))
        .collect();
    assert_eq!(
        ids,
        [
            "k8s.gpu.nvidia.com/claim=two-gpu-0",
            "k8s.gpu.nvidia.com/claim=two-gpu-1"
        ]
    );
    assert_eq!(two.devices[1].device_name, "gpu-1");
    assert_eq!(two.devices[1].pool_name, NODE);
    assert!(
        answer.claims["elsewhere"]
            .error
            .contains("no device of gpu.nvidia.com allocated from pool node-a"),
        "{}",
        answer.claims["elsewhere"].error
    );
    assert_eq!(answer.claims["unknown"].error, "no claim unknown");
    let spec_path = gpu_fakes::dra::cdi::spec_path(&opts.cdi_dir, "two");
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).expect("CDI spec written"))
            .expect("CDI spec is JSON");
    assert_eq!(
        spec["devices"][0]["containerEdits"]["env"][0],
        format!("NVIDIA_VISIBLE_DEVICES={},{}", uuids[0], uuids[1])
    );
    assert_eq!(service.prepared()["two"].pods, ["server-0"]);
    assert_eq!(service.prepared()["two"].gpus, [0, 1]);

    // dcgm-exporter's metrics name the containers that claimed each GPU
    // (NVIDIA's exporter cannot for DRA-allocated GPUs).
    let exporter = Exporter {
        backend: Box::new(FakeBackend::new(gpus.clone())),
        pod_resources: None,
        probe: None,
        hostname: NODE.into(),
        dra: Some(service.clone()),
    };
    let samples = parse_exposition(&exporter.scrape().await);
    for uuid in &uuids {
        let holders: Vec<(&str, &str, &str)> = samples
            .iter()
            .filter(|s| s.name == "DCGM_FI_DEV_FB_USED" && s.labels.get("UUID") == Some(uuid))
            .map(|s| {
                let l = |k: &str| s.labels.get(k).map_or("", String::as_str);
                (l("namespace"), l("pod"), l("container"))
            })
            .collect();
        assert_eq!(
            holders,
            [("ns", "server-0", "server"), ("ns", "server-0", "sidecar")],
            "{uuid}"
        );
    }

    let answer = dra
        .node_unprepare_resources(NodeUnprepareResourcesRequest {
            claims: vec![claim("two")],
        })
        .await
        .expect("NodeUnprepareResources")
        .into_inner();
    assert_eq!(answer.claims["two"].error, "");
    assert!(!spec_path.exists(), "the CDI spec is removed");
    assert!(service.prepared().is_empty());

    // A removed registration socket is served again (the kubelet finds the
    // plugin by it).
    std::fs::remove_file(opts.registration_socket()).expect("remove");
    wait_for(&opts.registration_socket()).await;
    let mut reg = RegistrationClient::new(
        unix_channel(&opts.registration_socket())
            .await
            .expect("registration socket again"),
    );
    reg.get_info(InfoRequest {}).await.expect("GetInfo again");
    plugin.abort();
}
