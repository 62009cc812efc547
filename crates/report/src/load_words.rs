//! How a load's figures are worded, the same in Markdown and HTML: a
//! spread of percentiles, goodput with its limits, a stage's row.

use crate::format::{millis, percent, rate};
use crate::{LoadReport, LoadStageReport, Percentiles};

/// `12 ms / 30 ms / 41 ms` (p50 / p90 / p99), or `-`.
pub fn spread(p: Option<&Percentiles>) -> String {
    p.map_or_else(
        || "-".to_string(),
        |t| format!("{} / {} / {}", millis(t.p50), millis(t.p90), millis(t.p99)),
    )
}

/// `97.5% (39 of 40; TTFT ≤ 500 ms, TPOT ≤ 50 ms)`, or `-`.
pub fn goodput(l: &LoadReport) -> String {
    let Some(g) = &l.goodput else {
        return "-".to_string();
    };
    let mut limits = Vec::new();
    for (name, v) in [
        ("TTFT", g.slo.ttft_ms),
        ("TPOT", g.slo.tpot_ms),
        ("ITL", g.slo.itl_ms),
        ("e2e", g.slo.e2e_ms),
    ] {
        if let Some(v) = v {
            limits.push(format!("{name} ≤ {}", millis(v)));
        }
    }
    format!(
        "{} ({} of {}; {})",
        percent(g.ratio),
        g.good,
        l.requests,
        limits.join(", ")
    )
}

/// Offered and achieved rps, requests, failures, p50, p99, TTFT p50 / p99,
/// goodput, and why it saturated (or `no`).
pub fn stage_cells(st: &LoadStageReport) -> Vec<String> {
    vec![
        rate(st.offered_rps),
        rate(st.achieved_rps),
        st.requests.to_string(),
        st.failures.to_string(),
        millis(st.latency_ms.p50),
        millis(st.latency_ms.p99),
        st.ttft_ms.as_ref().map_or_else(
            || "-".to_string(),
            |t| format!("{} / {}", millis(t.p50), millis(t.p99)),
        ),
        st.goodput.map_or_else(|| "-".to_string(), percent),
        st.saturated.clone().unwrap_or_else(|| "no".into()),
    ]
}
