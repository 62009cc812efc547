//! Building the node image, step by step: the tools, the root
//! filesystems, the component images, the node base, then the preload and
//! commit; the build folders are pruned afterwards.

use std::path::Path;
use std::time::Instant;

use super::base::node_base;
use super::components::{Binaries, build_pause, component_images};
use super::error::{NodeImageError, io_err};
use super::files::root;
use super::preload::preload_and_commit;
use super::recipe::{NODE_PACKAGES, SMALL_PACKAGES, node_image_reference, recipe_hash};
use super::rootfs::{ensure_rootfs, import_rootfs};
use crate::docker::Docker;
use crate::tools::Toolchain;
use crate::tools::exec::is_root;

/// Builds the node image unless it exists; returns its reference.
/// Cold: about 10 minutes after the tools are built; warm: seconds.
pub fn ensure_node_image(docker: &Docker, tools: &Toolchain) -> Result<String, NodeImageError> {
    let reference = node_image_reference();
    if docker.image_exists(&reference)? {
        return Ok(reference);
    }
    if !is_root() {
        return Err(NodeImageError::NotRoot);
    }
    // One build of this image across processes: the second waits, then
    // finds it built.
    let lock_path = root().join(format!("node-image-{}.lock", recipe_hash()));
    let _lock = crate::lock::exclusive(&lock_path, &format!("the node image {reference}"))
        .map_err(io_err(format!("locking {}", lock_path.display())))?;
    if docker.image_exists(&reference)? {
        return Ok(reference);
    }
    let started = Instant::now();
    eprintln!("inferbench: building the kind node image {reference} (cold: about 10 min)");
    // Three strands side by side: the Debian root filesystems (mostly
    // downloads and unpacking), three Go builds, and the other Go builds.
    // On 2 cores this fills the time each spends downloading modules,
    // packages or linking on one core (cold: minutes).
    let small_image = format!("inferbench/debian-small:{}", recipe_hash());
    let (rootfs, some_bins, other_bins) = std::thread::scope(|s| {
        let rootfs = s.spawn(|| -> Result<_, NodeImageError> {
            let node = ensure_rootfs("node", NODE_PACKAGES)?;
            let small = ensure_rootfs("small", SMALL_PACKAGES)?;
            import_rootfs(docker, &small, &small_image, &[])?;
            Ok(node)
        });
        let some = s.spawn(|| -> Result<_, NodeImageError> {
            Ok((
                tools.etcd()?,
                tools.coredns()?,
                tools.metrics_server()?,
                tools.kube_router()?,
            ))
        });
        let other = (|| -> Result<_, NodeImageError> {
            Ok((
                tools.kubernetes()?,
                tools.local_path_provisioner()?,
                tools.kind_source()?,
                build_pause()?,
            ))
        })();
        (joined(rootfs), joined(some), other)
    });
    let node_rootfs = rootfs?;
    let (etcd, coredns, metrics, kube_router) = some_bins?;
    let (k8s, local_path, kind_src, pause) = other_bins?;

    let build = root().join("build");
    let images = root().join("images").join(recipe_hash());
    std::fs::create_dir_all(&images).map_err(io_err("creating the image folder"))?;

    let bins = Binaries {
        k8s,
        etcd,
        coredns,
        metrics,
        local_path,
        kube_router,
        pause,
    };
    let tarballs = component_images(docker, &bins, &small_image, &build, &images)?;
    let base_image = node_base(docker, &build, &node_rootfs, &kind_src, &bins.k8s)?;

    preload_and_commit(docker, &base_image, &tarballs, &reference)?;
    prune_stale(&build, &images);
    eprintln!(
        "inferbench: node image {reference} built in {}s",
        started.elapsed().as_secs()
    );
    Ok(reference)
}

/// A scoped thread's result; its panic, if it panicked, goes on here.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Removes build contexts and the tarballs of other recipes (they are only
/// inputs of an image that now exists). Failures only cost disk space.
fn prune_stale(build: &Path, images: &Path) {
    let _ = std::fs::remove_dir_all(build);
    if let Some(all) = images.parent()
        && let Ok(entries) = std::fs::read_dir(all)
    {
        for e in entries.flatten() {
            if e.path() != images {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}
