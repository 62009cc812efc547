//! The Loads section of `report.md`: every load's figures, then the token
//! view, mixes, the serving pods' view and stages of the loads that have them.

use std::fmt::Write as _;

use crate::LoadReport;
use crate::RunReport;
use crate::ScenarioReport;
use crate::escape::{md_cell, md_code};
use crate::format::{millis, percent, rate, share};
use crate::load_words::{goodput, spread, stage_cells};

pub(super) fn write_loads(out: &mut String, report: &RunReport) {
    let loads: Vec<(&ScenarioReport, &LoadReport)> = report
        .scenarios
        .iter()
        .flat_map(|s| s.loads.iter().map(move |l| (s, l)))
        .collect();
    if loads.is_empty() {
        return;
    }
    out.push_str("## Loads\n\n");
    out.push_str(
        "| Scenario | Load | From | Requests | Failures | Rps | Error rate | p50 | p95 | p99 | TTFT p50 / p95 / p99 | By version |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (s, l) in &loads {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_code(&s.name),
            md_code(&l.name),
            l.path.name(),
            l.requests,
            l.failures,
            rate(l.throughput_rps),
            percent(l.error_rate),
            millis(l.latency_ms.p50),
            millis(l.latency_ms.p95),
            millis(l.latency_ms.p99),
            ttft(l),
            md_cell(&by_version(l)),
        );
    }
    out.push('\n');
    write_token_latency(out, &loads);
    write_mixes(out, &loads);
    write_server_views(out, &loads);
    write_stages(out, &loads);
}

/// Each staged or swept load, stage by stage, and where it saturated.
fn write_stages(out: &mut String, loads: &[(&ScenarioReport, &LoadReport)]) {
    for (s, l) in loads.iter().filter(|(_, l)| !l.stages.is_empty()) {
        let _ = writeln!(
            out,
            "### Stages of {} in {}\n",
            md_code(&l.name),
            md_code(&s.name)
        );
        if let Some(sat) = &l.saturation {
            let _ = writeln!(out, "Saturation: {}.\n", sat.words());
        }
        out.push_str("| Offered rps | Achieved rps | Requests | Failures | p50 | p99 | TTFT p50 / p99 | Goodput | Saturated |\n");
        out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for st in &l.stages {
            let _ = writeln!(out, "| {} |", stage_cells(st).join(" | "));
        }
        out.push('\n');
    }
}

/// Each mixed load, variant by variant.
fn write_mixes(out: &mut String, loads: &[(&ScenarioReport, &LoadReport)]) {
    for (s, l) in loads.iter().filter(|(_, l)| !l.mix.is_empty()) {
        let _ = writeln!(
            out,
            "### Mix of {} in {}\n",
            md_code(&l.name),
            md_code(&s.name)
        );
        out.push_str(
            "| Variant | Requests | Failures | p50 | p99 | TTFT p50 / p99 | Output tokens |\n",
        );
        out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for m in &l.mix {
            let _ = writeln!(out, "| {} |", crate::load_words::mix_cells(m).join(" | "));
        }
        out.push('\n');
    }
}

/// The LLM view of the streamed loads: offered against achieved rate,
/// TTFT, inter-token latency, TPOT, tokens/s and goodput.
fn write_token_latency(out: &mut String, loads: &[(&ScenarioReport, &LoadReport)]) {
    let streamed: Vec<_> = loads.iter().filter(|(_, l)| l.ttft_ms.is_some()).collect();
    if streamed.is_empty() {
        return;
    }
    out.push_str("### Token latency\n\n");
    out.push_str(
        "| Scenario | Load | Offered / achieved rps | TTFT p50 / p90 / p99 | ITL p50 / p90 / p99 | TPOT p50 / p90 / p99 | Output tokens/s | Goodput |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---|\n");
    for (s, l) in streamed {
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} | {} | {} | {} | {} |",
            md_code(&s.name),
            md_code(&l.name),
            l.offered_rps
                .map_or_else(|| "closed loop".to_string(), rate),
            rate(l.throughput_rps),
            spread(l.ttft_ms.as_ref()),
            spread(l.itl_ms.as_ref()),
            spread(l.tpot_ms.as_ref()),
            rate(l.output_tokens_per_s),
            md_cell(&goodput(l)),
        );
    }
    out.push('\n');
}

/// Each load beside the serving pods' own account of it.
fn write_server_views(out: &mut String, loads: &[(&ScenarioReport, &LoadReport)]) {
    let views: Vec<_> = loads
        .iter()
        .filter_map(|(s, l)| crate::load_words::server_view(l).map(|v| (s, l, v)))
        .collect();
    if views.is_empty() {
        return;
    }
    out.push_str(
        "### Client and server

",
    );
    for (s, l, v) in views {
        let _ = writeln!(
            out,
            "- {} {} ({}): {}",
            md_code(&s.name),
            md_code(&l.name),
            l.path.name(),
            v
        );
    }
    out.push('\n');
}

fn ttft(l: &LoadReport) -> String {
    l.ttft_ms.as_ref().map_or_else(
        || "-".to_string(),
        |t| format!("{} / {} / {}", millis(t.p50), millis(t.p95), millis(t.p99)),
    )
}

/// `v1 1810 (48.7%), v2 1909 (51.3%)`.
fn by_version(l: &LoadReport) -> String {
    let answered: u64 = l.by_version.values().sum();
    l.by_version
        .iter()
        .map(|(version, n)| format!("{version} {n} ({})", share(*n, answered)))
        .collect::<Vec<_>>()
        .join(", ")
}
