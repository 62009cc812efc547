//! The Prometheus text exposition format, read one sample line at a time:
//! what the server-metrics scraper (vLLM's `/metrics`) and the GPU scraper
//! (dcgm-exporter's) both read.

/// A sample's labels, in the order written.
pub type Labels = Vec<(String, String)>;

/// A sample line's name, labels and value; `None` for comments and lines
/// that are not samples.
pub fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = inner.trim_start_matches([',', ' ']);
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after_key) = inner.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after_key.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i + 1,
                    other => value.push(other),
                }
            };
            labels.push((key.trim().to_string(), value));
            inner = &after_key[end..];
        }
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some((name, labels, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_labels_and_values_are_read() {
        let (name, labels, value) =
            sample(r#"DCGM_FI_DEV_FB_USED{gpu="0",pod="a b",msg="x\"y\\z"} 40960 1700000000"#)
                .expect("a sample");
        assert_eq!(name, "DCGM_FI_DEV_FB_USED");
        assert_eq!(
            labels,
            vec![
                ("gpu".to_string(), "0".to_string()),
                ("pod".to_string(), "a b".to_string()),
                ("msg".to_string(), "x\"y\\z".to_string()),
            ]
        );
        assert_eq!(value, 40960.0);
        assert_eq!(
            sample("vllm:num_requests_waiting 3"),
            Some(("vllm:num_requests_waiting", Vec::new(), 3.0))
        );
    }

    #[test]
    fn comments_and_broken_lines_are_not_samples() {
        for line in [
            "",
            "# HELP x y",
            "# TYPE x gauge",
            "x{a=\"1\" 2",
            "x NaNish",
        ] {
            assert_eq!(sample(line), None, "{line}");
        }
    }
}
