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

/// Keeps a core busy for `us` microseconds, like a model doing work per token.
pub(super) fn burn_cpu(us: u64) {
    if us == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_micros(us);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while Instant::now() < until {
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
