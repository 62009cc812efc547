//! The in-cluster load path: a generator pod in the scenario's namespace
//! (our mock's image, `mock-server load`) sends the load to the Service's
//! cluster DNS name, and its JSON lines are followed from the pod's log
//! into the load's [`Recorder`] while it runs. A load with `generators: N`
//! runs as an indexed Job of N such pods spread over the nodes, each
//! sending its index's share and starting at the same wall-clock time;
//! each pod's lines go to the recorder as that generator's, which merges
//! them into one timeline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, Client};
use load::record::Recorder;
use loadgen::{GenPlan, Line};
use tokio::task::JoinHandle;

mod manifests;

pub use manifests::{job_manifest, manifest};
use manifests::{load_label, pod_name};

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

/// The generator pods of one load (one pod, or an indexed Job's), whose
/// output is being followed.
pub struct LoadPod {
    api: Api<Pod>,
    /// The pod's name, or the Job's.
    pub name: String,
    /// The Job that made the pods, when there are several.
    job: Option<Api<Job>>,
    /// The pods followed, by generator index.
    pods: Vec<String>,
    readers: Vec<JoinHandle<Result<(), String>>>,
    /// The last lines of their output that were not the generator's JSON
    /// (what one said when it failed).
    said: Arc<Mutex<VecDeque<String>>>,
}

/// How long the harness gives the generators to start before they send
/// together (an indexed Job's pods are scheduled one by one).
const START_TOGETHER: Duration = Duration::from_secs(15);

/// How many lines of other output an error quotes.
const SAID_KEPT: usize = 5;

impl LoadPod {
    /// Creates the generator pod (or, for `plan.generators` > 1, the
    /// indexed Job of them), waits for each container to start and for
    /// each generator's `start` line, and follows their output into
    /// `recorder` (which was made with one source per generator).
    pub async fn start(
        client: Client,
        namespace: &str,
        image: &str,
        load: &str,
        plan: &GenPlan,
        deadline: Duration,
        recorder: Arc<Recorder>,
    ) -> Result<LoadPod, LoadPodError> {
        let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let name = pod_name(load);
        let mut started = LoadPod {
            api: api.clone(),
            name: name.clone(),
            job: None,
            pods: Vec::new(),
            readers: Vec::new(),
            said: Arc::new(Mutex::new(VecDeque::new())),
        };
        let n = plan.generators.max(1) as usize;
        let create_error = |source| LoadPodError::Create {
            pod: name.clone(),
            source,
        };
        if n == 1 {
            let pod = manifest(&name, load, image, plan, deadline);
            api.create(&PostParams::default(), &pod)
                .await
                .map_err(create_error)?;
            started.pods.push(name.clone());
        } else {
            let mut plan = plan.clone();
            let at = jiff::Timestamp::now().as_millisecond() + START_TOGETHER.as_millis() as i64;
            plan.start_at_unix_ms = Some(at);
            let jobs: Api<Job> = Api::namespaced(client, namespace);
            let job = job_manifest(&name, load, image, &plan, deadline);
            jobs.create(&PostParams::default(), &job)
                .await
                .map_err(create_error)?;
            started.job = Some(jobs);
            started.pods = started.job_pods(n).await?;
        }
        for (index, pod) in started.pods.clone().into_iter().enumerate() {
            let running = tokio::time::timeout(
                START_PATIENCE,
                await_condition(api.clone(), &pod, container_started),
            )
            .await;
            if !matches!(running, Ok(Ok(_))) {
                return Err(LoadPodError::NotStarted {
                    state: started.state().await,
                    pod,
                });
            }
            let reader = started.follow(&pod, index, recorder.clone()).await?;
            started.readers.push(reader);
        }
        let patience = FIRST_LINE_PATIENCE
            + if n > 1 {
                START_TOGETHER
            } else {
                Duration::ZERO
            };
        let waited = tokio::time::timeout(patience, async {
            while !recorder.has_started() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        if waited.is_err() {
            return Err(LoadPodError::NotStarted {
                state: format!(
                    "its container runs but wrote no start line within {}s; {}",
                    patience.as_secs(),
                    started.state().await
                ),
                pod: name,
            });
        }
        Ok(started)
    }

    /// The Job's `n` pods by completion index, once the Job controller has
    /// made them all.
    async fn job_pods(&self, n: usize) -> Result<Vec<String>, LoadPodError> {
        let params = ListParams::default().labels(&format!(
            "inferbench.dev/generator={}",
            load_label(&self.name)
        ));
        let until = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            let listed = self
                .api
                .list(&params)
                .await
                .map_err(|source| LoadPodError::Logs {
                    pod: self.name.clone(),
                    source,
                })?;
            let mut by_index: Vec<Option<String>> = vec![None; n];
            for p in &listed.items {
                let index = p
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
                    .and_then(|i| i.parse::<usize>().ok());
                if let (Some(i), Some(name)) = (index, p.metadata.name.clone())
                    && i < n
                {
                    by_index[i] = Some(name);
                }
            }
            if by_index.iter().all(Option::is_some) {
                return Ok(by_index.into_iter().flatten().collect());
            }
            if tokio::time::Instant::now() >= until {
                return Err(LoadPodError::NotStarted {
                    pod: self.name.clone(),
                    state: format!(
                        "job {} made {} of its {n} generator pods within {}s",
                        self.name,
                        by_index.iter().filter(|p| p.is_some()).count(),
                        START_PATIENCE.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Follows `pod`'s output into `recorder` as generator `index`'s.
    async fn follow(
        &self,
        pod: &str,
        index: usize,
        recorder: Arc<Recorder>,
    ) -> Result<JoinHandle<Result<(), String>>, LoadPodError> {
        let params = LogParams {
            container: Some("load".into()),
            follow: true,
            ..LogParams::default()
        };
        let stream =
            self.api
                .log_stream(pod, &params)
                .await
                .map_err(|source| LoadPodError::Logs {
                    pod: pod.to_string(),
                    source,
                })?;
        let said = self.said.clone();
        let prefix = if self.pods.len() > 1 {
            format!("{pod}: ")
        } else {
            String::new()
        };
        Ok(tokio::spawn(async move {
            let mut lines = stream.lines();
            while let Some(text) = lines.try_next().await.map_err(|e| e.to_string())? {
                match Line::parse(&text) {
                    Some(line) => recorder.accept_from(index, line),
                    None => {
                        if let Ok(mut said) = said.lock() {
                            if said.len() == SAID_KEPT {
                                said.pop_front();
                            }
                            said.push_back(format!("{prefix}{text}"));
                        }
                    }
                }
            }
            Ok(())
        }))
    }

    /// Waits until every generator's output ends (the load is over), then
    /// checks that each finished and removes the pods.
    pub async fn finish(mut self, recorder: &Recorder) -> Result<(), LoadPodError> {
        let mut read = Ok(());
        for h in std::mem::take(&mut self.readers) {
            let r = h.await.unwrap_or_else(|e| Err(e.to_string()));
            if read.is_ok() {
                read = r;
            }
        }
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
        delete(&self.api, self.job.take().as_ref(), &self.name).await;
        self.pods.clear();
        outcome
    }

    /// Each pod's phase, its container's state, and the last words.
    async fn state(&self) -> String {
        // Let the readers take the output's last lines first.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut parts = Vec::new();
        for pod in &self.pods {
            let d = match self.api.get(pod).await {
                Ok(p) => describe(&p),
                Err(e) => format!("cannot read it: {e}"),
            };
            parts.push(if self.pods.len() > 1 {
                format!("{pod}: {d}")
            } else {
                d
            });
        }
        if parts.is_empty() {
            parts.push("no generator pod yet".into());
        }
        let mut text = parts.join("; ");
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

/// Deletes the generator pod, or the Job with its pods.
async fn delete(pods: &Api<Pod>, job: Option<&Api<Job>>, name: &str) {
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    match job {
        Some(jobs) => {
            let _ = jobs.delete(name, &DeleteParams::background()).await;
            let params = ListParams::default()
                .labels(&format!("inferbench.dev/generator={}", load_label(name)));
            let _ = pods.delete_collection(&now, &params).await;
        }
        None => {
            let _ = pods.delete(name, &now).await;
        }
    }
}

impl Drop for LoadPod {
    fn drop(&mut self) {
        // Stopped early (Ctrl-C, a failed step): the pods go too.
        if self.job.is_none() && self.pods.is_empty() {
            return;
        }
        for reader in self.readers.drain(..) {
            reader.abort();
        }
        let (api, job, name) = (self.api.clone(), self.job.take(), self.name.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { delete(&api, job.as_ref(), &name).await });
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
            generators: 1,
            start_at_unix_ms: None,
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

        let mut shared = plan.clone();
        shared.generators = 3;
        let job = job_manifest(
            "load-during-00000",
            "during",
            "inferbench/mock-server:dev",
            &shared,
            Duration::from_secs(30),
        );
        insta::assert_yaml_snapshot!("load_generator_job", job);
        let spec = job.spec.expect("job spec");
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!((spec.completions, spec.parallelism), (Some(3), Some(3)));
        let pod_labels = spec
            .template
            .metadata
            .and_then(|m| m.labels)
            .expect("labels");
        assert_eq!(pod_labels["inferbench.dev/generator"], "load-during-00000");
    }
}
