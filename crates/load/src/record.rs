//! The requests of one load as they end, from either path: goose on the
//! host (through a port-forward) or the generators in the cluster, whose
//! JSON lines [`Recorder::accept_from`] takes. A load split over several
//! generator pods is one timeline: each sample is placed at its own
//! generator's start (that pod's wall clock) plus when it was due, and the
//! load starts when the first generator did. Cheap to read for progress
//! lines while the load runs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use loadgen::{Line, Sample};
use report::LoadPath;

/// One request: when it was due on the run's clock, and what the client saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub at: Timestamp,
    pub sample: Sample,
}

/// What one generator said about itself.
#[derive(Debug, Clone, Default)]
struct Source {
    /// Its `start` line's wall clock.
    started_at: Option<Timestamp>,
    offered_rps: Option<f64>,
    /// Its `end` line's elapsed time.
    ended_ms: Option<f64>,
}

#[derive(Debug, Default)]
struct State {
    sources: Vec<Source>,
    /// Each sample with the generator it came from.
    samples: Vec<(usize, Sample)>,
    /// What a `start` line asked a person to know.
    note: Option<String>,
}

/// Collects samples while a load runs.
pub struct Recorder {
    pub path: LoadPath,
    /// When the recorder was made: the start of a source without a `start` line.
    created_at: Timestamp,
    started: Instant,
    state: Mutex<State>,
    total: AtomicU64,
    failed: AtomicU64,
}

impl Recorder {
    /// A load from one source (goose, or one generator pod).
    pub fn new(path: LoadPath) -> Recorder {
        Recorder::with_sources(path, 1)
    }

    /// A load from `n` generators, numbered from 0.
    pub fn with_sources(path: LoadPath, n: usize) -> Recorder {
        Recorder {
            path,
            created_at: Timestamp::now(),
            started: Instant::now(),
            state: Mutex::new(State {
                sources: vec![Source::default(); n.max(1)],
                ..State::default()
            }),
            total: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the load started: the first generator's start.
    pub fn started_at(&self) -> Timestamp {
        base(&self.lock().sources, self.created_at)
    }

    /// A request that ended (goose's path: the only source).
    pub fn push(&self, sample: Sample) {
        self.push_from(0, sample);
    }

    fn push_from(&self, source: usize, sample: Sample) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if !sample.ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.lock().samples.push((source, sample));
    }

    /// One line of the only generator's output.
    pub fn accept(&self, line: Line) {
        self.accept_from(0, line);
    }

    /// One line of generator `source`'s output: its start (wall clock and
    /// offered rate), a sample, or its end. Lines of an unknown source are
    /// dropped.
    pub fn accept_from(&self, source: usize, line: Line) {
        if let Line::Sample(s) = line {
            self.push_from(source, s);
            return;
        }
        let mut state = self.lock();
        let State { sources, note, .. } = &mut *state;
        let Some(src) = sources.get_mut(source) else {
            return;
        };
        match line {
            Line::Start {
                unix_ms,
                offered_rps,
                note: said,
                ..
            } => {
                if said.is_some() {
                    *note = said;
                }
                src.started_at =
                    Some(Timestamp::from_millisecond(unix_ms).unwrap_or(self.created_at));
                src.offered_rps = offered_rps;
            }
            Line::End { elapsed_ms, .. } => src.ended_ms = Some(elapsed_ms),
            Line::Sample(_) => {}
        }
    }

    /// Whether every generator's `start` line came.
    pub fn has_started(&self) -> bool {
        self.lock().sources.iter().all(|s| s.started_at.is_some())
    }

    /// The note of a `start` line, once.
    pub fn take_note(&self) -> Option<String> {
        self.lock().note.take()
    }

    /// Whether every generator's `end` line came.
    pub fn ended(&self) -> bool {
        self.lock().sources.iter().all(|s| s.ended_ms.is_some())
    }

    /// (requests, failed, seconds since start), for progress lines.
    pub fn progress(&self) -> (u64, u64, f64) {
        (
            self.total.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64(),
        )
    }

    /// Every sample on the load's timeline: due times counted from the
    /// first generator's start.
    pub fn samples(&self) -> Vec<Recorded> {
        let state = self.lock();
        let base = base(&state.sources, self.created_at);
        state
            .samples
            .iter()
            .map(|(source, sample)| {
                let start = state
                    .sources
                    .get(*source)
                    .and_then(|s| s.started_at)
                    .unwrap_or(self.created_at);
                let shift_ms = start.duration_since(base).as_secs_f64() * 1000.0;
                let mut sample = sample.clone();
                sample.due_ms += shift_ms;
                let at = base
                    .checked_add(SignedDuration::from_secs_f64(sample.due_ms / 1000.0))
                    .unwrap_or(base);
                Recorded { at, sample }
            })
            .collect()
    }

    /// What the load recorded, now that it ended.
    pub fn finished(&self) -> Finished {
        let (started_at, elapsed, offered_rps) = {
            let state = self.lock();
            let base = base(&state.sources, self.created_at);
            // The last generator's end, from the first one's start.
            let ends: Option<Vec<f64>> = state
                .sources
                .iter()
                .map(|s| {
                    let start = s.started_at.unwrap_or(self.created_at);
                    let shift = start.duration_since(base).as_secs_f64() * 1000.0;
                    s.ended_ms.map(|e| shift + e)
                })
                .collect();
            let elapsed = ends.map_or_else(
                || self.started.elapsed(),
                |e| Duration::from_secs_f64(e.into_iter().fold(0.0, f64::max).max(0.0) / 1000.0),
            );
            let offered: Vec<f64> = state.sources.iter().filter_map(|s| s.offered_rps).collect();
            (
                base,
                elapsed,
                (!offered.is_empty()).then(|| offered.iter().sum()),
            )
        };
        Finished {
            started_at,
            finished_at: started_at
                .checked_add(SignedDuration::try_from(elapsed).unwrap_or_default())
                .unwrap_or(started_at),
            elapsed,
            samples: self.samples(),
            offered_rps,
            path: self.path,
        }
    }
}

/// The first start among the sources, else `fallback`.
fn base(sources: &[Source], fallback: Timestamp) -> Timestamp {
    sources
        .iter()
        .filter_map(|s| s.started_at)
        .min()
        .unwrap_or(fallback)
}

/// What one finished load recorded.
pub struct Finished {
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub elapsed: Duration,
    pub samples: Vec<Recorded>,
    pub offered_rps: Option<f64>,
    pub path: LoadPath,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(due_ms: f64) -> Sample {
        Sample {
            due_ms,
            lag_ms: 0.0,
            e2e_ms: 10.0,
            ttft_ms: None,
            itl_ms: vec![],
            output_tokens: None,
            status: Some(200),
            ok: true,
            error_kind: None,
            error: None,
            version: None,
            pod: None,
            request_bytes: 1,
            stage: None,
            variant: None,
        }
    }

    fn start(unix_ms: i64, offered_rps: Option<f64>) -> Line {
        Line::Start {
            unix_ms,
            offered_rps,
            model: "m".into(),
            note: None,
        }
    }

    #[test]
    fn generators_merge_into_one_timeline() {
        let r = Recorder::with_sources(LoadPath::InCluster, 2);
        // Generator 1 reports first, but started 500 ms after generator 0.
        r.accept_from(1, start(1_700_000_000_500, Some(2.0)));
        r.accept_from(1, Line::Sample(sample(100.0)));
        assert!(!r.has_started());
        r.accept_from(0, start(1_700_000_000_000, Some(2.0)));
        r.accept_from(0, Line::Sample(sample(100.0)));
        assert!(r.has_started());
        r.accept_from(
            0,
            Line::End {
                elapsed_ms: 1000.0,
                sent: 1,
            },
        );
        assert!(!r.ended());
        r.accept_from(
            1,
            Line::End {
                elapsed_ms: 1000.0,
                sent: 1,
            },
        );
        assert!(r.ended());
        let f = r.finished();
        assert_eq!(f.started_at.as_millisecond(), 1_700_000_000_000);
        let mut dues: Vec<f64> = f.samples.iter().map(|s| s.sample.due_ms).collect();
        dues.sort_by(f64::total_cmp);
        assert_eq!(dues, [100.0, 600.0]);
        assert_eq!(f.elapsed, Duration::from_millis(1500));
        assert_eq!(f.offered_rps, Some(4.0));
        assert_eq!(
            f.samples.iter().map(|s| s.at.as_millisecond()).max(),
            Some(1_700_000_000_600)
        );
    }

    #[test]
    fn one_source_keeps_its_own_clock() {
        let r = Recorder::new(LoadPath::InCluster);
        r.accept(start(1_700_000_000_000, None));
        r.accept(Line::Sample(sample(250.0)));
        let s = r.samples();
        assert_eq!(s[0].at.as_millisecond(), 1_700_000_000_250);
        assert_eq!(s[0].sample.due_ms, 250.0);
        // A line from a generator the load does not have is dropped.
        r.accept_from(3, start(1, None));
        assert_eq!(r.started_at().as_millisecond(), 1_700_000_000_000);
    }
}
