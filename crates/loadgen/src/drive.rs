//! Runs a [`GenPlan`]: closed-loop users, each sending its next request
//! when the last one answered, or an open-loop schedule whose requests are
//! sent when due whether or not earlier ones answered. Every line goes to
//! the sink as it happens: `start`, one `sample` per request, `end`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::task::JoinSet;

use crate::arrivals::Arrivals;
use crate::plan::{Arrival, GenPlan, RateStage, Shape};
use crate::request::{self, HttpClient, Prepared};
use crate::wire::Line;

#[derive(Debug, Error)]
pub enum GenError {
    #[error("the load plan cannot run: {0}")]
    Plan(String),
    #[error("cannot learn which model the server serves: {0}")]
    Model(String),
}

/// Where the lines go (stdout in the pod, a channel in tests).
pub type Sink = Arc<dyn Fn(Line) + Send + Sync>;

/// How long the generator keeps asking the server which model it serves.
const MODELS_PATIENCE: Duration = Duration::from_secs(10);
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

struct Shared {
    client: HttpClient,
    prepared: Prepared,
    sink: Sink,
    started: Instant,
    sent: AtomicU64,
    /// The last answer's end, in microseconds from `started`.
    last_end_us: AtomicU64,
}

impl Shared {
    async fn one(&self, due: Instant, stage: Option<u32>) {
        let due_ms = due.saturating_duration_since(self.started).as_secs_f64() * 1000.0;
        let mut sample = request::send(&self.client, &self.prepared, due, due_ms).await;
        sample.stage = stage;
        let end_us = self.started.elapsed().as_micros() as u64;
        self.last_end_us.fetch_max(end_us, Ordering::Relaxed);
        (self.sink)(Line::Sample(sample));
    }

    /// Takes a request slot; false once the plan's request count is spent.
    fn take(&self, limit: Option<u64>) -> bool {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        limit.is_none_or(|max| n < max)
    }
}

/// Runs the plan to its end; returns how many requests were sent.
pub async fn run(plan: &GenPlan, sink: Sink) -> Result<u64, GenError> {
    plan.validate().map_err(GenError::Plan)?;
    let client = request::client(plan.keep_alive, CONNECT_TIMEOUT);
    let (model, note) = match &plan.model {
        Some(m) => (m.clone(), None),
        None => match (
            ask_model(&client, &plan.base_url).await,
            &plan.fallback_model,
        ) {
            (Ok(m), _) => (m, None),
            (Err(e), Some(fallback)) => (
                fallback.clone(),
                Some(format!("{e}; requests name {fallback}")),
            ),
            (Err(e), None) => return Err(e),
        },
    };
    let prepared = Prepared::new(plan, &model).map_err(GenError::Plan)?;
    if let Some(at) = plan.start_at_unix_ms {
        // The generators of one load begin together.
        let wait = at - unix_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }
    let offered_rps = match &plan.shape {
        Shape::Rate { rps, .. } => Some(*rps),
        // The mean over the stages.
        Shape::Stages { stages, .. } => {
            let ms: u64 = stages.iter().map(|s| s.duration_ms).sum();
            let sent: f64 = stages.iter().map(|s| s.rps * s.duration_ms as f64).sum();
            Some(sent / ms.max(1) as f64)
        }
        Shape::Users { .. } => None,
    };
    sink(Line::Start {
        unix_ms: unix_ms(),
        offered_rps,
        model,
        note,
    });
    let shared = Arc::new(Shared {
        client,
        prepared,
        sink: sink.clone(),
        started: Instant::now(),
        sent: AtomicU64::new(0),
        last_end_us: AtomicU64::new(0),
    });
    let deadline = plan
        .duration_ms
        .map(|ms| shared.started + Duration::from_millis(ms));
    match &plan.shape {
        Shape::Users { users, ramp } => closed_loop(&shared, plan, *users, *ramp, deadline).await,
        Shape::Rate { rps, arrival, seed } => {
            let due = Arrivals::new(*rps, *arrival, *seed).map(|d| (d, None));
            open_loop(&shared, plan, due, deadline).await
        }
        Shape::Stages {
            stages,
            arrival,
            seed,
        } => {
            let due = staged(stages, *arrival, *seed);
            open_loop(&shared, plan, due.into_iter(), deadline).await
        }
    }
    // A user that found the count spent took a slot it did not use.
    let taken = shared.sent.load(Ordering::Relaxed);
    let sent = plan.requests.map_or(taken, |max| taken.min(max));
    sink(Line::End {
        elapsed_ms: shared.last_end_us.load(Ordering::Relaxed) as f64 / 1000.0,
        sent,
    });
    Ok(sent)
}

async fn closed_loop(
    shared: &Arc<Shared>,
    plan: &GenPlan,
    users: u32,
    ramp: Option<f64>,
    deadline: Option<Instant>,
) {
    let mut tasks = JoinSet::new();
    for user in 0..users {
        let shared = shared.clone();
        let limit = plan.requests;
        let start_after = ramp
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(f64::from(user) / r))
            .unwrap_or_default();
        tasks.spawn(async move {
            tokio::time::sleep_until((shared.started + start_after).into()).await;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) || !shared.take(limit) {
                    break;
                }
                shared.one(Instant::now(), None).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Every due time of a staged load, from its start, with its stage.
fn staged(stages: &[RateStage], arrival: Arrival, seed: u64) -> Vec<(Duration, Option<u32>)> {
    let mut out = Vec::new();
    let mut start = Duration::ZERO;
    for (i, stage) in stages.iter().enumerate() {
        let length = Duration::from_millis(stage.duration_ms);
        let stage_seed = seed.wrapping_add(i as u64);
        out.extend(
            Arrivals::new(stage.rps, arrival, stage_seed)
                .take_while(|d| *d < length)
                .map(|d| (start + d, Some(i as u32))),
        );
        start += length;
    }
    out
}

async fn open_loop(
    shared: &Arc<Shared>,
    plan: &GenPlan,
    arrivals: impl Iterator<Item = (Duration, Option<u32>)>,
    deadline: Option<Instant>,
) {
    let mut tasks = JoinSet::new();
    for (offset, stage) in arrivals {
        let due = shared.started + offset;
        if deadline.is_some_and(|d| due >= d) || !shared.take(plan.requests) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let shared = shared.clone();
        tasks.spawn(async move { shared.one(due, stage).await });
        // Reap the finished ones so a long load holds only those in flight.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// The served model, asked until [`MODELS_PATIENCE`] runs out: a new
/// pod's first DNS lookup or connection may fail while the cluster is busy.
async fn ask_model(client: &HttpClient, base_url: &str) -> Result<String, GenError> {
    let until = Instant::now() + MODELS_PATIENCE;
    let mut pause = Duration::from_millis(200);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match request::served_model(client, base_url, left.max(Duration::from_millis(100))).await {
            Ok(model) => return Ok(model),
            Err(e) if Instant::now() + pause >= until => return Err(GenError::Model(e)),
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_each_other_each_at_its_rate() {
        let due = staged(
            &[
                RateStage {
                    rps: 2.0,
                    duration_ms: 1000,
                },
                RateStage {
                    rps: 4.0,
                    duration_ms: 1000,
                },
            ],
            Arrival::Constant,
            0,
        );
        let ms: Vec<(u128, Option<u32>)> = due.iter().map(|(d, s)| (d.as_millis(), *s)).collect();
        assert_eq!(
            ms,
            vec![
                (0, Some(0)),
                (500, Some(0)),
                (1000, Some(1)),
                (1250, Some(1)),
                (1500, Some(1)),
                (1750, Some(1)),
            ]
        );
    }
}
