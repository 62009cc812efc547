//! How the simulated engine spends time: jittered delays, CPU burnt per
//! token, and the words its tokens are made of.

use std::time::{Duration, Instant};

use rand::Rng;

/// When each token of one request is due, counted from the request's
/// admission: token `n` is due at admission + TTFT + the inter-token
/// latencies before it. Waiting until a deadline (never sleeping a delay
/// per token) keeps the timer's millisecond rounding and the time spent
/// producing a token from adding up over the tokens; a token already due
/// (a latency of 0, or a late one) is emitted without touching a timer.
#[derive(Debug, Clone, Copy)]
pub(super) struct TokenClock {
    due: tokio::time::Instant,
}

impl TokenClock {
    pub(super) fn starting(at: tokio::time::Instant) -> TokenClock {
        TokenClock { due: at }
    }

    /// The next token's deadline, `delay` after the previous one's.
    pub(super) fn next(&mut self, delay: Duration) -> tokio::time::Instant {
        self.due += delay;
        self.due
    }

    /// How long to wait from `now` for `due`: `None` when it has passed
    /// (no timer at all).
    pub(super) fn wait_from(
        due: tokio::time::Instant,
        now: tokio::time::Instant,
    ) -> Option<Duration> {
        (due > now).then(|| due - now)
    }

    /// Waits until `due`, without a timer when it has passed.
    pub(super) async fn wait_until(due: tokio::time::Instant) {
        if TokenClock::wait_from(due, tokio::time::Instant::now()).is_some() {
            tokio::time::sleep_until(due).await;
        }
    }
}

/// How much slower a token comes with `running` requests in the batch:
/// 1 with one request, `factor` with `max_num_seqs`, linear between
/// (llm-d-inference-sim's `time-factor-under-load`).
pub(super) fn load_factor(factor: f64, running: usize, max_num_seqs: usize) -> f64 {
    if factor <= 1.0 || max_num_seqs <= 1 {
        return 1.0;
    }
    let busy = running.clamp(1, max_num_seqs) - 1;
    1.0 + (factor - 1.0) * busy as f64 / (max_num_seqs - 1) as f64
}

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

/// Token `i` of choice `choice`: each choice says something else.
pub(super) fn token_text(i: u32, choice: u32) -> String {
    let w = WORDS[(i as usize + choice as usize * 7) % WORDS.len()];
    if i == 0 {
        w.to_string()
    } else {
        format!(" {w}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn deadlines_count_from_the_start_not_from_the_last_token() {
        let start = tokio::time::Instant::now();
        let mut clock = TokenClock::starting(start);
        let first = clock.next(10 * MS);
        assert_eq!(TokenClock::wait_from(first, start), Some(10 * MS));
        // The first token went out on time, and its consumer took 7 ms
        // over a 5 ms inter-token latency: the second token (due at 15 ms)
        // goes at once at 17 ms, and the third stays due at 20 ms, 3 ms on.
        let second = clock.next(5 * MS);
        assert_eq!(TokenClock::wait_from(second, start + 17 * MS), None);
        let third = clock.next(5 * MS);
        assert_eq!(TokenClock::wait_from(third, start + 17 * MS), Some(3 * MS));
    }

    #[test]
    fn the_batch_slows_tokens_linearly() {
        assert_eq!(load_factor(1.0, 8, 8), 1.0);
        assert_eq!(load_factor(3.0, 1, 8), 1.0);
        assert_eq!(load_factor(3.0, 0, 8), 1.0);
        assert_eq!(load_factor(3.0, 8, 8), 3.0);
        assert_eq!(load_factor(3.0, 20, 8), 3.0);
        assert!((load_factor(3.0, 4, 7) - 2.0).abs() < 1e-9);
        assert_eq!(load_factor(3.0, 5, 1), 1.0);
    }

    #[test]
    fn a_latency_of_zero_never_waits() {
        let start = tokio::time::Instant::now();
        let mut clock = TokenClock::starting(start);
        for _ in 0..64 {
            assert_eq!(
                TokenClock::wait_from(clock.next(Duration::ZERO), start),
                None
            );
        }
    }
}
