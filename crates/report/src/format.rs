//! Numbers, times and durations as every renderer prints them.

use jiff::Timestamp;

use super::Block;

/// Seconds from `from` to `to`, never negative.
pub fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64().max(0.0)
}

/// `850 ms`, `12.3 s`, `1m 02s`, `1h 04m`.
pub fn duration(secs: f64) -> String {
    if secs < 1.0 {
        return format!("{:.0} ms", secs * 1000.0);
    }
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let whole = secs.round() as u64;
    if whole < 3600 {
        return format!("{}m {:02}s", whole / 60, whole % 60);
    }
    format!("{}h {:02}m", whole / 3600, (whole % 3600) / 60)
}

/// An offset on a time axis: `0s`, `45s`, `2m`, `1m30s`.
pub fn offset(secs: f64) -> String {
    let whole = secs.round() as i64;
    let (m, s) = (whole / 60, whole % 60);
    match (m, s) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s:02}s"),
    }
}

/// A latency: `84 ms`, `7.5 ms`, `1.21 s`.
pub fn millis(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// A 0..1 rate as a percentage: `0.08%`, `19.82%`.
pub fn percent(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

/// `count` out of `total` as a percentage, `-` when `total` is 0.
pub fn share(count: u64, total: u64) -> String {
    if total == 0 {
        return "-".to_string();
    }
    format!("{:.1}%", count as f64 * 100.0 / total as f64)
}

/// GPU memory: `40,812 MiB`, `-` when none was read.
pub fn mib(value: Option<f64>) -> String {
    let Some(v) = value else {
        return "-".to_string();
    };
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} MiB")
}

/// A mean and a peak percentage: `42% / 75%`, `-` when none was read.
pub fn mean_peak_pct(value: Option<(f64, f64)>) -> String {
    value.map_or_else(
        || "-".to_string(),
        |(mean, peak)| format!("{mean:.0}% / {peak:.0}%"),
    )
}

/// Requests per second: `93.05`.
pub fn rate(rps: f64) -> String {
    format!("{rps:.2}")
}

/// `2026-11-23 16:30:00 UTC`.
pub fn utc(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `16:30:05.4` (UTC, tenths of a second).
pub fn clock(at: Timestamp) -> String {
    let tenths = at.subsec_millisecond() / 100;
    format!("{}.{tenths}", at.strftime("%H:%M:%S"))
}

/// Which block of a step an operation ran in, in words.
pub fn block_label(block: Block) -> &'static str {
    match block {
        Block::Try => "try",
        Block::Catch => "catch",
        Block::Finally => "finally",
        Block::DefaultCatch => "evidence collection",
        Block::Cleanup => "cleanup",
    }
}

/// The first line of a (possibly multi-line) message.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_offsets() {
        assert_eq!(duration(0.85), "850 ms");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(62.0), "1m 02s");
        assert_eq!(duration(3840.0), "1h 04m");
        assert_eq!(offset(0.0), "0s");
        assert_eq!(offset(120.0), "2m");
        assert_eq!(offset(90.0), "1m30s");
    }

    #[test]
    fn numbers() {
        assert_eq!(millis(84.2), "84 ms");
        assert_eq!(millis(7.46), "7.5 ms");
        assert_eq!(millis(1210.0), "1.21 s");
        assert_eq!(percent(0.000806), "0.08%");
        assert_eq!(share(1, 3), "33.3%");
        assert_eq!(share(1, 0), "-");
        assert_eq!(mib(Some(81559.4)), "81,559 MiB");
        assert_eq!(mib(Some(512.0)), "512 MiB");
        assert_eq!(mib(Some(1_000_000.0)), "1,000,000 MiB");
        assert_eq!(mib(None), "-");
        assert_eq!(mean_peak_pct(Some((41.6, 75.0))), "42% / 75%");
        assert_eq!(mean_peak_pct(None), "-");
    }

    #[test]
    fn times() {
        let at: Timestamp = "2026-11-23T16:30:05.42Z".parse().expect("timestamp");
        assert_eq!(utc(at), "2026-11-23 16:30:05 UTC");
        assert_eq!(clock(at), "16:30:05.4");
    }
}
