//! The dcgm-exporter-compatible `/metrics`: GPU readings from a
//! [`GpuBackend`], attributed to pods/containers through the kubelet's
//! pod-resources API (`v1` `PodResourcesLister.List`).
//!
//! With the fake backend, each GPU's utilization follows the load of the pods
//! holding it, read by a [`LoadProbe`]: the real one ([`VllmMetricsProbe`])
//! looks up the holding pod's IP and scrapes its own Prometheus `/metrics`
//! (vLLM's, or the mock server's): utilization = `vllm:num_requests_running /
//! saturation`, memory pressure = `vllm:kv_cache_usage_perc` (or the older
//! `vllm:gpu_cache_usage_perc`). So a GPU is busy exactly while requests run
//! on the pod that holds it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::backend::{GpuBackend, GpuSample};
use crate::plugin::unix_channel;
use crate::proto::podresources::{
    ListPodResourcesRequest, pod_resources_lister_client::PodResourcesListerClient,
};

/// The kubelet's pod-resources socket.
pub const DEFAULT_POD_RESOURCES_SOCKET: &str = "/var/lib/kubelet/pod-resources/kubelet.sock";

/// Errors reading the pod-resources API.
#[derive(Debug, thiserror::Error)]
pub enum PodResourcesError {
    #[error(transparent)]
    Connect(#[from] crate::plugin::PluginError),
    #[error("PodResourcesLister.List: {0}")]
    List(#[from] tonic::Status),
    #[error("PodResourcesLister.List timed out after {0:?}")]
    Timeout(Duration),
}

/// A container holding a GPU device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Holder {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// Maps an advertised device id to its physical GPU's UUID:
/// `<uuid>::<n>` (time-slicing) → `<uuid>`, `MIG-<hex>-<n>` → `GPU-<hex>`.
pub fn device_to_gpu_uuid(id: &str) -> String {
    if let Some((uuid, _)) = id.split_once("::") {
        return uuid.to_string();
    }
    if let Some((hex, _)) = id.strip_prefix("MIG-").and_then(|r| r.rsplit_once('-')) {
        return format!("GPU-{hex}");
    }
    id.to_string()
}

/// Lists which containers hold which GPUs (by GPU UUID), for resources named
/// `nvidia.com/*`.
pub async fn gpu_holders(
    socket: &Path,
    timeout: Duration,
) -> Result<BTreeMap<String, Vec<Holder>>, PodResourcesError> {
    let fut = async {
        let mut client = PodResourcesListerClient::new(unix_channel(socket).await?);
        let resp = client.list(ListPodResourcesRequest {}).await?.into_inner();
        let mut out: BTreeMap<String, Vec<Holder>> = BTreeMap::new();
        for pod in resp.pod_resources {
            for c in pod.containers {
                for d in c.devices {
                    if !d.resource_name.starts_with("nvidia.com/") {
                        continue;
                    }
                    for id in d.device_ids {
                        let h = Holder {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                            container: c.name.clone(),
                        };
                        let v = out.entry(device_to_gpu_uuid(&id)).or_default();
                        if !v.contains(&h) {
                            v.push(h);
                        }
                    }
                }
            }
        }
        Ok(out)
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| PodResourcesError::Timeout(timeout))?
}

/// Load of one pod.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PodLoad {
    /// Compute busy fraction in [0, 1].
    pub busy: f64,
    /// Memory (KV cache) pressure in [0, 1].
    pub memory: f64,
}

/// Reads the load of a pod holding a GPU.
pub trait LoadProbe: Send + Sync {
    fn load<'a>(&'a self, holder: &'a Holder) -> BoxFuture<'a, Option<PodLoad>>;
}

/// The load from the holding pod's own Prometheus metrics (vLLM names).
pub struct VllmMetricsProbe {
    kube: kube::Client,
    http: reqwest::Client,
    /// Running requests at which the GPU counts as 100% busy.
    pub saturation: f64,
}

impl VllmMetricsProbe {
    pub fn new(kube: kube::Client, saturation: f64) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self {
            kube,
            http,
            saturation: saturation.max(1.0),
        })
    }

    /// vLLM metrics first; pods without them fall back to their CPU use.
    async fn probe(&self, holder: &Holder) -> Option<PodLoad> {
        match self.scrape_vllm(holder).await {
            Some(l) => Some(l),
            None => self.cpu_load(holder).await,
        }
    }

    /// CPU use of the pod from the metrics API (metrics-server): one busy core
    /// counts as a fully busy GPU.
    async fn cpu_load(&self, holder: &Holder) -> Option<PodLoad> {
        let uri = format!(
            "/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods/{}",
            holder.namespace, holder.pod
        );
        let req = http::Request::get(uri).body(Vec::new()).ok()?;
        let v: serde_json::Value = self.kube.request(req).await.ok()?;
        let cores: f64 = v
            .get("containers")?
            .as_array()?
            .iter()
            .filter(|c| c.get("name").and_then(|n| n.as_str()) == Some(holder.container.as_str()))
            .filter_map(|c| c.pointer("/usage/cpu")?.as_str().and_then(parse_cpu_cores))
            .sum();
        Some(PodLoad {
            busy: cores.clamp(0.0, 1.0),
            memory: 0.0,
        })
    }

    async fn scrape_vllm(&self, holder: &Holder) -> Option<PodLoad> {
        use k8s_openapi::api::core::v1::Pod;
        let api: kube::Api<Pod> = kube::Api::namespaced(self.kube.clone(), &holder.namespace);
        let pod = api.get(&holder.pod).await.ok()?;
        let ip = pod.status.as_ref()?.pod_ip.clone()?;
        let port = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("prometheus.io/port"))
            .and_then(|p| p.parse::<u16>().ok())
            .or_else(|| {
                pod.spec
                    .as_ref()?
                    .containers
                    .iter()
                    .find(|c| c.name == holder.container)?
                    .ports
                    .as_ref()?
                    .first()
                    .and_then(|p| u16::try_from(p.container_port).ok())
            })
            .unwrap_or(8000);
        let text = self
            .http
            .get(format!("http://{ip}:{port}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        if !text.contains("vllm:num_requests_running") {
            return None;
        }
        Some(load_from_vllm_metrics(&text, self.saturation))
    }
}

impl LoadProbe for VllmMetricsProbe {
    fn load<'a>(&'a self, holder: &'a Holder) -> BoxFuture<'a, Option<PodLoad>> {
        Box::pin(self.probe(holder))
    }
}

/// Parses a Kubernetes CPU quantity (`250m`, `1234567n`, `15u`, `2`) into cores.
pub fn parse_cpu_cores(q: &str) -> Option<f64> {
    let (num, scale) = match q.char_indices().last()? {
        (i, 'n') => (&q[..i], 1e-9),
        (i, 'u') => (&q[..i], 1e-6),
        (i, 'm') => (&q[..i], 1e-3),
        _ => (q, 1.0),
    };
    num.parse::<f64>().ok().map(|n| n * scale)
}

/// Computes a pod's load from vLLM-style metrics text.
pub fn load_from_vllm_metrics(text: &str, saturation: f64) -> PodLoad {
    let samples = parse_exposition(text);
    let sum = |name: &str| -> Option<f64> {
        let v: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    let running = sum("vllm:num_requests_running").unwrap_or(0.0);
    let memory = sum("vllm:kv_cache_usage_perc")
        .or_else(|| sum("vllm:gpu_cache_usage_perc"))
        .unwrap_or(0.0);
    PodLoad {
        busy: (running / saturation.max(1.0)).clamp(0.0, 1.0),
        memory: memory.clamp(0.0, 1.0),
    }
}

/// One sample of Prometheus text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses Prometheus text exposition (enough for dcgm-exporter and vLLM
/// output: names, quoted label values with `\"`/`\\`/`\n` escapes, a value).
/// Lines that do not parse are skipped.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = parse_line(line) {
            out.push(s);
        }
    }
    out
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let end;
        loop {
            // skip separators
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            let (i, c) = *chars.peek()?;
            if c == '}' {
                end = i + 1;
                break;
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut val = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => val.push('\n'),
                        o => val.push(o),
                    },
                    '"' => break,
                    o => val.push(o),
                }
            }
            labels.insert(key.trim().to_string(), val);
        }
        rest = &r[end..];
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

struct Metric {
    name: &'static str,
    help: &'static str,
    get: fn(&GpuSample) -> f64,
}

const METRICS: &[Metric] = &[
    Metric {
        name: "DCGM_FI_DEV_SM_CLOCK",
        help: "SM clock frequency (in MHz).",
        get: |s| s.sm_clock_mhz,
    },
    Metric {
        name: "DCGM_FI_DEV_GPU_TEMP",
        help: "GPU temperature (in C).",
        get: |s| s.temp_c,
    },
    Metric {
        name: "DCGM_FI_DEV_POWER_USAGE",
        help: "Power draw (in W).",
        get: |s| s.power_w,
    },
    Metric {
        name: "DCGM_FI_DEV_GPU_UTIL",
        help: "GPU utilization (in %).",
        get: |s| s.gpu_util,
    },
    Metric {
        name: "DCGM_FI_DEV_MEM_COPY_UTIL",
        help: "Memory utilization (in %).",
        get: |s| s.mem_copy_util,
    },
    Metric {
        name: "DCGM_FI_DEV_FB_FREE",
        help: "Framebuffer memory free (in MiB).",
        get: |s| s.fb_free_mib as f64,
    },
    Metric {
        name: "DCGM_FI_DEV_FB_USED",
        help: "Framebuffer memory used (in MiB).",
        get: |s| s.fb_used_mib as f64,
    },
    Metric {
        name: "DCGM_FI_DEV_XID_ERRORS",
        help: "Value of the last XID error encountered.",
        get: |s| f64::from(s.last_xid),
    },
    Metric {
        name: "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        help: "Ratio of time the graphics engine is active.",
        get: |s| s.gr_engine_active,
    },
];

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders dcgm-exporter's text format: one series per GPU, or one per
/// (GPU, holding container) with `pod`, `namespace`, `container` labels.
pub fn render(
    samples: &[GpuSample],
    holders: &BTreeMap<String, Vec<Holder>>,
    hostname: &str,
) -> String {
    let mut out = String::new();
    for m in METRICS {
        let _ = writeln!(out, "# HELP {} {}", m.name, m.help);
        let _ = writeln!(out, "# TYPE {} gauge", m.name);
        for s in samples {
            let base = format!(
                "gpu=\"{}\",UUID=\"{}\",pci_bus_id=\"{}\",device=\"nvidia{}\",modelName=\"{}\",Hostname=\"{}\"",
                s.index,
                escape(&s.uuid),
                escape(&s.pci_bus_id),
                s.index,
                escape(&s.model_name),
                escape(hostname)
            );
            let v = (m.get)(s);
            match holders.get(&s.uuid).filter(|h| !h.is_empty()) {
                None => {
                    let _ = writeln!(out, "{}{{{base}}} {v}", m.name);
                }
                Some(hs) => {
                    for h in hs {
                        let _ = writeln!(
                            out,
                            "{}{{{base},container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {v}",
                            m.name,
                            escape(&h.container),
                            escape(&h.namespace),
                            escape(&h.pod)
                        );
                    }
                }
            }
        }
    }
    out
}

/// Everything `/metrics` needs.
pub struct Exporter {
    pub backend: Box<dyn GpuBackend>,
    /// The kubelet pod-resources socket; `None` skips attribution.
    pub pod_resources: Option<PathBuf>,
    /// Reads the holding pods' load (fake backend only).
    pub probe: Option<Arc<dyn LoadProbe>>,
    pub hostname: String,
    /// The DRA driver, whose prepared claims attribute GPUs to the
    /// containers that claimed them (the pod-resources API lists only
    /// device-plugin devices unless an alpha feature gate is on).
    pub dra: Option<crate::dra::driver::DraService>,
}

impl Exporter {
    /// Reads attribution and load, then renders `/metrics`.
    pub async fn scrape(&self) -> String {
        let holders = match &self.pod_resources {
            Some(sock) => match gpu_holders(sock, Duration::from_secs(3)).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "pod-resources unavailable: no pod attribution");
                    BTreeMap::new()
                }
            },
            None => BTreeMap::new(),
        };
        let mut holders = holders;
        for (uuid, hs) in self.dra.as_ref().map(|d| d.holders()).unwrap_or_default() {
            let v = holders.entry(uuid).or_default();
            for h in hs {
                if !v.contains(&h) {
                    v.push(h);
                }
            }
        }
        if let Some(fake) = self.backend.fake() {
            let mut cache: HashMap<Holder, PodLoad> = HashMap::new();
            for g in fake.gpus() {
                let hs = holders.get(&g.uuid).cloned().unwrap_or_default();
                let (mut busy, mut mem) = (0.0, 0.0);
                for h in &hs {
                    let l = match (cache.get(h), &self.probe) {
                        (Some(l), _) => *l,
                        (None, Some(p)) => p.load(h).await.unwrap_or_default(),
                        (None, None) => PodLoad::default(),
                    };
                    cache.insert(h.clone(), l);
                    busy += l.busy;
                    mem = f64::max(mem, l.memory);
                }
                fake.set_load(g.index, !hs.is_empty(), busy, mem);
            }
        }
        match self.backend.sample() {
            Ok(samples) => render(&samples, &holders, &self.hostname),
            Err(e) => {
                tracing::warn!(error = %e, "reading GPUs failed");
                String::new()
            }
        }
    }
}
