//! How long each kind of operation may take: the operation's own timeout,
//! else the scenario's, else the suite's, else these defaults.

use std::time::Duration;

use scenario::model::Timeouts;

/// Timeouts when neither the operation, the scenario nor the suite sets one.
pub const DEFAULT_TIMEOUTS: [(&str, Duration); 12] = [
    ("apply", Duration::from_secs(30)),
    ("assert", Duration::from_secs(60)),
    ("wait", Duration::from_secs(180)),
    ("rollout", Duration::from_secs(30)),
    ("rollback", Duration::from_secs(30)),
    ("scale", Duration::from_secs(30)),
    // A promotion waits for the canary's new pods to be Ready.
    ("canary", Duration::from_secs(120)),
    ("load", Duration::from_secs(600)),
    ("inject", Duration::from_secs(30)),
    ("expect", Duration::from_secs(120)),
    ("script", Duration::from_secs(120)),
    ("sleep", Duration::from_secs(3600)),
];

/// How long namespace deletion may take at the end of a scenario.
pub const DEFAULT_CLEANUP_TIMEOUT: Duration = Duration::from_secs(120);

pub fn timeout_for(kind: &str, scenario: &Timeouts, suite: &Timeouts) -> Duration {
    let pick = |t: &Timeouts| match kind {
        "apply" => t.apply,
        "assert" => t.assert,
        "wait" => t.wait,
        "rollout" | "rollback" | "scale" | "canary" => t.rollout,
        "load" => t.load,
        "expect" => t.expect,
        "script" => t.script,
        _ => None,
    };
    pick(scenario)
        .or_else(|| pick(suite))
        .or_else(|| {
            DEFAULT_TIMEOUTS
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, d)| *d)
        })
        .unwrap_or(Duration::from_secs(60))
}
