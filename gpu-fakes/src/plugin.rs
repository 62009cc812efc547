//! The kubelet device plugin (`v1beta1`): serves `DevicePlugin` on a unix
//! socket in the kubelet's device-plugin directory, registers with the
//! kubelet's `Registration` service, and starts over (new socket, new
//! registration) whenever the kubelet's socket is recreated, which is what a
//! kubelet restart does (it also deletes every plugin socket on start).

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::{UnixListenerStream, WatchStream};
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};

use crate::gpus::FakeGpus;
use crate::proto::deviceplugin::{
    self as dp, AllocateRequest, AllocateResponse, ContainerAllocateResponse,
    ContainerPreferredAllocationResponse, DevicePluginOptions, Empty, ListAndWatchResponse,
    PreStartContainerRequest, PreStartContainerResponse, PreferredAllocationRequest,
    PreferredAllocationResponse, RegisterRequest, device_plugin_server::DevicePluginServer,
    registration_client::RegistrationClient,
};

/// The kubelet's device-plugin directory.
pub const DEFAULT_PLUGIN_DIR: &str = "/var/lib/kubelet/device-plugins";
/// The kubelet's registration socket, inside the plugin directory.
pub const KUBELET_SOCKET: &str = "kubelet.sock";

/// Errors of the device plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("connecting to {path}: {source}")]
    Connect {
        path: PathBuf,
        source: tonic::transport::Error,
    },
    #[error("registering with the kubelet: {0}")]
    Register(#[from] Status),
    #[error("timed out after {0:?} {1}")]
    Timeout(Duration, &'static str),
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Where and how the plugin runs.
#[derive(Debug, Clone)]
pub struct PluginOptions {
    /// The kubelet's device-plugin directory (holds `kubelet.sock`).
    pub plugin_dir: PathBuf,
    /// File name of our socket in `plugin_dir`.
    pub endpoint: String,
    /// How often to check whether `kubelet.sock` was recreated.
    pub poll_interval: Duration,
    /// Timeout of one registration attempt.
    pub register_timeout: Duration,
}

impl Default for PluginOptions {
    fn default() -> Self {
        Self {
            plugin_dir: PathBuf::from(DEFAULT_PLUGIN_DIR),
            endpoint: "inferbench-gpu-fakes.sock".into(),
            poll_interval: Duration::from_secs(1),
            register_timeout: Duration::from_secs(10),
        }
    }
}

/// The `DevicePlugin` gRPC service over the node's fake GPUs.
#[derive(Clone)]
pub struct DevicePluginService {
    gpus: FakeGpus,
}

impl DevicePluginService {
    pub fn new(gpus: FakeGpus) -> Self {
        Self { gpus }
    }

    fn options() -> DevicePluginOptions {
        DevicePluginOptions {
            pre_start_required: false,
            get_preferred_allocation_available: true,
        }
    }
}

type DeviceStream = Pin<Box<dyn Stream<Item = Result<ListAndWatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl dp::device_plugin_server::DevicePlugin for DevicePluginService {
    async fn get_device_plugin_options(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<DevicePluginOptions>, Status> {
        Ok(Response::new(Self::options()))
    }

    type ListAndWatchStream = DeviceStream;

    async fn list_and_watch(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        // WatchStream yields the current list first, then every change.
        let stream = WatchStream::new(self.gpus.watch_devices())
            .map(|devices| Ok(ListAndWatchResponse { devices }));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_preferred_allocation(
        &self,
        request: Request<PreferredAllocationRequest>,
    ) -> Result<Response<PreferredAllocationResponse>, Status> {
        let mut container_responses = Vec::new();
        for req in request.into_inner().container_requests {
            let size = usize::try_from(req.allocation_size)
                .map_err(|_| Status::invalid_argument("negative allocation_size"))?;
            let mut chosen: Vec<String> = req.must_include_device_ids.clone();
            let mut used_gpus: BTreeSet<Option<u32>> =
                chosen.iter().map(|d| self.gpus.gpu_of_device(d)).collect();
            let mut rest: Vec<&String> = req
                .available_device_ids
                .iter()
                .filter(|d| !chosen.contains(d))
                .collect();
            rest.sort();
            // Prefer replicas on GPUs not yet used (spread), then the rest.
            for pass in 0..2 {
                for d in &rest {
                    if chosen.len() >= size {
                        break;
                    }
                    let gpu = self.gpus.gpu_of_device(d);
                    if chosen.contains(d) || (pass == 0 && used_gpus.contains(&gpu)) {
                        continue;
                    }
                    used_gpus.insert(gpu);
                    chosen.push((*d).clone());
                }
            }
            container_responses.push(ContainerPreferredAllocationResponse { device_ids: chosen });
        }
        Ok(Response::new(PreferredAllocationResponse {
            container_responses,
        }))
    }

    async fn allocate(
        &self,
        request: Request<AllocateRequest>,
    ) -> Result<Response<AllocateResponse>, Status> {
        let mut container_responses = Vec::new();
        for req in request.into_inner().container_requests {
            // Like NVIDIA's plugin: replicas map back to their GPU's UUID.
            let mut uuids: Vec<String> = Vec::new();
            for id in &req.devices_ids {
                let index = self
                    .gpus
                    .gpu_of_device(id)
                    .ok_or_else(|| Status::invalid_argument(format!("unknown device {id:?}")))?;
                let uuid = if self.gpus.config().mig_profile.is_some() {
                    id.clone()
                } else {
                    self.gpus
                        .uuid(index)
                        .ok_or_else(|| Status::internal("GPU vanished"))?
                };
                if !uuids.contains(&uuid) {
                    uuids.push(uuid);
                }
            }
            let mut envs = HashMap::new();
            envs.insert("NVIDIA_VISIBLE_DEVICES".to_string(), uuids.join(","));
            container_responses.push(ContainerAllocateResponse {
                envs,
                ..Default::default()
            });
        }
        Ok(Response::new(AllocateResponse {
            container_responses,
        }))
    }

    async fn pre_start_container(
        &self,
        _: Request<PreStartContainerRequest>,
    ) -> Result<Response<PreStartContainerResponse>, Status> {
        Ok(Response::new(PreStartContainerResponse {}))
    }
}

/// A tonic channel to a unix socket (the URI is a placeholder).
pub async fn unix_channel(path: &Path) -> Result<Channel, PluginError> {
    let p = path.to_path_buf();
    Endpoint::from_static("http://[::1]:50051")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let p = p.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(p).await?)) }
        }))
        .await
        .map_err(|source| PluginError::Connect {
            path: path.to_path_buf(),
            source,
        })
}

/// Sends one `RegisterRequest` to the kubelet socket.
pub async fn register(
    kubelet_socket: &Path,
    endpoint: &str,
    resource_name: &str,
    timeout: Duration,
) -> Result<(), PluginError> {
    let fut = async {
        let mut client = RegistrationClient::new(unix_channel(kubelet_socket).await?);
        client
            .register(RegisterRequest {
                version: dp::VERSION.to_string(),
                endpoint: endpoint.to_string(),
                resource_name: resource_name.to_string(),
                options: Some(DevicePluginService::options()),
            })
            .await?;
        Ok(())
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| PluginError::Timeout(timeout, "registering with the kubelet"))?
}

/// Identity of a socket file (device + inode); changes when it is recreated.
fn socket_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Runs the plugin forever: serve, register, and start over when the kubelet
/// restarts. Registration failures are retried every `poll_interval`.
pub async fn run(gpus: FakeGpus, opts: PluginOptions) -> Result<(), PluginError> {
    let kubelet_socket = opts.plugin_dir.join(KUBELET_SOCKET);
    let our_socket = opts.plugin_dir.join(&opts.endpoint);
    let resource = gpus.config().resource_name();
    loop {
        // Wait for the kubelet socket.
        let mut said = false;
        let kubelet_id = loop {
            if let Some(id) = socket_id(&kubelet_socket) {
                break id;
            }
            if !said {
                tracing::info!(socket = %kubelet_socket.display(), "waiting for the kubelet socket");
                said = true;
            }
            tokio::time::sleep(opts.poll_interval).await;
        };
        let _ = std::fs::remove_file(&our_socket);
        let listener = UnixListener::bind(&our_socket).map_err(|source| PluginError::Socket {
            path: our_socket.clone(),
            source,
        })?;
        let our_id = socket_id(&our_socket);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let service = DevicePluginServer::new(DevicePluginService::new(gpus.clone()));
        let mut server = tokio::spawn(
            Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                    let _ = stop_rx.await;
                }),
        );
        match register(
            &kubelet_socket,
            &opts.endpoint,
            &resource,
            opts.register_timeout,
        )
        .await
        {
            Ok(()) => {
                tracing::info!(%resource, endpoint = %opts.endpoint, "registered with the kubelet");
                // Watch for a kubelet restart (its socket recreated) or our socket removed.
                loop {
                    tokio::time::sleep(opts.poll_interval).await;
                    if socket_id(&kubelet_socket) != Some(kubelet_id) {
                        tracing::warn!("kubelet socket recreated: registering again");
                        break;
                    }
                    if socket_id(&our_socket) != our_id {
                        tracing::warn!("our socket was removed: serving and registering again");
                        break;
                    }
                    if server.is_finished() {
                        tracing::warn!("gRPC server stopped: starting again");
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "registration failed; retrying");
                tokio::time::sleep(opts.poll_interval).await;
            }
        }
        let _ = stop_tx.send(());
        // Open ListAndWatch streams never end on their own: give the server a
        // moment, then abort it.
        if tokio::time::timeout(Duration::from_millis(500), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}
