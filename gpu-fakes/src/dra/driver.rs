//! The DRA kubelet plugin: `pluginregistration.Registration` on a socket in
//! the kubelet's plugin registry directory, and `v1.DRAPlugin` on the
//! driver's endpoint socket. `NodePrepareResources` reads each claim's
//! allocation (the devices the scheduler gave it from this node's pool),
//! writes its CDI spec and answers the CDI device ids; `NodeUnprepareResources`
//! removes the spec. Both sockets are served again if someone removes them.
//! The kubelet's plugin watcher registers the plugin when its registration
//! socket appears, and again for every socket it finds when it restarts.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use super::claims::{AllocatedDevice, ClaimSource};
use super::devices::node_devices;
use super::{DEFAULT_CDI_DIR, DEFAULT_PLUGINS_DIR, DEFAULT_REGISTRY_DIR, DRIVER_NAME, cdi};
use crate::gpus::FakeGpus;
use crate::proto::dra::{
    self, Claim, NodePrepareResourceResponse, NodePrepareResourcesRequest,
    NodePrepareResourcesResponse, NodeUnprepareResourceResponse, NodeUnprepareResourcesRequest,
    NodeUnprepareResourcesResponse, dra_plugin_server::DraPluginServer,
};
use crate::proto::pluginregistration::{
    InfoRequest, PluginInfo, RegistrationStatus, RegistrationStatusResponse,
    registration_server::RegistrationServer,
};

/// A claim this node prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedClaim {
    pub namespace: String,
    pub name: String,
    /// The pods it was reserved for when prepared.
    pub pods: Vec<String>,
    /// The containers using it: (pod, container).
    pub containers: Vec<(String, String)>,
    /// The indexes of the GPUs behind its devices.
    pub gpus: Vec<u32>,
}

/// The `DRAPlugin` service over this node's fake GPUs.
#[derive(Clone)]
pub struct DraService {
    gpus: FakeGpus,
    node: String,
    claims: Arc<dyn ClaimSource>,
    cdi_dir: PathBuf,
    prepared: Arc<Mutex<BTreeMap<String, PreparedClaim>>>,
    /// Set when the kubelet says it registered the plugin.
    registered: Arc<std::sync::atomic::AtomicBool>,
}

impl DraService {
    pub fn new(gpus: FakeGpus, node: &str, claims: Arc<dyn ClaimSource>, cdi_dir: &Path) -> Self {
        Self {
            gpus,
            node: node.to_string(),
            claims,
            cdi_dir: cdi_dir.to_path_buf(),
            prepared: Arc::default(),
            registered: Arc::default(),
        }
    }

    /// Whether the kubelet has registered the plugin (its
    /// `NotifyRegistrationStatus`); until then it prepares no claim, so the
    /// agent's readiness waits for it.
    pub fn registered(&self) -> bool {
        self.registered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Which containers hold which GPUs through prepared claims, by GPU
    /// UUID (the exporter's attribution of DRA-allocated GPUs).
    pub fn holders(&self) -> BTreeMap<String, Vec<crate::exporter::Holder>> {
        let mut out: BTreeMap<String, Vec<crate::exporter::Holder>> = BTreeMap::new();
        for claim in self.prepared().values() {
            for &gpu in &claim.gpus {
                let Some(uuid) = self.gpus.uuid(gpu) else {
                    continue;
                };
                let holders = out.entry(uuid).or_default();
                for (pod, container) in &claim.containers {
                    let h = crate::exporter::Holder {
                        namespace: claim.namespace.clone(),
                        pod: pod.clone(),
                        container: container.clone(),
                    };
                    if !holders.contains(&h) {
                        holders.push(h);
                    }
                }
            }
        }
        out
    }

    /// The claims prepared on this node, by UID.
    pub fn prepared(&self) -> BTreeMap<String, PreparedClaim> {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn prepare(&self, claim: &Claim) -> Result<Vec<dra::Device>, String> {
        let alloc = self.claims.allocation(claim).await?;
        let ours: Vec<&AllocatedDevice> = alloc
            .devices
            .iter()
            .filter(|d| d.driver == DRIVER_NAME && d.pool == self.node)
            .collect();
        if ours.is_empty() {
            return Err(format!(
                "ResourceClaim {}/{} has no device of {DRIVER_NAME} allocated from pool {}",
                claim.namespace, claim.name, self.node
            ));
        }
        let known = node_devices(self.gpus.config(), &self.gpus.gpus());
        let mut names = Vec::new();
        let mut visible = Vec::new();
        let mut gpus = Vec::new();
        for d in &ours {
            let dev = known.iter().find(|k| k.name == d.device).ok_or_else(|| {
                format!(
                    "device {} is not one of node {}'s devices",
                    d.device, self.node
                )
            })?;
            names.push(dev.name.clone());
            if !visible.contains(&dev.visible_id) {
                visible.push(dev.visible_id.clone());
            }
            gpus.push(dev.gpu_index);
        }
        let spec = cdi::claim_spec(&claim.uid, &names, &visible);
        cdi::write_spec(&self.cdi_dir, &claim.uid, &spec).map_err(|e| e.to_string())?;
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                claim.uid.clone(),
                PreparedClaim {
                    namespace: claim.namespace.clone(),
                    name: claim.name.clone(),
                    pods: alloc.pods.clone(),
                    containers: alloc.containers.clone(),
                    gpus,
                },
            );
        tracing::info!(claim = %format!("{}/{}", claim.namespace, claim.name), devices = ?names, "prepared");
        Ok(ours
            .iter()
            .map(|d| dra::Device {
                request_names: vec![d.request.clone()],
                pool_name: d.pool.clone(),
                device_name: d.device.clone(),
                cdi_device_ids: vec![cdi::device_id(&claim.uid, &d.device)],
            })
            .collect())
    }
}

#[tonic::async_trait]
impl dra::dra_plugin_server::DraPlugin for DraService {
    async fn node_prepare_resources(
        &self,
        request: Request<NodePrepareResourcesRequest>,
    ) -> Result<Response<NodePrepareResourcesResponse>, Status> {
        let mut claims = HashMap::new();
        for claim in request.into_inner().claims {
            let answer = match self.prepare(&claim).await {
                Ok(devices) => NodePrepareResourceResponse {
                    devices,
                    error: String::new(),
                },
                Err(error) => {
                    tracing::warn!(claim = %claim.name, %error, "prepare failed");
                    NodePrepareResourceResponse {
                        devices: Vec::new(),
                        error,
                    }
                }
            };
            claims.insert(claim.uid, answer);
        }
        Ok(Response::new(NodePrepareResourcesResponse { claims }))
    }

    async fn node_unprepare_resources(
        &self,
        request: Request<NodeUnprepareResourcesRequest>,
    ) -> Result<Response<NodeUnprepareResourcesResponse>, Status> {
        let mut claims = HashMap::new();
        for claim in request.into_inner().claims {
            let error = match cdi::remove_spec(&self.cdi_dir, &claim.uid) {
                Ok(()) => String::new(),
                Err(e) => e.to_string(),
            };
            self.prepared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&claim.uid);
            tracing::info!(claim = %claim.name, "unprepared");
            claims.insert(claim.uid, NodeUnprepareResourceResponse { error });
        }
        Ok(Response::new(NodeUnprepareResourcesResponse { claims }))
    }
}

/// The registration service the kubelet's plugin watcher talks to.
#[derive(Clone)]
pub struct RegistrationService {
    endpoint: PathBuf,
    registered: Arc<std::sync::atomic::AtomicBool>,
}

impl RegistrationService {
    /// `registered` is set by what the kubelet reports.
    pub fn new(endpoint: &Path, registered: Arc<std::sync::atomic::AtomicBool>) -> Self {
        Self {
            endpoint: endpoint.to_path_buf(),
            registered,
        }
    }

    /// Whether the kubelet said it registered the plugin.
    pub fn registered(&self) -> bool {
        self.registered.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[tonic::async_trait]
impl crate::proto::pluginregistration::registration_server::Registration for RegistrationService {
    async fn get_info(&self, _: Request<InfoRequest>) -> Result<Response<PluginInfo>, Status> {
        Ok(Response::new(PluginInfo {
            r#type: dra::PLUGIN_TYPE.to_string(),
            name: DRIVER_NAME.to_string(),
            endpoint: self.endpoint.display().to_string(),
            supported_versions: vec![dra::SERVICE_V1.to_string()],
        }))
    }

    async fn notify_registration_status(
        &self,
        request: Request<RegistrationStatus>,
    ) -> Result<Response<RegistrationStatusResponse>, Status> {
        let s = request.into_inner();
        self.registered
            .store(s.plugin_registered, std::sync::atomic::Ordering::Relaxed);
        if s.plugin_registered {
            tracing::info!(driver = DRIVER_NAME, "registered with the kubelet");
        } else {
            tracing::warn!(error = %s.error, "the kubelet refused the registration");
        }
        Ok(Response::new(RegistrationStatusResponse {}))
    }
}

/// Where the plugin's sockets and CDI specs go.
#[derive(Debug, Clone)]
pub struct DraOptions {
    pub plugins_dir: PathBuf,
    pub registry_dir: PathBuf,
    pub cdi_dir: PathBuf,
    /// How often to check that our sockets still exist.
    pub poll_interval: Duration,
}

impl Default for DraOptions {
    fn default() -> Self {
        Self {
            plugins_dir: PathBuf::from(DEFAULT_PLUGINS_DIR),
            registry_dir: PathBuf::from(DEFAULT_REGISTRY_DIR),
            cdi_dir: PathBuf::from(DEFAULT_CDI_DIR),
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl DraOptions {
    /// The socket serving `DRAPlugin`.
    pub fn endpoint(&self) -> PathBuf {
        self.plugins_dir.join(DRIVER_NAME).join("dra.sock")
    }

    /// The socket the kubelet's plugin watcher finds.
    pub fn registration_socket(&self) -> PathBuf {
        self.registry_dir.join(format!("{DRIVER_NAME}-reg.sock"))
    }
}

/// Errors of the DRA plugin.
#[derive(Debug, thiserror::Error)]
pub enum DraError {
    #[error("socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn socket_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn bind(path: &Path) -> Result<UnixListener, DraError> {
    let err = |source| DraError::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).map_err(err)
}

/// Serves the plugin forever; both sockets are bound again when either is
/// removed (the registration socket last, so the kubelet only finds the
/// plugin once its endpoint answers).
pub async fn run(service: DraService, opts: DraOptions) -> Result<(), DraError> {
    let endpoint = opts.endpoint();
    let reg_socket = opts.registration_socket();
    let registration = RegistrationService::new(&endpoint, service.registered.clone());
    loop {
        let plugin_listener = bind(&endpoint)?;
        let reg_listener = bind(&reg_socket)?;
        let ids = (socket_id(&endpoint), socket_id(&reg_socket));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let plugin = tokio::spawn(
            Server::builder()
                .add_service(DraPluginServer::new(service.clone()))
                .serve_with_incoming_shutdown(
                    UnixListenerStream::new(plugin_listener),
                    stopped(stop_rx.clone()),
                ),
        );
        // The plugin watcher's requests go through the authority shim.
        let (conns_tx, conns_rx) = tokio::sync::mpsc::channel(4);
        let shim = tokio::spawn(super::authority::accept(reg_listener, conns_tx));
        let reg = tokio::spawn(
            Server::builder()
                .add_service(RegistrationServer::new(registration.clone()))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::ReceiverStream::new(conns_rx),
                    stopped(stop_rx),
                ),
        );
        tracing::info!(endpoint = %endpoint.display(), registration = %reg_socket.display(), "DRA plugin serving");
        loop {
            tokio::time::sleep(opts.poll_interval).await;
            if (socket_id(&endpoint), socket_id(&reg_socket)) != ids {
                tracing::warn!("a DRA plugin socket was removed: serving again");
                break;
            }
            if plugin.is_finished() || reg.is_finished() || shim.is_finished() {
                tracing::warn!("a DRA gRPC server stopped: serving again");
                break;
            }
        }
        let _ = stop_tx.send(true);
        shim.abort();
        for task in [plugin, reg] {
            let mut task = task;
            if tokio::time::timeout(Duration::from_millis(500), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}
