//! The GPUs of a scenario's pods while a load runs: every second each
//! dcgm-exporter pod (gpu-fakes' exporter, or NVIDIA's dcgm-exporter) is
//! asked for `/metrics` through the API server's pod proxy, and the series
//! it attributes to a pod of the scenario's namespace (its `pod` and
//! `namespace` labels, per GPU and container) become that pod's GPU memory
//! (`DCGM_FI_DEV_FB_USED`, summed over its GPUs) and utilization
//! (`DCGM_FI_DEV_GPU_UTIL`, averaged over them): the report's GPU panel.
//! The namespace's totals are also kept beside the server metrics, so
//! `expect: { metric: { name: DCGM_FI_DEV_GPU_UTIL } }` can gate on them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use report::{PodGpu, SeriesPoint};

use crate::server_metrics::{ScrapeTask, Scraped};

/// How often the exporters are asked.
const EVERY: Duration = Duration::from_secs(1);
/// How long one exporter may take to answer.
const PATIENCE: Duration = Duration::from_secs(3);
/// The exporters' pods: gpu-fakes', and NVIDIA's GPU operator's.
const EXPORTERS: [&str; 2] = [
    "app.kubernetes.io/name=gpu-fakes",
    "app=nvidia-dcgm-exporter",
];
/// dcgm-exporter's port, where its pod does not name a `metrics` port.
const DEFAULT_PORT: i32 = 9400;

pub const FB_USED: &str = "DCGM_FI_DEV_FB_USED";
pub const GPU_UTIL: &str = "DCGM_FI_DEV_GPU_UTIL";

/// One GPU's readings attributed to a pod.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    pub memory_mib: Option<f64>,
    pub util_pct: Option<f64>,
}

/// pod -> GPU UUID -> readings, for the pods of one namespace.
pub type Attributed = BTreeMap<String, BTreeMap<String, Reading>>;

/// The `FB_USED` and `GPU_UTIL` samples of a dcgm-exporter's text that are
/// attributed to a pod of `namespace`. A GPU shared by two containers of a
/// pod appears once per container with the same reading: it counts once.
pub fn attributed(text: &str, namespace: &str, into: &mut Attributed) {
    for line in text.lines() {
        let line = line.trim();
        let Some((name, labels, value)) = crate::exposition::sample(line) else {
            continue;
        };
        if name != FB_USED && name != GPU_UTIL {
            continue;
        }
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let (Some(pod), Some(ns)) = (label("pod"), label("namespace")) else {
            continue;
        };
        if ns != namespace || pod.is_empty() {
            continue;
        }
        let gpu = label("UUID").or(label("gpu")).unwrap_or("").to_string();
        let reading = into
            .entry(pod.to_string())
            .or_default()
            .entry(gpu)
            .or_default();
        if name == FB_USED {
            reading.memory_mib = Some(value);
        } else {
            reading.util_pct = Some(value);
        }
    }
}

/// Each pod's memory (summed over its GPUs) and utilization (their mean).
fn per_pod(a: &Attributed) -> BTreeMap<&str, (Option<f64>, Option<f64>)> {
    a.iter()
        .map(|(pod, gpus)| {
            let memory: Vec<f64> = gpus.values().filter_map(|r| r.memory_mib).collect();
            let util: Vec<f64> = gpus.values().filter_map(|r| r.util_pct).collect();
            let memory = (!memory.is_empty()).then(|| memory.iter().sum());
            let util = (!util.is_empty()).then(|| util.iter().sum::<f64>() / util.len() as f64);
            (pod.as_str(), (memory, util))
        })
        .collect()
}

#[derive(Default)]
struct Track {
    gpus: BTreeSet<String>,
    memory: Vec<SeriesPoint>,
    util: Vec<SeriesPoint>,
}

/// Every pod's GPU readings in a scenario.
#[derive(Clone, Default)]
pub struct GpuScraped(Arc<Mutex<BTreeMap<String, Track>>>);

impl GpuScraped {
    pub fn add(&self, at: Timestamp, a: &Attributed) {
        let Ok(mut tracks) = self.0.lock() else {
            return;
        };
        for (pod, (memory, util)) in per_pod(a) {
            let track = tracks.entry(pod.to_string()).or_default();
            track.gpus.extend(a[pod].keys().cloned());
            if let Some(value) = memory {
                track.memory.push(SeriesPoint { at, value });
            }
            if let Some(value) = util {
                track.util.push(SeriesPoint { at, value });
            }
        }
    }

    /// The report's GPU panel: one entry per pod.
    pub fn pods(&self) -> Vec<PodGpu> {
        self.0
            .lock()
            .map(|tracks| {
                tracks
                    .iter()
                    .map(|(pod, t)| PodGpu {
                        pod: pod.clone(),
                        gpus: t.gpus.iter().cloned().collect(),
                        memory_used_mib: t.memory.clone(),
                        utilization_pct: t.util.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The namespace's totals over its pods, under the exporter's names.
pub fn totals(a: &Attributed) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (memory, util) in per_pod(a).into_values() {
        if let Some(m) = memory {
            *out.entry(FB_USED.to_string()).or_insert(0.0) += m;
        }
        if let Some(u) = util {
            *out.entry(GPU_UTIL.to_string()).or_insert(0.0) += u;
        }
    }
    out
}

/// The running exporter pods: (namespace, name, metrics port).
async fn exporters(client: &Client) -> Vec<(String, String, i32)> {
    let pods: Api<Pod> = Api::all(client.clone());
    let mut out = Vec::new();
    for selector in EXPORTERS {
        let Ok(list) = pods.list(&ListParams::default().labels(selector)).await else {
            continue;
        };
        for p in list.items {
            let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            if !running {
                continue;
            }
            let port = p
                .spec
                .as_ref()
                .into_iter()
                .flat_map(|s| &s.containers)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|port| port.name.as_deref() == Some("metrics"))
                .map_or(DEFAULT_PORT, |port| port.container_port);
            out.push((p.namespace().unwrap_or_default(), p.name_any(), port));
        }
    }
    out
}

/// Asks every exporter once; the readings attributed to `namespace`'s pods.
pub async fn scrape_once(client: &Client, namespace: &str) -> Attributed {
    let mut a = Attributed::new();
    for (ns, pod, port) in exporters(client).await {
        let path = format!("/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/metrics");
        let Ok(request) = http::Request::get(path).body(Vec::new()) else {
            continue;
        };
        if let Ok(Ok(text)) = tokio::time::timeout(PATIENCE, client.request_text(request)).await {
            attributed(&text, namespace, &mut a);
        }
    }
    a
}

/// Reads the exporters every second until dropped.
pub fn start(client: Client, namespace: String, gpus: GpuScraped, server: Scraped) -> ScrapeTask {
    ScrapeTask::spawn(async move {
        loop {
            let a = scrape_once(&client, &namespace).await;
            if !a.is_empty() {
                let at = Timestamp::now();
                gpus.add(at, &a);
                server.add(at, totals(&a));
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",Hostname="w2",container="server",namespace="ib-1",pod="srv-1"} 75
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",Hostname="w2",container="sidecar",namespace="ib-1",pod="srv-1"} 75
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",Hostname="w2",container="server",namespace="ib-1",pod="srv-1"} 25
DCGM_FI_DEV_GPU_UTIL{gpu="2",UUID="GPU-c",Hostname="w2",container="server",namespace="other",pod="x"} 99
DCGM_FI_DEV_GPU_UTIL{gpu="3",UUID="GPU-d",Hostname="w2"} 0
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a",Hostname="w2",container="server",namespace="ib-1",pod="srv-1"} 40000
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a",Hostname="w2",container="sidecar",namespace="ib-1",pod="srv-1"} 40000
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-b",Hostname="w2",container="server",namespace="ib-1",pod="srv-1"} 41000
DCGM_FI_DEV_FB_USED{gpu="4",UUID="GPU-e",Hostname="w3",modelName="NVIDIA \"H100\"",container="server",namespace="ib-1",pod="srv-2"} 1000
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-a",namespace="ib-1",pod="srv-1"} 60
"#;

    #[test]
    fn a_pods_gpus_count_once_however_many_containers_share_them() {
        let mut a = Attributed::new();
        attributed(TEXT, "ib-1", &mut a);
        assert_eq!(a.keys().collect::<Vec<_>>(), ["srv-1", "srv-2"]);
        assert_eq!(a["srv-1"].len(), 2);
        let pods = per_pod(&a);
        assert_eq!(pods["srv-1"], (Some(81000.0), Some(50.0)));
        // A pod with memory and no utilization line (escaped quotes read).
        assert_eq!(pods["srv-2"], (Some(1000.0), None));
        let totals = totals(&a);
        assert_eq!(totals[FB_USED], 82000.0);
        assert_eq!(totals[GPU_UTIL], 50.0);
    }

    #[test]
    fn other_namespaces_and_unattributed_gpus_are_left_out() {
        let mut a = Attributed::new();
        attributed(TEXT, "nobody-here", &mut a);
        assert!(a.is_empty());
        assert!(totals(&a).is_empty());
    }

    #[test]
    fn each_scrape_is_a_point_of_the_pods_series() {
        let scraped = GpuScraped::default();
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        for (s, util) in [(0, "10"), (1, "90")] {
            let mut a = Attributed::new();
            let text = format!(
                "DCGM_FI_DEV_GPU_UTIL{{UUID=\"GPU-a\",namespace=\"n\",pod=\"p\"}} {util}\nDCGM_FI_DEV_FB_USED{{UUID=\"GPU-a\",namespace=\"n\",pod=\"p\"}} 500"
            );
            attributed(&text, "n", &mut a);
            scraped.add(at(s), &a);
        }
        let pods = scraped.pods();
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].gpus, ["GPU-a"]);
        let util: Vec<f64> = pods[0].utilization_pct.iter().map(|p| p.value).collect();
        assert_eq!(util, [10.0, 90.0]);
        assert_eq!(pods[0].utilization_mean_peak(), Some((50.0, 90.0)));
        assert_eq!(pods[0].peak_memory_mib(), Some(500.0));
    }
}
