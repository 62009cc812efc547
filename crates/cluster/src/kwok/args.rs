//! The command lines of a kwok cluster's components, and the files they
//! read: which ports, certificates and folders each one is given. Every
//! command line names the cluster folder (that is how `down` finds the
//! processes).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::control_plane::KwokOptions;
use super::pki::{self, PkiPaths};
use super::state::Ports;
use super::{NODE_ANNOTATION, NODE_ANNOTATION_VALUE};

/// Paths the components' flags name.
pub(crate) struct Layout {
    pub(crate) dir: PathBuf,
    pub(crate) pki: PkiPaths,
    pub(crate) kubeconfig: PathBuf,
}

impl Layout {
    pub(crate) fn new(dir: &Path, pki: PkiPaths) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
            pki,
            kubeconfig: dir.join("kubeconfig"),
        }
    }
}

fn flag(name: &str, value: impl AsRef<std::ffi::OsStr>) -> OsString {
    let mut s = OsString::from(format!("--{name}="));
    s.push(value.as_ref());
    s
}

pub(crate) fn etcd_args(l: &Layout, p: &Ports) -> Vec<OsString> {
    let client = format!("http://127.0.0.1:{}", p.etcd_client);
    let peer = format!("http://127.0.0.1:{}", p.etcd_peer);
    vec![
        flag("name", "etcd0"),
        flag("data-dir", l.dir.join("etcd")),
        flag("listen-client-urls", &client),
        flag("advertise-client-urls", &client),
        flag("listen-peer-urls", &peer),
        flag("initial-advertise-peer-urls", &peer),
        flag("initial-cluster", format!("etcd0={peer}")),
        flag("initial-cluster-state", "new"),
        // A throwaway cluster: no fsync, as kwokctl does.
        flag("unsafe-no-fsync", "true"),
        flag("quota-backend-bytes", "8589934592"),
        flag("log-level", "warn"),
    ]
}

pub(crate) fn apiserver_args(l: &Layout, p: &Ports) -> Vec<OsString> {
    vec![
        flag(
            "etcd-servers",
            format!("http://127.0.0.1:{}", p.etcd_client),
        ),
        flag("bind-address", "127.0.0.1"),
        flag("advertise-address", "127.0.0.1"),
        flag("secure-port", p.apiserver.to_string()),
        flag("tls-cert-file", &l.pki.apiserver_cert),
        flag("tls-private-key-file", &l.pki.apiserver_key),
        flag("client-ca-file", &l.pki.ca_cert),
        flag(
            "service-account-issuer",
            "https://kubernetes.default.svc.cluster.local",
        ),
        flag("service-account-key-file", &l.pki.sa_pub),
        flag("service-account-signing-key-file", &l.pki.sa_key),
        flag("service-cluster-ip-range", pki::SERVICE_CLUSTER_IP_RANGE),
        flag("authorization-mode", "RBAC"),
        flag("allow-privileged", "true"),
        // The loopback address cannot be an Endpoints address.
        flag("endpoint-reconciler-type", "none"),
        // Never resolve fake node names: logs/exec go to the (loopback) InternalIP.
        flag("kubelet-preferred-address-types", "InternalIP"),
        flag("profiling", "false"),
        flag("cert-dir", l.dir.join("pki")),
    ]
}

pub(crate) fn controller_manager_args(l: &Layout, p: &Ports, qps: u32) -> Vec<OsString> {
    vec![
        flag("kubeconfig", &l.kubeconfig),
        flag("authentication-kubeconfig", &l.kubeconfig),
        flag("authorization-kubeconfig", &l.kubeconfig),
        flag("bind-address", "127.0.0.1"),
        flag("secure-port", p.controller_manager.to_string()),
        flag("leader-elect", "true"),
        flag("root-ca-file", &l.pki.ca_cert),
        flag("service-account-private-key-file", &l.pki.sa_key),
        flag("cluster-signing-cert-file", &l.pki.ca_cert),
        flag("cluster-signing-key-file", &l.pki.ca_key),
        flag("kube-api-qps", qps.to_string()),
        flag("kube-api-burst", (qps * 2).to_string()),
        flag("profiling", "false"),
    ]
}

pub(crate) fn scheduler_config(kubeconfig: &Path, qps: u32) -> String {
    format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\n\
         kind: KubeSchedulerConfiguration\n\
         clientConnection:\n  \
           kubeconfig: {}\n  \
           qps: {qps}\n  \
           burst: {}\n\
         leaderElection:\n  \
           leaderElect: true\n",
        serde_json::Value::String(kubeconfig.display().to_string()),
        qps * 2
    )
}

pub(crate) fn scheduler_args(l: &Layout, p: &Ports) -> Vec<OsString> {
    vec![
        flag("config", l.dir.join("scheduler.yaml")),
        flag("authentication-kubeconfig", &l.kubeconfig),
        flag("authorization-kubeconfig", &l.kubeconfig),
        flag("bind-address", "127.0.0.1"),
        flag("secure-port", p.scheduler.to_string()),
    ]
}

pub(crate) fn kwok_args(l: &Layout, p: &Ports, opts: &KwokOptions) -> Vec<OsString> {
    vec![
        flag("kubeconfig", &l.kubeconfig),
        flag("config", l.dir.join("kwok.yaml")),
        flag("manage-all-nodes", "false"),
        flag(
            "manage-nodes-with-annotation-selector",
            format!("{NODE_ANNOTATION}={NODE_ANNOTATION_VALUE}"),
        ),
        // Pod IPs are never dialled; a /12 holds a million of them.
        flag("cidr", "10.128.0.1/12"),
        flag("node-ip", "127.0.0.1"),
        flag(
            "node-lease-duration-seconds",
            opts.node_lease_seconds.to_string(),
        ),
        flag("server-address", format!("127.0.0.1:{}", p.kwok)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let dir = Path::new("/cache/clusters/k");
        Layout::new(dir, PkiPaths::in_dir(&dir.join("pki")))
    }

    fn ports() -> Ports {
        Ports {
            etcd_client: 1001,
            etcd_peer: 1002,
            apiserver: 1003,
            controller_manager: 1004,
            scheduler: 1005,
            kwok: 1006,
        }
    }

    fn joined(args: &[OsString]) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn components_are_wired_to_each_other() {
        let (l, p) = (layout(), ports());
        let api = joined(&apiserver_args(&l, &p));
        assert!(api.contains("--etcd-servers=http://127.0.0.1:1001"));
        assert!(api.contains("--secure-port=1003"));
        assert!(api.contains("--client-ca-file=/cache/clusters/k/pki/ca.crt"));
        let etcd = joined(&etcd_args(&l, &p));
        assert!(etcd.contains("--initial-cluster=etcd0=http://127.0.0.1:1002"));
        assert!(etcd.contains("--data-dir=/cache/clusters/k/etcd"));
        let kcm = joined(&controller_manager_args(&l, &p, 100));
        assert!(kcm.contains("--kubeconfig=/cache/clusters/k/kubeconfig"));
        assert!(kcm.contains("--kube-api-burst=200"));
        let kwok = joined(&kwok_args(&l, &p, &KwokOptions::default()));
        assert!(kwok.contains("--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"));
        assert!(kwok.contains("--config=/cache/clusters/k/kwok.yaml"));
        // Every command line names the cluster folder: that is how `down`
        // recognises the processes.
        for args in [
            etcd_args(&l, &p),
            apiserver_args(&l, &p),
            controller_manager_args(&l, &p, 1),
            scheduler_args(&l, &p),
            kwok_args(&l, &p, &KwokOptions::default()),
        ] {
            assert!(joined(&args).contains("/cache/clusters/k/"));
        }
    }

    #[test]
    fn scheduler_config_is_valid_yaml() {
        let text = scheduler_config(Path::new("/c/kubeconfig"), 50);
        let v: serde_json::Value = yaml_serde::from_str(&text).expect("yaml");
        assert_eq!(v["clientConnection"]["kubeconfig"], "/c/kubeconfig");
        assert_eq!(v["clientConnection"]["burst"], 100);
        assert_eq!(v["kind"], "KubeSchedulerConfiguration");
    }
}
