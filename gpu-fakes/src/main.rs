//! `gpu-fakes`: fake GPUs for a Kubernetes node (see the library docs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use gpu_fakes::admin::{admin_router, metrics_router};
use gpu_fakes::backend::{BackendChoice, select_backend};
use gpu_fakes::config::{GpuApi, PoolConfig};
use gpu_fakes::dra;
use gpu_fakes::exporter::{DEFAULT_POD_RESOURCES_SOCKET, Exporter, LoadProbe, VllmMetricsProbe};
use gpu_fakes::gpus::FakeGpus;
use gpu_fakes::manifests::{ManifestOptions, render_yaml};
use gpu_fakes::plugin::{self, DEFAULT_PLUGIN_DIR, PluginOptions};

#[derive(Parser)]
#[command(
    version,
    about = "Fake GPUs: kubelet device plugin, GFD labels, dcgm-exporter metrics"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Device plugin + labels + fault injection + /metrics (what the DaemonSet runs).
    NodeAgent(AgentArgs),
    /// Device plugin + labels + fault injection, no /metrics.
    DevicePlugin(AgentArgs),
    /// /metrics only (real GPUs through NVML when available).
    Exporter(AgentArgs),
    /// Print NVIDIA_VISIBLE_DEVICES (as the device plugin's Allocate set it)
    /// and sleep: a workload for tests in images without a shell.
    ShowEnv,
    /// Print the DaemonSet/RBAC manifests of one node pool.
    RenderManifests {
        #[command(flatten)]
        pool: PoolArgs,
        #[arg(long, default_value = "gpu-fakes")]
        namespace: String,
        #[arg(long, default_value = "inferbench/gpu-fakes:dev")]
        image: String,
        #[arg(long = "pool-name", default_value = "gpu")]
        pool_name: String,
        #[arg(long, value_enum, default_value_t = GpuApi::DevicePlugin)]
        gpu_api: GpuApi,
        /// Print only the DRA driver's DeviceClasses.
        #[arg(long)]
        device_classes: bool,
    },
}

#[derive(Args, Clone)]
struct PoolArgs {
    /// Physical GPUs on the node.
    #[arg(long, env = "GPU_COUNT", default_value_t = 2)]
    gpu_count: u32,
    /// GFD product name (`nvidia.com/gpu.product`).
    #[arg(long, env = "GPU_PRODUCT", default_value = "NVIDIA-H100-80GB-HBM3")]
    product: String,
    /// Memory per GPU, MiB.
    #[arg(long, env = "GPU_MEMORY_MIB", default_value_t = 81559)]
    memory_mib: u64,
    /// Time-slicing replicas per GPU (>1 registers `nvidia.com/gpu.shared`).
    #[arg(long, env = "GPU_REPLICAS", default_value_t = 1)]
    replicas: u32,
    /// MIG profile, e.g. `1g.10gb` (registers `nvidia.com/mig-1g.10gb`).
    #[arg(long, env = "GPU_MIG_PROFILE")]
    mig_profile: Option<String>,
    /// MIG instances per GPU.
    #[arg(long, env = "GPU_MIG_INSTANCES", default_value_t = 1)]
    mig_instances: u32,
}

impl PoolArgs {
    fn config(&self) -> anyhow::Result<PoolConfig> {
        let c = PoolConfig {
            gpu_count: self.gpu_count,
            product: self.product.clone(),
            memory_mib: self.memory_mib,
            replicas: self.replicas,
            mig_profile: self.mig_profile.clone(),
            mig_instances: self.mig_instances,
        };
        c.validate()?;
        Ok(c)
    }
}

#[derive(Args, Clone)]
struct AgentArgs {
    #[command(flatten)]
    pool: PoolArgs,
    /// This node's name (Downward API); labels are skipped without it.
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    #[arg(long, default_value = DEFAULT_PLUGIN_DIR)]
    plugin_dir: PathBuf,
    #[arg(long, default_value = DEFAULT_POD_RESOURCES_SOCKET)]
    pod_resources_socket: PathBuf,
    /// Address of /metrics and /admin.
    #[arg(long, default_value = "0.0.0.0:9400")]
    listen: SocketAddr,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Running requests on a holding pod at which its GPU is 100% busy.
    #[arg(long, default_value_t = 8.0)]
    saturation: f64,
    /// Do not patch GFD labels onto the node.
    #[arg(long)]
    no_labels: bool,
    /// Which kubelet API offers the GPUs: the device plugin, DRA
    /// (`gpu.nvidia.com` ResourceSlices, needs NODE_NAME and API access), or both.
    #[arg(long, env = "GPU_API", value_enum, default_value_t = GpuApi::DevicePlugin)]
    gpu_api: GpuApi,
    /// The kubelet's plugin directory (DRA endpoint sockets).
    #[arg(long, default_value = dra::DEFAULT_PLUGINS_DIR)]
    dra_plugins_dir: PathBuf,
    /// The kubelet's plugin registry directory (DRA registration sockets).
    #[arg(long, default_value = dra::DEFAULT_REGISTRY_DIR)]
    dra_registry_dir: PathBuf,
    /// Where CDI specs of prepared claims are written.
    #[arg(long, default_value = dra::DEFAULT_CDI_DIR)]
    cdi_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().cmd {
        Cmd::NodeAgent(a) => agent(a, true, true).await,
        Cmd::DevicePlugin(a) => agent(a, true, false).await,
        Cmd::Exporter(a) => agent(a, false, true).await,
        Cmd::ShowEnv => {
            println!(
                "NVIDIA_VISIBLE_DEVICES={}",
                std::env::var("NVIDIA_VISIBLE_DEVICES").unwrap_or_default()
            );
            stopped().await
        }
        Cmd::RenderManifests {
            pool,
            namespace,
            image,
            pool_name,
            gpu_api,
            device_classes,
        } => {
            if device_classes {
                print!("{}", gpu_fakes::manifests::device_classes_yaml()?);
                return Ok(());
            }
            let o = ManifestOptions {
                namespace,
                image,
                pool: pool_name,
                config: pool.config()?,
                gpu_api,
                ..Default::default()
            };
            print!("{}", render_yaml(&o)?);
            Ok(())
        }
    }
}

async fn agent(a: AgentArgs, with_plugin: bool, with_metrics: bool) -> anyhow::Result<()> {
    let cfg = a.pool.config()?;
    let hostname = a
        .node_name
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    let gpus = FakeGpus::new(cfg.clone(), &hostname);
    // One TLS provider for kube's rustls, whatever else the build links.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kube = match kube::Client::try_default().await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "no Kubernetes API access: no labels, no pod load");
            None
        }
    };
    if with_plugin && !a.no_labels {
        match (&kube, &a.node_name) {
            (Some(k), Some(node)) => {
                gpu_fakes::labels::apply_labels(k.clone(), node, &cfg)
                    .await
                    .with_context(|| format!("labelling node {node}"))?;
                tracing::info!(%node, "GFD labels applied");
            }
            _ => tracing::warn!("NODE_NAME or API access missing: GFD labels not applied"),
        }
    }
    // The DRA driver: its kubelet plugin and slice run below; the exporter
    // reads its prepared claims.
    let dra_driver = if with_plugin && a.gpu_api.dra() {
        let (Some(client), Some(node)) = (kube.clone(), a.node_name.clone()) else {
            anyhow::bail!(
                "--gpu-api {} needs NODE_NAME and access to the Kubernetes API (it publishes ResourceSlices)",
                a.gpu_api.as_str()
            );
        };
        let service = dra::driver::DraService::new(
            gpus.clone(),
            &node,
            Arc::new(dra::claims::ApiClaims(client.clone())),
            &a.cdi_dir,
        );
        Some((service, client, node))
    } else {
        None
    };
    let mut app = axum::Router::new();
    if with_plugin {
        app = app.merge(admin_router(gpus.clone()));
    }
    if with_metrics {
        let backend = select_backend(a.backend, gpus.clone())?;
        let probe: Option<Arc<dyn LoadProbe>> = match &kube {
            Some(k) => Some(Arc::new(VllmMetricsProbe::new(k.clone(), a.saturation)?)),
            None => None,
        };
        let exporter = Exporter {
            backend,
            pod_resources: Some(a.pod_resources_socket.clone()),
            probe,
            hostname: hostname.clone(),
            dra: dra_driver.as_ref().map(|(service, _, _)| service.clone()),
        };
        app = app.merge(metrics_router(Arc::new(exporter)));
    } else {
        app = app.route("/healthz", axum::routing::get(|| async { "ok" }));
    }
    // Ready once the kubelet has registered the DRA plugin (the device
    // plugin registers before serving anything), so a rollout of the agent
    // ends when claims can be prepared on its node.
    let dra_service = dra_driver.as_ref().map(|(service, _, _)| service.clone());
    app = app.route(
        "/readyz",
        axum::routing::get(move || {
            let dra = dra_service.clone();
            async move {
                match dra {
                    Some(d) if !d.registered() => (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "the kubelet has not registered the DRA plugin yet\n",
                    ),
                    _ => (axum::http::StatusCode::OK, "ok\n"),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    tracing::info!(listen = %a.listen, resource = %cfg.resource_name(), gpu_api = a.gpu_api.as_str(), "serving");
    let http = async { axum::serve(listener, app).await.context("HTTP server") };
    if !with_plugin {
        return tokio::select! {
            r = http => r,
            r = stopped() => r,
        };
    }
    let device_plugin = async {
        if !a.gpu_api.device_plugin() {
            return std::future::pending().await;
        }
        let opts = PluginOptions {
            plugin_dir: a.plugin_dir.clone(),
            ..Default::default()
        };
        plugin::run(gpus.clone(), opts)
            .await
            .context("device plugin")
    };
    let dra_driver = async {
        let Some((service, client, node)) = dra_driver else {
            return std::future::pending().await;
        };
        let opts = dra::driver::DraOptions {
            plugins_dir: a.dra_plugins_dir.clone(),
            registry_dir: a.dra_registry_dir.clone(),
            cdi_dir: a.cdi_dir.clone(),
            ..Default::default()
        };
        tokio::select! {
            r = dra::driver::run(service, opts) => r.context("DRA kubelet plugin"),
            r = dra::slices::publish(client, &node, gpus.clone()) => r.context("publishing the ResourceSlice"),
        }
    };
    tokio::select! {
        r = http => r,
        r = device_plugin => r,
        r = dra_driver => r,
        r = stopped() => r,
    }
}

/// Resolves when the process is asked to stop: SIGTERM (the kubelet
/// stopping the pod) or Ctrl-C. As a container's PID 1 the agent has no
/// default handler for SIGTERM, so without this every rollout of the
/// DaemonSet waited out the pod's grace period (30 s a node).
async fn stopped() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
    }
    Ok(())
}
