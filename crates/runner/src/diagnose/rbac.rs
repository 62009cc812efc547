//! The RBAC authorizer, from what an `access` check asked as the account:
//! the rights it grants beyond what the scenario allows, with the binding
//! and role it names as its reason, and the rights it refuses that the
//! scenario needs.

use serde_json::Value;

use super::Found;
use report::Decider;

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// What the authorizer decided instead of what the check expected.
pub fn instead(observed: &Value) -> Option<Found> {
    let account = observed["serviceAccount"].as_str()?;
    let reasons = &observed["reasons"];
    let allowed = strings(&observed["wronglyAllowed"]);
    let denied = strings(&observed["wronglyDenied"]);
    if allowed.is_empty() && denied.is_empty() {
        return None;
    }
    let mut said = Vec::new();
    for r in &allowed {
        said.push(format!(
            "lets serviceaccount/{account} {r} ({})",
            reasons[*r].as_str().unwrap_or("no reason given")
        ));
    }
    for r in &denied {
        said.push(format!("does not let serviceaccount/{account} {r}"));
    }
    let rules = strings(&observed["rules"]);
    let evidence = allowed
        .iter()
        .chain(&denied)
        .map(|r| format!("{r}: {}", reasons[*r].as_str().unwrap_or("")))
        .chain(rules.iter().map(|r| format!("rule held: {r}")))
        .collect();
    Some(Found::new(
        Decider::Rbac,
        format!(
            "The API server's RBAC authorizer {}.{}",
            said.join("; it "),
            if allowed.is_empty() {
                String::new()
            } else {
                " Bind the account to a Role with only the verbs and resources its pods use."
                    .to_string()
            }
        ),
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_broad_binding_is_quoted() {
        let f = instead(&json!({
            "serviceAccount": "llm",
            "wronglyAllowed": ["get secrets"],
            "wronglyDenied": [],
            "reasons": {"get secrets": "RBAC: allowed by RoleBinding \"llm-extra/ns\" of ClusterRole \"edit\" to ServiceAccount \"llm/ns\""},
            "rules": ["* secrets (core)"],
        }))
        .unwrap();
        assert_eq!(f.decider, Decider::Rbac);
        assert_eq!(
            f.summary,
            "The API server's RBAC authorizer lets serviceaccount/llm get secrets (RBAC: allowed by RoleBinding \"llm-extra/ns\" of ClusterRole \"edit\" to ServiceAccount \"llm/ns\"). Bind the account to a Role with only the verbs and resources its pods use."
        );
        assert_eq!(f.evidence.last().unwrap(), "rule held: * secrets (core)");
        assert!(
            instead(&json!({"serviceAccount": "llm", "wronglyAllowed": [], "wronglyDenied": []}))
                .is_none()
        );
    }
}
