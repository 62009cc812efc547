//! The Debian root filesystems under the node and under our small images:
//! made with debootstrap (installed with apt-get when missing), cached by
//! name and package list, and imported into Docker as images.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{NodeImageError, io_err};
use super::files::{root, write_file};
use crate::docker::{Docker, apt_install};
use crate::tools::exec::{Cmd, which};
use crate::tools::versions;

/// A debootstrap root filesystem of `packages`, cached by name and recipe.
pub(super) fn ensure_rootfs(name: &str, packages: &[&str]) -> Result<PathBuf, NodeImageError> {
    let dir = root().join("rootfs").join(format!(
        "{name}-{}-{}",
        versions::DEBIAN_SUITE,
        packages_hash(packages)
    ));
    let marker = dir.with_extension("complete");
    if marker.exists() && dir.is_dir() {
        return Ok(dir);
    }
    // One debootstrap per root filesystem across processes (two bring-ups
    // on a cold machine): the second waits, then finds it made.
    let lock_path = dir.with_extension("lock");
    let _lock = crate::lock::exclusive(&lock_path, &format!("the {name} root filesystem"))
        .map_err(io_err(format!("locking {}", lock_path.display())))?;
    if marker.exists() && dir.is_dir() {
        return Ok(dir);
    }
    if which("debootstrap").is_none() && !Path::new("/usr/sbin/debootstrap").exists() {
        eprintln!("inferbench: installing debootstrap with apt-get");
        apt_install(&["debootstrap"]).map_err(NodeImageError::NoDebootstrap)?;
    }
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(format!("removing {}", tmp.display())))?;
    }
    let mirror = std::env::var("INFERBENCH_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    eprintln!(
        "inferbench: debootstrap {} root filesystem ({name}; about 1 min)",
        versions::DEBIAN_SUITE
    );
    let started = Instant::now();
    Cmd::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={}", packages.join(",")))
        .arg(versions::DEBIAN_SUITE)
        .arg(&tmp)
        .arg(&mirror)
        .timeout(Duration::from_secs(1800))
        .progress(format!("debootstrap {name}"))
        .run()?;
    for junk in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
    ] {
        let p = tmp.join(junk);
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
            let _ = std::fs::create_dir_all(&p);
        }
    }
    std::fs::rename(&tmp, &dir).map_err(io_err(format!("renaming {}", tmp.display())))?;
    write_file(
        &marker,
        &format!("debootstrap in {}s\n", started.elapsed().as_secs()),
    )?;
    Ok(dir)
}

fn packages_hash(packages: &[&str]) -> String {
    format!(
        "{:08x}",
        crate::digest::fnv1a_32(packages.join(",").as_bytes())
    )
}

/// `docker import` of a root filesystem folder, unless the image exists.
pub(super) fn import_rootfs(
    docker: &Docker,
    dir: &Path,
    reference: &str,
    changes: &[&str],
) -> Result<(), NodeImageError> {
    if docker.image_exists(reference)? {
        return Ok(());
    }
    let tar = dir.with_extension("tar");
    Cmd::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["--numeric-owner", "-cf"])
        .arg(&tar)
        .arg(".")
        .timeout(Duration::from_secs(900))
        .run()?;
    let result = docker.import_rootfs(&tar, reference, changes);
    let _ = std::fs::remove_file(&tar);
    result?;
    Ok(())
}
