//! What a negative twin expects a check to have observed: a partial object
//! (`observed:` in `expectFailure`) matched against the check's
//! observation, a JSON value the runner records for every check.
//!
//! Every key the pattern names must be present in the observation. A
//! pattern leaf is a value to equal, or an operator map: `{ gte: N }`,
//! `{ gt: N }`, `{ lte: N }`, `{ lt: N }` (numbers), `{ contains: X }`
//! (a string containing the text, or a list with an element matching X).
//! A pattern list matches when each of its elements matches some element
//! of the observed list.

use serde_json::{Map, Value};

/// The check names a twin may give (`check:`), as the runner reports them.
pub const CHECKS: [&str; 18] = [
    "assert",
    "rollout",
    "condition",
    "event",
    "containerTerminated",
    "hpaReplicas",
    "zeroFailedRequests",
    "failedRequests",
    "servedBy",
    "endpoints",
    "podReplaced",
    "terminationMessage",
    "access",
    "slo",
    "metric",
    "vpaRecommendation",
    "load",
    "script",
];

const OPERATORS: [&str; 5] = ["gt", "gte", "lt", "lte", "contains"];

fn operator_map(m: &Map<String, Value>) -> bool {
    !m.is_empty() && m.keys().all(|k| OPERATORS.contains(&k.as_str()))
}

/// Checks a pattern before anything runs: operators with the right
/// operands, and at least one leaf (an empty pattern would match any
/// observation, so it would prove nothing).
pub fn check_pattern(pattern: &Value) -> Result<(), String> {
    if leaves(pattern) == 0 {
        return Err("`observed` names nothing; give at least one observed value, e.g. `observed: { failed: { gte: 1 } }`".into());
    }
    walk_pattern(pattern, "observed")
}

/// [`check_pattern`] for a pattern a check is given under `field`
/// (`matches`).
pub fn check_pattern_of(field: &str, pattern: &Value) -> Result<(), String> {
    if leaves(pattern) == 0 {
        return Err(format!(
            "`{field}` names nothing; give at least one value, e.g. `{field}: {{ startEpoch: {{ gte: 1 }} }}`"
        ));
    }
    walk_pattern(pattern, field)
}

fn leaves(v: &Value) -> usize {
    match v {
        Value::Object(m) if operator_map(m) => 1,
        Value::Object(m) => m.values().map(leaves).sum(),
        Value::Array(a) => a.iter().map(leaves).sum(),
        Value::Null => 0,
        _ => 1,
    }
}

fn walk_pattern(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Object(m) if operator_map(m) => {
            for (k, operand) in m {
                if k != "contains" && !operand.is_number() {
                    return Err(format!("{path}: `{k}` needs a number, got {operand}"));
                }
            }
            Ok(())
        }
        Value::Object(m) => {
            for (k, v) in m {
                walk_pattern(v, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk_pattern(v, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `Ok(())` when `actual` matches `pattern`; otherwise the first path
/// that differs and how.
pub fn matches(pattern: &Value, actual: &Value) -> Result<(), String> {
    walk(pattern, actual, "")
}

/// [`matches`] for a check's own pattern: the difference is worded as
/// what the check expects, not the twin.
pub fn matches_check(pattern: &Value, actual: &Value) -> Result<(), String> {
    walk(pattern, actual, "").map_err(|m| m.replace(", the twin expects ", ", expected "))
}

fn walk(pattern: &Value, actual: &Value, path: &str) -> Result<(), String> {
    let at = if path.is_empty() {
        "(the observation)"
    } else {
        path.trim_start_matches('.')
    };
    match (pattern, actual) {
        (Value::Object(ops), _) if operator_map(ops) => {
            for (op, operand) in ops {
                operator(op, operand, actual).map_err(|why| format!("{at}: {why}"))?;
            }
            Ok(())
        }
        (Value::Object(p), Value::Object(a)) => {
            for (k, pv) in p {
                let sub = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => walk(pv, av, &sub)?,
                    None => {
                        return Err(format!("{} was not observed", sub.trim_start_matches('.')));
                    }
                }
            }
            Ok(())
        }
        (Value::Array(p), Value::Array(a)) => {
            for (i, pv) in p.iter().enumerate() {
                if !a.iter().any(|av| walk(pv, av, "").is_ok()) {
                    return Err(format!("{at}[{i}]: no observed element matches {pv}"));
                }
            }
            Ok(())
        }
        (Value::Number(p), Value::Number(a)) if p.as_f64() == a.as_f64() => Ok(()),
        (p, a) if p == a => Ok(()),
        (p, a) => Err(format!("{at} is {a}, the twin expects {p}")),
    }
}

fn operator(op: &str, operand: &Value, actual: &Value) -> Result<(), String> {
    if op == "contains" {
        return match (actual, operand) {
            (Value::String(a), Value::String(want)) if a.contains(want.as_str()) => Ok(()),
            (Value::Array(a), want) if a.iter().any(|v| walk(want, v, "").is_ok()) => Ok(()),
            _ => Err(format!("{actual} does not contain {operand}")),
        };
    }
    let (Some(a), Some(n)) = (actual.as_f64(), operand.as_f64()) else {
        return Err(format!(
            "{actual} is not a number to compare with {op} {operand}"
        ));
    };
    let ok = match op {
        "gt" => a > n,
        "gte" => a >= n,
        "lt" => a < n,
        _ => a <= n,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{actual} is not {op} {operand}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_objects_and_operators_match() {
        let seen = json!({"currentReplicas": 2, "maxReplicas": 2, "scalingLimited": true,
            "failed": 7, "byStatusClass": {"5xx": 7}, "message": "0/4 nodes: 2 Insufficient nvidia.com/gpu",
            "terminations": [{"reason": "Error"}, {"reason": "OOMKilled"}]});
        for ok in [
            json!({"currentReplicas": 2, "scalingLimited": true}),
            json!({"failed": {"gt": 0}, "byStatusClass": {"5xx": {"gte": 1}}}),
            json!({"message": {"contains": "Insufficient nvidia.com/gpu"}}),
            json!({"terminations": [{"reason": "OOMKilled"}]}),
            json!({"terminations": {"contains": {"reason": "OOMKilled"}}}),
            json!({"currentReplicas": {"gte": 2, "lte": 2}}),
        ] {
            assert_eq!(matches(&ok, &seen), Ok(()), "{ok}");
        }
    }

    #[test]
    fn mismatches_say_where() {
        let seen = json!({"currentReplicas": 1, "scalingLimited": false, "failed": 0});
        assert_eq!(
            matches(&json!({"currentReplicas": 2}), &seen).unwrap_err(),
            "currentReplicas is 1, the twin expects 2"
        );
        assert_eq!(
            matches(&json!({"failed": {"gt": 0}}), &seen).unwrap_err(),
            "failed: 0 is not gt 0"
        );
        assert_eq!(
            matches(&json!({"byStatusClass": {"5xx": 1}}), &seen).unwrap_err(),
            "byStatusClass was not observed"
        );
        assert!(matches(&json!({"failed": 0}), &json!(null)).is_err());
    }

    #[test]
    fn patterns_are_checked_before_a_run() {
        assert!(
            check_pattern(&json!({}))
                .unwrap_err()
                .contains("names nothing")
        );
        assert!(check_pattern(&json!(null)).is_err());
        assert!(
            check_pattern(&json!({"failed": {"gt": "zero"}}))
                .unwrap_err()
                .contains("observed.failed: `gt` needs a number")
        );
        assert_eq!(check_pattern(&json!({"failed": {"gt": 0}})), Ok(()));
    }
}
