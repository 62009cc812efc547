//! gpu-fakes as a DRA driver (`resource.k8s.io/v1`, Kubernetes 1.34), under
//! NVIDIA's driver name `gpu.nvidia.com`, so a template written for NVIDIA's
//! GPU DRA driver (kubernetes-sigs/dra-driver-nvidia-gpu) claims our fake
//! GPUs unchanged:
//!
//! - [`devices`]: the devices of a node (whole GPUs, or MIG partitions) with
//!   NVIDIA's attribute names (`type`, `uuid`, `productName`, `architecture`,
//!   `driverVersion`, ... and capacity `memory`), the node's ResourceSlice and
//!   the DeviceClasses `gpu.nvidia.com` and `mig.nvidia.com`. Pure.
//! - [`slices`]: publishes the node's ResourceSlice through the API server,
//!   withdraws a device that turns Unhealthy (a new pool generation without
//!   it, so the scheduler does not allocate it again), and publishes again
//!   when someone deletes the slice (watched).
//! - [`cdi`]: the CDI spec written per prepared claim: each device's
//!   container edits set `NVIDIA_VISIBLE_DEVICES` to the claim's GPU UUIDs,
//!   as NVIDIA's driver does.
//! - [`claims`]: what the scheduler allocated to a claim and which
//!   containers use it, read from the API server.
//! - [`driver`]: the kubelet plugin: `pluginregistration.Registration` on a
//!   socket in `/var/lib/kubelet/plugins_registry` (the kubelet's plugin
//!   watcher finds it, also after a kubelet restart) and `v1.DRAPlugin`
//!   (`NodePrepareResources` / `NodeUnprepareResources`) on
//!   `/var/lib/kubelet/plugins/gpu.nvidia.com/dra.sock`.
//!
//! Choices worth knowing:
//! - A device is withdrawn from the slice while its GPU is Unhealthy (device
//!   taints are alpha in 1.34, off by default); a claim prepared before
//!   keeps its device.
//! - Time-slicing has no devices of its own under DRA (NVIDIA shares a GPU
//!   through a claim's opaque `GpuConfig`): with `--replicas > 1` the slice
//!   still lists whole GPUs; pods share a GPU by sharing one claim.
//! - With `--gpu-api both` the device plugin and the DRA driver offer the
//!   same fake GPUs: a pod counting `nvidia.com/gpu` and a claim may be given
//!   the same GPU. Fake GPUs do not mind; a real cluster runs one or the other.
//! - The kubelet hands the CDI device ids to the container runtime; our kind
//!   node image's containerd (Debian 12's 1.6) predates CDI and ignores them,
//!   so there the environment is not injected (a runtime with CDI, containerd
//!   1.7 or later with `enable_cdi`, applies it).

mod authority;
pub mod cdi;
pub mod claims;
pub mod devices;
pub mod driver;
pub mod slices;

/// The driver name, NVIDIA's.
pub const DRIVER_NAME: &str = "gpu.nvidia.com";
/// The DeviceClass of whole GPUs.
pub const GPU_DEVICE_CLASS: &str = "gpu.nvidia.com";
/// The DeviceClass of MIG partitions.
pub const MIG_DEVICE_CLASS: &str = "mig.nvidia.com";
/// The kubelet's directory of plugin endpoints.
pub const DEFAULT_PLUGINS_DIR: &str = "/var/lib/kubelet/plugins";
/// The directory the kubelet's plugin watcher watches.
pub const DEFAULT_REGISTRY_DIR: &str = "/var/lib/kubelet/plugins_registry";
/// Where CDI specs are read by runtimes that support CDI.
pub const DEFAULT_CDI_DIR: &str = "/var/run/cdi";
