//! containerd 1.7 over the node root filesystem's 1.6: Debian 12's
//! containerd predates CDI, so a container never received the devices a
//! DRA driver prepared for its claim (`NVIDIA_VISIBLE_DEVICES` from the
//! driver's CDI spec). On amd64 the node image takes `containerd`,
//! `containerd-shim-runc-v2` and `ctr` from Debian 13's package, pinned by
//! SHA-256 and cached; elsewhere it keeps 1.6 and says so.

use std::path::Path;
use std::time::Duration;

use super::error::{NodeImageError, io_err};
use super::files::{copy, reset_dir, root};
use crate::tools::download::debian_package;
use crate::tools::exec::Cmd;
use crate::tools::versions;

/// The binaries taken from the package.
const BINARIES: [&str; 3] = ["containerd", "containerd-shim-runc-v2", "ctr"];

/// Fills `dir` (the build context's `containerd/`, copied over `/usr`) with
/// `bin/` and containerd 1.7's binaries; leaves it empty off amd64.
pub(super) fn overlay(dir: &Path) -> Result<(), NodeImageError> {
    reset_dir(dir)?;
    if std::env::consts::ARCH != "x86_64" {
        eprintln!(
            "inferbench: the node image keeps Debian 12's containerd 1.6 on {} (no CDI: \
             DRA claims' CDI devices are not applied to containers)",
            std::env::consts::ARCH
        );
        return Ok(());
    }
    let (pool_path, sha256) = versions::CONTAINERD_DEB_AMD64;
    let deb = debian_package(&root().join("debs"), pool_path, sha256)?;
    let unpacked = dir.with_extension("unpacked");
    reset_dir(&unpacked)?;
    Cmd::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .timeout(Duration::from_secs(300))
        .run()?;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(io_err(format!("creating {}", bin.display())))?;
    for name in BINARIES {
        copy(&unpacked.join("usr/bin").join(name), &bin.join(name))?;
    }
    std::fs::remove_dir_all(&unpacked)
        .map_err(io_err(format!("removing {}", unpacked.display())))?;
    Ok(())
}
