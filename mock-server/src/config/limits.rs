//! The allowed range of every numeric knob, checked the same way whether the
//! value came from a flag, an environment variable or `/admin/config`.
//!
//! One table, read through the configuration's JSON form, so a new knob
//! gets its range by adding one line here (a test fails until it does).

use serde_json::{Map, Value};

use super::ConfigError;

/// A whole-number knob: its JSON key, inclusive bounds and unit.
pub(super) struct IntLimit {
    pub key: &'static str,
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
}

const MINUTE_MS: u64 = 60_000;
const GIB: u64 = 1 << 30;

/// Every whole-number field of [`super::Config`] and what it may be.
pub(super) const INT_LIMITS: &[IntLimit] = &[
    lim(
        "model_load_ms",
        0,
        24 * 60 * MINUTE_MS,
        "milliseconds (at most 24 h)",
    ),
    lim(
        "ttft_ms",
        0,
        10 * MINUTE_MS,
        "milliseconds (at most 10 min)",
    ),
    lim(
        "ttft_jitter_ms",
        0,
        10 * MINUTE_MS,
        "milliseconds (at most 10 min)",
    ),
    lim(
        "inter_token_ms",
        0,
        MINUTE_MS,
        "milliseconds (at most 1 min)",
    ),
    lim(
        "inter_token_jitter_ms",
        0,
        MINUTE_MS,
        "milliseconds (at most 1 min)",
    ),
    lim(
        "prefill_us_per_token",
        0,
        1_000_000,
        "microseconds (at most 1 s)",
    ),
    lim("max_num_seqs", 1, 65_536, "requests"),
    lim("max_waiting", 0, 1_000_000, "requests (0 = unbounded)"),
    lim("default_output_tokens", 1, 10_000_000, "tokens"),
    lim("max_model_len", 1, 10_000_000, "tokens"),
    lim("kv_cache_tokens", 1, 1 << 40, "tokens"),
    lim(
        "cpu_us_per_token",
        0,
        1_000_000,
        "microseconds (at most 1 s)",
    ),
    lim(
        "memory_per_request_bytes",
        0,
        64 * GIB,
        "bytes (at most 64 GiB)",
    ),
    lim("max_body_bytes", 1, GIB, "bytes (at most 1 GiB)"),
    lim("max_loras", 1, 1024, "adapters"),
    lim("embedding_dim", 1, 65_536, "values"),
    lim("max_embedding_inputs", 1, 65_536, "inputs"),
    lim(
        "shutdown_grace_ms",
        0,
        60 * MINUTE_MS,
        "milliseconds (at most 1 h)",
    ),
];

/// A fractional knob: its JSON key and inclusive bounds.
pub(super) const FLOAT_LIMITS: &[(&str, f64, f64)] = &[
    ("failure_rate", 0.0, 1.0),
    ("memory_per_payload_byte", 0.0, 1024.0),
    ("time_factor_under_load", 1.0, 100.0),
];

/// Text knobs and their longest length.
pub(super) const TEXT_LIMITS: &[(&str, usize)] = &[("version", 128)];

const fn lim(key: &'static str, min: u64, max: u64, unit: &'static str) -> IntLimit {
    IntLimit {
        key,
        min,
        max,
        unit,
    }
}

/// The allowed range of `key` in words, for messages about a value of the wrong type.
pub(super) fn describe(key: &str) -> Option<String> {
    if let Some(l) = INT_LIMITS.iter().find(|l| l.key == key) {
        return Some(format!(
            "a whole number in {}..={} {}",
            l.min, l.max, l.unit
        ));
    }
    if let Some((_, lo, hi)) = FLOAT_LIMITS.iter().find(|(k, ..)| *k == key) {
        return Some(format!("a number in {lo}..={hi}"));
    }
    if let Some((_, max)) = TEXT_LIMITS.iter().find(|(k, _)| *k == key) {
        return Some(format!("text of at most {max} visible ASCII characters"));
    }
    match key {
        "served_model_names" => Some("a list of 1 to 64 non-empty names".into()),
        "failure_types" => Some(format!(
            "a list of failure kinds ({})",
            super::FailureKind::ALL.map(|k| k.as_str()).join(", ")
        )),
        "force_unready" => Some("true or false".into()),
        _ => None,
    }
}

/// Checks every ranged field of a configuration's JSON form.
pub(super) fn check(map: &Map<String, Value>) -> Result<(), ConfigError> {
    for l in INT_LIMITS {
        let value = map.get(l.key);
        let ok = value
            .and_then(Value::as_u64)
            .is_some_and(|v| (l.min..=l.max).contains(&v));
        if !ok {
            return Err(ConfigError::OutOfRange {
                field: l.key,
                value: value.map(Value::to_string).unwrap_or_default(),
                allowed: format!("{}..={} {}", l.min, l.max, l.unit),
            });
        }
    }
    for (key, lo, hi) in FLOAT_LIMITS {
        let value = map.get(*key);
        let ok = value
            .and_then(Value::as_f64)
            .is_some_and(|v| v.is_finite() && (*lo..=*hi).contains(&v));
        if !ok {
            return Err(ConfigError::OutOfRange {
                field: key,
                value: value.map(Value::to_string).unwrap_or_default(),
                allowed: format!("{lo}..={hi}"),
            });
        }
    }
    for (key, max) in TEXT_LIMITS {
        let text = map.get(*key).and_then(Value::as_str).unwrap_or_default();
        // Sent as a response header: visible ASCII and spaces only.
        if text.trim().is_empty()
            || text.len() > *max
            || !text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        {
            return Err(ConfigError::OutOfRange {
                field: key,
                value: format!("{text:?}"),
                allowed: format!(
                    "1 to {max} visible ASCII characters (it is sent as a response header)"
                ),
            });
        }
    }
    Ok(())
}
