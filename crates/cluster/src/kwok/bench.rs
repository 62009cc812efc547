//! The kwok scale benchmark behind `cargo xtask bench kwok`: a kwok
//! cluster with many GPU nodes, many GPU pods created at once, and how long
//! the control plane takes to make the nodes Ready, bind the pods and (via
//! kwok) report them Running.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::PostParams;
use kube::runtime::watcher;
use kube::{Api, Client};

use super::nodes::{self, node_objects};
use super::process::{self, ProcessInfo};
use super::{Binaries, GPU_RESOURCE, KwokError, KwokOptions, KwokProvider, api_err, block_on};
use crate::{ClusterSpec, GPU_PRESENT_LABEL, GPU_TAINT_KEY};

/// The namespace the benchmark's pods go to.
pub const NAMESPACE: &str = "kwok-bench";
/// The `app` label of the pods [`gpu_pod`] makes.
pub const APP_LABEL: &str = "kwok-bench";

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Cluster name (must not be running).
    pub name: String,
    pub gpu_nodes: u32,
    pub cpu_nodes: u32,
    pub pods: u32,
    pub gpus_per_pod: u32,
    /// Requests in flight at once when creating nodes and pods.
    pub concurrency: usize,
    /// How long the pods may take to be bound and Running.
    pub timeout: Duration,
    /// Leave the cluster running afterwards.
    pub keep: bool,
    /// Claim GPUs through DRA (ResourceSlices, claims) instead of counting
    /// `nvidia.com/gpu` (see [`super::bench_dra`]).
    pub dra: bool,
    pub kwok: KwokOptions,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            name: "inferbench-kwok-bench".to_string(),
            gpu_nodes: 50,
            cpu_nodes: 0,
            pods: 200,
            gpus_per_pod: 1,
            concurrency: 32,
            timeout: Duration::from_secs(900),
            keep: false,
            dra: false,
            kwok: KwokOptions::default(),
        }
    }
}

impl BenchOptions {
    /// How many pods fit: each GPU node takes `gpus_per_node / gpus_per_pod`.
    pub fn pods_that_fit(&self) -> u32 {
        let per_node = (self.kwok.gpu.gpus_per_node / self.gpus_per_pod.max(1)).min(110);
        self.pods.min(self.gpu_nodes.saturating_mul(per_node))
    }

    fn validate(&self) -> Result<(), KwokError> {
        if self.gpu_nodes == 0 || self.pods == 0 || self.gpus_per_pod == 0 {
            return Err(KwokError::Invalid(
                "--gpu-nodes, --pods and --gpus-per-pod must be at least 1".into(),
            ));
        }
        if self.kwok.gpu.gpus_per_node == 0 {
            return Err(KwokError::Invalid(
                "--gpus-per-node must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What was measured. Times are seconds; pod times count from the first
/// pod create request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// `device-plugin` (pods count `nvidia.com/gpu`) or `dra` (pods claim
    /// devices of ResourceSlices).
    pub gpu_api: &'static str,
    pub gpu_nodes: u32,
    pub gpus_per_node: u32,
    pub pods: u32,
    pub gpus_per_pod: u32,
    /// Pods that fit on the GPUs (the rest must stay Pending).
    pub expected_running: u32,
    pub client_qps: u32,
    pub concurrency: usize,
    pub control_plane_s: f64,
    pub nodes_created_s: f64,
    pub nodes_ready_s: f64,
    /// DRA: the DeviceClass, every node's ResourceSlice and the claim
    /// template created.
    pub slices_published_s: Option<f64>,
    pub pods_created_s: f64,
    /// DRA: every pod's ResourceClaim created by kube-controller-manager
    /// (from the first pod create).
    pub claims_created_s: Option<f64>,
    /// DRA: the claims of the pods that fit allocated by the scheduler.
    pub claims_allocated_s: Option<f64>,
    pub pods_bound_s: f64,
    pub pods_running_s: f64,
    /// Pods marked Unschedulable (PodScheduled=False) at the end.
    pub unschedulable: u32,
    pub teardown_s: f64,
    /// Control-plane processes at the end, with peak memory.
    pub processes: Vec<ProcessInfo>,
}

impl BenchReport {
    fn rate(n: u32, secs: f64) -> f64 {
        if secs > 0.0 { f64::from(n) / secs } else { 0.0 }
    }

    /// Pods created per second (API server admission and etcd writes).
    pub fn create_rate(&self) -> f64 {
        Self::rate(self.pods, self.pods_created_s)
    }

    /// Pods bound per second (scheduler throughput, end to end).
    pub fn bind_rate(&self) -> f64 {
        Self::rate(self.expected_running, self.pods_bound_s)
    }

    /// Pods Running per second (bound and marked Running by kwok).
    pub fn running_rate(&self) -> f64 {
        Self::rate(self.expected_running, self.pods_running_s)
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "kwok scale benchmark ({}): {} GPU nodes x {} GPUs, {} pods x {} GPU ({} fit), client QPS {}, {} requests in flight",
            self.gpu_api,
            self.gpu_nodes,
            self.gpus_per_node,
            self.pods,
            self.gpus_per_pod,
            self.expected_running,
            self.client_qps,
            self.concurrency
        )?;
        writeln!(f, "{:<44} {:>10} {:>12}", "step", "seconds", "per second")?;
        let row = |f: &mut std::fmt::Formatter<'_>, name: &str, s: f64, rate: Option<f64>| {
            writeln!(
                f,
                "{:<44} {:>10.2} {:>12}",
                name,
                s,
                rate.map(|r| format!("{r:.1}")).unwrap_or_default()
            )
        };
        row(
            f,
            "control plane up (etcd .. kwok ready)",
            self.control_plane_s,
            None,
        )?;
        row(
            f,
            &format!("{} nodes created", self.gpu_nodes),
            self.nodes_created_s,
            Some(Self::rate(self.gpu_nodes, self.nodes_created_s)),
        )?;
        row(
            f,
            &format!("{} nodes Ready (from first create)", self.gpu_nodes),
            self.nodes_ready_s,
            Some(Self::rate(self.gpu_nodes, self.nodes_ready_s)),
        )?;
        if let Some(s) = self.slices_published_s {
            row(
                f,
                &format!("{} ResourceSlices published", self.gpu_nodes),
                s,
                Some(Self::rate(self.gpu_nodes, s)),
            )?;
        }
        row(
            f,
            &format!("{} pods created", self.pods),
            self.pods_created_s,
            Some(self.create_rate()),
        )?;
        if let Some(s) = self.claims_created_s {
            row(
                f,
                &format!("{} ResourceClaims created (controller)", self.pods),
                s,
                Some(Self::rate(self.pods, s)),
            )?;
        }
        if let Some(s) = self.claims_allocated_s {
            row(
                f,
                &format!("{} claims allocated (scheduler)", self.expected_running),
                s,
                Some(Self::rate(self.expected_running, s)),
            )?;
        }
        row(
            f,
            &format!("{} pods bound (from first create)", self.expected_running),
            self.pods_bound_s,
            Some(self.bind_rate()),
        )?;
        row(
            f,
            &format!("{} pods Running (from first create)", self.expected_running),
            self.pods_running_s,
            Some(self.running_rate()),
        )?;
        row(f, "teardown", self.teardown_s, None)?;
        if self.pods > self.expected_running {
            writeln!(
                f,
                "{} pods left Pending as Unschedulable (no GPU left): {} expected",
                self.unschedulable,
                self.pods - self.expected_running
            )?;
        }
        writeln!(f, "{:<26} {:>14}", "process", "peak RSS MiB")?;
        for p in &self.processes {
            writeln!(f, "{:<26} {:>14.0}", p.component, p.peak_rss_mib)?;
        }
        Ok(())
    }
}

/// Runs the benchmark: up, nodes, pods, measure, down (unless `keep`).
pub fn run(bins: &Binaries, opts: &BenchOptions) -> Result<BenchReport, KwokError> {
    opts.validate()?;
    let provider = KwokProvider::new(bins.clone(), opts.kwok.clone());
    let t = Instant::now();
    let cp = provider.start_control_plane(&opts.name)?;
    let control_plane_s = t.elapsed().as_secs_f64();
    let spec = ClusterSpec::new(&opts.name, opts.cpu_nodes, opts.gpu_nodes)
        .map_err(|e| KwokError::Invalid(e.to_string()))?;
    let kubeconfig = cp.kubeconfig();
    let m = block_on(measure(&kubeconfig, &spec, opts))??;
    let processes = process::processes_of(cp.dir());
    eprintln!("inferbench: tearing down kwok cluster {:?}", opts.name);
    let t = Instant::now();
    if opts.keep {
        eprintln!(
            "inferbench: leaving it up: export KUBECONFIG={}",
            kubeconfig.display()
        );
        cp.detach();
    } else {
        cp.stop(true)?;
    }
    Ok(BenchReport {
        gpu_api: if opts.dra { "dra" } else { "device-plugin" },
        gpu_nodes: opts.gpu_nodes,
        gpus_per_node: opts.kwok.gpu.gpus_per_node,
        pods: opts.pods,
        gpus_per_pod: opts.gpus_per_pod,
        expected_running: opts.pods_that_fit(),
        client_qps: opts.kwok.client_qps,
        concurrency: opts.concurrency,
        control_plane_s,
        nodes_created_s: m.nodes_created_s,
        nodes_ready_s: m.nodes_ready_s,
        slices_published_s: m.slices_published_s,
        pods_created_s: m.pods_created_s,
        claims_created_s: m.claims_created_s,
        claims_allocated_s: m.claims_allocated_s,
        pods_bound_s: m.pods_bound_s,
        pods_running_s: m.pods_running_s,
        unschedulable: m.unschedulable,
        teardown_s: t.elapsed().as_secs_f64(),
        processes,
    })
}

/// The timed part of a run.
struct Measured {
    nodes_created_s: f64,
    nodes_ready_s: f64,
    slices_published_s: Option<f64>,
    pods_created_s: f64,
    claims_created_s: Option<f64>,
    claims_allocated_s: Option<f64>,
    pods_bound_s: f64,
    pods_running_s: f64,
    unschedulable: u32,
}

/// Nodes and pods, timed.
async fn measure(
    kubeconfig: &Path,
    spec: &ClusterSpec,
    opts: &BenchOptions,
) -> Result<Measured, KwokError> {
    let client = k8s::connect(kubeconfig).await?;
    let objects = node_objects(spec, &opts.kwok.gpu);
    let names: Vec<String> = objects
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let gpu_nodes: Vec<String> = objects
        .iter()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(GPU_PRESENT_LABEL))
        })
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    eprintln!("inferbench: creating {} fake nodes", names.len());
    let t0 = Instant::now();
    tokio::time::timeout(
        opts.kwok.ready_timeout,
        nodes::create_nodes(&client, objects, opts.concurrency),
    )
    .await
    .map_err(|_| KwokError::Timeout {
        what: format!("creating {} nodes", names.len()),
        after: opts.kwok.ready_timeout,
        detail: "read logs/kube-apiserver.log in the cluster folder".into(),
    })??;
    let nodes_created_s = t0.elapsed().as_secs_f64();
    nodes::wait_ready(&client, &names, opts.kwok.ready_timeout).await?;
    let nodes_ready_s = t0.elapsed().as_secs_f64();

    k8s::ensure_namespace(&client, NAMESPACE).await?;
    wait_service_account(kubeconfig).await?;
    let slices_published_s = if opts.dra {
        eprintln!(
            "inferbench: publishing {} ResourceSlices of {}",
            gpu_nodes.len(),
            super::bench_dra::DRIVER
        );
        let t = Instant::now();
        super::bench_dra::publish(
            &client,
            &gpu_nodes,
            opts.kwok.gpu.gpus_per_node,
            opts.gpus_per_pod,
            &opts.kwok.gpu.product,
            opts.kwok.gpu.memory_mib,
            opts.concurrency,
        )
        .await?;
        Some(t.elapsed().as_secs_f64())
    } else {
        None
    };

    let expected = opts.pods_that_fit();
    let pending = opts.pods - expected;
    eprintln!(
        "inferbench: creating {} pods ({expected} fit on the GPUs, {pending} must stay Pending)",
        opts.pods
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let t1 = Instant::now();
    let create = async {
        tokio::time::timeout(opts.timeout, create_pods(&pods, opts))
            .await
            .map_err(|_| KwokError::Timeout {
                what: format!("creating {} pods", opts.pods),
                after: opts.timeout,
                detail: "read logs/kube-apiserver.log in the cluster folder".into(),
            })??;
        Ok::<f64, KwokError>(t1.elapsed().as_secs_f64())
    };
    let observe =
        tokio::time::timeout(opts.timeout, observe(&client, opts.pods, expected, pending));
    let claims = async {
        if !opts.dra {
            return Ok(None);
        }
        let watched = tokio::time::timeout(
            opts.timeout,
            super::bench_dra::observe_claims(&client, opts.pods, expected),
        )
        .await
        .map_err(|_| KwokError::Timeout {
            what: format!("{} ResourceClaims created, {expected} allocated", opts.pods),
            after: opts.timeout,
            detail: "kube-controller-manager creates them, the scheduler allocates: read logs/kube-controller-manager.log and logs/kube-scheduler.log in the cluster folder".into(),
        })??;
        Ok::<_, KwokError>(Some(watched))
    };
    let (created, observed, claims) = tokio::join!(create, observe, claims);
    let claims = claims?;
    let pods_created_s = created?;
    let observed = observed.map_err(|_| KwokError::Timeout {
        what: format!("{expected} pods bound and Running"),
        after: opts.timeout,
        detail: "the scheduler binds, kwok marks Running: read logs/kube-scheduler.log and logs/kwok.log in the cluster folder".into(),
    })??;
    Ok(Measured {
        nodes_created_s,
        nodes_ready_s,
        slices_published_s,
        pods_created_s,
        claims_created_s: claims.map(|(c, _)| (c - t1).as_secs_f64()),
        claims_allocated_s: claims.map(|(_, a)| (a - t1).as_secs_f64()),
        pods_bound_s: (observed.all_bound - t1).as_secs_f64(),
        pods_running_s: (observed.all_running - t1).as_secs_f64(),
        unschedulable: observed.unschedulable,
    })
}

async fn wait_service_account(kubeconfig: &Path) -> Result<(), KwokError> {
    let start = Instant::now();
    let limit = Duration::from_secs(60);
    let probe = || {
        tokio::time::timeout(
            Duration::from_secs(5),
            super::control_plane::default_service_account(kubeconfig, NAMESPACE),
        )
    };
    while probe().await.ok().flatten().is_none() {
        if start.elapsed() >= limit {
            return Err(KwokError::Timeout {
                what: format!("the ServiceAccount {NAMESPACE}/default"),
                after: limit,
                detail: "kube-controller-manager makes it: read logs/kube-controller-manager.log"
                    .into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// A pod asking for `gpus` GPUs, tolerating the GPU taint, on the GPU pool.
pub fn gpu_pod(name: &str, gpus: u32) -> Pod {
    let gpu: BTreeMap<String, Quantity> =
        [(GPU_RESOURCE.to_string(), Quantity(gpus.to_string()))].into();
    let mut pod = Pod::default();
    pod.metadata.name = Some(name.to_string());
    pod.metadata.labels = Some([("app".to_string(), APP_LABEL.to_string())].into());
    pod.spec = Some(PodSpec {
        containers: vec![Container {
            name: "main".into(),
            // Never pulled: kwok runs no containers.
            image: Some("registry.k8s.io/pause:3.10.1".into()),
            resources: Some(ResourceRequirements {
                requests: Some(gpu.clone()),
                limits: Some(gpu),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        }],
        node_selector: Some([(GPU_PRESENT_LABEL.to_string(), "true".to_string())].into()),
        tolerations: Some(vec![Toleration {
            key: Some(GPU_TAINT_KEY.to_string()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Toleration::default()
        }]),
        automount_service_account_token: Some(false),
        termination_grace_period_seconds: Some(0),
        ..PodSpec::default()
    });
    pod
}

async fn create_pods(api: &Api<Pod>, opts: &BenchOptions) -> Result<(), KwokError> {
    futures::stream::iter((0..opts.pods).map(|i| {
        let api = api.clone();
        let name = format!("bench-{i:05}");
        let pod = if opts.dra {
            super::bench_dra::claim_pod(&name)
        } else {
            gpu_pod(&name, opts.gpus_per_pod)
        };
        async move {
            api.create(&PostParams::default(), &pod)
                .await
                .map(|_| ())
                .map_err(api_err(format!("creating pod bench-{i:05}")))
        }
    }))
    .buffer_unordered(opts.concurrency.max(1))
    .try_collect::<Vec<()>>()
    .await?;
    Ok(())
}

struct Observed {
    all_bound: Instant,
    all_running: Instant,
    unschedulable: u32,
}

fn is_running(p: &Pod) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.phase.as_deref() == Some("Running")
            && s.conditions
                .as_ref()
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
}

fn is_unschedulable(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
            })
        })
}

/// Watches the benchmark's pods until `expected` are bound and Running and
/// `pending` are marked Unschedulable.
async fn observe(
    client: &Client,
    total: u32,
    expected: u32,
    pending: u32,
) -> Result<Observed, KwokError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let cfg = watcher::Config::default().labels(&format!("app={APP_LABEL}"));
    let mut stream = watcher(api, cfg).boxed();
    let (mut bound, mut running, mut unsched) = (HashSet::new(), HashSet::new(), HashSet::new());
    let (mut all_bound, mut all_running) = (None, None);
    let mut last_report = Instant::now();
    while let Some(ev) = stream.next().await {
        let pod = match ev {
            Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => p,
            // Errors included: the watcher retries by itself.
            _ => continue,
        };
        let Some(name) = pod.metadata.name.clone() else {
            continue;
        };
        if pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some()
        {
            bound.insert(name.clone());
            unsched.remove(&name);
        } else if is_unschedulable(&pod) {
            unsched.insert(name.clone());
        }
        if is_running(&pod) {
            running.insert(name);
        }
        let now = Instant::now();
        if all_bound.is_none() && bound.len() as u32 >= expected {
            all_bound = Some(now);
        }
        if all_running.is_none() && running.len() as u32 >= expected {
            all_running = Some(now);
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "inferbench: {} of {total} pods bound, {} Running, {} Unschedulable",
                bound.len(),
                running.len(),
                unsched.len()
            );
            last_report = now;
        }
        if let (Some(b), Some(r)) = (all_bound, all_running)
            && unsched.len() as u32 >= pending
        {
            return Ok(Observed {
                all_bound: b,
                all_running: r,
                unschedulable: unsched.len() as u32,
            });
        }
    }
    Err(KwokError::Timeout {
        what: "watching the benchmark's pods".into(),
        after: Duration::ZERO,
        detail: "the watch ended".into(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn pods_that_fit_counts_whole_pods_per_node() {
        let mut o = BenchOptions {
            gpu_nodes: 500,
            pods: 5000,
            ..BenchOptions::default()
        };
        assert_eq!(o.pods_that_fit(), 4000);
        o.gpus_per_pod = 3;
        assert_eq!(o.pods_that_fit(), 1000);
        o.pods = 10;
        assert_eq!(o.pods_that_fit(), 10);
        o.gpus_per_pod = 0;
        assert!(o.validate().is_err());
    }

    #[test]
    fn gpu_pods_tolerate_the_taint_and_ask_for_gpus() {
        let p = gpu_pod("p", 2);
        let spec = p.spec.expect("spec");
        assert_eq!(
            spec.containers[0]
                .resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .expect("limits")[GPU_RESOURCE]
                .0,
            "2"
        );
        assert_eq!(
            spec.tolerations.expect("tolerations")[0].key.as_deref(),
            Some(GPU_TAINT_KEY)
        );
        assert_eq!(
            spec.node_selector.expect("selector")[GPU_PRESENT_LABEL],
            "true"
        );
    }

    /// A report of a small run (device-plugin path), for formatting tests.
    pub(crate) fn sample_report() -> BenchReport {
        BenchReport {
            gpu_api: "device-plugin",
            gpu_nodes: 2,
            gpus_per_node: 8,
            pods: 20,
            gpus_per_pod: 1,
            expected_running: 16,
            client_qps: 500,
            concurrency: 8,
            control_plane_s: 5.0,
            nodes_created_s: 0.1,
            nodes_ready_s: 1.0,
            slices_published_s: None,
            pods_created_s: 2.0,
            claims_created_s: None,
            claims_allocated_s: None,
            pods_bound_s: 4.0,
            pods_running_s: 8.0,
            unschedulable: 4,
            teardown_s: 1.0,
            processes: Vec::new(),
        }
    }

    #[test]
    fn report_prints_a_table() {
        let r = sample_report();
        let s = r.to_string();
        assert!(s.contains("16 pods bound"), "{s}");
        assert!(s.contains("4 pods left Pending"), "{s}");
        assert!((r.running_rate() - 2.0).abs() < 1e-9);
    }
}
