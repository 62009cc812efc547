//! The device plugin over real gRPC on real unix sockets, against a test
//! kubelet `Registration` server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gpu_fakes::config::PoolConfig;
use gpu_fakes::gpus::FakeGpus;
use gpu_fakes::plugin::{self, PluginOptions, unix_channel};
use gpu_fakes::proto::deviceplugin::{
    AllocateRequest, ContainerAllocateRequest, ContainerPreferredAllocationRequest, Empty,
    ListAndWatchResponse, PreferredAllocationRequest, RegisterRequest,
    device_plugin_client::DevicePluginClient,
    registration_server::{Registration, RegistrationServer},
};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status, Streaming};

const WAIT: Duration = Duration::from_secs(10);

struct TestKubelet {
    tx: mpsc::UnboundedSender<RegisterRequest>,
}

#[tonic::async_trait]
impl Registration for TestKubelet {
    async fn register(&self, r: Request<RegisterRequest>) -> Result<Response<Empty>, Status> {
        let _ = self.tx.send(r.into_inner());
        Ok(Response::new(Empty {}))
    }
}

/// Serves a test kubelet Registration on `path`; the handle stops it.
fn start_kubelet(
    path: &Path,
) -> (
    mpsc::UnboundedReceiver<RegisterRequest>,
    tokio::task::JoinHandle<()>,
) {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind test kubelet socket");
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(RegistrationServer::new(TestKubelet { tx }))
            .serve_with_incoming(UnixListenerStream::new(listener))
            .await;
    });
    (rx, handle)
}

async fn next_registration(rx: &mut mpsc::UnboundedReceiver<RegisterRequest>) -> RegisterRequest {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("registration within 10s")
        .expect("channel open")
}

async fn next_devices(s: &mut Streaming<ListAndWatchResponse>) -> Vec<(String, String)> {
    let m = tokio::time::timeout(WAIT, s.message())
        .await
        .expect("ListAndWatch message within 10s")
        .expect("stream ok")
        .expect("stream not ended");
    m.devices.into_iter().map(|d| (d.id, d.health)).collect()
}

struct Setup {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    gpus: FakeGpus,
    endpoint: String,
    plugin: tokio::task::JoinHandle<()>,
}

fn setup(config: PoolConfig) -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let gpus = FakeGpus::new(config, "node-a");
    let endpoint = "test-plugin.sock".to_string();
    let opts = PluginOptions {
        plugin_dir: dir.clone(),
        endpoint: endpoint.clone(),
        poll_interval: Duration::from_millis(100),
        register_timeout: Duration::from_secs(5),
    };
    let g = gpus.clone();
    let plugin = tokio::spawn(async move {
        if let Err(e) = plugin::run(g, opts).await {
            panic!("plugin failed: {e}");
        }
    });
    Setup {
        _dir: tmp,
        dir,
        gpus,
        endpoint,
        plugin,
    }
}

async fn client(s: &Setup) -> DevicePluginClient<tonic::transport::Channel> {
    DevicePluginClient::new(
        unix_channel(&s.dir.join(&s.endpoint))
            .await
            .expect("connect to plugin"),
    )
}

/// Opens the plugin's ListAndWatch stream.
async fn watch(
    c: &mut DevicePluginClient<tonic::transport::Channel>,
) -> Streaming<ListAndWatchResponse> {
    c.list_and_watch(Empty {})
        .await
        .expect("ListAndWatch")
        .into_inner()
}

#[tokio::test]
async fn registers_streams_health_and_allocates() {
    let s = setup(PoolConfig::default());
    let (mut regs, _kubelet) = start_kubelet(&s.dir.join("kubelet.sock"));
    let reg = next_registration(&mut regs).await;
    assert_eq!(reg.version, "v1beta1");
    assert_eq!(reg.resource_name, "nvidia.com/gpu");
    assert_eq!(reg.endpoint, s.endpoint);
    assert!(
        reg.options
            .expect("options")
            .get_preferred_allocation_available
    );

    let mut c = client(&s).await;
    let opts = c
        .get_device_plugin_options(Empty {})
        .await
        .expect("options")
        .into_inner();
    assert!(!opts.pre_start_required);

    let mut stream = watch(&mut c).await;
    let devs = next_devices(&mut stream).await;
    assert_eq!(devs.len(), 2);
    assert!(
        devs.iter()
            .all(|(id, h)| id.starts_with("GPU-") && h == "Healthy")
    );

    // Health change is re-sent.
    s.gpus.set_healthy(1, false).expect("gpu 1");
    let devs = next_devices(&mut stream).await;
    assert_eq!(devs[0].1, "Healthy");
    assert_eq!(devs[1].1, "Unhealthy");
    s.gpus.set_healthy(1, true).expect("gpu 1");
    assert!(
        next_devices(&mut stream)
            .await
            .iter()
            .all(|(_, h)| h == "Healthy")
    );

    // A critical XID makes the GPU Unhealthy too.
    assert!(s.gpus.raise_xid(0, 79).expect("gpu 0"));
    assert_eq!(next_devices(&mut stream).await[0].1, "Unhealthy");

    // Allocate: NVIDIA_VISIBLE_DEVICES per container.
    let ids: Vec<String> = devs.iter().map(|(id, _)| id.clone()).collect();
    let resp = c
        .allocate(AllocateRequest {
            container_requests: vec![
                ContainerAllocateRequest {
                    devices_ids: vec![ids[0].clone()],
                },
                ContainerAllocateRequest {
                    devices_ids: ids.clone(),
                },
            ],
        })
        .await
        .expect("allocate")
        .into_inner();
    assert_eq!(resp.container_responses.len(), 2);
    assert_eq!(
        resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"],
        ids[0]
    );
    assert_eq!(
        resp.container_responses[1].envs["NVIDIA_VISIBLE_DEVICES"],
        ids.join(",")
    );
    let err = c
        .allocate(AllocateRequest {
            container_requests: vec![ContainerAllocateRequest {
                devices_ids: vec!["GPU-nope".into()],
            }],
        })
        .await
        .expect_err("unknown device");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Preferred allocation honours must-include and size.
    let pref = c
        .get_preferred_allocation(PreferredAllocationRequest {
            container_requests: vec![ContainerPreferredAllocationRequest {
                available_device_ids: ids.clone(),
                must_include_device_ids: vec![ids[1].clone()],
                allocation_size: 1,
            }],
        })
        .await
        .expect("preferred")
        .into_inner();
    assert_eq!(pref.container_responses[0].device_ids, vec![ids[1].clone()]);
    s.plugin.abort();
}

#[tokio::test]
async fn reregisters_after_kubelet_restart() {
    let s = setup(PoolConfig::default());
    let kubelet_sock = s.dir.join("kubelet.sock");
    let (mut regs, kubelet) = start_kubelet(&kubelet_sock);
    next_registration(&mut regs).await;

    // Kubelet restart: its socket goes away (and so do plugin sockets), then comes back.
    kubelet.abort();
    let _ = std::fs::remove_file(&kubelet_sock);
    let _ = std::fs::remove_file(s.dir.join(&s.endpoint));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut regs2, _kubelet2) = start_kubelet(&kubelet_sock);
    let reg = next_registration(&mut regs2).await;
    assert_eq!(reg.resource_name, "nvidia.com/gpu");

    // The plugin serves again on a fresh socket.
    let mut c = client(&s).await;
    let mut stream = watch(&mut c).await;
    assert_eq!(next_devices(&mut stream).await.len(), 2);
    s.plugin.abort();
}

#[tokio::test]
async fn time_slicing_registers_shared_replicas() {
    let s = setup(PoolConfig {
        gpu_count: 1,
        replicas: 4,
        ..PoolConfig::default()
    });
    let (mut regs, _kubelet) = start_kubelet(&s.dir.join("kubelet.sock"));
    assert_eq!(
        next_registration(&mut regs).await.resource_name,
        "nvidia.com/gpu.shared"
    );
    let mut c = client(&s).await;
    let mut stream = watch(&mut c).await;
    let devs = next_devices(&mut stream).await;
    assert_eq!(devs.len(), 4);
    let uuid = s.gpus.uuid(0).expect("gpu 0");
    assert!(
        devs.iter()
            .all(|(id, _)| id.starts_with(&format!("{uuid}::")))
    );
    let resp = c
        .allocate(AllocateRequest {
            container_requests: vec![ContainerAllocateRequest {
                devices_ids: vec![devs[0].0.clone(), devs[2].0.clone()],
            }],
        })
        .await
        .expect("allocate")
        .into_inner();
    assert_eq!(
        resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"],
        uuid
    );
    s.plugin.abort();
}

#[tokio::test]
async fn mig_profile_registers_mig_resource() {
    let s = setup(PoolConfig {
        gpu_count: 1,
        mig_profile: Some("1g.10gb".into()),
        mig_instances: 7,
        ..PoolConfig::default()
    });
    let (mut regs, _kubelet) = start_kubelet(&s.dir.join("kubelet.sock"));
    assert_eq!(
        next_registration(&mut regs).await.resource_name,
        "nvidia.com/mig-1g.10gb"
    );
    let mut c = client(&s).await;
    let mut stream = watch(&mut c).await;
    let devs = next_devices(&mut stream).await;
    assert_eq!(devs.len(), 7);
    assert!(devs.iter().all(|(id, _)| id.starts_with("MIG-")));
    s.plugin.abort();
}
