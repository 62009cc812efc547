//! A small parser for the Prometheus text exposition format and OpenMetrics
//! text (what `/metrics` serves), so tests, benchmarks and scenarios can read
//! the metrics back as numbers. It reads samples only: comment lines (`# HELP`,
//! `# TYPE`, `# UNIT`, `# EOF`) are skipped, as are a sample's timestamp and
//! exemplar after its value.

use std::collections::BTreeMap;
use thiserror::Error;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A line that is not valid exposition text.
#[derive(Debug, Error, PartialEq)]
#[error("metrics line {line}: {message}: {text:?}")]
pub struct ParseError {
    pub line: usize,
    pub message: &'static str,
    pub text: String,
}

/// Parses every sample; comments (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`) and blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message| ParseError {
            line: i + 1,
            message,
            text: raw.to_string(),
        };
        let (name, rest) = match line.find(['{', ' ']) {
            Some(pos) => line.split_at(pos),
            None => return Err(err("expected a value after the metric name")),
        };
        let (labels, rest) = if let Some(body) = rest.strip_prefix('{') {
            let (labels, consumed) =
                parse_labels(body).ok_or_else(|| err("malformed label set"))?;
            (labels, &body[consumed..])
        } else {
            (BTreeMap::new(), rest)
        };
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| err("missing value"))?;
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| err("value is not a number"))?,
        };
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

/// Parses `a="b",c="d"}` and returns the labels and how many bytes were consumed (through `}`).
fn parse_labels(body: &str) -> Option<(BTreeMap<String, String>, usize)> {
    let mut labels = BTreeMap::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i] == b' ') {
            i += 1;
        }
        if *bytes.get(i)? == b'}' {
            return Some((labels, i + 1));
        }
        let eq = i + body[i..].find('=')?;
        let key = body[i..eq].trim().to_string();
        i = eq + 1;
        if *bytes.get(i)? != b'"' {
            return None;
        }
        i += 1;
        let mut value = String::new();
        loop {
            match *bytes.get(i)? {
                b'\\' => {
                    match *bytes.get(i + 1)? {
                        b'n' => value.push('\n'),
                        other => value.push(other as char),
                    }
                    i += 2;
                }
                b'"' => {
                    i += 1;
                    break;
                }
                _ => {
                    let ch = body[i..].chars().next()?;
                    value.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        labels.insert(key, value);
    }
}

/// The value of the first sample named `name` whose labels include all of `labels`.
pub fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_and_labels() {
        let text =
            "# TYPE x gauge\nx{a=\"1\",b=\"q\\\"uote\"} 2.5\ny 3\nz_bucket{le=\"+Inf\"} +Inf\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].labels["b"], "q\"uote");
        assert_eq!(find(&s, "x", &[("a", "1")]).map(|s| s.value), Some(2.5));
        assert_eq!(find(&s, "y", &[]).map(|s| s.value), Some(3.0));
    }

    #[test]
    fn parses_openmetrics() {
        let text = "# TYPE c counter\n# UNIT c seconds\nc_total{a=\"1\"} 2.5 # {trace_id=\"x\"} 1.0 123\nh_bucket{le=\"+Inf\",m=\"x\"} 4\n# EOF\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            find(&s, "c_total", &[("a", "1")]).map(|s| s.value),
            Some(2.5)
        );
        assert_eq!(
            find(&s, "h_bucket", &[("m", "x")]).map(|s| s.value),
            Some(4.0)
        );
    }

    #[test]
    fn reports_the_bad_line() {
        let e = parse("ok 1\nbroken{a=1} 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("x notanumber").unwrap_err();
        assert_eq!(e.message, "value is not a number");
    }
}
