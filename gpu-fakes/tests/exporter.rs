//! The exporter: dcgm-exporter text parsed back, pod attribution from a fake
//! kubelet `PodResourcesLister` on a unix socket, load-driven utilization,
//! fault injection over HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use futures::future::BoxFuture;
use gpu_fakes::admin::{admin_router, metrics_router};
use gpu_fakes::backend::{BackendChoice, FakeBackend, select_backend};
use gpu_fakes::config::PoolConfig;
use gpu_fakes::exporter::{
    Exporter, Holder, LoadProbe, PodLoad, Sample, gpu_holders, load_from_vllm_metrics,
    parse_exposition,
};
use gpu_fakes::gpus::FakeGpus;
use gpu_fakes::proto::podresources::{
    ContainerDevices, ContainerResources, ListPodResourcesRequest, ListPodResourcesResponse,
    PodResources,
    pod_resources_lister_server::{PodResourcesLister, PodResourcesListerServer},
};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};
use tower::ServiceExt as _;

struct FakeLister {
    resp: ListPodResourcesResponse,
}

#[tonic::async_trait]
impl PodResourcesLister for FakeLister {
    async fn list(
        &self,
        _: Request<ListPodResourcesRequest>,
    ) -> Result<Response<ListPodResourcesResponse>, Status> {
        Ok(Response::new(self.resp.clone()))
    }
}

fn serve_lister(path: &std::path::Path, resp: ListPodResourcesResponse) {
    let listener = UnixListener::bind(path).expect("bind pod-resources socket");
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(PodResourcesListerServer::new(FakeLister { resp }))
            .serve_with_incoming(UnixListenerStream::new(listener))
            .await;
    });
}

fn pod(ns: &str, name: &str, container: &str, resource: &str, ids: &[String]) -> PodResources {
    PodResources {
        name: name.into(),
        namespace: ns.into(),
        containers: vec![ContainerResources {
            name: container.into(),
            devices: vec![ContainerDevices {
                resource_name: resource.into(),
                device_ids: ids.to_vec(),
            }],
        }],
    }
}

/// Load per pod name, fixed.
struct FixedProbe(BTreeMap<String, PodLoad>);

impl LoadProbe for FixedProbe {
    fn load<'a>(&'a self, h: &'a Holder) -> BoxFuture<'a, Option<PodLoad>> {
        Box::pin(async move { self.0.get(&h.pod).copied() })
    }
}

fn find<'a>(samples: &'a [Sample], name: &str, gpu: &str) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name && s.labels.get("gpu").map(String::as_str) == Some(gpu))
        .collect()
}

#[tokio::test]
async fn metrics_attribute_pods_and_follow_their_load() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sock = tmp.path().join("kubelet.sock");
    let gpus = FakeGpus::new(PoolConfig::default(), "node-a");
    let g0 = gpus.uuid(0).expect("gpu 0");
    serve_lister(
        &sock,
        ListPodResourcesResponse {
            pod_resources: vec![
                pod(
                    "llm",
                    "vllm-0",
                    "server",
                    "nvidia.com/gpu",
                    std::slice::from_ref(&g0),
                ),
                pod("other", "cpu-only", "c", "example.com/foo", &["x".into()]),
            ],
        },
    );
    let holders = gpu_holders(&sock, Duration::from_secs(5))
        .await
        .expect("List");
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[&g0][0].pod, "vllm-0");

    let mut loads = BTreeMap::new();
    loads.insert(
        "vllm-0".to_string(),
        PodLoad {
            busy: 0.5,
            memory: 0.2,
        },
    );
    let exporter = Exporter {
        backend: Box::new(FakeBackend::new(gpus.clone())),
        pod_resources: Some(sock.clone()),
        probe: Some(Arc::new(FixedProbe(loads))),
        hostname: "node-a".into(),
        dra: None,
    };
    gpus.raise_xid(1, 13).expect("gpu 1");
    let text = exporter.scrape().await;
    let samples = parse_exposition(&text);
    for name in [
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    ] {
        assert_eq!(find(&samples, name, "0").len(), 1, "{name} gpu 0\n{text}");
        assert_eq!(find(&samples, name, "1").len(), 1, "{name} gpu 1");
    }
    let u0 = find(&samples, "DCGM_FI_DEV_GPU_UTIL", "0")[0];
    assert_eq!(u0.value, 50.0);
    assert_eq!(u0.labels["pod"], "vllm-0");
    assert_eq!(u0.labels["namespace"], "llm");
    assert_eq!(u0.labels["container"], "server");
    assert_eq!(u0.labels["UUID"], g0);
    assert_eq!(u0.labels["Hostname"], "node-a");
    assert_eq!(u0.labels["device"], "nvidia0");
    assert_eq!(u0.labels["modelName"], "NVIDIA H100 80GB HBM3");
    assert!(u0.labels.contains_key("pci_bus_id"));
    let u1 = find(&samples, "DCGM_FI_DEV_GPU_UTIL", "1")[0];
    assert_eq!(u1.value, 0.0);
    assert!(!u1.labels.contains_key("pod"));
    let used0 = find(&samples, "DCGM_FI_DEV_FB_USED", "0")[0].value;
    let free0 = find(&samples, "DCGM_FI_DEV_FB_FREE", "0")[0].value;
    assert_eq!(used0 + free0, 81559.0);
    assert!(used0 > find(&samples, "DCGM_FI_DEV_FB_USED", "1")[0].value);
    assert_eq!(find(&samples, "DCGM_FI_DEV_XID_ERRORS", "1")[0].value, 13.0);
    assert!(
        find(&samples, "DCGM_FI_DEV_GPU_TEMP", "0")[0].value
            > find(&samples, "DCGM_FI_DEV_GPU_TEMP", "1")[0].value
    );

    // Over HTTP too.
    let resp = metrics_router(Arc::new(exporter))
        .oneshot(
            HttpRequest::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn shared_gpu_is_attributed_to_every_holder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sock = tmp.path().join("kubelet.sock");
    let cfg = PoolConfig {
        gpu_count: 1,
        replicas: 2,
        ..PoolConfig::default()
    };
    let gpus = FakeGpus::new(cfg.clone(), "node-b");
    let ids = cfg.device_ids(&gpus.uuid(0).expect("gpu 0"));
    serve_lister(
        &sock,
        ListPodResourcesResponse {
            pod_resources: vec![
                pod("a", "p1", "c", "nvidia.com/gpu.shared", &ids[..1]),
                pod("b", "p2", "c", "nvidia.com/gpu.shared", &ids[1..]),
            ],
        },
    );
    let loads = [
        (
            "p1".to_string(),
            PodLoad {
                busy: 0.3,
                memory: 0.0,
            },
        ),
        (
            "p2".to_string(),
            PodLoad {
                busy: 0.4,
                memory: 0.0,
            },
        ),
    ];
    let exporter = Exporter {
        backend: Box::new(FakeBackend::new(gpus)),
        pod_resources: Some(sock),
        probe: Some(Arc::new(FixedProbe(loads.into_iter().collect()))),
        hostname: "node-b".into(),
        dra: None,
    };
    let samples = parse_exposition(&exporter.scrape().await);
    let util = find(&samples, "DCGM_FI_DEV_GPU_UTIL", "0");
    let pods: Vec<&str> = util.iter().map(|s| s.labels["pod"].as_str()).collect();
    assert_eq!(pods, ["p1", "p2"]);
    assert!(util.iter().all(|s| s.value == 70.0));
}

#[test]
fn vllm_metrics_drive_load() {
    let text = r#"# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m",engine="0"} 6.0
vllm:num_requests_waiting{model_name="m"} 3
vllm:kv_cache_usage_perc{model_name="m"} 0.25
"#;
    let l = load_from_vllm_metrics(text, 8.0);
    assert_eq!(l.busy, 0.75);
    assert_eq!(l.memory, 0.25);
    assert_eq!(load_from_vllm_metrics("", 8.0).busy, 0.0);
    let old = load_from_vllm_metrics(
        "vllm:gpu_cache_usage_perc 0.5\nvllm:num_requests_running 20",
        8.0,
    );
    assert_eq!((old.busy, old.memory), (1.0, 0.5));
}

#[test]
fn exposition_parser_handles_escapes() {
    let s = parse_exposition("a{x=\"q\\\"uote\",y=\"b\\\\s\"} 1.5\nb 2\n# c 3\nbroken{");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].labels["x"], "q\"uote");
    assert_eq!(s[0].labels["y"], "b\\s");
    assert_eq!(s[1].value, 2.0);
}

#[tokio::test]
async fn admin_endpoint_injects_faults() {
    let gpus = FakeGpus::new(PoolConfig::default(), "node-a");
    let app = admin_router(gpus.clone());
    let mut rx = gpus.watch_devices();
    let call = |uri: &str| {
        let app = app.clone();
        let req = HttpRequest::post(uri).body(Body::empty()).expect("request");
        async move { app.oneshot(req).await.expect("response").status() }
    };
    assert_eq!(call("/admin/gpus/1/unhealthy").await, StatusCode::OK);
    assert!(rx.has_changed().expect("open"));
    assert_eq!(rx.borrow_and_update()[1].health, "Unhealthy");
    assert_eq!(call("/admin/gpus/1/healthy").await, StatusCode::OK);
    assert_eq!(rx.borrow_and_update()[1].health, "Healthy");
    assert_eq!(call("/admin/gpus/0/xid/31").await, StatusCode::OK);
    assert!(gpus.gpus()[0].healthy, "XID 31 is not critical");
    assert_eq!(gpus.gpus()[0].last_xid, 31);
    assert_eq!(call("/admin/gpus/0/xid/48").await, StatusCode::OK);
    assert!(!gpus.gpus()[0].healthy, "XID 48 is critical");
    assert_eq!(call("/admin/gpus/9/unhealthy").await, StatusCode::NOT_FOUND);
}

#[test]
fn auto_backend_falls_back_to_fakes_without_nvml() {
    let gpus = FakeGpus::new(PoolConfig::default(), "node-a");
    let b = select_backend(BackendChoice::Auto, gpus).expect("backend");
    if std::path::Path::new("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1").exists() {
        assert_eq!(b.name(), "nvml");
    } else {
        assert_eq!(b.name(), "fake");
        assert_eq!(b.sample().expect("sample").len(), 2);
    }
}

#[test]
fn cpu_quantities_parse() {
    use gpu_fakes::exporter::parse_cpu_cores;
    assert_eq!(parse_cpu_cores("250m"), Some(0.25));
    assert_eq!(parse_cpu_cores("2"), Some(2.0));
    assert_eq!(parse_cpu_cores("500000000n"), Some(0.5));
    assert_eq!(parse_cpu_cores("x"), None);
    assert_eq!(parse_cpu_cores(""), None);
}
