//! The serving pods' own metrics while a load runs: every second, each
//! ready pod behind the load's Service is asked for `/metrics` through the
//! API server's pod proxy, and every `vllm:` gauge and counter is summed
//! over the pods. The queue and cache gauges become report series on the
//! scenario's time axis (beside the load's client view and the events);
//! every name is kept for `expect: { metric }`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Service;
use kube::{Api, Client};
use tokio::task::JoinHandle;

use report::{Series, SeriesPoint};

/// How often the pods are asked.
const EVERY: Duration = Duration::from_secs(1);
/// How long one pod may take to answer.
const PATIENCE: Duration = Duration::from_secs(3);

/// The server metrics drawn in the report, with their units.
pub const CHARTED: [(&str, &str); 4] = [
    ("vllm:num_requests_waiting", "requests"),
    ("vllm:num_requests_running", "requests"),
    ("vllm:kv_cache_usage_perc", "fraction"),
    ("vllm:gpu_cache_usage_perc", "fraction"),
];

/// Every metric scraped in a scenario: name -> its sum over the serving
/// pods at each scrape.
#[derive(Clone, Default)]
pub struct Scraped(Arc<Mutex<BTreeMap<String, Vec<SeriesPoint>>>>);

impl Scraped {
    pub(crate) fn add(&self, at: Timestamp, sums: BTreeMap<String, f64>) {
        if let Ok(mut m) = self.0.lock() {
            for (name, value) in sums {
                m.entry(name).or_default().push(SeriesPoint { at, value });
            }
        }
    }

    pub fn points(&self, name: &str) -> Vec<SeriesPoint> {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(name).cloned())
            .unwrap_or_default()
    }

    pub fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The charted metrics, as report series (vLLM's older name for the
    /// cache gauge only when the newer one is missing), and the mean queue
    /// time of the requests admitted between two scrapes.
    pub fn series(&self) -> Vec<Series> {
        let has_kv = !self.points("vllm:kv_cache_usage_perc").is_empty();
        let mut out: Vec<Series> = CHARTED
            .iter()
            .filter(|(name, _)| !(has_kv && *name == "vllm:gpu_cache_usage_perc"))
            .filter_map(|(name, unit)| {
                let points = self.points(name);
                (!points.is_empty()).then(|| Series {
                    name: format!("{name} (sum over the serving pods)"),
                    unit: unit.to_string(),
                    points,
                })
            })
            .collect();
        let queue = interval_means(
            &self.points(&format!("{QUEUE_TIME}_sum")),
            &self.points(&format!("{QUEUE_TIME}_count")),
        );
        if !queue.is_empty() {
            out.push(Series {
                name: format!("{QUEUE_TIME} (mean of the requests admitted since the last scrape)"),
                unit: "ms".into(),
                points: queue,
            });
        }
        out
    }
}

/// vLLM's histogram of the time requests spend waiting for a slot.
const QUEUE_TIME: &str = "vllm:request_queue_time_seconds";

/// A histogram's mean between consecutive scrapes, in milliseconds, from
/// its `_sum` and `_count` series: a point where observations came in; none
/// where none did, or where a counter went back (a pod went away).
fn interval_means(sums: &[SeriesPoint], counts: &[SeriesPoint]) -> Vec<SeriesPoint> {
    let pairs: Vec<(&SeriesPoint, &SeriesPoint)> = sums
        .iter()
        .zip(counts)
        .filter(|(s, c)| s.at == c.at)
        .collect();
    pairs
        .windows(2)
        .filter_map(|w| {
            let ((s0, c0), (s1, c1)) = (w[0], w[1]);
            let n = c1.value - c0.value;
            let sum = s1.value - s0.value;
            (n >= 1.0 && sum >= 0.0).then(|| SeriesPoint {
                at: s1.at,
                value: sum / n * 1000.0,
            })
        })
        .collect()
}

/// Samples of the Prometheus text exposition whose name starts with
/// `vllm:`, summed over label sets (histogram buckets left out).
pub fn sum_vllm(text: &str) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for (name, _, value) in text
        .lines()
        .filter_map(|l| crate::exposition::sample(l.trim()))
        .filter(|(name, _, _)| name.starts_with("vllm:") && !name.ends_with("_bucket"))
    {
        *sums.entry(name.to_string()).or_insert(0.0) += value;
    }
    sums
}

/// The pods behind `service` and the port its `port` reaches on them.
async fn endpoints(
    client: &Client,
    namespace: &str,
    service: &str,
    port: u16,
) -> Vec<(String, i32)> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let Ok(svc) = services.get(service).await else {
        return Vec::new();
    };
    let port_name = svc
        .spec
        .and_then(|s| s.ports)
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.port == i32::from(port))
        .and_then(|p| p.name);
    let Ok(slices) = crate::service_endpoints::list(client, namespace, service).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for slice in slices {
        let Some(number) = slice
            .ports
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.name == port_name)
            .and_then(|p| p.port)
        else {
            continue;
        };
        for e in slice.endpoints {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if let Some(pod) = e.target_ref.and_then(|t| t.name).filter(|_| ready) {
                out.push((pod, number));
            }
        }
    }
    out
}

async fn scrape_pod(client: &Client, namespace: &str, pod: &str, port: i32) -> Option<String> {
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/metrics");
    let request = http::Request::get(path).body(Vec::new()).ok()?;
    tokio::time::timeout(PATIENCE, client.request_text(request))
        .await
        .ok()?
        .ok()
}

/// A running scrape; it stops when dropped.
pub struct ScrapeTask(JoinHandle<()>);

impl ScrapeTask {
    pub(crate) fn spawn(work: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        ScrapeTask(tokio::spawn(work))
    }
}

impl Drop for ScrapeTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One scrape of every ready pod behind a Service: which pods answered,
/// and each `vllm:` metric summed over them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub pods: std::collections::BTreeSet<String>,
    pub sums: BTreeMap<String, f64>,
}

/// Asks every ready pod behind `service:port` once; `None` when none answered.
pub async fn scrape_once(
    client: &Client,
    namespace: &str,
    service: &str,
    port: u16,
) -> Option<Snapshot> {
    let mut snap = Snapshot::default();
    for (pod, number) in endpoints(client, namespace, service, port).await {
        if let Some(text) = scrape_pod(client, namespace, &pod, number).await {
            for (name, v) in sum_vllm(&text) {
                *snap.sums.entry(name).or_insert(0.0) += v;
            }
            snap.pods.insert(pod);
        }
    }
    (!snap.pods.is_empty()).then_some(snap)
}

/// Scrapes the pods behind `service:port` every second until dropped.
pub fn start(
    client: Client,
    namespace: String,
    service: String,
    port: u16,
    scraped: Scraped,
) -> ScrapeTask {
    ScrapeTask::spawn(async move {
        loop {
            if let Some(snap) = scrape_once(&client, &namespace, &service, port).await {
                scraped.add(Timestamp::now(), snap.sums);
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_time_is_the_mean_of_each_interval() {
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let p = |s, value| SeriesPoint { at: at(s), value };
        let sums = [p(0, 1.0), p(1, 1.5), p(2, 1.5), p(3, 0.2)];
        let counts = [p(0, 10.0), p(1, 15.0), p(2, 15.0), p(3, 2.0)];
        let means = interval_means(&sums, &counts);
        // 0.5 s over 5 requests; nothing admitted; a counter that went back.
        assert_eq!(means.len(), 1);
        assert_eq!(means[0].at, at(1));
        assert!((means[0].value - 100.0).abs() < 1e-9);
    }

    #[test]
    fn vllm_samples_are_summed_over_labels_and_buckets_left_out() {
        let text = r#"# HELP vllm:num_requests_waiting Requests waiting.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="a b"} 3
vllm:num_requests_waiting{model_name="c"} 2
vllm:kv_cache_usage_perc 0.25
vllm:e2e_request_latency_seconds_bucket{le="0.1"} 7
vllm:e2e_request_latency_seconds_count 9
process_cpu_seconds_total 1.5
"#;
        let sums = sum_vllm(text);
        assert_eq!(sums["vllm:num_requests_waiting"], 5.0);
        assert_eq!(sums["vllm:kv_cache_usage_perc"], 0.25);
        assert_eq!(sums["vllm:e2e_request_latency_seconds_count"], 9.0);
        assert!(!sums.contains_key("vllm:e2e_request_latency_seconds_bucket"));
        assert!(!sums.contains_key("process_cpu_seconds_total"));
    }
}
