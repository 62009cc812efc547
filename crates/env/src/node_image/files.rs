//! Where the node image's inputs are cached, and the small file operations
//! of its build, with errors that say what was being done.

use std::path::{Path, PathBuf};

use super::error::{NodeImageError, io_err};

/// The cache folder of everything the node image is built from.
pub(super) fn root() -> PathBuf {
    crate::workspace::cache_dir().join("node-image")
}

pub(super) fn reset_dir(dir: &Path) -> Result<(), NodeImageError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io_err(format!("removing {}", dir.display())))?;
    }
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))
}

pub(super) fn write_file(path: &Path, contents: &str) -> Result<(), NodeImageError> {
    std::fs::write(path, contents).map_err(io_err(format!("writing {}", path.display())))
}

pub(super) fn write_exec(path: &Path, contents: &str) -> Result<(), NodeImageError> {
    write_file(path, contents)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("chmod {}", path.display())))
}

pub(super) fn copy(from: &Path, to: &Path) -> Result<(), NodeImageError> {
    std::fs::copy(from, to).map(|_| ()).map_err(io_err(format!(
        "copying {} to {}",
        from.display(),
        to.display()
    )))
}
