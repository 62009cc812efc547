//! A kind node image built on this machine, for hosts that cannot pull
//! `kindest/node` (no registry, air-gapped).
//!
//! It is the equivalent of kind's `images/base` plus `kind build
//! node-image`, made of things this machine can get:
//!
//! * a Debian root filesystem from `debootstrap` with systemd, containerd
//!   1.6, runc, the CNI plugins, iptables, conntrack and the rest of what
//!   kind's base image carries; on amd64, containerd 1.7 from Debian 13's
//!   package over 1.6 (`containerd`: CDI, for DRA claims);
//! * kind's base-image files (entrypoint, systemd units, kubelet drop-ins)
//!   copied at build time from kind's source in the Go module cache, and our
//!   own containerd configuration (format version 2, CDI enabled);
//! * the Kubernetes binaries built by [`crate::tools`];
//! * preloaded images, built locally and tagged exactly as kubeadm v1.34
//!   expects: control plane and etcd/CoreDNS/pause/metrics-server from
//!   scratch with static binaries, kube-proxy and our simple CNI daemon on
//!   a small Debian root filesystem.
//!
//! Everything is cached under `cache_dir()/node-image`, keyed by the pinned
//! versions and a hash of our assets, so a warm run only checks that the
//! final image exists.
//!
//! The modules, in build order: `recipe` (what shapes the image, and the
//! references and manifests derived from it), `rootfs` (debootstrap),
//! `components` (the preloaded images), `base` (the node base image),
//! `preload` (import and commit), and `build`, which runs them; `error`
//! and `files` sit below all of them.

mod base;
mod build;
mod components;
mod containerd;
mod error;
mod files;
mod preload;
mod recipe;
mod rootfs;

pub use build::ensure_node_image;
pub use error::NodeImageError;
pub use recipe::{
    NODE_PACKAGES, SMALL_PACKAGES, cni_image, containerd_config, default_cni_manifest,
    default_storage_manifest, kube_router_image, local_path_helper_image,
    local_path_provisioner_image, metrics_server_image, node_image_reference, recipe_hash,
};
