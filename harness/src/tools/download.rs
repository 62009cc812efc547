//! The download path: official release binaries, checked against their
//! published SHA-256 sums. Needs internet access (not available on the
//! machines this project is built on, so exercised only by users).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::exec::{Cmd, which};
use super::{ToolError, io_err};

/// The release architecture name of this machine.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// Official kind release URL.
pub fn kind_url(version: &str) -> String {
    format!(
        "https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-linux-{}",
        arch()
    )
}

/// Official kubectl release URL.
pub fn kubectl_url(version: &str) -> String {
    format!(
        "https://dl.k8s.io/release/{version}/bin/linux/{}/kubectl",
        arch()
    )
}

/// Whether dl.k8s.io answers within a few seconds.
pub fn internet_reachable() -> bool {
    which("curl").is_some()
        && Cmd::new("curl")
            .args([
                "-sfI",
                "--max-time",
                "5",
                "https://dl.k8s.io/release/stable.txt",
            ])
            .timeout(Duration::from_secs(8))
            .run()
            .is_ok()
}

/// `kind` into `dir/bin/kind` unless already there.
pub fn kind(dir: &Path, version: &str) -> Result<PathBuf, ToolError> {
    let url = kind_url(version);
    fetch_checked(
        &url,
        &format!("{url}.sha256sum"),
        &dir.join("bin").join("kind"),
    )
}

/// `kubectl` into `dir/bin/kubectl` unless already there.
pub fn kubectl(dir: &Path, version: &str) -> Result<PathBuf, ToolError> {
    let url = kubectl_url(version);
    fetch_checked(
        &url,
        &format!("{url}.sha256"),
        &dir.join("bin").join("kubectl"),
    )
}

fn curl(url: &str, out: &Path) -> Result<(), ToolError> {
    Cmd::new("curl")
        .args(["-fsSL", "--retry", "3", "--max-time", "600", "-o"])
        .arg(out)
        .arg(url)
        .timeout(Duration::from_secs(660))
        .run()
        .map(|_| ())
        .map_err(|source| ToolError::Download {
            url: url.to_string(),
            source,
        })
}

/// Downloads `url` to `dest` (mode 755) after checking it against the
/// first word of the file at `sum_url`.
fn fetch_checked(url: &str, sum_url: &str, dest: &Path) -> Result<PathBuf, ToolError> {
    if dest.is_file() {
        return Ok(dest.to_path_buf());
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    eprintln!("inferbench: downloading {url}");
    let tmp = dest.with_extension("download");
    let sum_file = dest.with_extension("sha256");
    curl(url, &tmp)?;
    curl(sum_url, &sum_file)?;
    let expected = std::fs::read_to_string(&sum_file)
        .map_err(io_err(format!("reading {}", sum_file.display())))?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let actual = Cmd::new("sha256sum")
        .arg(&tmp)
        .timeout(Duration::from_secs(60))
        .output_string()
        .map_err(|source| ToolError::Download {
            url: url.to_string(),
            source,
        })?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    if expected.is_empty() || expected != actual {
        let _ = std::fs::remove_file(&tmp);
        return Err(ToolError::Checksum {
            url: url.to_string(),
            expected,
            actual,
        });
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("chmod {}", tmp.display())))?;
    std::fs::rename(&tmp, dest).map_err(io_err(format!("renaming {}", tmp.display())))?;
    Ok(dest.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_urls() {
        assert!(kind_url("v0.30.0").starts_with(
            "https://github.com/kubernetes-sigs/kind/releases/download/v0.30.0/kind-linux-"
        ));
        assert!(kubectl_url("v1.34.4").starts_with("https://dl.k8s.io/release/v1.34.4/bin/linux/"));
    }
}
