//! The node base image: the node root filesystem, kind's base-image files
//! from kind's source, our containerd configuration and manifests, and the
//! Kubernetes node binaries, built with the recipe's Dockerfile.

use std::path::Path;
use std::time::Duration;

use super::error::NodeImageError;
use super::files::{copy, reset_dir, write_file};
use super::recipe::{
    NODE_DOCKERFILE, containerd_config, default_cni_manifest, default_storage_manifest, recipe_hash,
};
use super::rootfs::import_rootfs;
use crate::docker::Docker;
use crate::tools::exec::Cmd;
use crate::tools::versions;

/// The node base (root filesystem + kind's base files + our config +
/// Kubernetes) over the root filesystem `node_rootfs`, built in `build`
/// unless it exists; returns its reference.
pub(super) fn node_base(
    docker: &Docker,
    build: &Path,
    node_rootfs: &Path,
    kind_src: &Path,
    k8s: &Path,
) -> Result<String, NodeImageError> {
    let rootfs_image = format!("inferbench/kind-node-rootfs:{}", recipe_hash());
    import_rootfs(docker, node_rootfs, &rootfs_image, &[])?;
    let base_image = format!("inferbench/kind-node-base:{}", recipe_hash());
    if !docker.image_exists(&base_image)? {
        let ctx = build.join("node");
        reset_dir(&ctx)?;
        Cmd::new("cp")
            .arg("-r")
            .arg(kind_src.join("images/base/files"))
            .arg(ctx.join("files"))
            .timeout(Duration::from_secs(120))
            .run()?;
        // The module cache is read-only; the copy must be writable.
        Cmd::new("chmod")
            .args(["-R", "u+w"])
            .arg(ctx.join("files"))
            .timeout(Duration::from_secs(60))
            .run()?;
        write_file(&ctx.join("containerd-config.toml"), &containerd_config())?;
        write_file(&ctx.join("default-cni.yaml"), &default_cni_manifest())?;
        write_file(
            &ctx.join("default-storage.yaml"),
            &default_storage_manifest(),
        )?;
        write_file(&ctx.join("version"), versions::KUBERNETES)?;
        for cmd in ["kubeadm", "kubelet", "kubectl"] {
            copy(&k8s.join(cmd), &ctx.join(cmd))?;
        }
        super::containerd::overlay(&ctx.join("containerd"))?;
        write_file(
            &ctx.join("Dockerfile"),
            &NODE_DOCKERFILE.replace("@ROOTFS_IMAGE@", &rootfs_image),
        )?;
        docker.build_image(&ctx, &base_image, None, Duration::from_secs(1200))?;
    }
    Ok(base_image)
}
