//! The stages of a staged or swept load, each judged on its own: the
//! requests due in it, the answers that completed within it (moved by the
//! first stage's median latency: the rate the server kept up with), its latency, and whether it saturated the server.
//! A stage saturates when the server falls behind the rate (fewer than 90%
//! of the offered answers per second complete within it), when its median
//! latency is more than twice the first stage's (requests queue), or when
//! more than 5% of its requests fail.

use report::{LoadStageReport, RequestSlo, Saturation};

use crate::record::Recorded;
use crate::stats::{GroupFigures, meets, percentiles};

/// Achieved below this share of the offered rate: the server fell behind.
const KEPT_UP: f64 = 0.9;
/// Median latency above this multiple of the first stage's: queueing.
const QUEUED: f64 = 2.0;
/// Failure share above which a stage counts as saturated.
const FAILING: f64 = 0.05;

/// A stage as planned: requests per second and seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedStage {
    pub rps: f64,
    pub seconds: f64,
}

pub fn analyze(
    samples: &[Recorded],
    planned: &[PlannedStage],
    slo: Option<&RequestSlo>,
) -> (Vec<LoadStageReport>, Option<Saturation>) {
    if planned.is_empty() {
        return (Vec::new(), None);
    }
    let mut reports = Vec::new();
    let mut start = 0.0;
    let mut baseline: Option<f64> = None;
    // Answers complete a request's latency after they are due: the window
    // that counts a stage's completions is the stage moved by the first
    // stage's median latency, so a server that keeps up completes as many
    // per second as are offered.
    let first_p50 = {
        let first: Vec<f64> = samples
            .iter()
            .filter(|r| r.sample.stage == Some(0))
            .map(|r| r.sample.e2e_ms)
            .collect();
        percentiles(&first).p50 / 1000.0
    };
    for (i, stage) in planned.iter().enumerate() {
        let end = start + stage.seconds;
        let mine: Vec<&loadgen::Sample> = samples
            .iter()
            .map(|r| &r.sample)
            .filter(|s| s.stage == Some(i as u32))
            .collect();
        let (from, to) = (start + first_p50, end + first_p50);
        let completed = samples
            .iter()
            .map(|r| (r.sample.due_ms + r.sample.e2e_ms) / 1000.0)
            .filter(|t| *t >= from && *t < to)
            .count();
        let GroupFigures {
            requests,
            failures,
            latency_ms: latency,
            ttft_ms,
        } = GroupFigures::of(&mine);
        let achieved = completed as f64 / stage.seconds.max(0.001);
        let failing = requests > 0 && failures as f64 / requests as f64 > FAILING;
        let base = *baseline.get_or_insert(latency.p50);
        let saturated = if requests == 0 {
            None
        } else if failing {
            Some(format!("{failures} of {requests} requests failed"))
        } else if achieved < KEPT_UP * stage.rps {
            Some(format!(
                "{achieved:.1} answers/s completed of {:.1} offered",
                stage.rps
            ))
        } else if i > 0 && latency.p50 > QUEUED * base {
            Some(format!(
                "median latency {:.0} ms, over {QUEUED}× the first stage's {base:.0} ms",
                latency.p50
            ))
        } else {
            None
        };
        reports.push(LoadStageReport {
            offered_rps: stage.rps,
            offset_s: start,
            duration_s: stage.seconds,
            requests,
            failures,
            achieved_rps: achieved,
            latency_ms: latency,
            ttft_ms,
            goodput: slo
                .filter(|_| requests > 0)
                .map(|slo| mine.iter().filter(|s| meets(s, slo)).count() as f64 / requests as f64),
            saturated,
        });
        start = end;
    }
    let first = reports.iter().position(|r| r.saturated.is_some());
    let saturation = Saturation {
        max_sustained_rps: match first {
            Some(0) => None,
            Some(i) => Some(reports[i - 1].offered_rps),
            None => reports.last().map(|r| r.offered_rps),
        },
        saturated_at_rps: first.map(|i| reports[i].offered_rps),
    };
    (reports, Some(saturation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    /// `n` requests a second for a second each from `start_s`, each taking `e2e_ms`.
    fn stage(stage: u32, start_s: f64, n: u32, e2e_ms: f64) -> Vec<Recorded> {
        (0..n)
            .map(|k| Recorded {
                at: Timestamp::UNIX_EPOCH,
                sample: loadgen::Sample {
                    due_ms: (start_s + f64::from(k) / f64::from(n)) * 1000.0,
                    lag_ms: 0.0,
                    e2e_ms,
                    ttft_ms: None,
                    itl_ms: vec![],
                    output_tokens: None,
                    status: Some(200),
                    ok: true,
                    error_kind: None,
                    error: None,
                    version: None,
                    pod: None,
                    request_bytes: 1,
                    stage: Some(stage),
                    variant: None,
                },
            })
            .collect()
    }

    fn planned(rates: &[f64]) -> Vec<PlannedStage> {
        rates
            .iter()
            .map(|r| PlannedStage {
                rps: *r,
                seconds: 1.0,
            })
            .collect()
    }

    #[test]
    fn the_knee_is_the_first_stage_whose_latency_doubles() {
        let mut samples = stage(0, 0.0, 10, 50.0);
        samples.extend(stage(1, 1.0, 20, 60.0));
        samples.extend(stage(2, 2.0, 40, 150.0));
        let (stages, saturation) = analyze(&samples, &planned(&[10.0, 20.0, 40.0]), None);
        assert_eq!(stages.len(), 3);
        assert_eq!(stages[1].requests, 20);
        assert!(stages[1].saturated.is_none(), "{:?}", stages[1]);
        assert!(
            stages[2]
                .saturated
                .as_deref()
                .is_some_and(|w| w.contains("median latency")),
            "{:?}",
            stages[2]
        );
        let s = saturation.expect("a staged load has a saturation verdict");
        assert_eq!(
            (s.max_sustained_rps, s.saturated_at_rps),
            (Some(20.0), Some(40.0))
        );
    }

    #[test]
    fn a_server_that_falls_behind_saturates_and_one_that_keeps_up_does_not() {
        // Stage 1's answers take 3 s: none completes within it.
        let mut samples = stage(0, 0.0, 10, 10.0);
        samples.extend(stage(1, 1.0, 20, 3000.0));
        let (stages, saturation) = analyze(&samples, &planned(&[10.0, 20.0]), None);
        assert!(
            stages[1]
                .saturated
                .as_deref()
                .is_some_and(|w| w.contains("completed"))
        );
        assert_eq!(saturation.and_then(|s| s.max_sustained_rps), Some(10.0));

        let kept = stage(0, 0.0, 10, 10.0);
        let (_, saturation) = analyze(&kept, &planned(&[10.0]), None);
        let s = saturation.expect("verdict");
        assert_eq!(
            (s.max_sustained_rps, s.saturated_at_rps),
            (Some(10.0), None)
        );
    }
}
