//! `report.html`: one self-contained page (inline CSS, inline SVG charts
//! drawn here, a small inline script; nothing fetched from the network).
//!
//! Per scenario: a timeline putting steps, loads, rollouts, injected faults
//! and Kubernetes events on one time axis; per load, request rate, errors
//! and latency over the same axis; per series (replicas), a step chart; and
//! collapsible steps, diagnoses, evidence and artifact links.
//!
//! The script sets `<body data-rendered="ok">` once it ran, and
//! `data-errors` when any script error happened (checked by a test in
//! headless Chromium).

use std::fmt::Write as _;

use super::escape::{xml_attr as attr, xml_text as text};
use super::format::{
    block_label, clock, duration, first_line, millis, percent, rate, seconds_between, share, utc,
};
use super::svg::{self, Lane, Line, Mark, Marker, Span, TimeAxis};
use super::{
    LoadReport, Outcome, RunReport, ScenarioReport, Series, StepReport, TimelineEntry,
    TimelineSource,
};

const STYLE: &str = include_str!("html/style.css");
const SCRIPT: &str = include_str!("html/script.js");
/// Set before anything else runs, so that errors in the main script show.
const ERROR_HOOK: &str = "window.onerror=function(m,s,l){var b=document.body;b.setAttribute('data-errors',(b.getAttribute('data-errors')||'')+m+' (line '+l+'); ');};";

/// Renders the run as one HTML page.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>inferbench {}: {}</title>\n<style>\n{STYLE}</style>\n</head>\n\
         <body data-rendered=\"no\">\n<script>{ERROR_HOOK}</script>\n",
        text(&report.run_id),
        report.outcome.label()
    );
    write_header(&mut out, report);
    write_environment(&mut out, report);
    write_summary(&mut out, report);
    for (index, scenario) in report.scenarios.iter().enumerate() {
        write_scenario(&mut out, index, scenario);
    }
    let _ = write!(out, "<script>\n{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

fn badge(outcome: Outcome) -> String {
    format!(
        r#"<span class="badge {}">{}</span>"#,
        outcome_class(outcome),
        outcome.label()
    )
}

fn outcome_class(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Skipped => "skipped",
        Outcome::FailedAsExpected => "failed-as-expected",
        Outcome::PassedUnexpectedly => "passed-unexpectedly",
    }
}

fn write_header(out: &mut String, report: &RunReport) {
    let failed = report
        .scenarios
        .iter()
        .filter(|s| !s.outcome.is_success())
        .count();
    let _ = write!(
        out,
        "<header><h1>inferbench run <code>{}</code> {}</h1>\n<p>{} of {} scenarios failed. \
         Started {}, took {}.</p>\n",
        text(&report.run_id),
        badge(report.outcome),
        failed,
        report.scenarios.len(),
        utc(report.started),
        duration(seconds_between(report.started, report.finished)),
    );
    if let Some(reason) = &report.interrupted {
        let _ = writeln!(out, r#"<p class="error">Interrupted: {}</p>"#, text(reason));
    }
    out.push_str(
        "<p class=\"tools\"><button type=\"button\" data-toggle-all=\"open\">Expand all</button> \
         <button type=\"button\" data-toggle-all=\"close\">Collapse all</button></p></header>\n",
    );
}

fn write_environment(out: &mut String, report: &RunReport) {
    let c = &report.cluster;
    out.push_str("<section><h2>Environment</h2>\n<table class=\"kv\">\n");
    let cluster = format!(
        "{} ({}), Kubernetes {}",
        c.name, c.provider, c.kubernetes_version
    );
    kv_row(out, "Cluster", &cluster);
    kv_row(out, "GPUs", &c.gpu_kind);
    for pool in &c.node_pools {
        let mut value = format!("{} × {}", pool.nodes, pool.name);
        if pool.gpus_per_node > 0 {
            let _ = write!(value, ", {} nvidia.com/gpu each", pool.gpus_per_node);
        }
        if let Some(product) = &pool.gpu_product {
            let _ = write!(value, " ({product})");
        }
        kv_row(out, "Node pool", &value);
    }
    let harness = match &report.harness.git_commit {
        Some(commit) => format!("{} (commit {commit})", report.harness.version),
        None => report.harness.version.clone(),
    };
    kv_row(out, "Harness", &harness);
    kv_row(out, "Command", &report.harness.command);
    for image in &report.images {
        let value = match &image.id {
            Some(id) => format!("{} {id}", image.name),
            None => image.name.clone(),
        };
        kv_row(out, "Image", &value);
    }
    out.push_str("</table></section>\n");
}

fn kv_row(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(
        out,
        "<tr><th>{}</th><td>{}</td></tr>",
        text(key),
        text(value)
    );
}

fn write_summary(out: &mut String, report: &RunReport) {
    out.push_str(
        "<section><h2>Scenarios</h2>\n<table>\n<thead><tr><th>Scenario</th><th>Matrix entry</th>\
         <th>Outcome</th><th class=\"num\">Duration</th><th>Error</th></tr></thead>\n<tbody>\n",
    );
    for (index, s) in report.scenarios.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#scenario-{index}\">{}</a></td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            text(&s.name),
            text(s.matrix_entry.as_deref().unwrap_or("")),
            badge(s.outcome),
            duration(seconds_between(s.started, s.finished)),
            text(first_line(s.error.as_deref().unwrap_or(""))),
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn write_scenario(out: &mut String, index: usize, s: &ScenarioReport) {
    let _ = write!(
        out,
        "<section class=\"scenario {}\" id=\"scenario-{index}\">\n<h2>{} {}</h2>\n\
         <p class=\"meta\"><code>{}</code> · namespace <code>{}</code> · {} · {}</p>\n",
        outcome_class(s.outcome),
        text(&s.name),
        badge(s.outcome),
        text(&s.file),
        text(&s.namespace),
        clock(s.started),
        duration(seconds_between(s.started, s.finished)),
    );
    if let Some(description) = &s.description {
        let _ = writeln!(out, "<p>{}</p>", text(description));
    }
    write_scenario_error(out, s);
    write_diagnoses(out, s);
    write_charts(out, s);
    write_steps(out, s);
    write_timeline_table(out, s);
    write_artifacts(out, s);
    out.push_str("</section>\n");
}

fn write_scenario_error(out: &mut String, s: &ScenarioReport) {
    let class = if s.outcome.is_success() {
        "note"
    } else {
        "error"
    };
    if s.outcome == Outcome::PassedUnexpectedly {
        let step = s.expected_failure.as_ref().map_or("?", |e| e.step.as_str());
        let _ = writeln!(
            out,
            "<p class=\"error\">{}: step <code>{}</code> was meant to fail and did not.</p>",
            super::junit::PASSED_UNEXPECTEDLY,
            text(step)
        );
    }
    if let Some(error) = &s.error {
        let _ = writeln!(out, "<pre class=\"{class}\">{}</pre>", text(error));
    }
}

fn write_diagnoses(out: &mut String, s: &ScenarioReport) {
    if s.diagnoses.is_empty() {
        return;
    }
    let open = if s.outcome.is_success() { "" } else { " open" };
    let _ = writeln!(
        out,
        "<details class=\"diagnoses\"{open}><summary>Diagnoses ({})</summary>",
        s.diagnoses.len()
    );
    for d in &s.diagnoses {
        let _ = writeln!(
            out,
            "<div class=\"diagnosis\"><p><strong>{}</strong> (step <code>{}</code>): {}</p>",
            text(d.decider.label()),
            text(&d.step),
            text(&d.summary)
        );
        if !d.evidence.is_empty() {
            let _ = writeln!(
                out,
                "<details open><summary>Evidence ({})</summary><pre>{}</pre></details>",
                d.evidence.len(),
                text(&d.evidence.join("\n"))
            );
        }
        out.push_str("</div>\n");
    }
    out.push_str("</details>\n");
}

/// The scenario's time axis: everything it recorded, start to end.
fn scenario_axis(s: &ScenarioReport) -> Option<TimeAxis> {
    let bounds = [s.started, s.finished].into_iter();
    let loads = s.loads.iter().flat_map(|l| [l.started, l.finished]);
    let points = s.series.iter().flat_map(|x| x.points.iter().map(|p| p.at));
    let events = s.timeline.iter().map(|e| e.at);
    TimeAxis::covering(bounds.chain(loads).chain(points).chain(events))
}

fn write_charts(out: &mut String, s: &ScenarioReport) {
    let Some(axis) = scenario_axis(s) else {
        return;
    };
    let lanes = timeline_lanes(s, &axis);
    out.push_str("<h3>Timeline</h3>\n");
    out.push_str(&svg::timeline_chart(
        "timeline",
        &format!("timeline of {}", s.name),
        &axis,
        &lanes,
    ));
    out.push_str(LANE_LEGEND);
    let markers = chart_markers(s, &axis);
    for load in &s.loads {
        write_load(out, load, &axis, &markers);
    }
    for series in &s.series {
        write_series(out, series, &axis, &markers);
    }
}

const LANE_LEGEND: &str = "<p class=\"legend\"><span class=\"key span passed\"></span>passed \
<span class=\"key span failed\"></span>failed <span class=\"key span load\"></span>load \
<span class=\"key mark\"></span>event <span class=\"key mark warn\"></span>warning</p>\n";

fn timeline_lanes(s: &ScenarioReport, axis: &TimeAxis) -> Vec<Lane> {
    let steps = Lane {
        name: "Steps",
        spans: s.steps.iter().map(|step| step_span(step, axis)).collect(),
        marks: Vec::new(),
    };
    let loads = Lane {
        name: "Loads",
        spans: s.loads.iter().map(|l| load_span(l, axis)).collect(),
        marks: marks_from(s, TimelineSource::Load, axis),
    };
    let mut lanes = vec![steps, loads];
    for (name, source) in [
        ("Rollouts", TimelineSource::Rollout),
        ("Faults", TimelineSource::Fault),
        ("Events", TimelineSource::Event),
    ] {
        lanes.push(Lane {
            name,
            spans: Vec::new(),
            marks: marks_from(s, source, axis),
        });
    }
    // Step entries of the timeline join the steps' own bars.
    lanes[0].marks = marks_from(s, TimelineSource::Step, axis);
    lanes.retain(|lane| !lane.spans.is_empty() || !lane.marks.is_empty());
    lanes
}

fn step_span(step: &StepReport, axis: &TimeAxis) -> Span {
    Span {
        start_s: axis.offset_of(step.started),
        end_s: axis.offset_of(step.finished),
        title: format!(
            "step {}: {}, {}",
            step.name,
            step.outcome.label(),
            duration(seconds_between(step.started, step.finished))
        ),
        class: outcome_class(step.outcome).to_string(),
    }
}

fn load_span(l: &LoadReport, axis: &TimeAxis) -> Span {
    Span {
        start_s: axis.offset_of(l.started),
        end_s: axis.offset_of(l.finished),
        title: format!(
            "load {}: {} users, {} requests, {} errors",
            l.name,
            l.users,
            l.requests,
            percent(l.error_rate)
        ),
        class: "load".to_string(),
    }
}

fn marks_from(s: &ScenarioReport, source: TimelineSource, axis: &TimeAxis) -> Vec<Mark> {
    s.timeline
        .iter()
        .filter(|e| e.source == source)
        .map(|e| Mark {
            at_s: axis.offset_of(e.at),
            title: entry_title(e),
            warning: e.warning,
        })
        .collect()
}

/// `16:30:08.1 Warning Unhealthy pod/x: message`.
fn entry_title(e: &TimelineEntry) -> String {
    let level = if e.warning { "Warning " } else { "" };
    let object = e
        .object
        .as_ref()
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!("{} {level}{}{object}: {}", clock(e.at), e.reason, e.message)
}

/// Rollouts and faults, drawn across every value chart.
fn chart_markers(s: &ScenarioReport, axis: &TimeAxis) -> Vec<Marker> {
    s.timeline
        .iter()
        .filter(|e| matches!(e.source, TimelineSource::Rollout | TimelineSource::Fault))
        .map(|e| Marker {
            at_s: axis.offset_of(e.at),
            title: entry_title(e),
            warning: e.source == TimelineSource::Fault || e.warning,
        })
        .collect()
}

fn write_load(out: &mut String, l: &LoadReport, axis: &TimeAxis, markers: &[Marker]) {
    let _ = writeln!(
        out,
        "<h3>Load <code>{}</code></h3>\n<p class=\"meta\">{} · {} · {} users · {} to {}</p>",
        text(&l.name),
        text(&l.target),
        text(&l.request),
        l.users,
        clock(l.started),
        clock(l.finished),
    );
    write_load_stats(out, l);
    let start = axis.offset_of(l.started);
    out.push_str("<p class=\"caption\">Requests and failures per second</p>\n");
    out.push_str(&svg::line_chart(
        "load-rate",
        &format!("requests and failures per second of load {}", l.name),
        axis,
        &rate_lines(l, start),
        markers,
    ));
    legend(
        out,
        &[("c-rate", "requests/s"), ("c-err", "failures/s")],
        markers,
    );
    out.push_str("<p class=\"caption\">Latency (ms)</p>\n");
    out.push_str(&svg::line_chart(
        "load-latency",
        &format!("latency of load {}", l.name),
        axis,
        &latency_lines(l, start),
        markers,
    ));
    legend(
        out,
        &[("c-p50", "p50"), ("c-p95", "p95"), ("c-p99", "p99")],
        markers,
    );
    write_breakdowns(out, l);
}

fn write_load_stats(out: &mut String, l: &LoadReport) {
    let ttft = l.ttft_ms.as_ref().map_or_else(
        || "-".to_string(),
        |t| format!("{} / {} / {}", millis(t.p50), millis(t.p95), millis(t.p99)),
    );
    let _ = writeln!(
        out,
        "<table class=\"stats\"><thead><tr><th>Requests</th><th>Failures</th><th>Rps</th>\
         <th>Error rate</th><th>p50</th><th>p95</th><th>p99</th><th>Max</th>\
         <th>TTFT p50 / p95 / p99</th></tr></thead>\n<tbody><tr><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></tbody></table>",
        l.requests,
        l.failures,
        rate(l.throughput_rps),
        percent(l.error_rate),
        millis(l.latency_ms.p50),
        millis(l.latency_ms.p95),
        millis(l.latency_ms.p99),
        millis(l.latency_ms.max),
        ttft,
    );
}

/// Requests and failures per second, at each bucket's middle.
fn rate_lines(l: &LoadReport, start: f64) -> Vec<Line> {
    let per_second = |pick: fn(&super::LoadBucket) -> u64| {
        l.buckets
            .iter()
            .map(|b| {
                let width = b.width_s.max(f64::EPSILON);
                Some((start + b.offset_s + width / 2.0, pick(b) as f64 / width))
            })
            .collect()
    };
    vec![
        Line {
            label: "requests/s".into(),
            class: "c-rate",
            points: per_second(|b| b.requests),
            step: false,
            unit: "req/s".into(),
        },
        Line {
            label: "failures/s".into(),
            class: "c-err",
            points: per_second(|b| b.failures),
            step: false,
            unit: "req/s".into(),
        },
    ]
}

/// p50/p95/p99 per bucket; a bucket with no latency recorded is a gap.
fn latency_lines(l: &LoadReport, start: f64) -> Vec<Line> {
    let line = |label: &str, class: &'static str, pick: fn(&super::LoadBucket) -> f64| Line {
        label: label.into(),
        class,
        points: l
            .buckets
            .iter()
            .map(|b| {
                let measured = b.requests > 0 && (b.p50_ms > 0.0 || b.p99_ms > 0.0);
                measured.then(|| (start + b.offset_s + b.width_s / 2.0, pick(b)))
            })
            .collect(),
        step: false,
        unit: "ms".into(),
    };
    vec![
        line("p50", "c-p50", |b| b.p50_ms),
        line("p95", "c-p95", |b| b.p95_ms),
        line("p99", "c-p99", |b| b.p99_ms),
    ]
}

fn write_breakdowns(out: &mut String, l: &LoadReport) {
    let answered: u64 = l.by_version.values().sum();
    let tables = [
        ("By version", &l.by_version, answered),
        ("By status", &l.by_status, l.requests),
        ("By pod", &l.by_pod, l.by_pod.values().sum()),
    ];
    out.push_str("<div class=\"breakdowns\">");
    for (title, counts, total) in tables {
        if counts.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<table><thead><tr><th>{title}</th><th class=\"num\">Responses</th><th class=\"num\">Share</th></tr></thead><tbody>"
        );
        for (key, n) in counts {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"num\">{n}</td><td class=\"num\">{}</td></tr>",
                text(key),
                share(*n, total)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</div>\n");
    write_failed_samples(out, l);
}

fn write_failed_samples(out: &mut String, l: &LoadReport) {
    if l.failed_samples.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>First failed requests ({})</summary><table><thead><tr><th>At</th>\
         <th>Status</th><th>Pod</th><th class=\"num\">Bytes</th><th>Error</th></tr></thead><tbody>",
        l.failed_samples.len()
    );
    for f in &l.failed_samples {
        let status = f.status.map_or_else(|| "-".to_string(), |s| s.to_string());
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{status}</td><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
            clock(f.at),
            text(f.pod.as_deref().unwrap_or("-")),
            f.request_bytes,
            text(&f.error)
        );
    }
    out.push_str("</tbody></table></details>\n");
}

fn write_series(out: &mut String, series: &Series, axis: &TimeAxis, markers: &[Marker]) {
    let _ = writeln!(out, "<h3>{}</h3>", text(&series.name));
    let line = Line {
        label: series.name.clone(),
        class: "c-rate",
        points: series
            .points
            .iter()
            .map(|p| Some((axis.offset_of(p.at), p.value)))
            .collect(),
        step: true,
        unit: series.unit.clone(),
    };
    out.push_str(&svg::line_chart(
        "series",
        &format!("{} over time", series.name),
        axis,
        &[line],
        markers,
    ));
}

fn legend(out: &mut String, keys: &[(&str, &str)], markers: &[Marker]) {
    out.push_str("<p class=\"legend\">");
    for (class, label) in keys {
        let _ = write!(out, "<span class=\"key line {class}\"></span>{label} ");
    }
    if !markers.is_empty() {
        out.push_str("<span class=\"key marker\"></span>rollout / fault");
    }
    out.push_str("</p>\n");
}

fn write_steps(out: &mut String, s: &ScenarioReport) {
    let open = if s.outcome.is_success() { "" } else { " open" };
    let _ = writeln!(
        out,
        "<details class=\"steps\"{open}><summary>Steps ({})</summary>",
        s.steps.len()
    );
    for step in &s.steps {
        write_step(out, step);
    }
    out.push_str("</details>\n");
}

fn write_step(out: &mut String, step: &StepReport) {
    let open = if matches!(step.outcome, Outcome::Failed | Outcome::PassedUnexpectedly) {
        " open"
    } else {
        ""
    };
    let retries = if step.attempts > 1 {
        format!(" · {} attempts", step.attempts)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "<details class=\"step\"{open}><summary>{} {} <span class=\"meta\">{}{retries}</span></summary>",
        text(&step.name),
        badge(step.outcome),
        duration(seconds_between(step.started, step.finished)),
    );
    if let Some(description) = &step.description {
        let _ = writeln!(out, "<p>{}</p>", text(description));
    }
    if !step.operations.is_empty() {
        out.push_str(
            "<table class=\"ops\"><thead><tr><th>Block</th><th>Operation</th><th>What</th>\
             <th>Outcome</th><th class=\"num\">Duration</th></tr></thead><tbody>\n",
        );
        for op in &step.operations {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}{}{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                block_label(op.block),
                text(&op.kind),
                text(&op.description),
                pre_block("error", op.error.as_deref()),
                pre_block("detail", op.detail.as_deref()),
                badge(op.outcome),
                duration(seconds_between(op.started, op.finished)),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</details>\n");
}

fn pre_block(class: &str, content: Option<&str>) -> String {
    content
        .map(|c| format!("<pre class=\"{class}\">{}</pre>", text(c)))
        .unwrap_or_default()
}

fn write_timeline_table(out: &mut String, s: &ScenarioReport) {
    if s.timeline.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>Timeline entries ({})</summary><table><thead><tr><th>At</th>\
         <th>Source</th><th>Reason</th><th>Object</th><th>Message</th></tr></thead><tbody>",
        s.timeline.len()
    );
    for e in &s.timeline {
        let class = if e.warning { " class=\"warn\"" } else { "" };
        let _ = writeln!(
            out,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            clock(e.at),
            source_label(e.source),
            text(&e.reason),
            text(e.object.as_deref().unwrap_or("")),
            text(&e.message)
        );
    }
    out.push_str("</tbody></table></details>\n");
}

fn source_label(source: TimelineSource) -> &'static str {
    match source {
        TimelineSource::Event => "event",
        TimelineSource::Rollout => "rollout",
        TimelineSource::Fault => "fault",
        TimelineSource::Load => "load",
        TimelineSource::Step => "step",
    }
}

fn write_artifacts(out: &mut String, s: &ScenarioReport) {
    if s.artifacts.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details class=\"artifacts\"><summary>Artifacts ({})</summary><ul>",
        s.artifacts.len()
    );
    for a in &s.artifacts {
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">{}</a>: {}</li>",
            attr(&relative_href(&a.path)),
            text(&a.path),
            text(&a.description)
        );
    }
    out.push_str("</ul></details>\n");
}

/// A link to a file in the report folder: characters that would end or
/// redirect a URL path are percent-encoded, and a path that would read as
/// a URL scheme (`javascript:`) is made explicitly relative.
fn relative_href(path: &str) -> String {
    let mut href = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => href.push_str("%25"),
            ' ' => href.push_str("%20"),
            '#' => href.push_str("%23"),
            '?' => href.push_str("%3F"),
            '\\' => href.push('/'),
            c => href.push(c),
        }
    }
    let first_segment = href.split('/').next().unwrap_or("");
    if first_segment.contains(':') {
        href.insert_str(0, "./");
    }
    href
}

#[cfg(test)]
mod tests {
    use super::relative_href;

    #[test]
    fn artifact_links_stay_relative() {
        assert_eq!(
            relative_href("artifacts/a b#1.txt"),
            "artifacts/a%20b%231.txt"
        );
        assert_eq!(
            relative_href("javascript:alert(1)"),
            "./javascript:alert(1)"
        );
        assert_eq!(relative_href("artifacts/x:y.log"), "artifacts/x:y.log");
    }
}
