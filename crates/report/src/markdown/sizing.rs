//! The vertical sizing section of `report.md`: what each
//! VerticalPodAutoscaler recommended at the end of its scenario, beside the
//! requests and limits its target's pod template gives the container.

use std::fmt::Write as _;

use crate::RunReport;
use crate::escape::{md_cell, md_code};

pub(super) fn write_sizing(out: &mut String, report: &RunReport) {
    let rows: Vec<_> = report
        .scenarios
        .iter()
        .flat_map(|s| s.sizing.iter().map(move |c| (s, c)))
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str("## Vertical sizing\n\n");
    out.push_str(
        "The VPA recommender's recommendation at each scenario's end, beside the template's requests and limits. ⚠: the memory limit is below the upper bound (at that peak the container would be OOM-killed).\n\n",
    );
    out.push_str(
        "| Scenario | VPA | Target | Container | Requests | Limits | Recommended | Lower bound | Upper bound |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for (s, c) in rows {
        let rec = |pick: fn(&crate::Recommendation) -> &crate::Resources| {
            c.recommendation
                .as_ref()
                .map_or("none yet".to_string(), |r| pick(r).text())
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {}{} | {} | {} | {} |",
            md_code(&s.name),
            md_code(&c.vpa),
            md_cell(&c.target),
            md_code(&c.container),
            md_cell(&c.requests.text()),
            md_cell(&c.limits.text()),
            if c.memory_limit_below_upper_bound {
                " ⚠"
            } else {
                ""
            },
            md_cell(&rec(|r| &r.target)),
            md_cell(&rec(|r| &r.lower_bound)),
            md_cell(&rec(|r| &r.upper_bound)),
        );
    }
    out.push('\n');
}
