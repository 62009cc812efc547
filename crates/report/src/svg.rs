//! Inline SVG charts for the HTML report, drawn in Rust.
//!
//! Every chart of a scenario shares one [`TimeAxis`] and one horizontal
//! layout, so a given x coordinate is the same instant in all of them (the
//! page's script draws one cursor across all of a scenario's charts).

use std::fmt::Write as _;

use jiff::Timestamp;

use super::escape::{xml_attr, xml_text};
use super::format::{offset, seconds_between};

const WIDTH: f64 = 800.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
const PLOT_HEIGHT: f64 = 150.0;
const LANE_HEIGHT: f64 = 24.0;
/// Candidate spacings of time-axis ticks, in seconds.
const TICK_STEPS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];
const MAX_TICKS: f64 = 10.0;

/// The time span a scenario's charts cover.
#[derive(Debug, Clone, Copy)]
pub struct TimeAxis {
    start: Timestamp,
    span_s: f64,
}

impl TimeAxis {
    /// An axis from the earliest to the latest of `times` (at least 1 s).
    pub fn covering(times: impl IntoIterator<Item = Timestamp>) -> Option<Self> {
        let mut times = times.into_iter();
        let first = times.next()?;
        let (start, end) = times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t)));
        Some(TimeAxis {
            start,
            span_s: seconds_between(start, end).max(1.0),
        })
    }

    /// Seconds from the axis start.
    pub fn offset_of(&self, at: Timestamp) -> f64 {
        at.duration_since(self.start).as_secs_f64()
    }

    fn x(&self, secs: f64) -> f64 {
        LEFT + secs.clamp(0.0, self.span_s) / self.span_s * (WIDTH - LEFT - RIGHT)
    }

    fn tick_step(&self) -> f64 {
        TICK_STEPS
            .into_iter()
            .find(|step| self.span_s / step <= MAX_TICKS)
            .unwrap_or(self.span_s / MAX_TICKS)
    }
}

/// One line of a [`line_chart`]; `None` points break it.
pub struct Line {
    pub label: String,
    /// CSS class giving the color (`c-rate`, `c-err`, `c-p50`...).
    pub class: &'static str,
    /// `(seconds on the axis, value)`.
    pub points: Vec<Option<(f64, f64)>>,
    /// Hold each value until the next point (replicas), instead of joining points.
    pub step: bool,
    /// Unit for hover titles, e.g. `ms`.
    pub unit: String,
}

/// A vertical marker (rollout, fault) drawn across a line chart.
pub struct Marker {
    pub at_s: f64,
    pub title: String,
    pub warning: bool,
}

/// A row of the timeline chart.
pub struct Lane {
    pub name: &'static str,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
}

/// An interval on a lane (a step, a load).
pub struct Span {
    pub start_s: f64,
    pub end_s: f64,
    pub title: String,
    /// CSS class, e.g. the outcome.
    pub class: String,
}

/// A point in time on a lane (an event, a rollout, a fault).
pub struct Mark {
    pub at_s: f64,
    pub title: String,
    pub warning: bool,
}

/// A chart of values over time, with `markers` as vertical lines.
pub fn line_chart(
    name: &str,
    caption: &str,
    axis: &TimeAxis,
    lines: &[Line],
    markers: &[Marker],
) -> String {
    chart_on(name, caption, axis, lines, markers, YScale::fitting(lines))
}

/// A [`line_chart`] of percentages: the value axis runs from 0 to 100.
pub fn percent_chart(
    name: &str,
    caption: &str,
    axis: &TimeAxis,
    lines: &[Line],
    markers: &[Marker],
) -> String {
    let y = YScale {
        step: 100.0 / f64::from(YScale::TICKS),
    };
    chart_on(name, caption, axis, lines, markers, y)
}

fn chart_on(
    name: &str,
    caption: &str,
    axis: &TimeAxis,
    lines: &[Line],
    markers: &[Marker],
    y: YScale,
) -> String {
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let mut svg = open_svg(name, caption, axis, height);
    write_time_grid(&mut svg, axis, TOP, TOP + PLOT_HEIGHT);
    write_value_grid(&mut svg, &y);
    for marker in markers {
        write_marker(&mut svg, axis, marker);
    }
    for line in lines {
        write_line(&mut svg, axis, &y, line);
    }
    close_svg(&mut svg, TOP, TOP + PLOT_HEIGHT);
    svg
}

/// Lanes of spans and marks on the scenario's time axis.
pub fn timeline_chart(name: &str, caption: &str, axis: &TimeAxis, lanes: &[Lane]) -> String {
    let bottom = TOP + LANE_HEIGHT * lanes.len() as f64;
    let mut svg = open_svg(name, caption, axis, bottom + BOTTOM);
    write_time_grid(&mut svg, axis, TOP, bottom);
    for (i, lane) in lanes.iter().enumerate() {
        let mid = TOP + LANE_HEIGHT * (i as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text class="lane" x="4" y="{:.1}">{}</text>"#,
            mid + 4.0,
            lane.name
        );
        for span in &lane.spans {
            write_span(&mut svg, axis, mid, span);
        }
        for mark in &lane.marks {
            write_mark(&mut svg, axis, mid, mark);
        }
    }
    close_svg(&mut svg, TOP, bottom);
    svg
}

/// Opens a chart; `data-span` and `data-plot` (the plot's left and right
/// edge) let the page's script turn an x coordinate back into a time.
fn open_svg(name: &str, caption: &str, axis: &TimeAxis, height: f64) -> String {
    format!(
        r#"<svg class="chart" data-chart="{}" data-span="{:.3}" data-plot="{LEFT} {}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        xml_attr(name),
        axis.span_s,
        WIDTH - RIGHT,
        xml_attr(caption)
    )
}

/// Adds the (hidden) cursor the page's script moves, and closes the chart.
fn close_svg(svg: &mut String, top: f64, bottom: f64) {
    let _ = write!(
        svg,
        r#"<line class="cursor" x1="0" x2="0" y1="{top}" y2="{bottom}"/><text class="cursor-label" x="0" y="{:.1}"></text></svg>"#,
        top + 10.0
    );
}

fn write_time_grid(svg: &mut String, axis: &TimeAxis, top: f64, bottom: f64) {
    let step = axis.tick_step();
    svg.push_str(r#"<g class="grid">"#);
    let mut t = 0.0;
    while t <= axis.span_s + 1e-9 {
        let x = axis.x(t);
        let _ = write!(
            svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{bottom}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 14.0,
            offset(t)
        );
        t += step;
    }
    svg.push_str("</g>");
}

/// The value axis of a line chart: 0 to a round maximum in four steps.
struct YScale {
    step: f64,
}

impl YScale {
    const TICKS: u32 = 4;

    fn fitting(lines: &[Line]) -> Self {
        let max = lines
            .iter()
            .flat_map(|l| l.points.iter().flatten().map(|(_, v)| *v))
            .fold(0.0_f64, f64::max);
        // A little headroom, so that the highest point does not touch the top.
        YScale {
            step: nice_step(max * 1.05 / f64::from(Self::TICKS)),
        }
    }

    fn top(&self) -> f64 {
        self.step * f64::from(Self::TICKS)
    }

    fn y(&self, value: f64) -> f64 {
        TOP + PLOT_HEIGHT - value.clamp(0.0, self.top()) / self.top() * PLOT_HEIGHT
    }

    fn label(&self, value: f64) -> String {
        if self.step >= 1.0 {
            format!("{value:.0}")
        } else {
            format!("{value:.2}")
        }
    }
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn write_value_grid(svg: &mut String, y: &YScale) {
    svg.push_str(r#"<g class="grid">"#);
    for i in 0..=YScale::TICKS {
        let value = y.step * f64::from(i);
        let py = y.y(value);
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            y.label(value)
        );
    }
    svg.push_str("</g>");
}

fn write_marker(svg: &mut String, axis: &TimeAxis, marker: &Marker) {
    let x = axis.x(marker.at_s);
    let warn = if marker.warning { " warn" } else { "" };
    let _ = write!(
        svg,
        r#"<g class="marker{warn}"><title>{}</title><line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}"/><path d="M{:.1} {TOP}h10l-5 7z"/></g>"#,
        xml_text(&marker.title),
        TOP + PLOT_HEIGHT,
        x - 5.0
    );
}

fn write_line(svg: &mut String, axis: &TimeAxis, y: &YScale, line: &Line) {
    let d = path_data(axis, y, line);
    if d.is_empty() {
        return;
    }
    let _ = write!(
        svg,
        r#"<path class="series {}" data-label="{}" d="{d}"/><g class="points {}">"#,
        line.class,
        xml_attr(&line.label),
        line.class
    );
    for (t, v) in line.points.iter().flatten() {
        let _ = write!(
            svg,
            r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="2.2"><title>{} at {}: {} {}</title></circle>"#,
            axis.x(*t),
            y.y(*v),
            xml_text(&line.label),
            offset(*t),
            trim_number(*v),
            xml_text(&line.unit)
        );
    }
    svg.push_str("</g>");
}

/// `M`/`L` commands (or `H`/`V` for step lines), restarting after gaps.
fn path_data(axis: &TimeAxis, y: &YScale, line: &Line) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for point in &line.points {
        let Some((t, v)) = point else {
            pen_down = false;
            continue;
        };
        let (px, py) = (axis.x(*t), y.y(*v));
        let _ = match (pen_down, line.step) {
            (false, _) => write!(d, "M{px:.1} {py:.1}"),
            (true, false) => write!(d, "L{px:.1} {py:.1}"),
            (true, true) => write!(d, "H{px:.1}V{py:.1}"),
        };
        pen_down = true;
    }
    d
}

fn write_span(svg: &mut String, axis: &TimeAxis, mid: f64, span: &Span) {
    let (x0, x1) = (axis.x(span.start_s), axis.x(span.end_s));
    let _ = write!(
        svg,
        r#"<rect class="span {}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="2"><title>{}</title></rect>"#,
        xml_attr(&span.class),
        mid - LANE_HEIGHT * 0.3,
        (x1 - x0).max(1.5),
        LANE_HEIGHT * 0.6,
        xml_text(&span.title)
    );
}

fn write_mark(svg: &mut String, axis: &TimeAxis, mid: f64, mark: &Mark) {
    let warn = if mark.warning { " warn" } else { "" };
    let _ = write!(
        svg,
        r#"<circle class="mark{warn}" cx="{:.1}" cy="{mid:.1}" r="4.5"><title>{}</title></circle>"#,
        axis.x(mark.at_s),
        xml_text(&mark.title)
    );
}

/// `95`, `95.5`, `0.25`: no trailing zeros.
fn trim_number(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(span: f64) -> TimeAxis {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().expect("timestamp");
        let end = start + jiff::SignedDuration::from_secs_f64(span);
        TimeAxis::covering([end, start]).expect("axis")
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(23.0), 25.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(101.0), 200.0);
    }

    #[test]
    fn ticks_stay_readable() {
        assert_eq!(axis(40.0).tick_step(), 5.0);
        assert_eq!(axis(300.0).tick_step(), 30.0);
    }

    #[test]
    fn gaps_restart_the_path_and_steps_hold_values() {
        let axis = axis(10.0);
        let y = YScale { step: 1.0 };
        let mut line = Line {
            label: "x".into(),
            class: "c-rate",
            points: vec![Some((0.0, 1.0)), None, Some((5.0, 2.0)), Some((10.0, 3.0))],
            step: false,
            unit: String::new(),
        };
        assert_eq!(
            path_data(&axis, &y, &line),
            "M70.0 122.5M420.0 85.0L770.0 47.5"
        );
        line.step = true;
        assert_eq!(
            path_data(&axis, &y, &line),
            "M70.0 122.5M420.0 85.0H770.0V47.5"
        );
    }
}
