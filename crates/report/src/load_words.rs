//! How a load's figures are worded, the same in Markdown and HTML: a
//! spread of percentiles, goodput with its limits, a stage's row.

use crate::format::{millis, percent, rate};
use crate::{LoadReport, LoadStageReport, MixShare, Percentiles};

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

/// What the serving pods measured beside what the client did:
/// `the serving pods counted 76 answers: e2e mean 96 ms (client mean 101 ms,
/// p50 100 ms: +5 ms on the way); TTFT mean 21 ms (client mean 26 ms, p50
/// 25 ms: +5 ms)`. When the pods counted other answers than the client's
/// (loads that overlapped), the difference is not computed.
pub fn server_view(l: &LoadReport) -> Option<String> {
    let v = l.server_view.as_ref()?;
    let answered = l.requests.saturating_sub(l.failures);
    let same = v.requests == answered;
    let part = |what: &str, server: f64, client: Option<&Percentiles>, tail: &str| {
        let Some(c) = client else {
            return format!("{what} mean {}", millis(server));
        };
        let added = if same {
            format!(": {}{tail}", signed_millis(c.mean - server))
        } else {
            String::new()
        };
        format!(
            "{what} mean {} (client mean {}, p50 {}{added})",
            millis(server),
            millis(c.mean),
            millis(c.p50)
        )
    };
    let mut words = vec![part(
        "e2e",
        v.e2e_mean_ms,
        Some(&l.latency_ms),
        " on the way",
    )];
    if let Some(t) = v.ttft_mean_ms {
        words.push(part("TTFT", t, l.ttft_ms.as_ref(), ""));
    }
    let counted = if same {
        format!("the serving pods counted the same {} answers", v.requests)
    } else {
        format!(
            "the serving pods' latency histogram counted {} answers, the client {answered} (requests it leaves out, such as embeddings, or other clients' requests meanwhile), so nothing is subtracted",
            v.requests
        )
    };
    Some(format!("{counted}: {}", words.join("; ")))
}

/// `+5.2 ms` or `-0.4 ms`.
fn signed_millis(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    format!("{sign}{}", millis(v.abs()))
}

/// Variant, requests, failures, p50, p99, TTFT p50 / p99, output tokens.
pub fn mix_cells(m: &MixShare) -> Vec<String> {
    vec![
        m.variant.clone(),
        m.requests.to_string(),
        m.failures.to_string(),
        millis(m.latency_ms.p50),
        millis(m.latency_ms.p99),
        m.ttft_ms.as_ref().map_or_else(
            || "-".to_string(),
            |t| format!("{} / {}", millis(t.p50), millis(t.p99)),
        ),
        m.output_tokens.to_string(),
    ]
}
