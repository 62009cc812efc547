//! Service-level objectives on a load: the per-request limits a load
//! counts goodput against (`slo:` on the `load`), and the gate on a
//! finished load (`expect: { slo: ... }`) with thresholds written as a
//! person would (`">= 0.95"`, `"< 800ms"`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::opt_duration;

/// Per-request limits: a request is *good* when it succeeded and met
/// every one given (vLLM's `--goodput ttft:.. tpot:.. e2el:..`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadSlo {
    /// Time to first token (streamed requests only).
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub ttft: Option<Duration>,
    /// Time per output token after the first.
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub tpot: Option<Duration>,
    /// Longest gap between two tokens of the request.
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub itl: Option<Duration>,
    /// End-to-end latency.
    #[serde(default, with = "opt_duration")]
    #[schemars(with = "Option<String>")]
    pub e2e: Option<Duration>,
}

impl LoadSlo {
    pub fn is_empty(&self) -> bool {
        self.ttft.is_none() && self.tpot.is_none() && self.itl.is_none() && self.e2e.is_none()
    }
}

/// How an observed value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Eq => "==",
        }
    }
}

/// `">= 0.95"`, `"< 800ms"`, `"> 4"`: a comparison and a number, which
/// may carry `ms` or `s` (held in milliseconds) or `%` (held as a share).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub comparison: Comparison,
    pub value: f64,
    /// Written with `ms` or `s`: the value is milliseconds.
    pub duration: bool,
}

impl Threshold {
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let t = text.trim();
        let (comparison, rest) = [
            ("<=", Comparison::Le),
            (">=", Comparison::Ge),
            ("==", Comparison::Eq),
            ("<", Comparison::Lt),
            (">", Comparison::Gt),
        ]
        .iter()
        .find_map(|(sym, c)| t.strip_prefix(sym).map(|r| (*c, r.trim())))
        .ok_or_else(|| {
            format!(
                "{text:?}: expected a comparison and a number, e.g. \">= 0.95\", \"< 800ms\", \"> 4\""
            )
        })?;
        // (number, multiplier, divisor, a duration)
        let (number, times, per, duration) = if let Some(n) = rest.strip_suffix("ms") {
            (n, 1.0, 1.0, true)
        } else if let Some(n) = rest.strip_suffix('s') {
            (n, 1000.0, 1.0, true)
        } else if let Some(n) = rest.strip_suffix('%') {
            (n, 1.0, 100.0, false)
        } else {
            (rest, 1.0, 1.0, false)
        };
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {number:?} is not a number (units: ms, s, %)"))?;
        if !value.is_finite() {
            return Err(format!("{text:?}: expected a finite number"));
        }
        Ok(Threshold {
            comparison,
            value: value * times / per,
            duration,
        })
    }

    pub fn holds(&self, observed: f64) -> bool {
        match self.comparison {
            Comparison::Lt => observed < self.value,
            Comparison::Le => observed <= self.value,
            Comparison::Gt => observed > self.value,
            Comparison::Ge => observed >= self.value,
            Comparison::Eq => (observed - self.value).abs() < f64::EPSILON,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.duration {
            write!(f, "{} {}ms", self.comparison.symbol(), self.value)
        } else {
            write!(f, "{} {}", self.comparison.symbol(), self.value)
        }
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Threshold, D::Error> {
        let text = String::deserialize(d)?;
        Threshold::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Threshold {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Threshold".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A comparison and a number: \">= 0.95\", \"< 800ms\", \"> 4\"",
            "pattern": "^\\s*(<=|>=|==|<|>)\\s*-?[0-9.]+\\s*(ms|s|%)?\\s*$"
        })
    }
}

/// The figures of a finished load a gate may bound, besides `goodput`:
/// `ttftP99`, `itlP95`, `tpotP50`, `e2eP90`, ... and the rates.
pub const LATENCIES: [&str; 4] = ["ttft", "itl", "tpot", "e2e"];
pub const PERCENTILES: [&str; 4] = ["P50", "P90", "P95", "P99"];
pub const RATES: [&str; 4] = [
    "throughputRps",
    "outputTokensPerS",
    "errorRate",
    "maxSustainedRps",
];

/// Whether `name` is a figure a gate may bound (see [`LATENCIES`]).
pub fn known_figure(name: &str) -> bool {
    RATES.contains(&name)
        || LATENCIES.iter().any(|l| {
            name.strip_prefix(l)
                .is_some_and(|p| PERCENTILES.contains(&p))
        })
}

/// `expect: { slo: { load: chat, goodput: ">= 0.95", ttftP99: "< 800ms" } }`:
/// met when every bound holds on the finished load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpectSlo {
    #[serde(default = "super::actions::default_load_name")]
    pub load: String,
    /// Share of requests that met the load's `slo` (0..1; `95%` works too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<Threshold>,
    /// Not met when the load sent fewer requests than this.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// `ttftP99`, `itlP95`, `tpotP50`, `e2eP90`, `throughputRps`,
    /// `outputTokensPerS`, `errorRate`, `maxSustainedRps` (a staged load's
    /// highest rate before it saturated the server), each with a threshold.
    #[serde(flatten)]
    pub bounds: BTreeMap<String, Threshold>,
}

/// `expect: { metric: { name: vllm:num_requests_waiting, max: "> 4" } }`:
/// a server metric scraped from the serving pods while loads ran (summed
/// over the pods), its highest, lowest or last value against a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectMetric {
    /// The metric's name as the server exposes it.
    pub name: String,
    /// Wait for this load to end first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Threshold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Threshold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Threshold>,
}

impl ExpectMetric {
    pub fn validate(&self) -> Result<(), String> {
        if self.max.is_none() && self.min.is_none() && self.last.is_none() {
            return Err(
                "metric: give max, min or last with a threshold, e.g. `max: \"> 4\"`".into(),
            );
        }
        Ok(())
    }
}

fn default_min_requests() -> u64 {
    super::actions::DEFAULT_MIN_REQUESTS
}

impl ExpectSlo {
    /// Unknown figures, said with the names that exist.
    pub fn validate(&self) -> Result<(), String> {
        if self.goodput.is_none() && self.bounds.is_empty() {
            return Err(
                "slo: give goodput or a bound, e.g. `goodput: \">= 0.95\"`, `ttftP99: \"< 800ms\"`"
                    .into(),
            );
        }
        for name in self.bounds.keys() {
            if !known_figure(name) {
                return Err(format!(
                    "slo: unknown figure {name:?}; expected goodput, one of {} followed by one of {} (e.g. ttftP99), or one of {}",
                    LATENCIES.join(", "),
                    PERCENTILES.join(", "),
                    RATES.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_like_a_person_writes_them() {
        let t = Threshold::parse(">= 0.95").expect("parses");
        assert!(t.holds(0.95) && !t.holds(0.94));
        let t = Threshold::parse("< 800ms").expect("parses");
        assert!(t.holds(799.0) && !t.holds(800.0));
        assert_eq!(Threshold::parse("<1.5s").expect("parses").value, 1500.0);
        assert_eq!(Threshold::parse(">= 95%").expect("parses").value, 0.95);
        assert!(Threshold::parse("0.95").unwrap_err().contains("comparison"));
        assert!(
            Threshold::parse("> fast")
                .unwrap_err()
                .contains("not a number")
        );
        assert_eq!(
            Threshold::parse("< 800ms").expect("p").to_string(),
            "< 800ms"
        );
    }

    #[test]
    fn a_gate_names_known_figures_only() {
        let ok: ExpectSlo = yaml_serde::from_str(
            "{ load: chat, goodput: \">= 0.9\", ttftP99: \"< 800ms\", throughputRps: \"> 2\" }",
        )
        .expect("parses");
        assert_eq!(ok.bounds.len(), 2);
        ok.validate().expect("valid");
        let bad: ExpectSlo =
            yaml_serde::from_str("{ load: chat, ttftP98: \"< 1s\" }").expect("parses");
        assert!(bad.validate().unwrap_err().contains("ttftP98"));
    }
}
