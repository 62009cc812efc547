//! Pinned tools (kind, Kubernetes, etcd, CoreDNS, metrics-server, Helm, ...) and
//! the two ways of getting them, behind one interface:
//!
//! * [`ToolSource::Download`]: official release binaries (kind from GitHub,
//!   kubectl from dl.k8s.io, checked against their published SHA-256) and
//!   the official `kindest/node` image, pulled by kind itself.
//! * [`ToolSource::BuildFromGoProxy`]: everything built from source fetched
//!   through the Go module proxy (air-gapped teams, machines without a
//!   container registry), including a locally built node image
//!   (see [`crate::node_image`]).
//!
//! Everything lands under `cache_dir()/tools/<name>/<version>/`, so a warm
//! run does nothing.

pub mod download;
pub mod exec;
pub mod gobuild;
pub mod versions;

use exec::ExecError;
use std::path::{Path, PathBuf};

/// Errors from getting a tool.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "`go` is not installed; building tools from the Go module proxy needs Go 1.24 or newer \
         (https://go.dev/dl/), or set INFERBENCH_TOOL_SOURCE=download on a machine with internet access"
    )]
    GoMissing,
    #[error("building {tool} {version} failed: {source}")]
    Build {
        tool: String,
        version: String,
        #[source]
        source: ExecError,
    },
    #[error("downloading {url} failed: {source}")]
    Download {
        url: String,
        #[source]
        source: ExecError,
    },
    #[error("checksum mismatch for {url}: expected {expected}, got {actual}")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{tool} cannot be obtained with {source_kind:?}: {why}")]
    Unsupported {
        tool: String,
        source_kind: ToolSource,
        why: String,
    },
    #[error("unknown INFERBENCH_TOOL_SOURCE {0:?}: use `download` or `build`")]
    BadSource(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ToolError {
    let what = what.into();
    move |source| ToolError::Io { what, source }
}

/// Where tools come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSource {
    /// Official release binaries and images (needs internet access).
    Download,
    /// Built from the Go module proxy; node image built locally.
    BuildFromGoProxy,
}

impl ToolSource {
    /// `INFERBENCH_TOOL_SOURCE=download|build`; without it, `Download` when
    /// dl.k8s.io answers within a few seconds, else `BuildFromGoProxy`.
    pub fn from_env() -> Result<ToolSource, ToolError> {
        match std::env::var("INFERBENCH_TOOL_SOURCE") {
            Ok(v) => v.parse(),
            Err(_) => Ok(if download::internet_reachable() {
                ToolSource::Download
            } else {
                ToolSource::BuildFromGoProxy
            }),
        }
    }
}

impl std::str::FromStr for ToolSource {
    type Err = ToolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "download" => Ok(ToolSource::Download),
            "build" | "go" | "goproxy" | "build-from-go-proxy" => Ok(ToolSource::BuildFromGoProxy),
            other => Err(ToolError::BadSource(other.to_string())),
        }
    }
}

/// Gets pinned tools from one [`ToolSource`] into one cache folder.
#[derive(Debug, Clone)]
pub struct Toolchain {
    source: ToolSource,
    root: PathBuf,
}

impl Toolchain {
    /// Tools under `cache_dir()/tools`.
    pub fn new(source: ToolSource) -> Toolchain {
        Toolchain::with_root(source, crate::workspace::cache_dir().join("tools"))
    }

    /// Tools under `root` (tests).
    pub fn with_root(source: ToolSource, root: PathBuf) -> Toolchain {
        Toolchain { source, root }
    }

    pub fn source(&self) -> ToolSource {
        self.source
    }

    /// `root/<name>/<version>`.
    pub fn tool_dir(&self, name: &str, version: &str) -> PathBuf {
        self.root.join(name).join(version)
    }

    /// The `kind` binary.
    pub fn kind(&self) -> Result<PathBuf, ToolError> {
        let v = versions::KIND;
        match self.source {
            ToolSource::Download => download::kind(&self.tool_dir("kind", v), v),
            ToolSource::BuildFromGoProxy => {
                let dir = gobuild::GoBuild::new("kind", v)
                    .package("sigs.k8s.io/kind", v)
                    .ensure(&self.tool_dir("kind", v))?;
                Ok(dir.join("kind"))
            }
        }
    }

    /// The `kubectl` binary.
    pub fn kubectl(&self) -> Result<PathBuf, ToolError> {
        match self.source {
            ToolSource::Download => {
                let v = versions::KUBERNETES;
                download::kubectl(&self.tool_dir("kubectl", v), v)
            }
            ToolSource::BuildFromGoProxy => Ok(self.kubernetes()?.join("kubectl")),
        }
    }

    /// The folder holding every command in
    /// [`versions::KUBERNETES_COMMANDS`] (built from the Go module proxy).
    pub fn kubernetes(&self) -> Result<PathBuf, ToolError> {
        let v = versions::KUBERNETES;
        let mut b = gobuild::GoBuild::new("kubernetes", v)
            .ldflags(kubernetes_version_ldflags(v))
            .expected_minutes(12);
        for cmd in versions::KUBERNETES_COMMANDS {
            b = b.package(&format!("k8s.io/kubernetes/cmd/{cmd}"), v);
        }
        for m in versions::KUBERNETES_STAGING_MODULES {
            b = b.replace(m, versions::KUBERNETES_STAGING);
        }
        b.ensure(&self.tool_dir("kubernetes", v))
    }

    /// The folder holding `etcd` and `etcdctl`.
    pub fn etcd(&self) -> Result<PathBuf, ToolError> {
        let v = versions::ETCD;
        gobuild::GoBuild::new("etcd", v)
            .package("go.etcd.io/etcd/server/v3", v)
            .package("go.etcd.io/etcd/etcdctl/v3", v)
            // `go build` names the binary of `.../server/v3` "server".
            .rename("server", "etcd")
            .expected_minutes(4)
            .ensure(&self.tool_dir("etcd", v))
    }

    /// The folder holding `coredns`, with the plugins of
    /// [`versions::COREDNS_PLUGINS`] ([`coredns_main_go`]). The folder's name
    /// carries a digest of that list, so changing it rebuilds.
    pub fn coredns(&self) -> Result<PathBuf, ToolError> {
        let v = versions::COREDNS;
        let main_go = coredns_main_go();
        gobuild::GoBuild::new("coredns", v)
            .package("github.com/coredns/coredns", v)
            .own_main("coredns", main_go.clone())
            .ldflags(format!(
                "-X github.com/coredns/coredns/coremain.GitCommit={v}"
            ))
            .expected_minutes(3)
            .ensure(&self.tool_dir("coredns", &format!("{v}-{}", short_digest(&main_go))))
    }

    /// The folder holding `metrics-server`.
    pub fn metrics_server(&self) -> Result<PathBuf, ToolError> {
        let v = versions::METRICS_SERVER;
        gobuild::GoBuild::new("metrics-server", v)
            .package("sigs.k8s.io/metrics-server/cmd/metrics-server", v)
            .expected_minutes(4)
            .ensure(&self.tool_dir("metrics-server", v))
    }

    /// The folder holding `kube-router` (see [`versions::KUBE_ROUTER`]).
    pub fn kube_router(&self) -> Result<PathBuf, ToolError> {
        let v = versions::KUBE_ROUTER;
        gobuild::GoBuild::new("kube-router", v)
            .package(
                "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",
                v,
            )
            .ldflags(format!(
                "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={v}"
            ))
            .expected_minutes(5)
            .ensure(&self.tool_dir("kube-router", v))
    }

    /// The `prometheus` binary (see [`versions::PROMETHEUS`]), built from
    /// the Go module proxy whatever the tool source: the harness puts it in
    /// a `FROM scratch` image, for which the release tarball's binary would
    /// do as well, but the proxy is what every machine here reaches.
    pub fn prometheus(&self) -> Result<PathBuf, ToolError> {
        let v = versions::PROMETHEUS;
        let bin = gobuild::GoBuild::new("prometheus", v)
            .package("github.com/prometheus/prometheus/cmd/prometheus", v)
            .tags(versions::PROMETHEUS_BUILD_TAGS)
            .ldflags(format!(
                "-X github.com/prometheus/common/version.Version={} \
                 -X github.com/prometheus/common/version.Branch=inferbench",
                prometheus_release(v)
            ))
            .expected_minutes(6)
            .ensure(&self.tool_dir("prometheus", v))?;
        Ok(bin.join("prometheus"))
    }

    /// The VPA recommender (see [`versions::VPA`]), built from the Go
    /// module proxy whatever the tool source, for the image `up --with vpa`
    /// loads.
    pub fn vpa_recommender(&self) -> Result<PathBuf, ToolError> {
        let v = versions::VPA;
        let bin = gobuild::GoBuild::new("vpa-recommender", v)
            .package(&format!("{}/pkg/recommender", versions::VPA_MODULE), v)
            .rename("recommender", "vpa-recommender")
            .expected_minutes(4)
            .ensure(&self.tool_dir("vpa-recommender", v))?;
        Ok(bin.join("vpa-recommender"))
    }

    /// The folder holding `local-path-provisioner`.
    pub fn local_path_provisioner(&self) -> Result<PathBuf, ToolError> {
        let v = versions::LOCAL_PATH_PROVISIONER;
        gobuild::GoBuild::new("local-path-provisioner", v)
            .package("github.com/rancher/local-path-provisioner", v)
            .expected_minutes(3)
            .ensure(&self.tool_dir("local-path-provisioner", v))
    }

    /// The `actionlint` binary (GitHub Actions workflow linter): the
    /// official release tarball, or built from the Go module proxy with its
    /// version stamped as the release build does.
    pub fn actionlint(&self) -> Result<PathBuf, ToolError> {
        let v = versions::ACTIONLINT;
        let dir = self.tool_dir("actionlint", v);
        match self.source {
            ToolSource::Download => download::actionlint(&dir, v),
            ToolSource::BuildFromGoProxy => {
                let bin = gobuild::GoBuild::new("actionlint", v)
                    .package("github.com/rhysd/actionlint/cmd/actionlint", v)
                    .ldflags(actionlint_version_ldflags(v))
                    .expected_minutes(1)
                    .ensure(&dir)?;
                Ok(bin.join("actionlint"))
            }
        }
    }

    /// The `kwok` binary (the fake-node controller of the kwok provider):
    /// the official release binary, or `sigs.k8s.io/kwok/cmd/kwok` built
    /// from the Go module proxy with its version stamped as kwok's release
    /// build (hack/releases.sh) does.
    pub fn kwok(&self) -> Result<PathBuf, ToolError> {
        let v = versions::KWOK;
        let dir = self.tool_dir("kwok", v);
        match self.source {
            ToolSource::Download => download::kwok(&dir, v),
            ToolSource::BuildFromGoProxy => {
                let bin = gobuild::GoBuild::new("kwok", v)
                    .package("sigs.k8s.io/kwok/cmd/kwok", v)
                    .ldflags(format!("-X sigs.k8s.io/kwok/pkg/consts.Version={v}"))
                    .expected_minutes(4)
                    .ensure(&dir)?;
                Ok(bin.join("kwok"))
            }
        }
    }

    /// The `helm` binary: the official release tarball, or
    /// `helm.sh/helm/v3/cmd/helm` built from the Go module proxy with the
    /// version stamps of Helm's own Makefile ([`helm_ldflags`]).
    pub fn helm(&self) -> Result<PathBuf, ToolError> {
        let v = versions::HELM;
        let dir = self.tool_dir("helm", v);
        match self.source {
            ToolSource::Download => download::helm(&dir, v),
            ToolSource::BuildFromGoProxy => {
                let bin = gobuild::GoBuild::new("helm", v)
                    .package("helm.sh/helm/v3/cmd/helm", v)
                    .ldflags(helm_ldflags(v, versions::HELM_CLIENT_GO))
                    .expected_minutes(4)
                    .ensure(&dir)?;
                Ok(bin.join("helm"))
            }
        }
    }

    /// kind's source tree for [`versions::KIND`] in the Go module cache
    /// (the node image build reads its base-image files from there).
    pub fn kind_source(&self) -> Result<PathBuf, ToolError> {
        gobuild::module_dir("sigs.k8s.io/kind", versions::KIND)
    }
}

/// The VPA's CustomResourceDefinitions (VerticalPodAutoscaler and its
/// checkpoints) as its module at [`versions::VPA`] ships them, read from
/// the Go module cache (downloaded when missing).
pub fn vpa_crds() -> Result<String, ToolError> {
    let dir = gobuild::module_dir(versions::VPA_MODULE, versions::VPA)?;
    let path = dir.join("deploy").join("vpa-v1-crd-gen.yaml");
    std::fs::read_to_string(&path).map_err(|source| ToolError::Io {
        what: format!("reading {}", path.display()),
        source,
    })
}

/// The Prometheus release a module version is: `v0.316.0` is 3.16.0.
pub fn prometheus_release(module_version: &str) -> String {
    let v = module_version.trim_start_matches('v');
    let mut parts = v.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("0"), Some(minor), Some(patch)) if minor.len() == 3 => {
            let (major, minor) = minor.split_at(1);
            let minor = minor.trim_start_matches('0');
            format!(
                "{major}.{}.{patch}",
                if minor.is_empty() { "0" } else { minor }
            )
        }
        _ => v.to_string(),
    }
}

/// CoreDNS's `main.go` with the plugins of [`versions::COREDNS_PLUGINS`]:
/// CoreDNS's own `coredns.go`, with the import of every plugin
/// (`core/plugin`) replaced by imports of the chosen ones.
pub fn coredns_main_go() -> String {
    let mut s = String::from(
        "// CoreDNS with the plugins inferbench's clusters use; generated by\n\
         // environment::tools::coredns_main_go from versions::COREDNS_PLUGINS.\n\
         package main\n\n\
         import (\n\
         \t\"github.com/coredns/coredns/coremain\"\n\n\
         \t// The `on` directive (coredns/caddy's event hooks).\n\
         \t_ \"github.com/coredns/caddy/onevent\"\n",
    );
    for p in versions::COREDNS_PLUGINS {
        s.push_str(&format!("\t_ \"github.com/coredns/coredns/plugin/{p}\"\n"));
    }
    s.push_str(")\n\nfunc main() {\n\tcoremain.Run()\n}\n");
    s
}

/// Eight hex digits of an FNV-1a hash: a cache key for generated sources.
pub fn short_digest(text: &str) -> String {
    format!("{:08x}", crate::digest::fnv1a_64(text.as_bytes()) >> 32)
}

/// `-X` flags stamping the Kubernetes version into the binaries, as
/// Kubernetes' hack/lib/version.sh does (kubeadm and kind read it).
pub fn kubernetes_version_ldflags(version: &str) -> String {
    let trimmed = version.trim_start_matches('v');
    let mut parts = trimmed.split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    let mut flags = Vec::new();
    for pkg in [
        "k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
    ] {
        flags.push(format!("-X {pkg}.gitVersion={version}"));
        flags.push(format!("-X {pkg}.gitMajor={major}"));
        flags.push(format!("-X {pkg}.gitMinor={minor}"));
        flags.push(format!(
            "-X {pkg}.gitCommit=0000000000000000000000000000000000000000"
        ));
        flags.push(format!("-X {pkg}.gitTreeState=clean"));
        flags.push(format!("-X {pkg}.buildDate=1970-01-01T00:00:00Z"));
    }
    flags.join(" ")
}

/// The `-X` flag stamping actionlint's version as its release build
/// (.goreleaser.yaml) does: `actionlint -version` prints `1.7.11`, not the
/// wrapper module's `(devel)`.
pub fn actionlint_version_ldflags(version: &str) -> String {
    format!(
        "-X github.com/rhysd/actionlint.version={}",
        version.trim_start_matches('v')
    )
}

/// The `-X` flags of Helm's Makefile: its version (`helm version` prints
/// it, not `(devel)`) and the Kubernetes version `helm template` and
/// `helm lint` assume, taken from the client-go release it is built with
/// (v0.37.0 -> 1.37).
pub fn helm_ldflags(version: &str, client_go: &str) -> String {
    let mut parts = client_go.trim_start_matches('v').split('.');
    let major = parts
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .map_or(1, |m| m + 1);
    let minor = parts.next().unwrap_or("0");
    let mut flags = vec![format!(
        "-X helm.sh/helm/v3/internal/version.version={version}"
    )];
    for pkg in [
        "helm.sh/helm/v3/pkg/lint/rules",
        "helm.sh/helm/v3/pkg/chartutil",
    ] {
        flags.push(format!("-X {pkg}.k8sVersionMajor={major}"));
        flags.push(format!("-X {pkg}.k8sVersionMinor={minor}"));
    }
    flags.join(" ")
}

/// Writes `contents` to `path` atomically (temporary file, then rename).
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ToolError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("renaming {}", tmp.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_module_versions_are_its_releases() {
        assert_eq!(prometheus_release("v0.316.0"), "3.16.0");
        assert_eq!(prometheus_release("v0.303.1"), "3.3.1");
        assert_eq!(prometheus_release("v0.300.0"), "3.0.0");
        assert_eq!(prometheus_release("v2.53.0"), "2.53.0");
    }

    #[test]
    fn coredns_main_imports_the_chosen_plugins() {
        let main_go = coredns_main_go();
        assert!(
            !main_go.contains("coredns/core/plugin\""),
            "not every plugin"
        );
        for p in [
            "kubernetes",
            "forward",
            "cache",
            "ready",
            "health",
            "metrics",
        ] {
            assert!(
                main_go.contains(&format!("/plugin/{p}\"")),
                "kubeadm's Corefile needs {p}"
            );
        }
        insta::assert_snapshot!(main_go);
    }

    #[test]
    fn ldflags_stamp_both_version_packages() {
        let f = kubernetes_version_ldflags("v1.34.4");
        assert!(f.contains("-X k8s.io/component-base/version.gitVersion=v1.34.4"));
        assert!(f.contains("-X k8s.io/client-go/pkg/version.gitMinor=34"));
        assert!(f.contains("gitMajor=1 "));
    }

    #[test]
    fn actionlint_version_is_stamped_without_the_v() {
        assert_eq!(
            actionlint_version_ldflags("v1.7.11"),
            "-X github.com/rhysd/actionlint.version=1.7.11"
        );
    }

    #[test]
    fn helm_is_stamped_like_its_makefile_does() {
        assert_eq!(
            helm_ldflags("v3.22.0", "v0.37.0"),
            "-X helm.sh/helm/v3/internal/version.version=v3.22.0 \
             -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
             -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 \
             -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
             -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"
        );
    }

    #[test]
    fn tool_source_parses() {
        assert_eq!(
            "download".parse::<ToolSource>().ok(),
            Some(ToolSource::Download)
        );
        assert_eq!(
            "build".parse::<ToolSource>().ok(),
            Some(ToolSource::BuildFromGoProxy)
        );
        assert!("nope".parse::<ToolSource>().is_err());
    }
}
