//! What a scenario records while it runs, from watches (not polls): the
//! namespace's Kubernetes events for the timeline, replicas of every
//! Deployment and HorizontalPodAutoscaler over time, and the replica
//! counts of every ReplicaSet over time (for the evidence, not charted).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Event;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::task::JoinHandle;

use report::{Series, SeriesPoint, TimelineEntry, TimelineSource};

#[derive(Default)]
struct Recorded {
    timeline: Vec<TimelineEntry>,
    seen_events: HashSet<String>,
    /// Series name -> points (only changes are recorded).
    series: BTreeMap<String, Vec<SeriesPoint>>,
    /// ReplicaSet name -> its counts (only changes are recorded).
    replica_sets: BTreeMap<String, Vec<ReplicaPoint>>,
}

/// Replica counts of a ReplicaSet at one moment.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaPoint {
    pub at: Timestamp,
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
}

/// Watches one namespace until dropped or [`Recorder::stop`]ped.
pub struct Recorder {
    data: Arc<Mutex<Recorded>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Recorder {
    pub fn start(client: &Client, namespace: &str) -> Recorder {
        let data = Arc::new(Mutex::new(Recorded::default()));
        let tasks = vec![
            tokio::spawn(watch_events(
                Api::namespaced(client.clone(), namespace),
                data.clone(),
            )),
            tokio::spawn(watch_deployments(
                Api::namespaced(client.clone(), namespace),
                data.clone(),
            )),
            tokio::spawn(watch_hpas(
                Api::namespaced(client.clone(), namespace),
                data.clone(),
            )),
            tokio::spawn(watch_replica_sets(
                Api::namespaced(client.clone(), namespace),
                data.clone(),
            )),
        ];
        Recorder { data, tasks }
    }

    /// Adds an entry the harness itself made (a rollout, a fault, a load phase).
    pub fn note(
        &self,
        source: TimelineSource,
        reason: &str,
        object: Option<String>,
        message: String,
        warning: bool,
    ) {
        if let Ok(mut d) = self.data.lock() {
            d.timeline.push(TimelineEntry {
                at: Timestamp::now(),
                source,
                reason: reason.to_string(),
                object,
                message,
                warning,
            });
        }
    }

    /// The counts of every ReplicaSet seen so far, over time.
    pub fn replica_set_history(&self) -> BTreeMap<String, Vec<ReplicaPoint>> {
        self.data
            .lock()
            .map(|d| d.replica_sets.clone())
            .unwrap_or_default()
    }

    /// Stops watching and returns the timeline (by time) and the series.
    pub fn finish(&mut self) -> (Vec<TimelineEntry>, Vec<Series>) {
        for t in &self.tasks {
            t.abort();
        }
        let Ok(mut d) = self.data.lock() else {
            return (Vec::new(), Vec::new());
        };
        let mut timeline = std::mem::take(&mut d.timeline);
        timeline.sort_by_key(|e| e.at);
        let series = std::mem::take(&mut d.series)
            .into_iter()
            .map(|(name, points)| Series {
                name,
                unit: "replicas".into(),
                points,
            })
            .collect();
        (timeline, series)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn record_point(data: &Mutex<Recorded>, name: String, value: f64) {
    if let Ok(mut d) = data.lock() {
        let points = d.series.entry(name).or_default();
        if points.last().map(|p| p.value) != Some(value) {
            points.push(SeriesPoint {
                at: Timestamp::now(),
                value,
            });
        }
    }
}

/// When an event happened, as precisely as it says.
pub fn event_time(e: &Event) -> Timestamp {
    e.event_time
        .as_ref()
        .map(|t| t.0)
        .or(e.last_timestamp.as_ref().map(|t| t.0))
        .or(e.first_timestamp.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or_else(Timestamp::now)
}

/// `Kind/name` of the object an event is about.
pub fn event_object(e: &Event) -> String {
    format!(
        "{}/{}",
        e.involved_object.kind.clone().unwrap_or_default(),
        e.involved_object.name.clone().unwrap_or_default()
    )
}

/// Runs `record` on every object the watch applies, until aborted.
async fn for_each_applied<K, F>(api: Api<K>, data: Arc<Mutex<Recorded>>, mut record: F)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: FnMut(K, &Mutex<Recorded>),
{
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        if let Ok(obj) = item {
            record(obj, &data);
        }
    }
}

async fn watch_events(api: Api<Event>, data: Arc<Mutex<Recorded>>) {
    for_each_applied(api, data, |e: Event, data| {
        // An event repeated (count bumped) is recorded once per count.
        let key = format!("{}:{}", e.uid().unwrap_or_default(), e.count.unwrap_or(1));
        let Ok(mut d) = data.lock() else { return };
        if !d.seen_events.insert(key) {
            return;
        }
        d.timeline.push(TimelineEntry {
            at: event_time(&e),
            source: TimelineSource::Event,
            reason: e.reason.clone().unwrap_or_default(),
            object: Some(event_object(&e)),
            message: e.message.clone().unwrap_or_default(),
            warning: e.type_.as_deref() == Some("Warning"),
        });
    })
    .await;
}

async fn watch_deployments(api: Api<Deployment>, data: Arc<Mutex<Recorded>>) {
    for_each_applied(api, data, |d: Deployment, data| {
        let name = d.name_any();
        let status = d.status.unwrap_or_default();
        record_point(
            data,
            format!("deployment/{name} replicas"),
            f64::from(status.replicas.unwrap_or(0)),
        );
        record_point(
            data,
            format!("deployment/{name} ready replicas"),
            f64::from(status.ready_replicas.unwrap_or(0)),
        );
    })
    .await;
}

async fn watch_replica_sets(api: Api<ReplicaSet>, data: Arc<Mutex<Recorded>>) {
    for_each_applied(api, data, |r: ReplicaSet, data| {
        let status = r.status.clone().unwrap_or_default();
        let point = ReplicaPoint {
            at: Timestamp::now(),
            replicas: status.replicas,
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
        };
        let Ok(mut d) = data.lock() else { return };
        let points = d.replica_sets.entry(r.name_any()).or_default();
        let same = points.last().is_some_and(|p| {
            (p.replicas, p.ready, p.available) == (point.replicas, point.ready, point.available)
        });
        if !same {
            points.push(point);
        }
    })
    .await;
}

async fn watch_hpas(api: Api<HorizontalPodAutoscaler>, data: Arc<Mutex<Recorded>>) {
    for_each_applied(api, data, |h: HorizontalPodAutoscaler, data| {
        let name = h.name_any();
        let status = h.status.unwrap_or_default();
        record_point(
            data,
            hpa_series(&name, "current"),
            f64::from(status.current_replicas.unwrap_or(0)),
        );
        record_point(
            data,
            hpa_series(&name, "desired"),
            f64::from(status.desired_replicas),
        );
    })
    .await;
}

/// The series name of an HPA's `current` or `desired` replicas.
fn hpa_series(name: &str, which: &str) -> String {
    format!("hpa/{name} {which} replicas")
}
