//! Numbers a scenario writes that the types alone would accept but that
//! make no sense or would overflow further on: ports, user counts, sizes,
//! Kubernetes quantities (`512Mi`). Each problem names the key it is
//! about, so that lint can point at its line, and says what to write.

use serde_json::Value;

use crate::model::Action;

/// Most users one load may start.
pub const MAX_USERS: u32 = 10_000;
/// Largest request body a load may send (`promptBytes`): 64 MiB.
pub const MAX_PROMPT_BYTES: u64 = 64 << 20;

/// One problem: the YAML key it is about, and what is wrong.
pub type Limit = (&'static str, String);

/// Checks an operation's numbers; placeholders (`{{ port }}`) are checked
/// once rendered (`scenarios lint --profile`, or the runner).
pub fn check(a: &Action) -> Vec<Limit> {
    let mut out = Vec::new();
    match a {
        Action::Load(x) => {
            if x.users == 0 && !x.open_loop() {
                out.push((
                    "users",
                    "users must be at least 1 (and at most 10000); or give rate, requests per second, for an open loop".into(),
                ));
            } else if x.users > MAX_USERS {
                out.push((
                    "users",
                    format!("users is {}; at most {MAX_USERS} users per load", x.users),
                ));
            }
            if let Some(r) = x.ramp
                && !(r.is_finite() && r > 0.0)
            {
                out.push((
                    "ramp",
                    format!("ramp is {r}; expected users started per second, a number above 0"),
                ));
            }
            if let Some(r) = x.rate
                && !(r.is_finite() && r > 0.0)
            {
                out.push((
                    "rate",
                    format!("rate is {r}; expected requests per second, a number above 0"),
                ));
            }
            if x.requests == Some(0) {
                out.push((
                    "requests",
                    "requests is 0; expected at least 1 (or leave it out and give a duration)"
                        .into(),
                ));
            }
            if let Some(b) = x.prompt_bytes
                && b > MAX_PROMPT_BYTES
            {
                out.push((
                    "promptBytes",
                    format!("promptBytes is {b}; at most {MAX_PROMPT_BYTES} (64 MiB) per request"),
                ));
            }
            if !x.target.contains("{{")
                && let Err(m) = service_target(&x.target)
            {
                out.push(("target", m));
            }
        }
        Action::Inject(x) => {
            if let Some(p) = x.params.get("port").filter(|v| !placeholder(v))
                && let Err(m) = port(p)
            {
                out.push(("port", format!("params.port: {m}")));
            }
            if let Some(b) = x.params.get("bytes").filter(|v| !placeholder(v))
                && let Err(m) = bytes(b)
            {
                out.push(("bytes", format!("params.bytes: {m}")));
            }
        }
        Action::Rollout(x) => {
            for (path, value) in resource_quantities(x.resources.as_ref()) {
                if let Some(text) = value.as_str().filter(|t| !t.contains("{{"))
                    && let Err(m) = parse_quantity(text)
                {
                    out.push(("resources", format!("resources.{path}: {m}")));
                }
            }
        }
        Action::Expect(x) => {
            if let Some(f) = &x.failed_requests
                && let Some(s) = f.status
                && !(100..=599).contains(&s)
            {
                out.push((
                    "status",
                    format!("failedRequests.status is {s}; expected an HTTP status, 100 to 599"),
                ));
            }
        }
        _ => {}
    }
    out
}

/// A `{{ binding }}` in a string: its value is known once bindings are
/// rendered, and checked then (by the operation).
fn placeholder(v: &Value) -> bool {
    v.as_str().is_some_and(|t| t.contains("{{"))
}

/// `service/NAME:PORT` with a port in 1..=65535.
pub fn service_target(text: &str) -> Result<u16, String> {
    let expected =
        || format!("target {text:?}: expected service/NAME:PORT, e.g. service/mock-server:8000");
    let rest = text
        .strip_prefix("service/")
        .or_else(|| text.strip_prefix("svc/"))
        .ok_or_else(expected)?;
    let (name, p) = rest.rsplit_once(':').ok_or_else(expected)?;
    if name.is_empty() {
        return Err(expected());
    }
    port_text(p).map_err(|m| format!("target {text:?}: {m}"))
}

/// A port as YAML gives it: a number or a numeric string, 1..=65535.
pub fn port(v: &Value) -> Result<u16, String> {
    match v {
        Value::Number(n) => port_text(&n.to_string()),
        Value::String(s) => port_text(s),
        other => Err(format!(
            "{other} is not a port; expected a number from 1 to 65535"
        )),
    }
}

fn port_text(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u64>() {
        Ok(p) if (1..=65_535).contains(&p) => Ok(p as u16),
        Ok(p) => Err(format!("port {p} is out of range; expected 1 to 65535")),
        Err(_) => Err(format!(
            "{text:?} is not a port; expected a number from 1 to 65535"
        )),
    }
}

/// A size in bytes: a whole number, or a quantity such as `512Mi`.
pub fn bytes(v: &Value) -> Result<u64, String> {
    let n = match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a size"))?,
        Value::String(s) => parse_quantity(s)?,
        other => {
            return Err(format!(
                "{other} is not a size; expected bytes, e.g. 536870912 or 512Mi"
            ));
        }
    };
    if !(0.0..=(1u64 << 50) as f64).contains(&n) || n.fract() != 0.0 {
        return Err(format!(
            "{v} is not a whole number of bytes from 0 to 1Pi; e.g. 512Mi"
        ));
    }
    Ok(n as u64)
}

/// The value of a Kubernetes quantity (`512Mi`, `1.5G`, `250m`, `1e3`).
pub fn parse_quantity(text: &str) -> Result<f64, String> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let t = text.trim();
    let bad = |why: String| {
        format!(
            "{text:?} is not a Kubernetes quantity: {why}; write a number with an optional suffix (Ki, Mi, Gi, Ti, Pi, Ei, or m, k, M, G, T, P, E), e.g. 512Mi or 250m"
        )
    };
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits_end);
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| bad(format!("{number:?} is not a number")))?;
    if value < 0.0 {
        return Err(bad("it is negative".into()));
    }
    let scale = match suffix {
        "" => 1.0,
        "P" => 1e15,
        "E" => 1e18,
        s if s.starts_with(['e', 'E']) && s.len() > 1 => {
            let exp: i32 = s[1..]
                .parse()
                .ok()
                .filter(|e: &i32| e.abs() <= 18)
                .ok_or_else(|| bad(format!("exponent {s:?} is not in e-18..e18")))?;
            10f64.powi(exp)
        }
        s => SUFFIXES
            .iter()
            .find(|(k, _)| *k == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| bad(format!("unknown suffix {s:?}")))?,
    };
    Ok(value * scale)
}

/// `limits.memory`, `requests.cpu`, ... of a `resources:` value.
fn resource_quantities(resources: Option<&Value>) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    let Some(Value::Object(map)) = resources else {
        return out;
    };
    for (group, inner) in map {
        if let Value::Object(inner) = inner {
            for (name, v) in inner {
                out.push((format!("{group}.{name}"), v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("512Mi"), Ok(512.0 * 1_048_576.0));
        assert_eq!(parse_quantity("250m"), Ok(0.25));
        assert_eq!(parse_quantity("1e3"), Ok(1000.0));
        assert_eq!(parse_quantity("2"), Ok(2.0));
        let e = parse_quantity("1Zi").unwrap_err();
        assert!(
            e.contains("unknown suffix \"Zi\"") && e.contains("512Mi"),
            "{e}"
        );
        assert!(parse_quantity("-1Gi").unwrap_err().contains("negative"));
        assert!(parse_quantity("Mi").unwrap_err().contains("not a number"));
        assert!(parse_quantity("1e999").is_err());
    }

    #[test]
    fn ports_and_targets() {
        assert_eq!(port(&json!(8000)), Ok(8000));
        assert_eq!(port(&json!("8000")), Ok(8000));
        assert!(port(&json!(70000)).unwrap_err().contains("1 to 65535"));
        assert!(port(&json!(0)).is_err());
        assert!(port(&json!(-1)).is_err());
        assert!(service_target("service/m:8000").is_ok());
        let e = service_target("service/m:70000").unwrap_err();
        assert!(e.contains("port 70000 is out of range"), "{e}");
        assert!(
            service_target("m:8000")
                .unwrap_err()
                .contains("service/NAME:PORT")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(&json!(1024)), Ok(1024));
        assert_eq!(bytes(&json!("1Ki")), Ok(1024));
        assert!(bytes(&json!("1Zi")).is_err());
        assert!(bytes(&json!(1e30)).is_err());
        assert!(bytes(&json!(true)).is_err());
        // A binding is checked once rendered, by the operation.
        assert!(placeholder(&json!("{{ ballastBytes }}")));
        assert!(!placeholder(&json!("1Ki")));
        assert!(!placeholder(&json!(1024)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_quantity_text_parses_or_is_refused(text in "[+-]?[0-9.]{0,25}(e[+-]?[0-9]{0,4}|Ki|Mi|Zi|m|k|E|)") {
            if let Ok(v) = parse_quantity(&text) {
                prop_assert!(v.is_finite() && v >= 0.0);
            }
        }

        #[test]
        fn any_port_number_is_in_range_or_refused(n in any::<i64>()) {
            match port(&json!(n)) {
                Ok(p) => prop_assert_eq!(i64::from(p), n),
                Err(e) => prop_assert!(!(1..=65_535).contains(&n), "{}", e),
            }
        }
    }
}
