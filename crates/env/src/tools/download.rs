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

/// The official actionlint release archive for this machine
/// (`actionlint_1.7.11_linux_amd64.tar.gz`; release assets drop the `v`).
pub fn actionlint_archive(version: &str) -> String {
    format!(
        "actionlint_{}_linux_{}.tar.gz",
        version.trim_start_matches('v'),
        arch()
    )
}

/// Official actionlint release URL.
pub fn actionlint_url(version: &str) -> String {
    format!(
        "https://github.com/rhysd/actionlint/releases/download/{version}/{}",
        actionlint_archive(version)
    )
}

/// The release's SHA-256 list (one `SUM  FILE` line per asset).
pub fn actionlint_checksums_url(version: &str) -> String {
    format!(
        "https://github.com/rhysd/actionlint/releases/download/{version}/actionlint_{}_checksums.txt",
        version.trim_start_matches('v')
    )
}

/// `actionlint` into `dir/bin/actionlint` unless already there: the
/// release tarball, checked against the release's checksum list, then the
/// binary taken out of it.
pub fn actionlint(dir: &Path, version: &str) -> Result<PathBuf, ToolError> {
    let release = ReleaseArchive {
        url: actionlint_url(version),
        sums_url: actionlint_checksums_url(version),
        archive: actionlint_archive(version),
        member: "actionlint".into(),
    };
    release.install(dir, "actionlint")
}

/// Official Helm release URL (a tarball per platform, with a
/// `.sha256sum` file beside it).
pub fn helm_url(version: &str) -> String {
    format!("https://get.helm.sh/{}", helm_archive(version))
}

fn helm_archive(version: &str) -> String {
    format!("helm-{version}-linux-{}.tar.gz", arch())
}

/// `helm` into `dir/bin/helm` unless already there: the release tarball,
/// checked against its published SHA-256.
pub fn helm(dir: &Path, version: &str) -> Result<PathBuf, ToolError> {
    let url = helm_url(version);
    let release = ReleaseArchive {
        sums_url: format!("{url}.sha256sum"),
        url,
        archive: helm_archive(version),
        member: format!("linux-{}/helm", arch()),
    };
    release.install(dir, "helm")
}

/// A release tarball, the checksum list published beside it (`sha256sum`
/// lines), and the binary's path inside the tarball.
struct ReleaseArchive {
    url: String,
    sums_url: String,
    archive: String,
    member: String,
}

impl ReleaseArchive {
    /// `dir/bin/<name>` unless already there: the tarball downloaded,
    /// checked against its line in the checksum list, the binary taken out.
    fn install(&self, dir: &Path, name: &str) -> Result<PathBuf, ToolError> {
        let dest = dir.join("bin").join(name);
        if dest.is_file() {
            return Ok(dest);
        }
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        eprintln!("inferbench: downloading {}", self.url);
        let tarball = dir.join(&self.archive);
        let sums = dir.join(format!("{name}.sha256sums"));
        curl(&self.url, &tarball)?;
        curl(&self.sums_url, &sums)?;
        let list = std::fs::read_to_string(&sums)
            .map_err(io_err(format!("reading {}", sums.display())))?;
        let expected = checksum_for(&list, &self.archive).unwrap_or_default();
        install_from_archive(&self.url, &tarball, &expected, &self.member, &dest)
    }
}

/// Checks `tarball` against `expected` (a SHA-256), then extracts `member`
/// (a path inside the archive) to `dest`, mode 755.
fn install_from_archive(
    url: &str,
    tarball: &Path,
    expected: &str,
    member: &str,
    dest: &Path,
) -> Result<PathBuf, ToolError> {
    let expected = expected.to_string();
    let actual = sha256_of(url, tarball)?;
    if expected.is_empty() || expected != actual {
        let _ = std::fs::remove_file(tarball);
        return Err(ToolError::Checksum {
            url: url.to_string(),
            expected,
            actual,
        });
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    let unpack = dir.with_extension("unpack");
    let _ = std::fs::remove_dir_all(&unpack);
    std::fs::create_dir_all(&unpack).map_err(io_err(format!("creating {}", unpack.display())))?;
    Cmd::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(&unpack)
        .arg(member)
        .timeout(Duration::from_secs(120))
        .run()
        .map_err(|source| ToolError::Download {
            url: url.to_string(),
            source,
        })?;
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let unpacked = unpack.join(member);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unpacked, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("chmod {}", unpacked.display())))?;
    std::fs::rename(&unpacked, dest).map_err(io_err(format!("renaming {}", unpacked.display())))?;
    let _ = std::fs::remove_dir_all(&unpack);
    let _ = std::fs::remove_file(tarball);
    Ok(dest.to_path_buf())
}

/// The SHA-256 on the line naming `file` in a `sha256sum`-style list.
pub fn checksum_for(list: &str, file: &str) -> Option<String> {
    list.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let sum = words.next()?;
        let name = words.next()?.trim_start_matches('*');
        (name == file).then(|| sum.to_ascii_lowercase())
    })
}

fn sha256_of(url: &str, file: &Path) -> Result<String, ToolError> {
    Ok(Cmd::new("sha256sum")
        .arg(file)
        .timeout(Duration::from_secs(60))
        .output_string()
        .map_err(|source| ToolError::Download {
            url: url.to_string(),
            source,
        })?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Official kwok release URL (a bare binary per platform).
pub fn kwok_url(version: &str) -> String {
    format!(
        "https://github.com/kubernetes-sigs/kwok/releases/download/{version}/kwok-linux-{}",
        arch()
    )
}

/// `kwok` into `dir/bin/kwok` unless already there. kwok's releases
/// publish no checksums, so this trusts HTTPS alone; the Go-proxy build
/// (`INFERBENCH_TOOL_SOURCE=build`) is checked against the Go checksum
/// database instead.
pub fn kwok(dir: &Path, version: &str) -> Result<PathBuf, ToolError> {
    let dest = dir.join("bin").join("kwok");
    if dest.is_file() {
        return Ok(dest);
    }
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(io_err(format!("creating {}", bin.display())))?;
    let url = kwok_url(version);
    eprintln!("inferbench: downloading {url}");
    let tmp = dest.with_extension("download");
    curl(&url, &tmp)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("chmod {}", tmp.display())))?;
    std::fs::rename(&tmp, &dest).map_err(io_err(format!("renaming {}", tmp.display())))?;
    Ok(dest)
}

/// A Debian package from the archive (`INFERBENCH_DEBIAN_MIRROR`, else
/// deb.debian.org) into `dir`, checked against its pinned SHA-256, unless
/// already there.
pub fn debian_package(dir: &Path, pool_path: &str, sha256: &str) -> Result<PathBuf, ToolError> {
    let name = pool_path.rsplit('/').next().unwrap_or(pool_path);
    let dest = dir.join(name);
    if dest.is_file() {
        return Ok(dest);
    }
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let mirror = std::env::var("INFERBENCH_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let url = format!("{}/{pool_path}", mirror.trim_end_matches('/'));
    eprintln!("inferbench: downloading {url}");
    let tmp = dest.with_extension("download");
    curl(&url, &tmp)?;
    let actual = sha256_of(&url, &tmp)?;
    if actual != sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(ToolError::Checksum {
            url,
            expected: sha256.to_string(),
            actual,
        });
    }
    std::fs::rename(&tmp, &dest).map_err(io_err(format!("renaming {}", tmp.display())))?;
    Ok(dest)
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
    let actual = sha256_of(url, &tmp)?;
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
        assert!(kwok_url("v0.8.0").starts_with(
            "https://github.com/kubernetes-sigs/kwok/releases/download/v0.8.0/kwok-linux-"
        ));
        assert!(helm_url("v3.22.0").starts_with("https://get.helm.sh/helm-v3.22.0-linux-"));
    }

    #[test]
    fn actionlint_release_urls_drop_the_v_in_file_names() {
        let url = actionlint_url("v1.7.11");
        assert!(url.starts_with(
            "https://github.com/rhysd/actionlint/releases/download/v1.7.11/actionlint_1.7.11_linux_"
        ));
        assert!(url.ends_with(".tar.gz"));
        assert_eq!(
            actionlint_checksums_url("v1.7.11"),
            "https://github.com/rhysd/actionlint/releases/download/v1.7.11/actionlint_1.7.11_checksums.txt"
        );
    }

    #[test]
    fn checksum_list_lookup_matches_whole_names() {
        let list = "aa11  actionlint_1.7.11_linux_amd64.tar.gz.sig\n\
                    BB22  actionlint_1.7.11_linux_amd64.tar.gz\n\
                    cc33 *actionlint_1.7.11_linux_arm64.tar.gz\n";
        assert_eq!(
            checksum_for(list, "actionlint_1.7.11_linux_amd64.tar.gz").as_deref(),
            Some("bb22")
        );
        assert_eq!(
            checksum_for(list, "actionlint_1.7.11_linux_arm64.tar.gz").as_deref(),
            Some("cc33")
        );
        assert_eq!(
            checksum_for(list, "actionlint_1.7.11_linux_386.tar.gz"),
            None
        );
    }

    /// The release archive's layout (binary at the top, docs beside it),
    /// checked and unpacked as the download path does, without a network.
    #[test]
    fn actionlint_archive_is_checked_and_unpacked() {
        let root =
            std::env::temp_dir().join(format!("inferbench-actionlint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let stage = root.join("stage");
        std::fs::create_dir_all(stage.join("docs")).unwrap();
        std::fs::write(stage.join("actionlint"), "#!/bin/sh\necho 1.7.11\n").unwrap();
        std::fs::write(stage.join("README.md"), "readme").unwrap();
        std::fs::write(stage.join("docs").join("checks.md"), "checks").unwrap();
        let archive = "actionlint_1.7.11_linux_amd64.tar.gz";
        let tarball = root.join(archive);
        let pack = || {
            Cmd::new("tar")
                .arg("-czf")
                .arg(&tarball)
                .arg("-C")
                .arg(&stage)
                .args(["actionlint", "README.md", "docs"])
                .run()
                .expect("tar");
            sha256_of("test", &tarball).expect("sha256sum")
        };
        let dest = root.join("tool").join("bin").join("actionlint");

        pack();
        let wrong = "0".repeat(64);
        let err = install_from_archive("test", &tarball, &wrong, "actionlint", &dest)
            .expect_err("a wrong checksum is refused");
        assert!(matches!(err, ToolError::Checksum { .. }), "{err}");
        assert!(!dest.exists() && !tarball.exists());

        let sum = pack();
        let got =
            install_from_archive("test", &tarball, &sum, "actionlint", &dest).expect("installs");
        assert_eq!(got, dest);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(
            !dest.with_file_name("README.md").exists(),
            "only the binary is taken"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
