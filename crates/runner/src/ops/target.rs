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

pub(super) fn deployment_name(target: &str) -> Result<String, OpError> {
    let (kind, name) = split_target(target)?;
    if kind == "deployment" || kind == "deploy" || kind == "deployments" {
        Ok(name)
    } else {
        Err(OpError::BadInput(format!(
            "target {target:?}: only deployments are supported here"
        )))
    }
}
