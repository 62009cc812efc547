//! Container images we build locally (no registry is needed or used).

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::docker::{Docker, DockerError};
use crate::tools::exec::{Cmd, ExecError};
use crate::workspace::{cache_dir, repo_root};

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
    let root = repo_root();
    let target = static_target();
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
    if target == StaticTarget::GnuCrtStatic {
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
/// `mock-server/Dockerfile`; returns its reference ([`MOCK_SERVER_IMAGE`]).
pub fn build_mock_server_image(docker: &Docker) -> Result<String, ImageError> {
    let binary = build_static_binary("mock-server", "mock-server")?;
    let dockerfile = repo_root().join("mock-server").join("Dockerfile");
    build_scratch_image(
        docker,
        MOCK_SERVER_IMAGE,
        &binary,
        "mock-server",
        &dockerfile,
    )?;
    Ok(MOCK_SERVER_IMAGE.to_string())
}

/// The gpu-fakes image (device plugin, labels, exporter), as the DaemonSet names it.
pub const GPU_FAKES_IMAGE: &str = "inferbench/gpu-fakes:dev";

/// Builds the `FROM scratch` gpu-fakes image from a static binary and
/// `gpu-fakes/Dockerfile`; returns its reference ([`GPU_FAKES_IMAGE`]).
pub fn build_gpu_fakes_image(docker: &Docker) -> Result<String, ImageError> {
    let binary = build_static_binary("gpu-fakes", "gpu-fakes")?;
    let dockerfile = repo_root().join("gpu-fakes").join("Dockerfile");
    build_scratch_image(docker, GPU_FAKES_IMAGE, &binary, "gpu-fakes", &dockerfile)?;
    Ok(GPU_FAKES_IMAGE.to_string())
}

/// Puts `binary` (as `name`) and `dockerfile` in a fresh context folder in the cache and builds `image`.
pub fn build_scratch_image(
    docker: &Docker,
    image: &str,
    binary: &Path,
    name: &str,
    dockerfile: &Path,
) -> Result<(), ImageError> {
    let ctx = cache_dir().join("images").join(name);
    // One build of an image at a time, across processes and threads (the
    // test run builds both images beside the cluster bring-up, whose add-on
    // may ask for the same one): the context folder is cleared and refilled.
    let lock = ctx.with_extension("lock");
    let _lock =
        crate::lock::exclusive(&lock, image).map_err(io(format!("locking {}", lock.display())))?;
    if ctx.exists() {
        std::fs::remove_dir_all(&ctx).map_err(io(format!("clearing {}", ctx.display())))?;
    }
    std::fs::create_dir_all(&ctx).map_err(io(format!("creating {}", ctx.display())))?;
    std::fs::copy(binary, ctx.join(name)).map_err(io(format!("copying {}", binary.display())))?;
    std::fs::copy(dockerfile, ctx.join("Dockerfile"))
        .map_err(io(format!("copying {}", dockerfile.display())))?;
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
