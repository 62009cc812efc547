//! The GPUs section of `report.md`: each pod's GPUs, peak memory and
//! utilization while loads ran, as the dcgm-exporter attributed them.

use std::fmt::Write as _;

use crate::RunReport;
use crate::escape::{md_cell, md_code};
use crate::format::{mean_peak_pct, mib};

pub(super) fn write_gpus(out: &mut String, report: &RunReport) {
    let rows: Vec<_> = report
        .scenarios
        .iter()
        .flat_map(|s| s.gpus.iter().map(move |g| (s, g)))
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str("## GPUs during loads\n\n");
    out.push_str(
        "Per pod, from the dcgm-exporter: `DCGM_FI_DEV_FB_USED` summed over the pod's GPUs, `DCGM_FI_DEV_GPU_UTIL` averaged over them.\n\n",
    );
    out.push_str(
        "| Scenario | Pod | GPUs | Memory used, peak | Utilization, mean / peak | Readings |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|\n");
    for (s, g) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            md_code(&s.name),
            md_code(&g.pod),
            md_cell(&g.gpus.join(", ")),
            mib(g.peak_memory_mib()),
            mean_peak_pct(g.utilization_mean_peak()),
            g.utilization_pct.len().max(g.memory_used_mib.len()),
        );
    }
    out.push('\n');
}
