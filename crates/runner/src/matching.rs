//! Partial-object matching for `assert`: every field the expected object
//! names must be present with the same value; maps may hold more keys;
//! each expected list element must match some element of the actual list
//! (order does not matter), so `status.conditions` can be asserted by the
//! one condition that matters.

use serde_json::Value;

/// `Ok(())` when `actual` contains `expected`; otherwise the first path
/// that differs and why.
pub fn contains(expected: &Value, actual: &Value) -> Result<(), String> {
    walk(expected, actual, "")
}

fn walk(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => walk(ev, av, &p)?,
                    None => return Err(format!("{} is missing", trim(&p))),
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, ev) in e.iter().enumerate() {
                if !a.iter().any(|av| walk(ev, av, "").is_ok()) {
                    return Err(format!(
                        "{}[{i}]: no element matches {}",
                        trim(path),
                        compact(ev)
                    ));
                }
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => Ok(()),
        // Quantities and numbers are often written either way ("2" vs 2).
        (Value::String(e), Value::Number(a)) | (Value::Number(a), Value::String(e))
            if e == &a.to_string() =>
        {
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!(
            "{} is {}, expected {}",
            trim(path),
            compact(a),
            compact(e)
        )),
    }
}

/// What `actual` holds where `expected` looks: its values at the keys
/// `expected` names (`null` where one is missing), every element of a list
/// cut to the keys the expected elements name. A check that is not met
/// records it, so a twin can say what the object held instead.
pub fn project(expected: &Value, actual: &Value) -> Value {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => Value::Object(
            e.iter()
                .map(|(k, ev)| {
                    let av = a.get(k).map_or(Value::Null, |av| project(ev, av));
                    (k.clone(), av)
                })
                .collect(),
        ),
        (Value::Array(e), Value::Array(a)) => {
            // One shape for the elements: the keys of every expected one.
            let mut shape = serde_json::Map::new();
            for ev in e {
                if let Value::Object(m) = ev {
                    for (k, v) in m {
                        shape.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            if shape.is_empty() {
                return actual.clone();
            }
            let shape = Value::Object(shape);
            Value::Array(a.iter().map(|av| project(&shape, av)).collect())
        }
        (_, a) => a.clone(),
    }
}

fn trim(path: &str) -> &str {
    let p = path.trim_start_matches('.');
    if p.is_empty() { "(the object)" } else { p }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        format!("{}…", &s[..s.floor_char_boundary(160)])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subsets_match() {
        let actual = json!({"spec": {"replicas": 2, "x": 1}, "status": {"conditions": [
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}});
        let expected = json!({"spec": {"replicas": 2}, "status": {"conditions": [
            {"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}});
        assert_eq!(contains(&expected, &actual), Ok(()));
        assert_eq!(contains(&json!({"a": "2"}), &json!({"a": 2})), Ok(()));
    }

    #[test]
    fn the_projection_keeps_what_the_expected_object_names() {
        let actual = json!({"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [
            {"name": "server", "image": "i", "resources": {"requests": {"cpu": "10m"}}},
            {"name": "sidecar", "image": "j"}]}});
        let expected = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "server", "resources": {"requests": {"cpu": "25m", "memory": "16Mi"}}}]}});
        assert_eq!(
            project(&expected, &actual),
            json!({"metadata": {"name": "p"}, "spec": {"containers": [
                {"name": "server", "resources": {"requests": {"cpu": "10m", "memory": null}}},
                {"name": "sidecar", "resources": null}]}})
        );
    }

    #[test]
    fn mismatches_name_the_path() {
        let actual = json!({"spec": {"replicas": 1}, "status": {"conditions": []}});
        assert_eq!(
            contains(&json!({"spec": {"replicas": 2}}), &actual).unwrap_err(),
            "spec.replicas is 1, expected 2"
        );
        assert_eq!(
            contains(&json!({"status": {"phase": "Running"}}), &actual).unwrap_err(),
            "status.phase is missing"
        );
        assert!(
            contains(
                &json!({"status": {"conditions": [{"type": "Ready"}]}}),
                &actual
            )
            .unwrap_err()
            .starts_with("status.conditions[0]: no element matches")
        );
    }
}
