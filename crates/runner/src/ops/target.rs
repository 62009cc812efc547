//! The `kind/name` targets operations name, and the Deployments most of
//! them act on.

use crate::outcome::OpError;

/// `kind/name` (e.g. `deployment/mock-server`).
pub fn split_target(target: &str) -> Result<(String, String), OpError> {
    match target.split_once('/') {
        Some((k, n)) if !k.is_empty() && !n.is_empty() => {
            Ok((k.to_ascii_lowercase(), n.to_string()))
        }
        _ => Err(OpError::BadInput(format!(
            "target {target:?} is not `kind/name`, e.g. deployment/mock-server"
        ))),
    }
}

/// `Some(name)` for `statefulset/name` (the operations that take both
/// send it to [`super::statefulset`]), `None` for any other kind.
pub(super) fn statefulset_name(target: &str) -> Result<Option<String>, OpError> {
    let (kind, name) = split_target(target)?;
    Ok(matches!(kind.as_str(), "statefulset" | "statefulsets" | "sts").then_some(name))
}

pub(super) fn deployment_name(target: &str) -> Result<String, OpError> {
    let (kind, name) = split_target(target)?;
    if kind == "deployment" || kind == "deploy" || kind == "deployments" {
        Ok(name)
    } else {
        Err(OpError::BadInput(format!(
            "target {target:?}: give deployment/NAME or statefulset/NAME"
        )))
    }
}
