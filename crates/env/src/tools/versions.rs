//! Every pinned version, in one place.
//!
//! kind v0.30.0 was released with Kubernetes v1.34; the etcd, CoreDNS and
//! pause versions are the ones kubeadm v1.34 asks for
//! (`kubeadm config images list`), so the images we build carry exactly the
//! tags kubeadm pulls.

/// kind, the cluster tool.
pub const KIND: &str = "v0.30.0";
/// Kubernetes (kubeadm, kubelet, kubectl, control plane, kube-proxy).
/// Kubelet 1.35+ refuses cgroup v1 unless `failCgroupV1: false`.
pub const KUBERNETES: &str = "v1.34.4";
/// The published version of Kubernetes' staging modules (k8s.io/api, ...)
/// matching [`KUBERNETES`].
pub const KUBERNETES_STAGING: &str = "v0.34.4";
/// etcd, as kubeadm v1.34 expects it (image tag `3.6.5-0`).
pub const ETCD: &str = "v3.6.5";
/// The etcd image tag kubeadm v1.34 uses.
pub const ETCD_IMAGE_TAG: &str = "3.6.5-0";
/// CoreDNS, as kubeadm v1.34 expects it.
pub const COREDNS: &str = "v1.12.1";
/// The CoreDNS plugins compiled in when CoreDNS is built from the Go module
/// proxy, in the order of its `plugin.cfg` (CoreDNS orders the chain by its
/// own directive list, so the import order does not matter). Everything of
/// `plugin.cfg` except the back ends a kind cluster has no use for and that
/// make up most of the cold build: `route53`, `azure`, `clouddns` (cloud
/// SDKs), `etcd` (etcd's client), `trace` (Datadog and Zipkin tracers),
/// `geoip` (MaxMind). kubeadm's Corefile (errors, health, ready,
/// kubernetes, prometheus, forward, cache, loop, reload, loadbalance) and
/// the usual edits (log, hosts, rewrite, template, ...) all stay.
pub const COREDNS_PLUGINS: &[&str] = &[
    "root",
    "metadata",
    "cancel",
    "tls",
    "timeouts",
    "multisocket",
    "reload",
    "nsid",
    "bufsize",
    "bind",
    "debug",
    "ready",
    "health",
    "pprof",
    "metrics",
    "errors",
    "log",
    "dnstap",
    "local",
    "dns64",
    "acl",
    "any",
    "chaos",
    "loadbalance",
    "tsig",
    "cache",
    "rewrite",
    "header",
    "dnssec",
    "autopath",
    "minimal",
    "template",
    "transfer",
    "hosts",
    "k8s_external",
    "kubernetes",
    "file",
    "auto",
    "secondary",
    "loop",
    "forward",
    "grpc",
    "erratic",
    "whoami",
    "sign",
    "view",
];
/// The pause (sandbox) image tag kubeadm v1.34 uses.
pub const PAUSE: &str = "3.10.1";
/// metrics-server (the newest version the Go module proxy serves with a
/// checksum-database entry; v0.8.0 is missing there).
pub const METRICS_SERVER: &str = "v0.9.0";
/// Rancher's local-path provisioner, the default StorageClass kind ships.
pub const LOCAL_PATH_PROVISIONER: &str = "v0.0.30";
/// The node image kind v0.30.0 uses by default (download path).
pub const KIND_NODE_IMAGE_OFFICIAL: &str =
    "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a";
/// kwok, the fake-node controller behind the kwok provider: the newest
/// release the Go module proxy serves (client-go v0.36; its
/// supported_releases.txt lists Kubernetes 1.32 to 1.36, so 1.34 included).
/// Its go.mod asks for Go 1.26: an older `go` fetches that toolchain
/// through the module proxy itself (GOTOOLCHAIN=auto).
pub const KWOK: &str = "v0.8.0";
/// kube-router, whose network policy controller alone (no routing, no
/// service proxy) enforces NetworkPolicy on our kind clusters, beside our
/// CNI, with iptables and ipset (as k3s embeds it). SIG Network's
/// kube-network-policies v0.8.0 and kindnetd (which embeds it) build from
/// the Go module proxy but cannot run here: they send packets to user space
/// with nftables' `queue` expression, and this machine's kernel is built
/// without it (`CONFIG_NFT_QUEUE` not set), so their rules are refused.
/// v2.1.0 is the only kube-router release the proxy serves; advisories
/// against it are fixed in v2.1.3 and later, which it does not serve. It
/// runs only inside local, throwaway clusters.
pub const KUBE_ROUTER: &str = "v2.1.0";
/// The Debian release the locally built node image is made of.
pub const DEBIAN_SUITE: &str = "bookworm";
/// containerd from Debian 13 (trixie), laid over the node root
/// filesystem's 1.6 from bookworm (amd64 nodes): 1.7 hands the container
/// the CDI devices a DRA driver prepared (`enable_cdi`); 1.6 ignores them.
/// Its path in the Debian archive and SHA-256, from trixie's `Packages`.
pub const CONTAINERD_DEB_AMD64: (&str, &str) = (
    "pool/main/c/containerd/containerd_1.7.24~ds1-6+deb13u1_amd64.deb",
    "ed708deb96fe476a3bce4efa5c0538dfbcf717ab9a7c7944ba7260342c25899c",
);
/// actionlint, the GitHub Actions workflow linter (`crates/env/tests/workflows.rs`).
/// v1.7.11 is the newest release whose go.mod asks for no more than Go 1.24
/// (v1.7.12 needs Go 1.25), the oldest Go this project supports.
pub const ACTIONLINT: &str = "v1.7.11";

/// Prometheus (module `github.com/prometheus/prometheus`, whose `v0.3XX.Y`
/// tags are Prometheus 3.XX.Y), for `up --with prometheus`: built from the
/// Go module proxy with Kubernetes service discovery only
/// ([`PROMETHEUS_BUILD_TAGS`]) and no web UI assets (the HTTP API is all
/// the harness and KEDA use).
pub const PROMETHEUS: &str = "v0.316.0";
/// Prometheus' own build tags: every optional service discovery left out
/// but Kubernetes' (a smaller, faster cold build).
pub const PROMETHEUS_BUILD_TAGS: &str = "remove_all_sd,enable_kubernetes_sd";

/// The Vertical Pod Autoscaler (module [`VPA_MODULE`]), for `up --with
/// vpa`: its recommender only, built from the Go module proxy (the updater
/// and the admission controller act on pods; the harness reads the
/// recommendation). Its CRDs come from the same module
/// (`deploy/vpa-v1-crd-gen.yaml`).
pub const VPA: &str = "v1.8.1";
/// The VPA's Go module.
pub const VPA_MODULE: &str = "k8s.io/autoscaler/vertical-pod-autoscaler";

/// Helm, which renders and installs a team's chart (`--chart`): the newest
/// v3 release the Go module proxy serves (chart-testing and most teams'
/// pipelines are on v3). Its go.mod asks for Go 1.26.
pub const HELM: &str = "v3.22.0";
/// The client-go release Helm [`HELM`] is built with (its go.mod): Helm's
/// Makefile stamps the Kubernetes version `helm template` and `helm lint`
/// assume from it (v0.37 -> 1.37).
pub const HELM_CLIENT_GO: &str = "v0.37.0";

/// The Kubernetes staging modules that `k8s.io/kubernetes`' go.mod replaces
/// with local paths; our wrapper module replaces each with its published
/// [`KUBERNETES_STAGING`] version instead.
pub const KUBERNETES_STAGING_MODULES: &[&str] = &[
    "k8s.io/api",
    "k8s.io/apiextensions-apiserver",
    "k8s.io/apimachinery",
    "k8s.io/apiserver",
    "k8s.io/cli-runtime",
    "k8s.io/client-go",
    "k8s.io/cloud-provider",
    "k8s.io/cluster-bootstrap",
    "k8s.io/code-generator",
    "k8s.io/component-base",
    "k8s.io/component-helpers",
    "k8s.io/controller-manager",
    "k8s.io/cri-api",
    "k8s.io/cri-client",
    "k8s.io/csi-translation-lib",
    "k8s.io/dynamic-resource-allocation",
    "k8s.io/endpointslice",
    "k8s.io/externaljwt",
    "k8s.io/kms",
    "k8s.io/kube-aggregator",
    "k8s.io/kube-controller-manager",
    "k8s.io/kube-proxy",
    "k8s.io/kube-scheduler",
    "k8s.io/kubectl",
    "k8s.io/kubelet",
    "k8s.io/metrics",
    "k8s.io/mount-utils",
    "k8s.io/pod-security-admission",
    "k8s.io/sample-apiserver",
    "k8s.io/sample-cli-plugin",
    "k8s.io/sample-controller",
];

/// The Kubernetes commands we build.
pub const KUBERNETES_COMMANDS: &[&str] = &[
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
];
