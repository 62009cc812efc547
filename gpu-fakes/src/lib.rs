//! Fake GPUs that a real kubelet and real dashboards accept.
//!
//! Planned here (issue "gpu-fakes"): a kubelet device plugin (`v1beta1`
//! gRPC) registering `nvidia.com/gpu`, GPU feature-discovery labels, fault
//! injection (unhealthy devices, XID errors), and a dcgm-exporter-compatible
//! `/metrics` with per-pod attribution, backed by fakes or by real NVML.
//! Nothing is implemented yet; this crate only reserves its place in the
//! workspace.
