//! A kind node image built on this machine, for hosts that cannot pull
//! `kindest/node` (no registry, air-gapped).
//!
//! It is the equivalent of kind's `images/base` plus `kind build
//! node-image`, made of things this machine can get:
//!
//! * a Debian root filesystem from `debootstrap` with systemd, containerd
//!   1.6, runc, the CNI plugins, iptables, conntrack and the rest of what
//!   kind's base image carries;
//! * kind's base-image files (entrypoint, systemd units, kubelet drop-ins)
//!   copied at build time from kind's source in the Go module cache, and our
//!   own containerd configuration for containerd 1.6;
//! * the Kubernetes binaries built by [`crate::tools`];
//! * preloaded images, built locally and tagged exactly as kubeadm v1.34
//!   expects: control plane and etcd/CoreDNS/pause/metrics-server from
//!   scratch with static binaries, kube-proxy and our simple CNI daemon on
//!   a small Debian root filesystem.
//!
//! Everything is cached under `cache_dir()/node-image`, keyed by the pinned
//! versions and a hash of our assets, so a warm run only checks that the
//! final image exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::docker::{Docker, DockerError, apt_install};
use crate::tools::exec::{Cmd, ExecError, is_root, which};
use crate::tools::{ToolError, Toolchain, versions};

const CONTAINERD_CONFIG: &str = include_str!("../../assets/node-image/containerd-config.toml");
const PAUSE_GO: &str = include_str!("../../assets/node-image/pause.go");
const IPTABLES_WRAPPER: &str = include_str!("../../assets/node-image/iptables-wrapper.sh");
const SIMPLE_CNI: &str = include_str!("../../assets/node-image/simple-cni.sh");
const DEFAULT_CNI_MANIFEST: &str = include_str!("../../assets/node-image/default-cni.yaml");
const DEFAULT_STORAGE_MANIFEST: &str = include_str!("../../assets/node-image/default-storage.yaml");

/// Packages of the node root filesystem (what kind's base image installs,
/// plus containerd and runc, which kind builds itself).
pub const NODE_PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "fuse-overlayfs",
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
    "socat",
    "iputils-ping",
];

/// Packages of the small root filesystem under kube-proxy, the CNI daemon
/// and the local-path helper.
pub const SMALL_PACKAGES: &[&str] = &["iptables", "conntrack", "ipset", "kmod", "iproute2", "jq"];

/// Errors from building the node image.
#[derive(Debug, thiserror::Error)]
pub enum NodeImageError {
    #[error(
        "building the kind node image needs root (debootstrap and chroot); run as root, or use \
         INFERBENCH_TOOL_SOURCE=download on a machine that can pull kindest/node"
    )]
    NotRoot,
    #[error("`debootstrap` is missing and apt-get could not install it: {0}")]
    NoDebootstrap(#[source] ExecError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the node image build went wrong: {0}")]
    Build(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeImageError {
    let what = what.into();
    move |source| NodeImageError::Io { what, source }
}

/// A short, stable hash of everything that shapes the node image.
pub fn recipe_hash() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts: &[&str] = &[
        CONTAINERD_CONFIG,
        PAUSE_GO,
        IPTABLES_WRAPPER,
        SIMPLE_CNI,
        DEFAULT_CNI_MANIFEST,
        DEFAULT_STORAGE_MANIFEST,
        versions::LOCAL_PATH_PROVISIONER,
        versions::KIND,
        versions::KUBERNETES,
        versions::ETCD,
        versions::COREDNS,
        &versions::COREDNS_PLUGINS.join(","),
        versions::PAUSE,
        versions::METRICS_SERVER,
        versions::DEBIAN_SUITE,
        &NODE_PACKAGES.join(","),
        &SMALL_PACKAGES.join(","),
        NODE_DOCKERFILE,
        "recipe-1",
    ];
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{:08x}", h >> 32)
}

/// The locally built node image's reference.
pub fn node_image_reference() -> String {
    format!(
        "inferbench/kind-node:{}-{}",
        versions::KUBERNETES,
        recipe_hash()
    )
}

/// The image of our simple CNI daemon.
pub fn cni_image() -> String {
    format!("inferbench.local/simple-cni:{}", recipe_hash())
}

/// The metrics-server image reference (built locally, preloaded in our
/// node image; pulled from registry.k8s.io on the download path).
pub fn metrics_server_image() -> String {
    format!(
        "registry.k8s.io/metrics-server/metrics-server:{}",
        versions::METRICS_SERVER
    )
}

/// The local-path provisioner image (built locally).
pub fn local_path_provisioner_image() -> String {
    format!(
        "inferbench.local/local-path-provisioner:{}",
        versions::LOCAL_PATH_PROVISIONER
    )
}

/// The helper image the local-path provisioner runs to create and delete
/// volume folders (our small Debian root filesystem).
pub fn local_path_helper_image() -> String {
    format!("inferbench.local/local-path-helper:{}", recipe_hash())
}

/// The storage manifest our node image carries at
/// `/kind/manifests/default-storage.yaml`: a default StorageClass
/// `standard` backed by the local-path provisioner, as in kind's images.
pub fn default_storage_manifest() -> String {
    DEFAULT_STORAGE_MANIFEST
        .replace("@PROVISIONER_IMAGE@", &local_path_provisioner_image())
        .replace("@HELPER_IMAGE@", &local_path_helper_image())
}

/// The CNI manifest our node image carries at
/// `/kind/manifests/default-cni.yaml` (kind templates `PodSubnet` and adds
/// `CONTROL_PLANE_ENDPOINT`).
pub fn default_cni_manifest() -> String {
    DEFAULT_CNI_MANIFEST.replace("@CNI_IMAGE@", &cni_image())
}

/// The containerd configuration of our node image.
pub fn containerd_config() -> String {
    CONTAINERD_CONFIG.replace("@PAUSE_VERSION@", versions::PAUSE)
}

fn root() -> PathBuf {
    crate::workspace::cache_dir().join("node-image")
}

/// Builds the node image unless it exists; returns its reference.
/// Cold: about 10 minutes after the tools are built; warm: seconds.
pub fn ensure_node_image(docker: &Docker, tools: &Toolchain) -> Result<String, NodeImageError> {
    let reference = node_image_reference();
    if docker.image_exists(&reference)? {
        return Ok(reference);
    }
    if !is_root() {
        return Err(NodeImageError::NotRoot);
    }
    let started = Instant::now();
    eprintln!("inferbench: building the kind node image {reference} (cold: about 10 min)");
    let k8s = tools.kubernetes()?;
    let etcd = tools.etcd()?;
    let coredns = tools.coredns()?;
    let metrics = tools.metrics_server()?;
    let local_path = tools.local_path_provisioner()?;
    let kind_src = tools.kind_source()?;
    let pause = build_pause()?;

    let node_rootfs = ensure_rootfs("node", NODE_PACKAGES)?;
    let small_rootfs = ensure_rootfs("small", SMALL_PACKAGES)?;
    let small_image = format!("inferbench/debian-small:{}", recipe_hash());
    import_rootfs(docker, &small_rootfs, &small_image, &[])?;

    let build = root().join("build");
    let images = root().join("images").join(recipe_hash());
    std::fs::create_dir_all(&images).map_err(io_err("creating the image folder"))?;

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
            &build,
            &images,
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
        tarballs.push(component(docker, &build, &images, &tag, &df, &files)?);
    }
    {
        let b = coredns.join("coredns");
        let files = [(b.as_path(), "/coredns")];
        let df = scratch(&files, "/coredns", "");
        let tag = format!("registry.k8s.io/coredns/coredns:{}", versions::COREDNS);
        tarballs.push(component(docker, &build, &images, &tag, &df, &files)?);
    }
    {
        let files = [(pause.as_path(), "/pause")];
        let df = scratch(&files, "/pause", "USER 65535:65535\n");
        let tag = format!("registry.k8s.io/pause:{}", versions::PAUSE);
        tarballs.push(component(docker, &build, &images, &tag, &df, &files)?);
    }
    {
        let b = metrics.join("metrics-server");
        let files = [(b.as_path(), "/metrics-server")];
        let df = scratch(&files, "/metrics-server", "USER 65534:65534\n");
        tarballs.push(component(
            docker,
            &build,
            &images,
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
            &build,
            &images,
            &local_path_provisioner_image(),
            &df,
            &files,
        )?);
        let df = format!("FROM {small_image}\n");
        tarballs.push(component(
            docker,
            &build,
            &images,
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
            &build,
            &images,
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
        tarballs.push(component(
            docker,
            &build,
            &images,
            &cni_image(),
            &df,
            &files,
        )?);
    }

    // The node base: root filesystem + kind's base files + our config + Kubernetes.
    let rootfs_image = format!("inferbench/kind-node-rootfs:{}", recipe_hash());
    import_rootfs(docker, &node_rootfs, &rootfs_image, &[])?;
    let base_image = format!("inferbench/kind-node-base:{}", recipe_hash());
    if !docker.image_exists(&base_image)? {
        let ctx = build.join("node");
        reset_dir(&ctx)?;
        Cmd::new("cp")
            .arg("-r")
            .arg(kind_src.join("images/base/files"))
            .arg(ctx.join("files"))
            .timeout(Duration::from_secs(120))
            .run()?;
        // The module cache is read-only; the copy must be writable.
        Cmd::new("chmod")
            .args(["-R", "u+w"])
            .arg(ctx.join("files"))
            .timeout(Duration::from_secs(60))
            .run()?;
        write_file(&ctx.join("containerd-config.toml"), &containerd_config())?;
        write_file(&ctx.join("default-cni.yaml"), &default_cni_manifest())?;
        write_file(
            &ctx.join("default-storage.yaml"),
            &default_storage_manifest(),
        )?;
        write_file(&ctx.join("version"), versions::KUBERNETES)?;
        for cmd in ["kubeadm", "kubelet", "kubectl"] {
            copy(&k8s.join(cmd), &ctx.join(cmd))?;
        }
        write_file(
            &ctx.join("Dockerfile"),
            &NODE_DOCKERFILE.replace("@ROOTFS_IMAGE@", &rootfs_image),
        )?;
        docker.build_image(&ctx, &base_image, None, Duration::from_secs(1200))?;
    }

    preload_and_commit(docker, &base_image, &tarballs, &reference)?;
    prune_stale(&build, &images);
    eprintln!(
        "inferbench: node image {reference} built in {}s",
        started.elapsed().as_secs()
    );
    Ok(reference)
}

/// Removes build contexts and the tarballs of other recipes (they are only
/// inputs of an image that now exists). Failures only cost disk space.
fn prune_stale(build: &Path, images: &Path) {
    let _ = std::fs::remove_dir_all(build);
    if let Some(all) = images.parent()
        && let Ok(entries) = std::fs::read_dir(all)
    {
        for e in entries.flatten() {
            if e.path() != images {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The node image's Dockerfile (over the imported debootstrap root
/// filesystem), following kind's images/base/Dockerfile.
const NODE_DOCKERFILE: &str = r#"FROM @ROOTFS_IMAGE@
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY containerd-config.toml /etc/containerd/config.toml
COPY kubeadm kubelet kubectl /usr/bin/
COPY version /kind/version
COPY default-cni.yaml /kind/manifests/default-cni.yaml
COPY default-storage.yaml /kind/manifests/default-storage.yaml
RUN chmod 755 /usr/local/bin/* /kind/bin /kind/bin/* /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl \
    && chmod -R go-w /etc/systemd /etc/containerd /etc/default /etc/sysctl.d /kind \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* \
    && rm -f /etc/systemd/system/*.wants/* \
    && rm -f /lib/systemd/system/local-fs.target.wants/* \
    && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
    && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
    && rm -f /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf /lib/systemd/systemd /sbin/init \
    && ln -sf /usr/bin/containerd /usr/local/bin/containerd \
    && ln -sf /usr/bin/ctr /usr/local/bin/ctr \
    && ln -sf /usr/bin/containerd-shim-runc-v2 /usr/local/bin/containerd-shim-runc-v2 \
    && mkdir -p /opt/cni/bin /etc/cni/net.d /etc/kubernetes/manifests \
    && for p in /usr/lib/cni/*; do ln -sf "$p" /opt/cni/bin/; done \
    && ctr oci spec \
        | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
        | jq 'del(.process.rlimits)' \
        > /etc/containerd/cri-base.json \
    && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /usr/share/doc /usr/share/man
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
"#;

/// Starts containerd in a privileged container of `base`, imports every
/// image tarball into its `k8s.io` namespace, stops containerd and commits
/// the container as `reference` (what `kind build node-image` does).
fn preload_and_commit(
    docker: &Docker,
    base: &str,
    tarballs: &[PathBuf],
    reference: &str,
) -> Result<(), NodeImageError> {
    let name = format!("inferbench-node-build-{}", std::process::id());
    let _ = docker
        .cmd()
        .args(["rm", "-f", &name])
        .timeout(Duration::from_secs(60))
        .run_unchecked();
    docker
        .cmd()
        .args([
            "run",
            "-d",
            "--init",
            "--privileged",
            "--name",
            &name,
            "--entrypoint",
            "sleep",
            base,
            "infinity",
        ])
        .timeout(Duration::from_secs(120))
        .run()?;
    let result = (|| -> Result<(), NodeImageError> {
        let exec = |args: &[&str]| docker.cmd().args(["exec", &name]).args(args);
        exec(&[
            "sh",
            "-c",
            "nohup containerd >/var/log/inferbench-preload.log 2>&1 &",
        ])
        .timeout(Duration::from_secs(30))
        .run()?;
        let start = Instant::now();
        loop {
            if exec(&["ctr", "version"])
                .timeout(Duration::from_secs(10))
                .run()
                .is_ok()
            {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let log = exec(&["cat", "/var/log/inferbench-preload.log"]).run_unchecked()?;
                return Err(NodeImageError::Build(format!(
                    "containerd did not start in the build container:\n{}",
                    log.stdout
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        for tar in tarballs {
            eprintln!("inferbench: preloading {}", tar.display());
            docker
                .cmd()
                .args(["exec", "-i", &name])
                .args([
                    "ctr",
                    "--namespace=k8s.io",
                    "images",
                    "import",
                    "--all-platforms",
                    "--no-unpack",
                    "--digests",
                    "--snapshotter=overlayfs",
                    "-",
                ])
                .stdin_file(tar)
                .timeout(Duration::from_secs(600))
                .run()?;
        }
        let list = exec(&["ctr", "--namespace=k8s.io", "images", "ls", "-q"])
            .timeout(Duration::from_secs(30))
            .output_string()?;
        eprintln!("inferbench: images in the node image:\n{list}");
        exec(&["sh", "-c", "pkill -x containerd; for i in $(seq 1 100); do pgrep -x containerd >/dev/null || exit 0; sleep 0.2; done; exit 1"])
            .timeout(Duration::from_secs(60))
            .run()?;
        docker
            .cmd()
            .args([
                "commit",
                "--change",
                r#"ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]"#,
                "--change",
                "CMD []",
                "--change",
                r#"ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY="""#,
                &name,
                reference,
            ])
            .timeout(Duration::from_secs(900))
            .run()?;
        Ok(())
    })();
    let _ = docker
        .cmd()
        .args(["rm", "-f", "-v", &name])
        .timeout(Duration::from_secs(120))
        .run_unchecked();
    result
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

/// A debootstrap root filesystem of `packages`, cached by name and recipe.
fn ensure_rootfs(name: &str, packages: &[&str]) -> Result<PathBuf, NodeImageError> {
    let dir = root().join("rootfs").join(format!(
        "{name}-{}-{}",
        versions::DEBIAN_SUITE,
        packages_hash(packages)
    ));
    let marker = dir.with_extension("complete");
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
    let mut h: u32 = 0x811c_9dc5;
    for b in packages.join(",").bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// `docker import` of a root filesystem folder, unless the image exists.
fn import_rootfs(
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

/// Our pause program, built with Go into the cache.
fn build_pause() -> Result<PathBuf, NodeImageError> {
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

fn reset_dir(dir: &Path) -> Result<(), NodeImageError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io_err(format!("removing {}", dir.display())))?;
    }
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))
}

fn write_file(path: &Path, contents: &str) -> Result<(), NodeImageError> {
    std::fs::write(path, contents).map_err(io_err(format!("writing {}", path.display())))
}

fn write_exec(path: &Path, contents: &str) -> Result<(), NodeImageError> {
    write_file(path, contents)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("chmod {}", path.display())))
}

fn copy(from: &Path, to: &Path) -> Result<(), NodeImageError> {
    std::fs::copy(from, to).map(|_| ()).map_err(io_err(format!(
        "copying {} to {}",
        from.display(),
        to.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_stable_and_versioned() {
        assert_eq!(node_image_reference(), node_image_reference());
        assert!(node_image_reference().starts_with("inferbench/kind-node:v1.34.4-"));
    }

    #[test]
    fn containerd_config_points_at_local_pause() {
        let c = containerd_config();
        assert!(c.contains("sandbox_image = \"registry.k8s.io/pause:3.10.1\""));
        assert!(c.contains("SystemdCgroup = true"));
        assert!(c.starts_with("# containerd") && c.contains("\nversion = 2\n"));
    }

    #[test]
    fn storage_manifest_uses_local_images() {
        let m = default_storage_manifest();
        assert!(m.contains(&local_path_provisioner_image()));
        assert!(m.contains(&local_path_helper_image()));
        assert!(!m.contains('@'));
        assert!(m.contains("name: standard"));
    }

    #[test]
    fn cni_manifest_keeps_kind_markers() {
        let m = default_cni_manifest();
        assert!(m.contains("would you kindly template this file"));
        assert!(m.contains("would you kindly patch this file"));
        assert!(m.contains(&cni_image()));
        assert!(m.contains("{{ .PodSubnet }}"));
    }
}
