//! Starting a kwok cluster's control plane: etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok, each a child process
//! checked for readiness before the next starts.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::{Api, Client};

use super::args::{
    Layout, apiserver_args, controller_manager_args, etcd_args, kwok_args, scheduler_args,
    scheduler_config,
};
use super::nodes::GpuShape;
use super::pki;
use super::process::{self, Spec};
use super::state::{ComponentState, Ports, State};
use super::status::PROVIDER_FILE;
use super::{Binaries, KwokError, STATE_FILE, io_err};
use crate::{cluster_dir, validate_name};

const STAGES: &str = include_str!("stages.yaml");

/// How a kwok cluster is made.
#[derive(Debug, Clone, PartialEq)]
pub struct KwokOptions {
    /// What each GPU-pool node advertises.
    pub gpu: GpuShape,
    /// How long each component may take to become ready.
    pub start_timeout: Duration,
    /// How long the nodes may take to become Ready.
    pub ready_timeout: Duration,
    /// Client QPS of kube-controller-manager and kube-scheduler (burst:
    /// twice that). Kubernetes' defaults (20 and 50) would make them, not
    /// the control plane, the limit of a scale benchmark.
    pub client_qps: u32,
    /// kwok's node lease duration (it renews each node's Lease).
    pub node_lease_seconds: u32,
}

impl Default for KwokOptions {
    fn default() -> Self {
        KwokOptions {
            gpu: GpuShape::default(),
            start_timeout: Duration::from_secs(120),
            ready_timeout: Duration::from_secs(300),
            client_qps: 500,
            node_lease_seconds: 40,
        }
    }
}

/// A started control plane. Dropping it stops the processes (keeping the
/// logs) unless [`ControlPlane::detach`] handed it over to `down`.
#[derive(Debug)]
pub struct ControlPlane {
    name: String,
    dir: PathBuf,
    state: State,
    armed: bool,
}

impl ControlPlane {
    /// Starts the control plane of cluster `name` in its cluster folder.
    pub fn start(
        name: &str,
        bins: &Binaries,
        opts: &KwokOptions,
    ) -> Result<ControlPlane, KwokError> {
        validate_name(name).map_err(|e| KwokError::Invalid(e.to_string()))?;
        let dir = cluster_dir(name);
        prepare_dir(name, &dir)?;
        let pki_paths = pki::write(&dir.join("pki"))?;
        let ports = Ports::pick()?;
        let state = State::new(name, ports);
        let kubeconfig = dir.join("kubeconfig");
        pki::write_private(
            &kubeconfig,
            &pki::kubeconfig(name, &state.server(), &pki_paths),
        )?;
        write_file(&dir.join("kwok.yaml"), STAGES)?;
        write_file(
            &dir.join("scheduler.yaml"),
            &scheduler_config(&kubeconfig, opts.client_qps),
        )?;
        state.save(&dir)?;
        let mut cp = ControlPlane {
            name: name.to_string(),
            dir,
            state,
            armed: true,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_err("starting a tokio runtime"))?;
        let started = Instant::now();
        let t = opts.start_timeout;
        let paths = Layout::new(&cp.dir, pki_paths);

        cp.spawn("etcd", &bins.etcd, etcd_args(&paths, &ports))?;
        cp.wait("etcd", "answering /health", t, || {
            etcd_healthy(ports.etcd_client)
        })?;
        cp.spawn(
            "kube-apiserver",
            &bins.kube_apiserver,
            apiserver_args(&paths, &ports),
        )?;
        cp.wait("kube-apiserver", "serving the API", t, || {
            bounded(&rt, apiserver_ready(&paths.kubeconfig))
        })?;
        cp.spawn(
            "kube-controller-manager",
            &bins.kube_controller_manager,
            controller_manager_args(&paths, &ports, opts.client_qps),
        )?;
        cp.spawn(
            "kube-scheduler",
            &bins.kube_scheduler,
            scheduler_args(&paths, &ports),
        )?;
        cp.spawn("kwok", &bins.kwok, kwok_args(&paths, &ports, opts))?;
        cp.wait(
            "kube-controller-manager",
            "leading (Lease kube-system/kube-controller-manager)",
            t,
            || {
                bounded(
                    &rt,
                    lease_held(&paths.kubeconfig, "kube-controller-manager"),
                )
            },
        )?;
        cp.wait(
            "kube-controller-manager",
            "the ServiceAccount default/default to exist",
            t,
            || bounded(&rt, default_service_account(&paths.kubeconfig, "default")),
        )?;
        cp.wait(
            "kube-scheduler",
            "leading (Lease kube-system/kube-scheduler)",
            t,
            || bounded(&rt, lease_held(&paths.kubeconfig, "kube-scheduler")),
        )?;
        cp.wait("kwok", "serving on its port", t, || {
            port_open(ports.kwok).then_some(())
        })?;
        eprintln!(
            "inferbench: kwok control plane {name:?} ready in {:.1}s (API server {})",
            started.elapsed().as_secs_f64(),
            cp.state.server()
        );
        Ok(cp)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cluster folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Leaves the processes running after this handle is gone (`down`
    /// stops them by pid file; one in this process also reaps them).
    pub fn detach(mut self) {
        self.armed = false;
    }

    /// Stops every process; with `remove`, deletes the cluster folder,
    /// else keeps it (logs) without the state file. Fails when a process
    /// survives SIGKILL.
    pub fn stop(mut self, remove: bool) -> Result<(), KwokError> {
        self.armed = false;
        shutdown(&self.name, &self.dir, remove)
    }

    fn spawn(
        &mut self,
        component: &str,
        program: &Path,
        args: Vec<OsString>,
    ) -> Result<(), KwokError> {
        let spec = Spec {
            component: component.to_string(),
            program: program.to_path_buf(),
            args,
        };
        let pid = process::spawn(&self.dir, &spec)?;
        self.state.components.push(ComponentState {
            name: component.to_string(),
            pid,
            log: process::log_path(&self.dir, component),
        });
        self.state.save(&self.dir)
    }

    /// Polls `probe` until it answers, `component` exits, or `timeout`.
    fn wait<T>(
        &self,
        component: &str,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> Result<T, KwokError> {
        let log = process::log_path(&self.dir, component);
        let start = Instant::now();
        loop {
            if let Some(status) = process::exit_status(&self.dir, component) {
                return Err(KwokError::Exited {
                    component: component.to_string(),
                    status: status.to_string(),
                    tail: process::log_tail(&log, 20),
                    log,
                });
            }
            if let Some(v) = probe() {
                return Ok(v);
            }
            if start.elapsed() >= timeout {
                return Err(KwokError::NotReady {
                    component: component.to_string(),
                    what: what.to_string(),
                    after: timeout,
                    tail: process::log_tail(&log, 20),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if self.armed {
            eprintln!(
                "inferbench: stopping kwok cluster {:?}; its logs stay in {}",
                self.name,
                self.dir.join("logs").display()
            );
            let _ = shutdown(&self.name, &self.dir, false);
        }
    }
}

/// Stops the processes of cluster `name` in `dir`; removes the folder with
/// `remove`, else only its state and etcd data (the logs stay).
pub(crate) fn shutdown(name: &str, dir: &Path, remove: bool) -> Result<(), KwokError> {
    let survivors = process::stop_all(dir, Duration::from_secs(15));
    if !survivors.is_empty() {
        return Err(KwokError::Survivors {
            name: name.to_string(),
            pids: survivors,
        });
    }
    if remove {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(format!("removing {}", dir.display()))(e)),
        }
    } else {
        let _ = std::fs::remove_file(dir.join(STATE_FILE));
        let _ = std::fs::remove_dir_all(dir.join("etcd"));
        let _ = std::fs::remove_dir_all(dir.join("pids"));
        Ok(())
    }
}

/// Makes `dir` ready for a new cluster: refuses a running kwok cluster or
/// another provider's folder; clears a dead kwok cluster's leftovers.
fn prepare_dir(name: &str, dir: &Path) -> Result<(), KwokError> {
    let ours = std::fs::read_to_string(dir.join(PROVIDER_FILE))
        .map(|s| s.trim() == "kwok")
        .unwrap_or(false);
    let empty = std::fs::read_dir(dir)
        .map(|mut rd| rd.next().is_none())
        .unwrap_or(true);
    if !ours && !empty {
        return Err(KwokError::Invalid(format!(
            "{} holds another provider's cluster {name:?} (kind?); pick another --name",
            dir.display()
        )));
    }
    if ours {
        if !process::processes_of(dir).is_empty() {
            return Err(KwokError::Exists {
                name: name.to_string(),
                dir: dir.to_path_buf(),
            });
        }
        eprintln!(
            "inferbench: clearing the leftovers of stopped kwok cluster {name:?} in {}",
            dir.display()
        );
        shutdown(name, dir, true)?;
    }
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    write_file(&dir.join(PROVIDER_FILE), "kwok\n")
}

fn write_file(path: &Path, text: &str) -> Result<(), KwokError> {
    std::fs::write(path, text).map_err(io_err(format!("writing {}", path.display())))
}

/// Runs one readiness probe for at most five seconds (a hung request
/// counts as "not yet").
fn bounded<T>(
    rt: &tokio::runtime::Runtime,
    probe: impl std::future::Future<Output = Option<T>>,
) -> Option<T> {
    // The timer must be made inside the runtime.
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), probe).await })
        .ok()
        .flatten()
}

/// Whether something accepts connections on loopback `port`.
fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// `GET /health` on etcd's client port says `"health":"true"`.
fn etcd_healthy(port: u16) -> Option<()> {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"health\":\"true\"").then_some(())
}

async fn client(kubeconfig: &Path) -> Option<Client> {
    k8s::connect(kubeconfig).await.ok()
}

/// The API answers and has made its system namespaces.
async fn apiserver_ready(kubeconfig: &Path) -> Option<()> {
    let c = client(kubeconfig).await?;
    c.apiserver_version().await.ok()?;
    let ns: Api<Namespace> = Api::all(c);
    for name in ["default", "kube-system"] {
        ns.get_opt(name).await.ok()??;
    }
    Some(())
}

async fn lease_held(kubeconfig: &Path, name: &str) -> Option<()> {
    let c = client(kubeconfig).await?;
    let leases: Api<Lease> = Api::namespaced(c, "kube-system");
    let lease = leases.get_opt(name).await.ok()??;
    lease
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
        .map(|_| ())
}

/// The ServiceAccount `default` of `namespace` exists (pods need it).
pub(crate) async fn default_service_account(kubeconfig: &Path, namespace: &str) -> Option<()> {
    let c = client(kubeconfig).await?;
    let sas: Api<ServiceAccount> = Api::namespaced(c, namespace);
    sas.get_opt("default").await.ok()?.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_that_exits_is_reported_with_its_log() {
        let name = format!("kwok-unit-exit-{}", std::process::id());
        let f = PathBuf::from("false");
        let bins = Binaries {
            etcd: f.clone(),
            kube_apiserver: f.clone(),
            kube_controller_manager: f.clone(),
            kube_scheduler: f.clone(),
            kwok: f.clone(),
            kubectl: f,
        };
        let err = ControlPlane::start(&name, &bins, &KwokOptions::default())
            .expect_err("`false` is no etcd");
        let dir = cluster_dir(&name);
        match &err {
            KwokError::Exited { component, log, .. } => {
                assert_eq!(component, "etcd");
                assert_eq!(log, &dir.join("logs").join("etcd.log"));
            }
            other => panic!("unexpected error: {other}"),
        }
        assert!(err.to_string().contains("read its log"), "{err}");
        assert!(
            !dir.join(STATE_FILE).exists(),
            "a failed start leaves no state"
        );
        assert!(dir.join("logs").is_dir(), "but keeps the logs");
        shutdown(&name, &dir, true).expect("cleanup");
        assert!(!dir.exists());
    }

    #[test]
    fn stages_cover_nodes_and_pods() {
        let docs = k8s::split_documents(STAGES);
        assert_eq!(docs.len(), 5);
        for name in [
            "node-initialize",
            "node-heartbeat-with-lease",
            "pod-ready",
            "pod-complete",
            "pod-delete",
        ] {
            assert!(STAGES.contains(&format!("name: {name}\n")), "{name}");
        }
    }
}
