//! Container images we build locally (no registry is needed or used).

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::docker::{Docker, DockerError};
use crate::tools::exec::{Cmd, ExecError};
use crate::workspace::{cache_dir, repo_root};

mod sources;
pub use sources::{BuildInputs, BuiltStamp};

/// The mock-server image, as clusters and tests refer to it.
pub const MOCK_SERVER_IMAGE: &str = "inferbench/mock-server:dev";

/// Rust target for fully static binaries.
const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

#[derive(Debug, Error)]
pub enum ImageError {
    #[error("building the static mock-server binary failed: {0}")]
    Cargo(#[source] ExecError),
    #[error("building image {image} failed: {source}")]
    Docker {
        image: String,
        #[source]
        source: DockerError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let what = what.into();
    move |source| ImageError::Io { what, source }
}

/// How a static Linux binary is produced here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticTarget {
    /// The musl target, installed through rustup when missing.
    Musl,
    /// glibc with `crt-static`, when the musl target cannot be installed.
    GnuCrtStatic,
}

impl StaticTarget {
    fn triple(&self) -> &'static str {
        match self {
            StaticTarget::Musl => MUSL_TARGET,
            StaticTarget::GnuCrtStatic => "x86_64-unknown-linux-gnu",
        }
    }
}

/// Picks musl (the Rust target, and `musl-gcc` for crates that compile C,
/// such as `ring`), installing what is missing; falls back to a `crt-static`
/// glibc build, saying so.
pub fn static_target() -> StaticTarget {
    let target = musl_rust_target();
    if target == StaticTarget::Musl && crate::tools::exec::which("musl-gcc").is_none() {
        eprintln!(
            "inferbench: installing musl-tools (musl-gcc), needed to build C code for {MUSL_TARGET}"
        );
        if let Err(e) = crate::docker::apt_install(&["musl-tools"]) {
            eprintln!(
                "inferbench: could not install musl-tools ({e}); building a static glibc binary (crt-static) instead"
            );
            return StaticTarget::GnuCrtStatic;
        }
    }
    target
}

fn musl_rust_target() -> StaticTarget {
    let installed = Cmd::new("rustup")
        .args(["target", "list", "--installed"])
        .timeout(Duration::from_secs(30))
        .output_string()
        .map(|out| out.lines().any(|l| l.trim() == MUSL_TARGET))
        .unwrap_or(false);
    if installed {
        return StaticTarget::Musl;
    }
    eprintln!("inferbench: installing the Rust target {MUSL_TARGET} (rustup target add)");
    match Cmd::new("rustup")
        .args(["target", "add", MUSL_TARGET])
        .timeout(Duration::from_secs(600))
        .run()
    {
        Ok(_) => StaticTarget::Musl,
        Err(e) => {
            eprintln!(
                "inferbench: could not install {MUSL_TARGET} ({e}); building a static glibc binary (crt-static) instead"
            );
            StaticTarget::GnuCrtStatic
        }
    }
}

/// The cargo profile our image binaries are built with (Cargo.toml):
/// release without LTO, with incremental builds, so a changed source file
/// costs seconds, not the minutes a thin-LTO link of kube and tonic takes.
pub const IMAGE_PROFILE: &str = "image";

/// Builds `package`'s binary `bin` as a static Linux executable in release
/// mode and returns its path.
pub fn build_static_binary(package: &str, bin: &str) -> Result<PathBuf, ImageError> {
    build_static_binary_for(package, bin, &static_target())
}

fn build_static_binary_for(
    package: &str,
    bin: &str,
    target: &StaticTarget,
) -> Result<PathBuf, ImageError> {
    let root = repo_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Cmd::new(cargo)
        .args([
            "build",
            "--profile",
            IMAGE_PROFILE,
            "--locked",
            "-p",
            package,
            "--bin",
            bin,
            "--target",
            target.triple(),
        ])
        .current_dir(&root)
        .timeout(Duration::from_secs(1800))
        .progress(format!("cargo build {bin} ({})", target.triple()));
    if *target == StaticTarget::GnuCrtStatic {
        cmd = cmd.env("RUSTFLAGS", "-C target-feature=+crt-static");
    }
    // Run from `cargo run` or `cargo test`, we inherit the variables cargo
    // sets for the calling package (CARGO_PKG_NAME, CARGO_MANIFEST_DIR,
    // ...). Build scripts such as ring's rerun when those change, so the
    // image would be rebuilt, from ring up, every time the caller differs
    // (xtask, then a test, then xtask again): minutes each on 2 cores.
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(inherited_from_calling_package) {
            cmd = cmd.env_remove(key);
        }
    }
    cmd.run().map_err(ImageError::Cargo)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target_dir
        .join(target.triple())
        .join(IMAGE_PROFILE)
        .join(bin))
}

/// Whether `key` is one of the variables cargo sets for the package it
/// runs (not the user's own settings such as CARGO_HOME or CARGO_TARGET_DIR).
fn inherited_from_calling_package(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_BIN_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "OUT_DIR"
        )
}

/// Builds the `FROM scratch` mock-server image from a static binary and
/// `mock-server/Dockerfile` (or reuses the one built from the same
/// sources); returns its reference ([`MOCK_SERVER_IMAGE`]).
pub fn build_mock_server_image(docker: &Docker) -> Result<String, ImageError> {
    build_package_image(docker, "mock-server", MOCK_SERVER_IMAGE)?;
    Ok(MOCK_SERVER_IMAGE.to_string())
}

/// The gpu-fakes image (device plugin, labels, exporter), as the DaemonSet names it.
pub const GPU_FAKES_IMAGE: &str = "inferbench/gpu-fakes:dev";

/// Builds the `FROM scratch` gpu-fakes image from a static binary and
/// `gpu-fakes/Dockerfile` (or reuses the one built from the same sources);
/// returns its reference ([`GPU_FAKES_IMAGE`]).
pub fn build_gpu_fakes_image(docker: &Docker) -> Result<String, ImageError> {
    build_package_image(docker, "gpu-fakes", GPU_FAKES_IMAGE)?;
    Ok(GPU_FAKES_IMAGE.to_string())
}

/// Builds `image` from the workspace package `package` (its binary of the
/// same name and its `Dockerfile`), unless the image Docker holds under
/// that tag was built from the same sources ([`BuildInputs`]): then it is
/// reused, and says so. One build of an image at a time, across processes
/// and threads (the test run builds both images beside the cluster
/// bring-up, whose add-on may ask for the same one).
fn build_package_image(docker: &Docker, package: &str, image: &str) -> Result<(), ImageError> {
    let root = repo_root();
    let package_dir = root.join(package);
    let lock = cache_dir().join("images").join(format!("{package}.lock"));
    let _lock =
        crate::lock::exclusive(&lock, image).map_err(io(format!("locking {}", lock.display())))?;
    let target = static_target();
    let sources = source_digest(&root, &package_dir, &target).map_err(io(format!(
        "reading the sources of {}",
        package_dir.display()
    )))?;
    let stamp_path = lock.with_extension("built");
    if let Some(stamp) = BuiltStamp::read(&stamp_path)
        && stamp.sources == sources
        && docker.image_id(image).ok().as_deref() == Some(stamp.image_id.as_str())
    {
        eprintln!(
            "inferbench: {image} was built from these sources ({}), reusing it",
            &sources[..12]
        );
        return Ok(());
    }
    let binary = build_static_binary_for(package, package, &target)?;
    let dockerfile = package_dir.join("Dockerfile");
    let dockerfile = std::fs::read_to_string(&dockerfile)
        .map_err(io(format!("reading {}", dockerfile.display())))?;
    build_scratch_image_locked(docker, image, &binary, package, &dockerfile)?;
    let image_id = docker
        .image_id(image)
        .map_err(|source| ImageError::Docker {
            image: image.to_string(),
            source,
        })?;
    BuiltStamp { sources, image_id }
        .write(&stamp_path)
        .map_err(io(format!("writing {}", stamp_path.display())))
}

/// The digest of what `package_dir`'s static binary is built from.
fn source_digest(
    root: &Path,
    package_dir: &Path,
    target: &StaticTarget,
) -> std::io::Result<String> {
    let rustc = Cmd::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("-vV")
        .current_dir(root)
        .timeout(Duration::from_secs(30))
        .output_string()
        .map_err(std::io::Error::other)?;
    let flags = ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CC", "CFLAGS"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
        .collect();
    BuildInputs {
        workspace: root,
        package_dir,
        target: target.triple(),
        profile: IMAGE_PROFILE,
        rustc: &rustc,
        flags,
    }
    .digest()
}

/// A `FROM scratch` image of a static Go program built by [`crate::tools`]
/// (Prometheus), tagged `reference`, unless Docker already holds that tag
/// (the tag carries the version): the binary at `/bin/NAME`, run as
/// `nobody` and as the entrypoint.
pub fn build_tool_image(
    docker: &Docker,
    name: &str,
    binary: &Path,
    reference: &str,
) -> Result<(), ImageError> {
    let docker_err = |source| ImageError::Docker {
        image: reference.to_string(),
        source,
    };
    if docker.image_exists(reference).map_err(docker_err)? {
        return Ok(());
    }
    let lock = cache_dir().join("images").join(format!("{name}.lock"));
    let _lock = crate::lock::exclusive(&lock, reference)
        .map_err(io(format!("locking {}", lock.display())))?;
    eprintln!("inferbench: building image {reference}");
    build_scratch_image_locked(docker, reference, binary, name, &tool_dockerfile(name))
}

/// The Dockerfile of [`build_tool_image`].
pub fn tool_dockerfile(name: &str) -> String {
    format!(
        "FROM scratch\nCOPY {name} /bin/{name}\nUSER 65534:65534\nENTRYPOINT [\"/bin/{name}\"]\n"
    )
}

/// Puts `binary` (as `name`) and `dockerfile` (its text) in a fresh
/// context folder in the cache and builds `image`; the caller holds
/// `name`'s lock (the folder is cleared and refilled).
fn build_scratch_image_locked(
    docker: &Docker,
    image: &str,
    binary: &Path,
    name: &str,
    dockerfile: &str,
) -> Result<(), ImageError> {
    let ctx = cache_dir().join("images").join(name);
    if ctx.exists() {
        std::fs::remove_dir_all(&ctx).map_err(io(format!("clearing {}", ctx.display())))?;
    }
    std::fs::create_dir_all(&ctx).map_err(io(format!("creating {}", ctx.display())))?;
    std::fs::copy(binary, ctx.join(name)).map_err(io(format!("copying {}", binary.display())))?;
    std::fs::write(ctx.join("Dockerfile"), dockerfile)
        .map_err(io(format!("writing {}", ctx.join("Dockerfile").display())))?;
    docker
        .build_image(&ctx, image, None, Duration::from_secs(600))
        .map_err(|source| ImageError::Docker {
            image: image.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::inherited_from_calling_package as inherited;

    #[test]
    fn a_tool_image_is_its_binary_run_as_nobody() {
        assert_eq!(
            super::tool_dockerfile("prometheus"),
            "FROM scratch\nCOPY prometheus /bin/prometheus\nUSER 65534:65534\nENTRYPOINT [\"/bin/prometheus\"]\n"
        );
    }

    #[test]
    fn only_the_calling_packages_variables_are_dropped() {
        for key in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_LINKS",
            "CARGO_BIN_EXE_xtask",
            "OUT_DIR",
        ] {
            assert!(inherited(key), "{key} is the caller's");
        }
        for key in ["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO", "RUSTFLAGS", "CC"] {
            assert!(!inherited(key), "{key} is the user's");
        }
    }
}
