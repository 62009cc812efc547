//! `expect: { metric: { name, max: "> 4" } }`: a server metric scraped
//! from the serving pods while loads ran (summed over the pods), judged on
//! its highest, lowest or last value. The dcgm-exporter's
//! `DCGM_FI_DEV_GPU_UTIL` and `DCGM_FI_DEV_FB_USED` are there too, summed
//! over the namespace's pods that hold GPUs ([`crate::gpu_metrics`]). A
//! name no scrape saw is not met, with the names that were seen, so a
//! misspelled metric (`vllm_num_requests_waiting`) is caught rather than
//! read as zero.

use serde_json::json;

use report::{CheckKind, SeriesPoint};
use scenario::model::ExpectMetric;

use crate::outcome::{Check, Observed, OpOutcome};

/// Seen names that look like the asked one (same words, other separators).
fn alike<'a>(asked: &str, seen: &'a [String]) -> Vec<&'a str> {
    let key = |s: &str| s.replace([':', '_', '.'], "").to_lowercase();
    let asked = key(asked);
    seen.iter()
        .map(String::as_str)
        .filter(|s| key(s) == asked)
        .collect()
}

pub fn metric(x: &ExpectMetric, points: &[SeriesPoint], seen: &[String]) -> OpOutcome {
    let mut wanted = Vec::new();
    for (what, t) in [("max", &x.max), ("min", &x.min), ("last", &x.last)] {
        if let Some(t) = t {
            wanted.push(format!("{what} {t}"));
        }
    }
    let check = Check::new(
        CheckKind::Metric,
        format!(
            "{} (summed over the serving pods): {}",
            x.name,
            wanted.join(", ")
        ),
    );
    if points.is_empty() {
        let close = alike(&x.name, seen);
        let hint = if !close.is_empty() {
            format!("; the server exposes {} instead", close.join(", "))
        } else if seen.is_empty() {
            "; no scrape of the serving pods answered (a load scrapes them while it runs)"
                .to_string()
        } else {
            format!(
                "; the scrapes saw {} metrics, e.g. {}",
                seen.len(),
                seen.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            )
        };
        return check.not_met(Observed::new(
            format!("no series named {} was scraped{hint}", x.name),
            json!({ "name": x.name, "scraped": false, "alike": close }),
        ));
    }
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    let last = values[values.len() - 1];
    let mut met = true;
    let mut parts = Vec::new();
    for (what, t, v) in [
        ("max", &x.max, max),
        ("min", &x.min, min),
        ("last", &x.last, last),
    ] {
        if let Some(t) = t {
            let holds = t.holds(v);
            met &= holds;
            parts.push(if holds {
                format!("{what} {v}")
            } else {
                format!("{what} {v} (wanted {t})")
            });
        }
    }
    check.judge(
        met,
        Observed::new(
            format!(
                "{} over {} scrapes: {}",
                x.name,
                points.len(),
                parts.join(", ")
            ),
            json!({ "name": x.name, "scraped": true, "scrapes": points.len(), "max": max, "min": min, "last": last }),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn points(values: &[f64]) -> Vec<SeriesPoint> {
        values
            .iter()
            .map(|v| SeriesPoint {
                at: Timestamp::UNIX_EPOCH,
                value: *v,
            })
            .collect()
    }

    fn gate(yaml: &str) -> ExpectMetric {
        yaml_serde::from_str(yaml).expect("a metric gate")
    }

    fn observed(o: OpOutcome) -> Option<Observed> {
        match o {
            OpOutcome::NotMet { observed, .. } => Some(observed),
            OpOutcome::Passed { .. } => None,
        }
    }

    #[test]
    fn judged_on_the_highest_value_seen() {
        let g = gate("{ name: vllm:num_requests_waiting, max: \"> 4\" }");
        assert!(observed(metric(&g, &points(&[0.0, 7.0, 2.0]), &[])).is_none());
        let o = observed(metric(&g, &points(&[0.0, 3.0, 1.0]), &[])).expect("not met");
        assert_eq!(o.value["max"], json!(3.0));
        assert!(o.text.contains("max 3 (wanted > 4)"), "{}", o.text);
    }

    #[test]
    fn a_misspelled_name_is_caught_with_the_one_the_server_exposes() {
        let g = gate("{ name: vllm_num_requests_waiting, max: \"> 4\" }");
        let seen = vec![
            "vllm:num_requests_waiting".to_string(),
            "vllm:num_requests_running".into(),
        ];
        let o = observed(metric(&g, &[], &seen)).expect("not met");
        assert_eq!(o.value["scraped"], json!(false));
        assert!(
            o.text.contains("exposes vllm:num_requests_waiting instead"),
            "{}",
            o.text
        );
    }
}
