//! [`KwokProvider`]: a control plane of local processes and fake nodes.

use std::path::PathBuf;
use std::time::Duration;

use super::{
    Binaries, ControlPlane, KwokError, KwokOptions, STATE_FILE, State, block_on_within, list_in,
    nodes, process,
};
use crate::{
    ClusterError, ClusterProvider, ClusterSpec, ClusterStatus, DownReport, HostSetup, NodeInfo,
    Provider, Steps, UpOptions, cluster_dir, validate_name,
};
use environment::tools::{ToolSource, Toolchain};

/// Clusters of fake nodes driven by kwok (see the module docs).
///
/// Its blocking methods run their own tokio runtime: call them from
/// synchronous code (or `spawn_blocking`), not from inside a runtime.
#[derive(Debug, Clone)]
pub struct KwokProvider {
    bins: Binaries,
    options: KwokOptions,
}

impl KwokProvider {
    pub fn new(bins: Binaries, options: KwokOptions) -> KwokProvider {
        KwokProvider { bins, options }
    }

    pub fn binaries(&self) -> &Binaries {
        &self.bins
    }

    pub fn options(&self) -> &KwokOptions {
        &self.options
    }

    /// Starts the control plane and kwok of `spec.name` (no nodes yet).
    /// Fails with [`KwokError::Exists`] while a cluster of that name runs;
    /// a dead one's leftovers are cleaned first.
    pub fn start_control_plane(&self, name: &str) -> Result<ControlPlane, KwokError> {
        ControlPlane::start(name, &self.bins, &self.options)
    }

    /// Creates the Node objects of `spec`'s worker pools and waits until
    /// every one is Ready.
    pub fn add_nodes(&self, spec: &ClusterSpec) -> Result<(), KwokError> {
        let kubeconfig = cluster_dir(&spec.name).join("kubeconfig");
        let objects = nodes::node_objects(spec, &self.options.gpu);
        let names: Vec<String> = objects
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        let timeout = self.options.ready_timeout;
        let work = async move {
            let client = k8s::connect(&kubeconfig).await?;
            nodes::create_nodes(&client, objects, 32).await?;
            nodes::wait_ready(&client, &names, timeout).await
        };
        self.within(timeout, "creating the fake nodes", work)?;
        Ok(())
    }

    /// Runs `work` against the API server with `timeout` plus a margin
    /// (the work has its own limit; this one catches a hung request).
    fn within<T>(
        &self,
        timeout: Duration,
        what: &str,
        work: impl std::future::Future<Output = Result<T, KwokError>>,
    ) -> Result<T, KwokError> {
        let limit = timeout + Duration::from_secs(30);
        block_on_within(limit, work)?.ok_or_else(|| KwokError::Timeout {
            what: what.into(),
            after: limit,
            detail:
                "the API server did not answer: read logs/kube-apiserver.log in the cluster folder"
                    .into(),
        })?
    }

    /// Whether `name` is a kwok cluster whose processes all run.
    pub fn is_running(name: &str) -> bool {
        let dir = cluster_dir(name);
        match State::load(&dir) {
            Ok(Some(state)) => state.components.iter().all(|c| process::alive(c.pid, &dir)),
            _ => false,
        }
    }
}

impl ClusterProvider for KwokProvider {
    /// etcd and Kubernetes (built from the Go module proxy, cached) and
    /// kwok (from `opts.tool_source`). No Docker.
    fn prepare(
        opts: &UpOptions,
        _spec: &mut ClusterSpec,
        steps: &mut Steps,
    ) -> Result<(Self, HostSetup), ClusterError> {
        let source = match opts.tool_source {
            Some(s) => s,
            None => ToolSource::from_env()?,
        };
        let bins = Binaries::from_toolchain(&Toolchain::new(source))?;
        steps.step("tools");
        let options = KwokOptions {
            gpu: opts.simulated_gpus.clone(),
            ready_timeout: opts.ready_timeout,
            ..KwokOptions::default()
        };
        let host = HostSetup {
            tool_source: source,
            kubectl: bins.kubectl.clone(),
            docker: None,
            engine: None,
            node_image: None,
            host_gpus: None,
        };
        Ok((KwokProvider::new(bins, options), host))
    }

    fn is_present(name: &str) -> bool {
        super::is_kwok_cluster(name)
    }

    fn tear_down(name: &str) -> Result<DownReport, ClusterError> {
        super::status::tear_down(name)
    }

    fn status() -> Result<ClusterStatus, ClusterError> {
        super::status::status()
    }

    fn provider(&self) -> Provider {
        Provider::Kwok
    }

    /// Starts the control plane and kwok, then adds the worker pools as
    /// fake nodes: the Node objects are this provider's machines, as
    /// containers are kind's. The control-plane pool gets no Node: the
    /// control plane runs as local processes, not on a node.
    fn create(&self, spec: &ClusterSpec) -> Result<(), ClusterError> {
        validate_name(&spec.name)?;
        let cp = self.start_control_plane(&spec.name)?;
        if let Err(e) = self.add_nodes(spec) {
            // Leave the logs for the error message to point at.
            let _ = cp.stop(false);
            return Err(e.into());
        }
        cp.detach();
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), ClusterError> {
        super::status::delete_dir(name)?;
        Ok(())
    }

    /// Whether its processes all run: a stopped cluster cannot be reused,
    /// and [`ClusterProvider::create`] clears its leftovers.
    fn exists(&self, name: &str) -> Result<bool, ClusterError> {
        Ok(Self::is_running(name))
    }

    fn list(&self) -> Result<Vec<String>, ClusterError> {
        Ok(list_in(
            &environment::workspace::cache_dir().join("clusters"),
        ))
    }

    fn kubeconfig(&self, name: &str) -> Result<PathBuf, ClusterError> {
        let dir = cluster_dir(name);
        let path = dir.join("kubeconfig");
        if !dir.join(STATE_FILE).is_file() || !path.is_file() {
            return Err(ClusterError::NotFound(name.to_string()));
        }
        Ok(path)
    }

    /// Every fake node Ready (kwok keeps them so; `create` waited already).
    fn wait_ready(
        &self,
        name: &str,
        timeout: Duration,
        _created: bool,
    ) -> Result<(), ClusterError> {
        let kubeconfig = self.kubeconfig(name)?;
        let work = async move {
            let client = k8s::connect(&kubeconfig).await?;
            nodes::wait_all_ready(&client, timeout).await
        };
        self.within(timeout, "the fake nodes to be Ready", work)?;
        Ok(())
    }

    /// Nothing to do: kwok's pods run no containers, so any image name
    /// "works" (it is never pulled).
    fn load_image(&self, _name: &str, _image: &str) -> Result<(), ClusterError> {
        Ok(())
    }

    /// The Node objects, as the API server has them (role: the pool label;
    /// state: Ready / NotReady).
    fn nodes(&self, name: &str) -> Result<Vec<NodeInfo>, ClusterError> {
        let kubeconfig = self.kubeconfig(name)?;
        let listed = block_on_within(Duration::from_secs(30), async move {
            let client = k8s::connect(&kubeconfig).await?;
            nodes::node_infos(&client).await
        })?;
        let infos = listed.ok_or_else(|| KwokError::Timeout {
            what: format!("listing the nodes of {name}"),
            after: Duration::from_secs(30),
            detail: "read logs/kube-apiserver.log in the cluster folder".into(),
        })??;
        Ok(infos)
    }
}
