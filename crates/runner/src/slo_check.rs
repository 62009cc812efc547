//! `expect: { slo: { load, goodput: ">= 0.95", ttftP99: "< 800ms" } }`:
//! a finished load's goodput (the share of requests that met the load's
//! per-request `slo`) and its latency percentiles and rates, each against
//! its threshold. Observes every figure it bounds, so a twin matches on
//! the value, and says which bounds were missed.

use serde_json::{Map, Value, json};

use report::{CheckKind, LoadReport, Percentiles};
use scenario::model::{ExpectSlo, Threshold};

use crate::load_checks::{enough, observed};
use crate::outcome::{Check, OpOutcome};

/// The value of a figure a gate may bound (`ttftP99`, `throughputRps`),
/// None when the load has none (no streamed answer has a TTFT).
pub fn figure(r: &LoadReport, name: &str) -> Option<f64> {
    match name {
        "throughputRps" => return Some(r.throughput_rps),
        "outputTokensPerS" => return Some(r.output_tokens_per_s),
        "errorRate" => return Some(r.error_rate),
        "maxSustainedRps" => return r.saturation.as_ref()?.max_sustained_rps,
        _ => {}
    }
    let split = name.find('P')?;
    let (latency, percentile) = name.split_at(split);
    let p: &Percentiles = match latency {
        "ttft" => r.ttft_ms.as_ref()?,
        "itl" => r.itl_ms.as_ref()?,
        "tpot" => r.tpot_ms.as_ref()?,
        "e2e" => &r.latency_ms,
        _ => return None,
    };
    match percentile {
        "P50" => Some(p.p50),
        "P90" => Some(p.p90),
        "P95" => Some(p.p95),
        "P99" => Some(p.p99),
        _ => None,
    }
}

fn shown(name: &str, value: f64, t: &Threshold) -> String {
    if t.duration {
        format!("{name} {value:.1} ms")
    } else if name == "goodput" || name == "errorRate" {
        format!("{name} {:.1}%", value * 100.0)
    } else {
        format!("{name} {value:.2}")
    }
}

pub fn slo(r: &LoadReport, x: &ExpectSlo) -> OpOutcome {
    let mut wanted: Vec<String> = Vec::new();
    if let Some(g) = &x.goodput {
        wanted.push(format!("goodput {g}"));
    }
    wanted.extend(x.bounds.iter().map(|(n, t)| format!("{n} {t}")));
    let check = Check::new(
        CheckKind::Slo,
        format!(
            "load {}: {}, of at least {} sent",
            r.name,
            wanted.join(", "),
            x.min_requests
        ),
    );
    if let Some(o) = enough(&check, r, x.min_requests) {
        return o;
    }
    let mut values = Map::new();
    let mut missed = Vec::new();
    let mut met = Vec::new();
    let mut absent = Vec::new();
    let goodput = x.goodput.as_ref().map(|t| {
        (
            "goodput".to_string(),
            r.goodput.as_ref().map(|g| g.ratio),
            t,
        )
    });
    let bounds = x.bounds.iter().map(|(n, t)| (n.clone(), figure(r, n), t));
    for (name, value, t) in goodput.into_iter().chain(bounds) {
        match value {
            Some(v) => {
                values.insert(name.clone(), json!(v));
                let words = shown(&name, v, t);
                if t.holds(v) {
                    met.push(words);
                } else {
                    missed.push(format!("{words} (wanted {t})"));
                }
            }
            None => {
                values.insert(name.clone(), Value::Null);
                absent.push(if name == "goodput" {
                    "goodput: the load has no `slo` to count it against (give the load `slo: { ttft: 500ms, ... }`)".to_string()
                } else if name == "maxSustainedRps" {
                    match r.saturation.as_ref().and_then(|s| s.saturated_at_rps) {
                        Some(at) => format!("maxSustainedRps: none, the server saturated at the first stage ({at}/s)"),
                        None => "maxSustainedRps: the load has no stages (give it `sweep:` or `stages:`)".to_string(),
                    }
                } else {
                    format!("{name}: the load has no such figure (TTFT, ITL and TPOT need a streamed request: chat-stream or completions-stream)")
                });
            }
        }
    }
    let mut o = observed(r);
    if let Value::Object(obs) = &mut o.value {
        obs.extend(values);
    }
    let mut parts = missed.clone();
    parts.extend(absent.iter().cloned());
    parts.extend(met);
    o.text = format!(
        "load {} ({} requests, {}): {}",
        r.name,
        r.requests,
        r.path.name(),
        parts.join(", ")
    );
    check.judge(missed.is_empty() && absent.is_empty(), o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::{Goodput, LoadPath, RequestSlo};

    fn report() -> LoadReport {
        let p = |v: f64| Percentiles {
            p50: v / 2.0,
            p90: v * 0.9,
            p95: v * 0.95,
            p99: v,
            max: v,
            mean: v / 2.0,
        };
        let mut r: LoadReport = serde_json::from_value(json!({
            "name": "chat", "target": "service/llm:8000", "request": "chat-stream",
            "users": 0, "started": "2026-12-04T00:00:00Z", "finished": "2026-12-04T00:00:20Z",
            "requests": 100, "failures": 0, "throughputRps": 5.0, "errorRate": 0.0,
            "latencyMs": {"p50": 100.0, "p95": 180.0, "p99": 200.0, "max": 210.0, "mean": 110.0},
            "buckets": [],
        }))
        .expect("a load report");
        r.ttft_ms = Some(p(600.0));
        r.path = LoadPath::InCluster;
        r.goodput = Some(Goodput {
            slo: RequestSlo::default(),
            good: 90,
            ratio: 0.9,
            rps: 4.5,
        });
        r
    }

    fn gate(yaml: &str) -> ExpectSlo {
        yaml_serde::from_str(yaml).expect("an slo gate")
    }

    fn met(o: &OpOutcome) -> bool {
        matches!(o, OpOutcome::Passed { .. })
    }

    fn observed(o: OpOutcome) -> crate::outcome::Observed {
        match o {
            OpOutcome::NotMet { observed, .. } => observed,
            OpOutcome::Passed { .. } => panic!("expected not met"),
        }
    }

    #[test]
    fn met_when_every_bound_holds_on_the_observed_values() {
        let o = slo(
            &report(),
            &gate("{ load: chat, goodput: \">= 0.9\", ttftP99: \"< 800ms\" }"),
        );
        assert!(met(&o), "{o:?}");
    }

    #[test]
    fn a_missed_bound_is_named_with_its_value() {
        let o = slo(
            &report(),
            &gate("{ load: chat, goodput: \">= 0.95\", ttftP99: \"< 500ms\" }"),
        );
        assert!(!met(&o));
        let obs = observed(o);
        assert_eq!(obs.value["goodput"], json!(0.9));
        assert_eq!(obs.value["ttftP99"], json!(600.0));
        assert!(
            obs.text.contains("goodput 90.0% (wanted >= 0.95)"),
            "{}",
            obs.text
        );
        assert!(
            obs.text.contains("ttftP99 600.0 ms (wanted < 500ms)"),
            "{}",
            obs.text
        );
    }

    #[test]
    fn a_figure_the_load_lacks_is_not_met() {
        let mut r = report();
        r.itl_ms = None;
        r.goodput = None;
        let o = slo(
            &r,
            &gate("{ load: chat, goodput: \">= 0.5\", itlP95: \"< 50ms\" }"),
        );
        assert!(!met(&o));
        let text = observed(o).text;
        assert!(
            text.contains("no `slo`") && text.contains("itlP95"),
            "{text}"
        );
    }
}
