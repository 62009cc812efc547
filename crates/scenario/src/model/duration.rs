//! Durations as scenarios write them (`500ms`, `30s`, `2m`, `1h`,
//! `1m30s`): parsing, formatting, and the serde adapters the model's
//! fields use.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The longest duration a scenario may write (7 days): longer ones are
/// typos, and would overflow the runner's deadlines.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses `500ms`, `30s`, `2m`, `1h`, or combinations such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration: expected a number, e.g. 30s, 2m, 500ms, 1m30s"
            ));
        }
        let too_long = || {
            format!(
                "{text:?} is longer than 168h (7 days), the longest duration a scenario may use"
            )
        };
        let n: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            "" => return Err(format!("{text:?} needs a unit (ms, s, m, h), e.g. {n}s")),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?}; use ms, s, m or h"
                ));
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .filter(|t| *t <= MAX_DURATION)
            .ok_or_else(too_long)?;
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(60_000) || ms == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}m", ms / 60_000)
    }
}

/// Serde for a required duration (`with = "required_duration"`).
pub(super) mod required_duration {
    use super::*;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for an optional duration (`with = "opt_duration"`).
pub(super) mod opt_duration {
    use super::*;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn huge_durations_are_refused_with_the_limit() {
        for text in [
            "99999999999999h",
            "18446744073709551616ms",
            "169h",
            "7d",
            "100000000000000000000s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                err.contains("168h (7 days)") || err.contains("unknown unit"),
                "{text}: {err}"
            );
        }
        assert_eq!(parse_duration("168h"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("167h60m"), Ok(MAX_DURATION));
        assert!(parse_duration("167h61m").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any text parses to a duration within the limit, or an error; never a panic.
        #[test]
        fn any_text_parses_or_is_refused(text in "[0-9]{0,22}(ms|s|m|h|d|)([0-9]{0,22}(ms|s|m|h)){0,3}") {
            if let Ok(d) = parse_duration(&text) {
                prop_assert!(d <= MAX_DURATION);
            }
        }

        /// What format_duration writes, parse_duration reads back.
        #[test]
        fn formatting_round_trips(ms in 0u64..=MAX_DURATION.as_millis() as u64) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
