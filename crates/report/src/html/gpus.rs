//! The GPU panel of a scenario: each pod's GPU memory and utilization
//! while loads ran (from the dcgm-exporter), as a table and two charts
//! with a line per pod on the scenario's time axis.

use super::super::PodGpu;
use super::super::svg::{self, Line, Marker, TimeAxis};

/// Line colors, one per pod in turn.
const CLASSES: [&str; 5] = ["c-rate", "c-p50", "c-p95", "c-p99", "c-err"];

/// What `templates/scenario.html` shows of the panel.
pub(crate) struct GpuPanel<'a> {
    /// Pod, its color class, GPUs, peak memory, mean / peak utilization.
    pub rows: Vec<GpuRow<'a>>,
    pub memory_chart: String,
    pub utilization_chart: String,
}

pub(crate) struct GpuRow<'a> {
    pub pod: &'a str,
    pub class: &'static str,
    pub gpus: String,
    pub peak_memory: String,
    pub utilization: String,
}

impl<'a> GpuPanel<'a> {
    pub fn new(
        name: &str,
        pods: &'a [PodGpu],
        axis: &TimeAxis,
        markers: &[Marker],
    ) -> Option<Self> {
        if pods.is_empty() {
            return None;
        }
        let class = |i: usize| CLASSES[i % CLASSES.len()];
        let lines = |pick: fn(&PodGpu) -> &[crate::SeriesPoint], unit: &str| -> Vec<Line> {
            pods.iter()
                .enumerate()
                .map(|(i, p)| Line {
                    label: p.pod.clone(),
                    class: class(i),
                    points: pick(p)
                        .iter()
                        .map(|point| Some((axis.offset_of(point.at), point.value)))
                        .collect(),
                    step: false,
                    unit: unit.to_string(),
                })
                .collect()
        };
        Some(GpuPanel {
            rows: pods
                .iter()
                .enumerate()
                .map(|(i, p)| GpuRow {
                    pod: &p.pod,
                    class: class(i),
                    gpus: p.gpus.join(", "),
                    peak_memory: crate::format::mib(p.peak_memory_mib()),
                    utilization: crate::format::mean_peak_pct(p.utilization_mean_peak()),
                })
                .collect(),
            memory_chart: svg::line_chart(
                "gpu-memory",
                &format!("GPU memory used per pod in {name}"),
                axis,
                &lines(|p| &p.memory_used_mib, "MiB"),
                markers,
            ),
            utilization_chart: svg::percent_chart(
                "gpu-utilization",
                &format!("GPU utilization per pod in {name}"),
                axis,
                &lines(|p| &p.utilization_pct, "%"),
                markers,
            ),
        })
    }
}
