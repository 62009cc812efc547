//! The shared state of one node's fake GPUs: health, XID errors and the load
//! the exporter attributes to them. The device plugin, the admin endpoint and
//! the fake metrics backend all read and write this one state.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::watch;

use crate::config::{PoolConfig, gpu_uuid};
use crate::proto::deviceplugin::{Device, HEALTHY, UNHEALTHY};

/// XIDs after which NVIDIA's device plugin does *not* mark a GPU unhealthy
/// (application errors); every other XID makes it Unhealthy.
pub const NON_CRITICAL_XIDS: [u32; 6] = [13, 31, 43, 45, 68, 109];

/// One physical fake GPU.
#[derive(Debug, Clone, Serialize)]
pub struct Gpu {
    pub index: u32,
    pub uuid: String,
    pub pci_bus_id: String,
    pub healthy: bool,
    /// Value of the last XID raised (DCGM's `DCGM_FI_DEV_XID_ERRORS` semantics), 0 if none.
    pub last_xid: u32,
    /// How many XIDs were raised.
    pub xid_count: u64,
    /// Load in [0, 1] set by the exporter from the pods holding this GPU.
    pub load: f64,
    /// KV-cache / memory pressure in [0, 1] of the holding pods.
    pub mem_pressure: f64,
    /// Whether any pod holds this GPU.
    pub held: bool,
}

/// Errors from changing the GPU state.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU with index {0} (this node has {1})")]
    NoSuchGpu(u32, u32),
}

struct Inner {
    gpus: Vec<Gpu>,
}

/// Cheaply cloneable handle on the node's fake GPUs.
#[derive(Clone)]
pub struct FakeGpus {
    config: Arc<PoolConfig>,
    node: Arc<str>,
    inner: Arc<Mutex<Inner>>,
    devices_tx: Arc<watch::Sender<Vec<Device>>>,
}

impl FakeGpus {
    pub fn new(config: PoolConfig, node: &str) -> Self {
        let gpus = (0..config.gpu_count)
            .map(|index| Gpu {
                index,
                uuid: gpu_uuid(node, index),
                pci_bus_id: format!("00000000:{:02X}:00.0", 0x18 + index * 0x10),
                healthy: true,
                last_xid: 0,
                xid_count: 0,
                load: 0.0,
                mem_pressure: 0.0,
                held: false,
            })
            .collect();
        let inner = Inner { gpus };
        let devices = Self::devices_of(&config, &inner.gpus);
        let (tx, _) = watch::channel(devices);
        Self {
            config: Arc::new(config),
            node: node.into(),
            inner: Arc::new(Mutex::new(inner)),
            devices_tx: Arc::new(tx),
        }
    }

    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn devices_of(config: &PoolConfig, gpus: &[Gpu]) -> Vec<Device> {
        gpus.iter()
            .flat_map(|g| {
                config.device_ids(&g.uuid).into_iter().map(|id| Device {
                    id,
                    health: if g.healthy { HEALTHY } else { UNHEALTHY }.to_string(),
                    topology: None,
                })
            })
            .collect()
    }

    fn publish(&self, inner: &Inner) {
        let devices = Self::devices_of(&self.config, &inner.gpus);
        self.devices_tx.send_if_modified(|cur| {
            if *cur == devices {
                false
            } else {
                *cur = devices;
                true
            }
        });
    }

    /// The advertised devices, as `ListAndWatch` sends them.
    pub fn devices(&self) -> Vec<Device> {
        self.devices_tx.borrow().clone()
    }

    /// A receiver that sees every change of the advertised devices.
    pub fn watch_devices(&self) -> watch::Receiver<Vec<Device>> {
        self.devices_tx.subscribe()
    }

    /// A snapshot of all GPUs.
    pub fn gpus(&self) -> Vec<Gpu> {
        self.lock().gpus.clone()
    }

    fn with_gpu<R>(&self, index: u32, f: impl FnOnce(&mut Gpu) -> R) -> Result<R, GpuError> {
        let mut inner = self.lock();
        let n = inner.gpus.len() as u32;
        let gpu = inner
            .gpus
            .get_mut(index as usize)
            .ok_or(GpuError::NoSuchGpu(index, n))?;
        let r = f(gpu);
        self.publish(&inner);
        Ok(r)
    }

    /// Marks GPU `index` (all its replicas / MIG instances) healthy or not.
    pub fn set_healthy(&self, index: u32, healthy: bool) -> Result<(), GpuError> {
        self.with_gpu(index, |g| g.healthy = healthy)
    }

    /// Raises XID `code` on GPU `index`. Critical XIDs (all but
    /// [`NON_CRITICAL_XIDS`]) also mark the GPU Unhealthy, as NVIDIA's plugin does.
    /// Returns whether the GPU was marked Unhealthy.
    pub fn raise_xid(&self, index: u32, code: u32) -> Result<bool, GpuError> {
        self.with_gpu(index, |g| {
            g.last_xid = code;
            g.xid_count += 1;
            let critical = !NON_CRITICAL_XIDS.contains(&code);
            if critical {
                g.healthy = false;
            }
            critical
        })
    }

    /// Sets the load attributed to GPU `index`.
    pub fn set_load(&self, index: u32, held: bool, load: f64, mem_pressure: f64) {
        let mut inner = self.lock();
        if let Some(g) = inner.gpus.get_mut(index as usize) {
            g.held = held;
            g.load = load.clamp(0.0, 1.0);
            g.mem_pressure = mem_pressure.clamp(0.0, 1.0);
        }
    }

    /// Maps an advertised device id (UUID, `<uuid>::<n>` or `MIG-...`) to the
    /// index of its physical GPU.
    pub fn gpu_of_device(&self, device_id: &str) -> Option<u32> {
        let inner = self.lock();
        inner
            .gpus
            .iter()
            .find(|g| {
                self.config
                    .device_ids(&g.uuid)
                    .iter()
                    .any(|d| d == device_id)
            })
            .map(|g| g.index)
    }

    /// The UUID of GPU `index`.
    pub fn uuid(&self, index: u32) -> Option<String> {
        self.lock().gpus.get(index as usize).map(|g| g.uuid.clone())
    }
}
