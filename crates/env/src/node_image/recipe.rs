//! What shapes the node image: our assets, the pinned versions, the
//! packages of its root filesystems and its Dockerfile, hashed into the
//! recipe hash; and the image references and manifests derived from them.

use crate::tools::versions;

const CONTAINERD_CONFIG: &str = include_str!("../../assets/node-image/containerd-config.toml");
pub(super) const PAUSE_GO: &str = include_str!("../../assets/node-image/pause.go");
pub(super) const IPTABLES_WRAPPER: &str =
    include_str!("../../assets/node-image/iptables-wrapper.sh");
pub(super) const SIMPLE_CNI: &str = include_str!("../../assets/node-image/simple-cni.sh");
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

/// A short, stable hash of everything that shapes the node image.
pub fn recipe_hash() -> String {
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
        versions::KUBE_ROUTER,
        versions::DEBIAN_SUITE,
        versions::CONTAINERD_DEB_AMD64.0,
        &NODE_PACKAGES.join(","),
        &SMALL_PACKAGES.join(","),
        NODE_DOCKERFILE,
        "recipe-2",
    ];
    format!("{:08x}", crate::digest::fnv1a_64_parts(parts) >> 32)
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

/// The kube-router image (built locally, preloaded in our node image):
/// the NetworkPolicy enforcer.
pub fn kube_router_image() -> String {
    format!(
        "inferbench.local/kube-router:{}-{}",
        versions::KUBE_ROUTER,
        recipe_hash()
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

/// The node image's Dockerfile (over the imported debootstrap root
/// filesystem), following kind's images/base/Dockerfile.
pub(super) const NODE_DOCKERFILE: &str = r#"FROM @ROOTFS_IMAGE@
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY containerd-config.toml /etc/containerd/config.toml
COPY kubeadm kubelet kubectl /usr/bin/
COPY containerd/ /usr/
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
        assert!(c.contains("enable_cdi = true"));
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
