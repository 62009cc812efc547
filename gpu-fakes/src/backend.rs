//! Where GPU readings come from: the fake GPUs, or real ones through NVML.

use crate::gpus::FakeGpus;

/// One GPU's readings, in dcgm-exporter's units.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSample {
    pub index: u32,
    pub uuid: String,
    pub pci_bus_id: String,
    pub model_name: String,
    /// `DCGM_FI_DEV_GPU_UTIL`, percent.
    pub gpu_util: f64,
    /// `DCGM_FI_DEV_MEM_COPY_UTIL`, percent.
    pub mem_copy_util: f64,
    /// `DCGM_FI_DEV_FB_USED`, MiB.
    pub fb_used_mib: u64,
    /// `DCGM_FI_DEV_FB_FREE`, MiB.
    pub fb_free_mib: u64,
    /// `DCGM_FI_DEV_GPU_TEMP`, °C.
    pub temp_c: f64,
    /// `DCGM_FI_DEV_POWER_USAGE`, W.
    pub power_w: f64,
    /// `DCGM_FI_DEV_SM_CLOCK`, MHz.
    pub sm_clock_mhz: f64,
    /// `DCGM_FI_DEV_XID_ERRORS`: value of the last XID, 0 if none.
    pub last_xid: u32,
    /// `DCGM_FI_PROF_GR_ENGINE_ACTIVE`, ratio in [0, 1].
    pub gr_engine_active: f64,
}

/// Errors from a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("NVML: {0}")]
    Nvml(#[from] nvml_wrapper::error::NvmlError),
}

/// A source of GPU readings.
pub trait GpuBackend: Send + Sync {
    /// `fake` or `nvml`.
    fn name(&self) -> &'static str;
    /// Reads every GPU of this node.
    fn sample(&self) -> Result<Vec<GpuSample>, BackendError>;
    /// The fake GPUs behind this backend, if it is the fake one (load is fed
    /// into them from the holding pods).
    fn fake(&self) -> Option<&FakeGpus> {
        None
    }
}

/// Readings derived from the fake GPUs' state. Utilization follows the load
/// the exporter attributes from the holding pods; temperature, power and
/// clocks follow utilization the way a real GPU's do (idle → busy).
pub struct FakeBackend {
    gpus: FakeGpus,
    tdp_w: f64,
}

impl FakeBackend {
    pub fn new(gpus: FakeGpus) -> Self {
        Self { gpus, tdp_w: 700.0 }
    }
}

impl GpuBackend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn sample(&self) -> Result<Vec<GpuSample>, BackendError> {
        let cfg = self.gpus.config();
        let total = cfg.memory_mib;
        Ok(self
            .gpus
            .gpus()
            .into_iter()
            .map(|g| {
                let util = if g.healthy { g.load } else { 0.0 };
                // A held GPU has the model's weights resident (half the memory)
                // plus KV cache growing with the pods' cache usage.
                let used_frac = if g.held {
                    0.5 + 0.45 * g.mem_pressure
                } else {
                    0.0
                };
                let used = ((total as f64) * used_frac).round() as u64;
                let used = used.max(1).min(total);
                GpuSample {
                    index: g.index,
                    uuid: g.uuid,
                    pci_bus_id: g.pci_bus_id,
                    model_name: cfg.product.replace('-', " "),
                    gpu_util: (util * 100.0).round(),
                    mem_copy_util: (util * 60.0).round(),
                    fb_used_mib: used,
                    fb_free_mib: total - used,
                    temp_c: (32.0 + 45.0 * util).round(),
                    power_w: ((70.0 + (self.tdp_w - 70.0) * util) * 1000.0).round() / 1000.0,
                    sm_clock_mhz: if util > 0.0 { 1980.0 } else { 345.0 },
                    last_xid: g.last_xid,
                    gr_engine_active: (util * 0.95 * 1000.0).round() / 1000.0,
                }
            })
            .collect())
    }

    fn fake(&self) -> Option<&FakeGpus> {
        Some(&self.gpus)
    }
}

/// Real GPUs through NVML (`libnvidia-ml.so.1`, loaded at run time).
pub struct NvmlBackend {
    nvml: nvml_wrapper::Nvml,
}

impl NvmlBackend {
    /// Loads NVML; fails with `LibloadingError` without the library and
    /// `DriverNotLoaded` without a driver.
    pub fn init() -> Result<Self, BackendError> {
        Ok(Self {
            nvml: nvml_wrapper::Nvml::init()?,
        })
    }
}

impl GpuBackend for NvmlBackend {
    fn name(&self) -> &'static str {
        "nvml"
    }

    fn sample(&self) -> Result<Vec<GpuSample>, BackendError> {
        use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
        let n = self.nvml.device_count()?;
        let mut out = Vec::with_capacity(n as usize);
        for index in 0..n {
            let d = self.nvml.device_by_index(index)?;
            let mem = d.memory_info()?;
            let util = d.utilization_rates()?;
            let mib = 1024 * 1024;
            out.push(GpuSample {
                index,
                uuid: d.uuid()?,
                pci_bus_id: d.pci_info()?.bus_id,
                model_name: d.name()?,
                gpu_util: f64::from(util.gpu),
                mem_copy_util: f64::from(util.memory),
                fb_used_mib: mem.used / mib,
                fb_free_mib: mem.free / mib,
                temp_c: f64::from(d.temperature(TemperatureSensor::Gpu)?),
                power_w: f64::from(d.power_usage()?) / 1000.0,
                sm_clock_mhz: f64::from(d.clock_info(Clock::SM)?),
                // XID events need an NVML event set; not read here.
                last_xid: 0,
                // Profiling metrics need DCGM; approximate with utilization.
                gr_engine_active: f64::from(util.gpu) / 100.0,
            });
        }
        Ok(out)
    }
}

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// NVML when `libnvidia-ml.so.1` loads, else the fakes.
    Auto,
    Fake,
    Nvml,
}

/// Picks the backend: with `Auto`, NVML if it initializes, else a clear
/// message and the fakes.
pub fn select_backend(
    choice: BackendChoice,
    gpus: FakeGpus,
) -> Result<Box<dyn GpuBackend>, BackendError> {
    match choice {
        BackendChoice::Fake => Ok(Box::new(FakeBackend::new(gpus))),
        BackendChoice::Nvml => Ok(Box::new(NvmlBackend::init()?)),
        BackendChoice::Auto => match NvmlBackend::init() {
            Ok(b) => {
                tracing::info!("NVML loaded: reporting real GPUs");
                Ok(Box::new(b))
            }
            Err(e) => {
                tracing::warn!(
                    "NVML unavailable ({e}): no usable libnvidia-ml.so.1 and driver here; reporting the fake GPUs instead"
                );
                Ok(Box::new(FakeBackend::new(gpus)))
            }
        },
    }
}
