//! Locating the repository and the cache folder inferbench uses.

use std::path::{Path, PathBuf};

/// The repository root: the folder holding the workspace `Cargo.toml`
/// (`crates/env/` is two levels under it), where our Dockerfiles and
/// manifests live.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

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
