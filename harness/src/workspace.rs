//! Locating the repository and the cache folders the harness uses.

use std::path::{Path, PathBuf};

/// The repository root: the folder holding the workspace `Cargo.toml`.
pub use scenario::repo_root;

/// The cache folder for built tools, images and root filesystems, outside
/// the repository so that clean clones and CI runs reuse it.
///
/// `INFERBENCH_CACHE` overrides it; otherwise `$XDG_CACHE_HOME/inferbench`
/// or `~/.cache/inferbench`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INFERBENCH_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("inferbench");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("inferbench")
}
