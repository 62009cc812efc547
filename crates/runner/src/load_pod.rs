//! The in-cluster load path: a generator pod in the scenario's namespace
//! (our mock's image, `mock-server load`) sends the load to the Service's
//! cluster DNS name, and its JSON lines are followed from the pod's log
//! into the load's [`Recorder`] while it runs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, Client};
use load::record::Recorder;
use loadgen::{GenPlan, Line};
use serde_json::json;
use tokio::task::JoinHandle;

/// How long the generator pod may take to start (schedule, start its
/// container) before the load fails.
const START_PATIENCE: Duration = Duration::from_secs(60);
/// How long after its container started the generator may take to say
/// it started sending (it first asks the server its model, for up to 10 s).
const FIRST_LINE_PATIENCE: Duration = Duration::from_secs(30);

/// Why the generator could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadPodError {
    #[error("cannot create the load generator pod {pod}: {source}")]
    Create {
        pod: String,
        #[source]
        source: kube::Error,
    },
    #[error("the load generator pod {pod} did not start within {}s: {state}", START_PATIENCE.as_secs())]
    NotStarted { pod: String, state: String },
    #[error("cannot read the load generator pod {pod}'s output: {source}")]
    Logs {
        pod: String,
        #[source]
        source: kube::Error,
    },
    #[error("the load generator pod {pod} ended without finishing its load: {state}")]
    Ended { pod: String, state: String },
}

/// A generator pod whose output is being followed.
pub struct LoadPod {
    api: Api<Pod>,
    pub name: String,
    reader: Option<JoinHandle<Result<(), String>>>,
    /// The last lines of its output that were not the generator's JSON
    /// (what it said when it failed).
    said: Arc<Mutex<VecDeque<String>>>,
}

/// How many lines of other output an error quotes.
const SAID_KEPT: usize = 5;

/// `load-NAME-xxxxx`, a valid pod name whatever the load is called.
fn pod_name(load: &str) -> String {
    let mut base = scenario::plan::dns_safe(load);
    base.truncate(40);
    let base = base.trim_matches('-');
    let suffix: u32 = rand_suffix();
    format!("load-{base}-{suffix:05x}")
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id().rotate_left(16)) & 0xfffff
}

/// How long after its last endpoint change a Service is taken to be the
/// same on every node: kube-proxy rewrites each node's rules a moment
/// after the EndpointSlice changes (seconds on a busy machine), and until
/// then a client in the cluster still reaches the endpoints the API no
/// longer lists.
pub const ENDPOINTS_SETTLE: Duration = Duration::from_secs(5);

/// How long to wait before a load starts so that `service`'s last
/// endpoint change (its EndpointSlices' `last-change-trigger-time`) is
/// [`ENDPOINTS_SETTLE`] old; zero when it already is or cannot be read.
pub async fn endpoints_settle(client: &Client, namespace: &str, service: &str) -> Duration {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
    let Ok(list) = slices.list(&params).await else {
        return Duration::ZERO;
    };
    // The trigger time where the controller writes it, else the time of
    // the slice's last write.
    let last = list
        .items
        .iter()
        .flat_map(|s| {
            let trigger = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("endpoints.kubernetes.io/last-change-trigger-time"))
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            let written = s
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .filter_map(|f| f.time.as_ref().map(|t| t.0));
            trigger.into_iter().chain(written)
        })
        .max();
    let Some(last) = last else {
        return Duration::ZERO;
    };
    let age = jiff::Timestamp::now().duration_since(last);
    let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
    ENDPOINTS_SETTLE.saturating_sub(age)
}

/// The pod: one container running `mock-server load --plan JSON`, never
/// restarted, small requests, no service account token.
pub fn manifest(name: &str, load: &str, image: &str, plan: &GenPlan, deadline: Duration) -> Pod {
    let plan_json = serde_json::to_string(plan).unwrap_or_default();
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/name": "inferbench-load",
                "app.kubernetes.io/part-of": "inferbench",
                "inferbench.dev/role": "load-generator",
                "inferbench.dev/load": load_label(load),
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "activeDeadlineSeconds": deadline.as_secs().max(1) + 60,
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "containers": [{
                "name": "load",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["load", "--plan", plan_json],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "32Mi"},
                    "limits": {"memory": "256Mi"},
                },
            }],
        },
    });
    serde_json::from_value(pod).unwrap_or_default()
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`.
fn load_label(load: &str) -> String {
    let v: String = load
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

impl LoadPod {
    /// Creates the pod, waits for its container to start and for the
    /// generator's `start` line, and follows its output into `recorder`.
    pub async fn start(
        client: Client,
        namespace: &str,
        image: &str,
        load: &str,
        plan: &GenPlan,
        deadline: Duration,
        recorder: Arc<Recorder>,
    ) -> Result<LoadPod, LoadPodError> {
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let name = pod_name(load);
        let pod = manifest(&name, load, image, plan, deadline);
        api.create(&PostParams::default(), &pod)
            .await
            .map_err(|source| LoadPodError::Create {
                pod: name.clone(),
                source,
            })?;
        let mut started = LoadPod {
            api: api.clone(),
            name: name.clone(),
            reader: None,
            said: Arc::new(Mutex::new(VecDeque::new())),
        };
        let running = tokio::time::timeout(
            START_PATIENCE,
            await_condition(api.clone(), &name, container_started),
        )
        .await;
        if !matches!(running, Ok(Ok(_))) {
            return Err(LoadPodError::NotStarted {
                state: started.state().await,
                pod: name,
            });
        }
        let params = LogParams {
            container: Some("load".into()),
            follow: true,
            ..LogParams::default()
        };
        let stream = api
            .log_stream(&name, &params)
            .await
            .map_err(|source| LoadPodError::Logs {
                pod: name.clone(),
                source,
            })?;
        let feed = recorder.clone();
        let said = started.said.clone();
        started.reader = Some(tokio::spawn(async move {
            let mut lines = stream.lines();
            while let Some(text) = lines.try_next().await.map_err(|e| e.to_string())? {
                match Line::parse(&text) {
                    Some(line) => feed.accept(line),
                    None => {
                        if let Ok(mut said) = said.lock() {
                            if said.len() == SAID_KEPT {
                                said.pop_front();
                            }
                            said.push_back(text);
                        }
                    }
                }
            }
            Ok(())
        }));
        let waited = tokio::time::timeout(FIRST_LINE_PATIENCE, async {
            while !recorder.has_started() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        if waited.is_err() {
            return Err(LoadPodError::NotStarted {
                state: format!(
                    "its container runs but wrote no start line within {}s; {}",
                    FIRST_LINE_PATIENCE.as_secs(),
                    started.state().await
                ),
                pod: name,
            });
        }
        Ok(started)
    }

    /// Waits until the generator's output ends (its load is over), then
    /// checks that it finished and removes the pod.
    pub async fn finish(mut self, recorder: &Recorder) -> Result<(), LoadPodError> {
        let read = match self.reader.take() {
            Some(h) => h.await.unwrap_or_else(|e| Err(e.to_string())),
            None => Ok(()),
        };
        let outcome = if recorder.ended() {
            Ok(())
        } else {
            let why = match read {
                Err(e) => format!("its output stopped ({e}); {}", self.state().await),
                Ok(()) => self.state().await,
            };
            Err(LoadPodError::Ended {
                pod: self.name.clone(),
                state: why,
            })
        };
        self.delete().await;
        outcome
    }

    async fn delete(&self) {
        let _ = self
            .api
            .delete(
                &self.name,
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                },
            )
            .await;
    }

    /// The pod's phase, its container's state and its last words.
    async fn state(&self) -> String {
        // Let the reader take the output's last lines first.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut text = match self.api.get(&self.name).await {
            Ok(pod) => describe(&pod),
            Err(e) => format!("cannot read it: {e}"),
        };
        let said: Vec<String> = self
            .said
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if !said.is_empty() {
            text.push_str(&format!("; it said: {}", said.join(" | ")));
        }
        text
    }
}

impl Drop for LoadPod {
    fn drop(&mut self) {
        // Stopped early (Ctrl-C, a failed step): the pod goes too.
        if let Some(reader) = self.reader.take() {
            reader.abort();
            let api = self.api.clone();
            let name = self.name.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = api
                        .delete(
                            &name,
                            &DeleteParams {
                                grace_period_seconds: Some(0),
                                ..DeleteParams::default()
                            },
                        )
                        .await;
                });
            }
        }
    }
}

/// Its container runs or has ended: there is output to follow.
fn container_started(pod: Option<&Pod>) -> bool {
    let state = pod
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.state.as_ref());
    let phase = pod
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.phase.as_deref());
    state.is_some_and(|s| s.running.is_some() || s.terminated.is_some())
        || matches!(phase, Some("Running" | "Succeeded" | "Failed"))
}

/// `phase Pending; container load waiting: ErrImageNeverPull (...)`.
pub fn describe(pod: &Pod) -> String {
    let Some(status) = pod.status.as_ref() else {
        return "no status yet".into();
    };
    let mut text = format!("phase {}", status.phase.as_deref().unwrap_or("unknown"));
    if let Some(c) = status.conditions.as_ref().and_then(|c| {
        c.iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    }) {
        text.push_str(&format!(
            "; not scheduled: {}",
            c.message.as_deref().unwrap_or_default()
        ));
    }
    for c in status.container_statuses.iter().flatten() {
        let Some(state) = c.state.as_ref() else {
            continue;
        };
        if let Some(w) = &state.waiting {
            text.push_str(&format!(
                "; container {} waiting: {} {}",
                c.name,
                w.reason.as_deref().unwrap_or_default(),
                w.message.as_deref().unwrap_or_default()
            ));
        }
        if let Some(t) = &state.terminated {
            text.push_str(&format!(
                "; container {} ended: {} (exit code {}) {}",
                c.name,
                t.reason.as_deref().unwrap_or_default(),
                t.exit_code,
                t.message.as_deref().unwrap_or_default()
            ));
        }
    }
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadgen::{RequestKind, Shape};

    #[test]
    fn the_pod_runs_the_plan_it_is_given() {
        let plan = GenPlan {
            base_url: "http://llm:8000".into(),
            request: RequestKind::ChatStream,
            model: Some("m".into()),
            fallback_model: None,
            max_tokens: 8,
            prompt_bytes: None,
            headers: Default::default(),
            shape: Shape::Users {
                users: 2,
                ramp: None,
            },
            duration_ms: Some(10_000),
            requests: None,
            request_timeout_ms: 30_000,
            keep_alive: false,
            mix: Vec::new(),
            prompts: Vec::new(),
            mix_seed: 0,
        };
        let name = pod_name("During Roll/1");
        assert!(name.starts_with("load-during-roll-1-"), "{name}");
        assert!(name.len() <= 63);
        let pod = manifest(
            &name,
            "During Roll/1",
            "inferbench/mock-server:dev",
            &plan,
            Duration::from_secs(30),
        );
        let c = &pod.spec.as_ref().expect("spec").containers[0];
        let args = c.args.clone().unwrap_or_default();
        assert_eq!(args[0..2], ["load".to_string(), "--plan".to_string()]);
        let back: GenPlan = serde_json::from_str(&args[2]).expect("the plan as JSON");
        assert_eq!(back, plan);
        let labels = pod.metadata.labels.clone().expect("labels");
        assert_eq!(labels["inferbench.dev/load"], "During-Roll-1");
        let fixed = manifest(
            "load-during-00000",
            "during",
            "inferbench/mock-server:dev",
            &plan,
            Duration::from_secs(30),
        );
        insta::assert_yaml_snapshot!("load_generator_pod", fixed);
    }
}
