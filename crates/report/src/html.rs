//! `report.html`: one self-contained page (inline CSS, inline SVG charts
//! drawn here, a small inline script; nothing fetched from the network).
//!
//! Per scenario: a timeline putting steps, loads, rollouts, injected faults
//! and Kubernetes events on one time axis; per load, request rate, errors
//! and latency over the same axis; per series (replicas), a step chart; and
//! collapsible steps, diagnoses, evidence and artifact links.
//!
//! The markup is an askama template (`templates/report.html`, with
//! `scenario.html` and `macros.html`), checked when this crate compiles.
//! It escapes every value with `escape::Html`; the only values it
//! takes as they are (`|safe`) are the page's own CSS and scripts and the
//! SVG charts, which `svg.rs` escapes itself. This module gathers
//! what the template shows: the model, plus the charts and the few rows
//! computed from it.
//!
//! The script sets `<body data-rendered="ok">` once it ran, and
//! `data-errors` when any script error happened (checked by a test in
//! headless Chromium).

use std::fmt::Write as _;

use askama::Template;
use jiff::Timestamp;

use super::format::{clock, duration, millis, percent, seconds_between, share, utc};
use super::svg::{self, Lane, Line, Mark, Marker, Span, TimeAxis};
use super::{
    LoadReport, Outcome, RunReport, ScenarioReport, StepReport, TimelineEntry, TimelineSource,
};

mod gpus;

const STYLE: &str = include_str!("html/style.css");
const SCRIPT: &str = include_str!("html/script.js");
/// Set before anything else runs, so that errors in the main script show.
const ERROR_HOOK: &str = "window.onerror=function(m,s,l){var b=document.body;b.setAttribute('data-errors',(b.getAttribute('data-errors')||'')+m+' (line '+l+'); ');};";

/// Renders the run as one HTML page.
pub fn render(report: &RunReport) -> String {
    let c = &report.cluster;
    let mut environment = vec![
        (
            "Cluster",
            format!(
                "{} ({}), Kubernetes {}",
                c.name, c.provider, c.kubernetes_version
            ),
        ),
        ("GPUs", c.gpu_kind.clone()),
    ];
    for pool in &c.node_pools {
        let mut value = format!("{} × {}", pool.nodes, pool.name);
        if pool.gpus_per_node > 0 {
            let _ = write!(value, ", {} nvidia.com/gpu each", pool.gpus_per_node);
        }
        if let Some(product) = &pool.gpu_product {
            let _ = write!(value, " ({product})");
        }
        environment.push(("Node pool", value));
    }
    let harness = match &report.harness.git_commit {
        Some(commit) => format!("{} (commit {commit})", report.harness.version),
        None => report.harness.version.clone(),
    };
    environment.push(("Harness", harness));
    environment.push(("Command", report.harness.command.clone()));
    for image in &report.images {
        let value = match &image.id {
            Some(id) => format!("{} {id}", image.name),
            None => image.name.clone(),
        };
        environment.push(("Image", value));
    }
    let page = Page {
        report,
        failed: report
            .scenarios
            .iter()
            .filter(|s| !s.outcome.is_success())
            .count(),
        started: utc(report.started),
        took: took(report.started, report.finished),
        environment,
        scenarios: report
            .scenarios
            .iter()
            .enumerate()
            .map(|(index, s)| ScenarioView::new(index, s))
            .collect(),
    };
    page.render()
        .expect("rendering the HTML report into a string cannot fail")
}

/// `templates/report.html`.
#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    report: &'a RunReport,
    /// Scenarios that did not succeed.
    failed: usize,
    started: String,
    took: String,
    /// The environment table: key, value.
    environment: Vec<(&'static str, String)>,
    scenarios: Vec<ScenarioView<'a>>,
}

/// One scenario, as `templates/scenario.html` shows it.
struct ScenarioView<'a> {
    index: usize,
    s: &'a ScenarioReport,
    took: String,
    /// The step a negative twin that passed was meant to fail at.
    passed_unexpectedly: Option<&'a str>,
    charts: Option<Charts<'a>>,
}

impl<'a> ScenarioView<'a> {
    fn new(index: usize, s: &'a ScenarioReport) -> Self {
        ScenarioView {
            index,
            s,
            took: took(s.started, s.finished),
            passed_unexpectedly: (s.outcome == Outcome::PassedUnexpectedly)
                .then(|| s.expected_failure.as_ref().map_or("?", |e| e.step.as_str())),
            charts: Charts::new(s),
        }
    }

    fn first_error_line(&self) -> &str {
        super::format::first_line(self.s.error.as_deref().unwrap_or(""))
    }
}

/// A scenario's charts, all on one time axis.
struct Charts<'a> {
    timeline: String,
    /// Whether rollouts or faults are drawn across the value charts.
    markers: bool,
    loads: Vec<LoadView<'a>>,
    series: Vec<SeriesChart<'a>>,
    gpus: Option<gpus::GpuPanel<'a>>,
}

struct LoadView<'a> {
    l: &'a LoadReport,
    /// TTFT p50 / p95 / p99, or `-`.
    ttft: String,
    /// `4 users` or `4 requests/s offered`.
    shape: String,
    /// The token view of a streamed load.
    tokens: Option<TokenView>,
    /// A staged load's stages, one row of cells each.
    stages: Vec<Vec<String>>,
    /// Where it saturated, in words.
    saturation: String,
    rate_chart: String,
    latency_chart: String,
    breakdowns: Vec<Breakdown<'a>>,
}

/// TTFT, ITL and TPOT spreads and goodput, as the Markdown report words them.
struct TokenView {
    ttft: String,
    itl: String,
    tpot: String,
    goodput: String,
}

/// Responses by version, status or pod: key, count, share.
struct Breakdown<'a> {
    title: &'static str,
    rows: Vec<(&'a str, u64, String)>,
}

struct SeriesChart<'a> {
    name: &'a str,
    chart: String,
}

impl<'a> Charts<'a> {
    fn new(s: &'a ScenarioReport) -> Option<Self> {
        let axis = scenario_axis(s)?;
        let markers = chart_markers(s, &axis);
        let timeline = svg::timeline_chart(
            "timeline",
            &format!("timeline of {}", s.name),
            &axis,
            &timeline_lanes(s, &axis),
        );
        let loads = s
            .loads
            .iter()
            .map(|l| LoadView::new(l, &axis, &markers))
            .collect();
        let series = s
            .series
            .iter()
            .map(|series| SeriesChart {
                name: &series.name,
                chart: series_chart(series, &axis, &markers),
            })
            .collect();
        let gpus = gpus::GpuPanel::new(&s.name, &s.gpus, &axis, &markers);
        Some(Charts {
            timeline,
            markers: !markers.is_empty(),
            loads,
            series,
            gpus,
        })
    }
}

impl<'a> LoadView<'a> {
    fn new(l: &'a LoadReport, axis: &TimeAxis, markers: &[Marker]) -> Self {
        let start = axis.offset_of(l.started);
        let answered: u64 = l.by_version.values().sum();
        let breakdowns = [
            ("By version", &l.by_version, answered),
            ("By status", &l.by_status, l.requests),
            ("By pod", &l.by_pod, l.by_pod.values().sum()),
        ]
        .into_iter()
        .filter(|(_, counts, _)| !counts.is_empty())
        .map(|(title, counts, total)| Breakdown {
            title,
            rows: counts
                .iter()
                .map(|(key, n)| (key.as_str(), *n, share(*n, total)))
                .collect(),
        })
        .collect();
        LoadView {
            l,
            shape: match l.offered_rps {
                Some(r) => format!("{} requests/s offered", crate::format::rate(r)),
                None => format!("{} users", l.users),
            },
            stages: l
                .stages
                .iter()
                .map(crate::load_words::stage_cells)
                .collect(),
            saturation: l
                .saturation
                .as_ref()
                .map_or_else(String::new, |s| s.words()),
            tokens: l.ttft_ms.as_ref().map(|_| TokenView {
                ttft: crate::load_words::spread(l.ttft_ms.as_ref()),
                itl: crate::load_words::spread(l.itl_ms.as_ref()),
                tpot: crate::load_words::spread(l.tpot_ms.as_ref()),
                goodput: crate::load_words::goodput(l),
            }),
            ttft: l.ttft_ms.as_ref().map_or_else(
                || "-".to_string(),
                |t| format!("{} / {} / {}", millis(t.p50), millis(t.p95), millis(t.p99)),
            ),
            rate_chart: svg::line_chart(
                "load-rate",
                &format!("requests and failures per second of load {}", l.name),
                axis,
                &rate_lines(l, start),
                markers,
            ),
            latency_chart: svg::line_chart(
                "load-latency",
                &format!("latency of load {}", l.name),
                axis,
                &latency_lines(l, start),
                markers,
            ),
            breakdowns,
        }
    }
}

fn series_chart(series: &super::Series, axis: &TimeAxis, markers: &[Marker]) -> String {
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
    svg::line_chart(
        "series",
        &format!("{} over time", series.name),
        axis,
        &[line],
        markers,
    )
}

/// `12.0 s` from `from` to `to`.
fn took(from: Timestamp, to: Timestamp) -> String {
    duration(seconds_between(from, to))
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

/// Whether a step shows its operations before a click.
fn opens(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Failed | Outcome::PassedUnexpectedly)
}

/// The scenario's time axis: everything it recorded, start to end.
fn scenario_axis(s: &ScenarioReport) -> Option<TimeAxis> {
    let bounds = [s.started, s.finished].into_iter();
    let loads = s.loads.iter().flat_map(|l| [l.started, l.finished]);
    let points = s.series.iter().flat_map(|x| x.points.iter().map(|p| p.at));
    let gpus = s
        .gpus
        .iter()
        .flat_map(|g| (g.memory_used_mib.iter().chain(&g.utilization_pct)).map(|p| p.at));
    let events = s.timeline.iter().map(|e| e.at);
    TimeAxis::covering(bounds.chain(loads).chain(points).chain(gpus).chain(events))
}

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
            "load {}: {}, {} requests, {} errors",
            l.name,
            match l.offered_rps {
                Some(r) => format!("{} requests/s offered", crate::format::rate(r)),
                None => format!("{} users", l.users),
            },
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

fn source_label(source: TimelineSource) -> &'static str {
    match source {
        TimelineSource::Event => "event",
        TimelineSource::Rollout => "rollout",
        TimelineSource::Fault => "fault",
        TimelineSource::Load => "load",
        TimelineSource::Step => "step",
    }
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
