//! The images a node preloads, each built from a small Dockerfile over
//! binaries we built (or our small Debian root filesystem), saved as a
//! tarball cached per recipe; and our pause program.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{NodeImageError, io_err};
use super::files::{copy, reset_dir, write_exec, write_file};
use super::recipe::{
    IPTABLES_WRAPPER, PAUSE_GO, SIMPLE_CNI, cni_image, kube_router_image, local_path_helper_image,
    local_path_provisioner_image, metrics_server_image, recipe_hash,
};
use crate::docker::Docker;
use crate::tools::exec::{Cmd, which};
use crate::tools::{ToolError, versions};

/// The built binaries the component images are made of.
pub(super) struct Binaries {
    /// Kubernetes' server binaries, kubectl, kubeadm and kubelet.
    pub k8s: PathBuf,
    pub etcd: PathBuf,
    pub coredns: PathBuf,
    pub metrics: PathBuf,
    pub local_path: PathBuf,
    pub kube_router: PathBuf,
    /// Our pause program.
    pub pause: PathBuf,
}

/// Builds (or finds) every image the node preloads, tagged as kubeadm
/// expects, and returns their tarballs: control plane, etcd, CoreDNS, pause
/// and metrics-server from scratch, local-path provisioner and helper,
/// kube-proxy and our CNI daemon on the small root filesystem
/// `small_image`.
pub(super) fn component_images(
    docker: &Docker,
    bins: &Binaries,
    small_image: &str,
    build: &Path,
    images: &Path,
) -> Result<Vec<PathBuf>, NodeImageError> {
    let Binaries {
        k8s,
        etcd,
        coredns,
        metrics,
        local_path,
        kube_router,
        pause,
    } = bins;
    let mut tarballs = Vec::new();
    let scratch = |files: &[(&Path, &str)], entrypoint: &str, extra: &str| -> String {
        let mut df = String::from("FROM scratch\n");
        for (_, dest) in files {
            let base = Path::new(dest)
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or(dest);
            df.push_str(&format!("COPY {base} {dest}\n"));
        }
        df.push_str("COPY tmp /tmp\nENV PATH=/usr/local/bin:/usr/bin:/bin\n");
        df.push_str(extra);
        df.push_str(&format!("ENTRYPOINT [\"{entrypoint}\"]\n"));
        df
    };
    let v = versions::KUBERNETES;
    for cmd in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let dest = format!("/usr/local/bin/{cmd}");
        let bin = k8s.join(cmd);
        let files = [(bin.as_path(), dest.as_str())];
        let df = scratch(&files, &dest, "");
        tarballs.push(component(
            docker,
            build,
            images,
            &format!("registry.k8s.io/{cmd}:{v}"),
            &df,
            &files,
        )?);
    }
    {
        let (e, c) = (etcd.join("etcd"), etcd.join("etcdctl"));
        let files = [
            (e.as_path(), "/usr/local/bin/etcd"),
            (c.as_path(), "/usr/local/bin/etcdctl"),
        ];
        let df = scratch(&files, "/usr/local/bin/etcd", "");
        let tag = format!("registry.k8s.io/etcd:{}", versions::ETCD_IMAGE_TAG);
        tarballs.push(component(docker, build, images, &tag, &df, &files)?);
    }
    {
        let b = coredns.join("coredns");
        let files = [(b.as_path(), "/coredns")];
        let df = scratch(&files, "/coredns", "");
        let tag = format!("registry.k8s.io/coredns/coredns:{}", versions::COREDNS);
        tarballs.push(component(docker, build, images, &tag, &df, &files)?);
    }
    {
        let files = [(pause.as_path(), "/pause")];
        let df = scratch(&files, "/pause", "USER 65535:65535\n");
        let tag = format!("registry.k8s.io/pause:{}", versions::PAUSE);
        tarballs.push(component(docker, build, images, &tag, &df, &files)?);
    }
    {
        let b = metrics.join("metrics-server");
        let files = [(b.as_path(), "/metrics-server")];
        let df = scratch(&files, "/metrics-server", "USER 65534:65534\n");
        tarballs.push(component(
            docker,
            build,
            images,
            &metrics_server_image(),
            &df,
            &files,
        )?);
    }
    {
        let b = local_path.join("local-path-provisioner");
        let files = [(b.as_path(), "/local-path-provisioner")];
        let df = scratch(&files, "/local-path-provisioner", "");
        tarballs.push(component(
            docker,
            build,
            images,
            &local_path_provisioner_image(),
            &df,
            &files,
        )?);
        let df = format!("FROM {small_image}\n");
        tarballs.push(component(
            docker,
            build,
            images,
            &local_path_helper_image(),
            &df,
            &[],
        )?);
    }
    let wrapper_dir = build.join("shared");
    std::fs::create_dir_all(&wrapper_dir).map_err(io_err("creating the shared build folder"))?;
    let wrapper = wrapper_dir.join("iptables-wrapper");
    write_exec(&wrapper, IPTABLES_WRAPPER)?;
    let cni_script = wrapper_dir.join("simple-cni");
    write_exec(&cni_script, SIMPLE_CNI)?;
    let link_wrapper = "RUN for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; \
                        do ln -sf /usr/local/sbin/iptables-wrapper /usr/local/sbin/$n; done\n";
    {
        let b = k8s.join("kube-proxy");
        let files = [
            (b.as_path(), "/usr/local/bin/kube-proxy"),
            (wrapper.as_path(), "/usr/local/sbin/iptables-wrapper"),
        ];
        let df = format!(
            "FROM {small_image}\nCOPY kube-proxy /usr/local/bin/kube-proxy\nCOPY iptables-wrapper /usr/local/sbin/iptables-wrapper\n{link_wrapper}\
             ENTRYPOINT [\"/usr/local/bin/kube-proxy\"]\n"
        );
        tarballs.push(component(
            docker,
            build,
            images,
            &format!("registry.k8s.io/kube-proxy:{v}"),
            &df,
            &files,
        )?);
    }
    {
        let b = k8s.join("kubectl");
        let files = [
            (b.as_path(), "/usr/local/bin/kubectl"),
            (cni_script.as_path(), "/usr/local/bin/simple-cni"),
            (wrapper.as_path(), "/usr/local/sbin/iptables-wrapper"),
        ];
        let df = format!(
            "FROM {small_image}\nCOPY kubectl /usr/local/bin/kubectl\nCOPY simple-cni /usr/local/bin/simple-cni\n\
             COPY iptables-wrapper /usr/local/sbin/iptables-wrapper\n{link_wrapper}\
             ENTRYPOINT [\"/usr/local/bin/simple-cni\"]\n"
        );
        tarballs.push(component(docker, build, images, &cni_image(), &df, &files)?);
    }
    {
        // iptables, ipset and the iptables wrapper kube-proxy uses, so both
        // write rules through the same back end.
        let b = kube_router.join("kube-router");
        let files = [
            (b.as_path(), "/usr/local/bin/kube-router"),
            (wrapper.as_path(), "/usr/local/sbin/iptables-wrapper"),
        ];
        let df = format!(
            "FROM {small_image}\nCOPY kube-router /usr/local/bin/kube-router\n\
             COPY iptables-wrapper /usr/local/sbin/iptables-wrapper\n{link_wrapper}\
             ENTRYPOINT [\"/usr/local/bin/kube-router\"]\n"
        );
        tarballs.push(component(
            docker,
            build,
            images,
            &kube_router_image(),
            &df,
            &files,
        )?);
    }

    Ok(tarballs)
}

/// Builds one component image from `files` and `dockerfile` (unless its
/// tarball exists) and saves it; returns the tarball.
fn component(
    docker: &Docker,
    build: &Path,
    images: &Path,
    tag: &str,
    dockerfile: &str,
    files: &[(&Path, &str)],
) -> Result<PathBuf, NodeImageError> {
    let slug: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tar = images.join(format!("{slug}.tar"));
    if tar.is_file() {
        return Ok(tar);
    }
    eprintln!("inferbench: building image {tag}");
    let ctx = build.join(&slug);
    reset_dir(&ctx)?;
    let tmp = ctx.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(io_err("creating tmp in the build context"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))
        .map_err(io_err("chmod tmp"))?;
    for (src, dest) in files {
        let base = Path::new(dest)
            .file_name()
            .ok_or_else(|| NodeImageError::Build(format!("bad destination {dest}")))?;
        copy(src, &ctx.join(base))?;
    }
    write_file(&ctx.join("Dockerfile"), dockerfile)?;
    docker.build_image(&ctx, tag, None, Duration::from_secs(900))?;
    let partial = tar.with_extension("partial");
    docker.save_images(&partial, &[tag])?;
    std::fs::rename(&partial, &tar).map_err(io_err(format!("renaming {}", partial.display())))?;
    Ok(tar)
}

/// Our pause program, built with Go into the cache.
pub(super) fn build_pause() -> Result<PathBuf, NodeImageError> {
    let dir = crate::workspace::cache_dir()
        .join("tools")
        .join("pause")
        .join(recipe_hash());
    let bin = dir.join("pause");
    if bin.is_file() {
        return Ok(bin);
    }
    let go = which("go").ok_or(ToolError::GoMissing)?;
    std::fs::create_dir_all(&dir).map_err(io_err("creating the pause build folder"))?;
    write_file(&dir.join("pause.go"), PAUSE_GO)?;
    Cmd::new(go)
        .args([
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w",
            "-o",
            "pause",
            "pause.go",
        ])
        .current_dir(&dir)
        .env("CGO_ENABLED", "0")
        .env("GO111MODULE", "off")
        .timeout(Duration::from_secs(600))
        .run()?;
    Ok(bin)
}
