//! The requests of one load as they end, from either path: goose on the
//! host (through a port-forward) or the generator pod in the cluster,
//! whose JSON lines [`Recorder::accept`] takes. Cheap to read for
//! progress lines while the load runs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Collects samples while a load runs.
pub struct Recorder {
    pub path: LoadPath,
    started_at: Mutex<Timestamp>,
    started: Instant,
    offered_rps: Mutex<Option<f64>>,
    samples: Mutex<Vec<Recorded>>,
    total: AtomicU64,
    failed: AtomicU64,
    /// From the `end` line: the generator's own elapsed time.
    ended_ms: Mutex<Option<f64>>,
    /// The generator's `start` line came.
    start_line: AtomicBool,
    /// What the generator's `start` line asked a person to know.
    note: Mutex<Option<String>>,
}

impl Recorder {
    pub fn new(path: LoadPath) -> Recorder {
        Recorder {
            path,
            started_at: Mutex::new(Timestamp::now()),
            started: Instant::now(),
            offered_rps: Mutex::new(None),
            samples: Mutex::new(Vec::new()),
            total: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            ended_ms: Mutex::new(None),
            start_line: AtomicBool::new(false),
            note: Mutex::new(None),
        }
    }

    pub fn started_at(&self) -> Timestamp {
        self.started_at
            .lock()
            .map_or_else(|_| Timestamp::now(), |t| *t)
    }

    /// A request that ended; `at` is when it was due.
    pub fn push(&self, sample: Sample) {
        let at = self
            .started_at()
            .checked_add(SignedDuration::from_secs_f64(sample.due_ms / 1000.0))
            .unwrap_or_else(|_| self.started_at());
        self.total.fetch_add(1, Ordering::Relaxed);
        if !sample.ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut v) = self.samples.lock() {
            v.push(Recorded { at, sample });
        }
    }

    /// One line of the generator's output: its start (wall clock and
    /// offered rate), a sample, or its end.
    pub fn accept(&self, line: Line) {
        match line {
            Line::Start {
                unix_ms,
                offered_rps,
                note,
                ..
            } => {
                if let (Some(note), Ok(mut n)) = (note, self.note.lock()) {
                    *n = Some(note);
                }
                if let (Ok(t), Ok(mut at)) =
                    (Timestamp::from_millisecond(unix_ms), self.started_at.lock())
                {
                    *at = t;
                }
                if let Ok(mut o) = self.offered_rps.lock() {
                    *o = offered_rps;
                }
                self.start_line.store(true, Ordering::Release);
            }
            Line::Sample(s) => self.push(s),
            Line::End { elapsed_ms, .. } => {
                if let Ok(mut e) = self.ended_ms.lock() {
                    *e = Some(elapsed_ms);
                }
            }
        }
    }

    /// Whether the generator's `start` line came.
    pub fn has_started(&self) -> bool {
        self.start_line.load(Ordering::Acquire)
    }

    /// The note of the generator's `start` line, once.
    pub fn take_note(&self) -> Option<String> {
        self.note.lock().ok().and_then(|mut n| n.take())
    }

    /// Whether the generator's `end` line came.
    pub fn ended(&self) -> bool {
        self.ended_ms.lock().is_ok_and(|e| e.is_some())
    }

    /// (requests, failed, seconds since start), for progress lines.
    pub fn progress(&self) -> (u64, u64, f64) {
        (
            self.total.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64(),
        )
    }

    pub fn samples(&self) -> Vec<Recorded> {
        self.samples.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// What the load recorded, now that it ended.
    pub fn finished(&self) -> Finished {
        let elapsed = self.ended_ms.lock().ok().and_then(|e| *e).map_or_else(
            || self.started.elapsed(),
            |ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0),
        );
        let started_at = self.started_at();
        Finished {
            started_at,
            finished_at: started_at
                .checked_add(SignedDuration::try_from(elapsed).unwrap_or_default())
                .unwrap_or(started_at),
            elapsed,
            samples: self.samples(),
            offered_rps: self.offered_rps.lock().ok().and_then(|o| *o),
            path: self.path,
        }
    }
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
