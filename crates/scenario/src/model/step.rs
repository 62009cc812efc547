//! A step (`try`, `catch`, `finally`, retries) and its operations: each
//! operation holds exactly one action beside the optional `description`,
//! `timeout`, `continueOnError`, and says which key is wrong when it does
//! not.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::actions::{ACTIONS, Action};
use super::capability::Capability;
use super::duration::opt_duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Keep going with the next step when this one fails.
    #[serde(default)]
    pub continue_on_error: bool,
    /// Run the `try` block again this many times when it fails.
    #[serde(default)]
    pub retries: u32,
    /// Skip this step unless the cluster and profile offer these.
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Why no negative twin can make this step's checks fail. Every step
    /// with a check (`expect`, `assert`) needs a twin naming it, or this.
    #[serde(default)]
    pub no_twin: Option<String>,
    #[serde(rename = "try")]
    pub try_: Vec<Operation>,
    /// Runs when `try` fails (after the default evidence collection).
    #[serde(default)]
    pub catch: Vec<Operation>,
    /// Runs whatever happened.
    #[serde(default)]
    pub finally: Vec<Operation>,
}

/// One operation: exactly one action, plus options.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_error: bool,
    #[serde(flatten)]
    pub action: Action,
}

const OPERATION_OPTIONS: [&str; 3] = ["description", "timeout", "continueOnError"];

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Operation, D::Error> {
        use serde::de::Error;
        let map = yaml_serde::Mapping::deserialize(d)?;
        let mut action_keys = Vec::new();
        for key in map.keys() {
            let Some(k) = key.as_str() else {
                return Err(D::Error::custom("operation keys must be strings"));
            };
            if ACTIONS.contains(&k) {
                action_keys.push(k.to_string());
            } else if !OPERATION_OPTIONS.contains(&k) {
                return Err(D::Error::custom(format!(
                    "unknown operation key `{k}`; expected one action ({}) and optionally {}",
                    ACTIONS.join(", "),
                    OPERATION_OPTIONS.join(", ")
                )));
            }
        }
        let action_key = match action_keys.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(D::Error::custom(format!(
                    "operation has no action; expected exactly one of {}",
                    ACTIONS.join(", ")
                )));
            }
            many => {
                return Err(D::Error::custom(format!(
                    "operation has {} actions ({}); put each in an operation of its own",
                    many.len(),
                    many.join(", ")
                )));
            }
        };
        let mut action_value = yaml_serde::Value::Null;
        let mut options = yaml_serde::Mapping::new();
        for (k, v) in map {
            if k.as_str() == Some(action_key.as_str()) {
                action_value = v;
            } else {
                options.insert(k, v);
            }
        }
        let action = Action::from_key(&action_key, action_value)
            .map_err(|e| D::Error::custom(format!("in `{action_key}`: {e}")))?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Options {
            #[serde(default)]
            description: Option<String>,
            #[serde(default, with = "opt_duration")]
            timeout: Option<Duration>,
            #[serde(default)]
            continue_on_error: bool,
        }
        let o: Options = yaml_serde::from_value(yaml_serde::Value::Mapping(options))
            .map_err(D::Error::custom)?;
        Ok(Operation {
            description: o.description,
            timeout: o.timeout,
            continue_on_error: o.continue_on_error,
            action,
        })
    }
}
