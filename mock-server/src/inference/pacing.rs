//! How the simulated engine spends time: jittered delays, CPU burnt per
//! token, and the words its tokens are made of.

use std::time::{Duration, Instant};

use rand::Rng;

pub(super) fn jittered(mean_ms: u64, jitter_ms: u64) -> Duration {
    if jitter_ms == 0 {
        return Duration::from_millis(mean_ms);
    }
    let lo = mean_ms.saturating_sub(jitter_ms);
    let hi = mean_ms.saturating_add(jitter_ms);
    Duration::from_millis(rand::rng().random_range(lo..=hi))
}

/// Spends `us` microseconds of this thread's CPU time, like a model doing
/// work per token: on a busy machine the token takes longer (as a model
/// sharing its cores would), but costs the same CPU, which is what a CPU
/// autoscaler measures. Where the thread's CPU clock cannot be read, the
/// same length of wall time.
pub(super) fn burn_cpu(us: u64) {
    if us == 0 {
        return;
    }
    let budget = Duration::from_micros(us);
    let spent: Box<dyn Fn() -> Duration> = match cpu_time::ThreadTime::try_now() {
        Ok(start) => Box::new(move || start.try_elapsed().unwrap_or(budget)),
        Err(_) => {
            let start = Instant::now();
            Box::new(move || start.elapsed())
        }
    };
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while spent() < budget {
        for _ in 0..256 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        std::hint::black_box(x);
    }
}

const WORDS: &[&str] = &[
    "the",
    "model",
    "serves",
    "tokens",
    "from",
    "a",
    "mock",
    "engine",
    "under",
    "load",
    "while",
    "kubernetes",
    "rolls",
    "out",
    "new",
    "pods",
    "and",
    "checks",
    "readiness",
    "before",
    "traffic",
    "arrives",
];

pub(super) fn token_text(i: u32) -> String {
    let w = WORDS[(i as usize) % WORDS.len()];
    if i == 0 {
        w.to_string()
    } else {
        format!(" {w}")
    }
}
