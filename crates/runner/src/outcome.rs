//! What an operation gives back: [`OpOutcome`] (passed, or a check *not
//! met*, each with what was observed) or an [`OpError`] of a named kind.
//! Only a check that is not met can make a negative twin fail as expected;
//! an error never can, whatever its text says.

use std::fmt::Display;

use report::{CheckKind, FailureKind};
use serde_json::Value;
use thiserror::Error;

/// What an operation saw: a line for people, and data for twins to match.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub text: String,
    /// A JSON object (`Value::Null` for operations that check nothing).
    pub value: Value,
}

impl Observed {
    pub fn new(text: impl Into<String>, value: Value) -> Observed {
        Observed {
            text: text.into(),
            value,
        }
    }

    /// What an operation that checks nothing did.
    pub fn text(text: impl Into<String>) -> Observed {
        Observed::new(text, Value::Null)
    }
}

/// The check an operation made, and what it expected, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub kind: CheckKind,
    pub expected: String,
}

impl Check {
    pub fn new(kind: CheckKind, expected: impl Into<String>) -> Check {
        Check {
            kind,
            expected: expected.into(),
        }
    }

    pub fn passed(self, observed: Observed) -> OpOutcome {
        OpOutcome::Passed {
            check: Some(self),
            observed,
        }
    }

    pub fn not_met(self, observed: Observed) -> OpOutcome {
        OpOutcome::NotMet {
            check: self,
            observed,
        }
    }

    /// Passed when `met`, otherwise not met, with the same observation.
    pub fn judge(self, met: bool, observed: Observed) -> OpOutcome {
        if met {
            self.passed(observed)
        } else {
            self.not_met(observed)
        }
    }
}

/// How an operation that ran to the end came out.
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    /// Done, or its check held.
    Passed {
        check: Option<Check>,
        observed: Observed,
    },
    /// The check ran and observed something other than what it expected.
    NotMet { check: Check, observed: Observed },
}

impl OpOutcome {
    /// An operation that checks nothing and did what it says.
    pub fn done(text: impl Into<String>) -> OpOutcome {
        OpOutcome::Passed {
            check: None,
            observed: Observed::text(text),
        }
    }
}

/// Why an operation could not judge anything.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OpError {
    /// The API server answered with an error (other than forbidden).
    #[error("API error: {0}")]
    Api(String),
    /// RBAC refused a request.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The object the operation needs never appeared.
    #[error("never appeared: {0}")]
    NeverAppeared(String),
    /// Time ran out with nothing to judge.
    #[error("timed out: {0}")]
    TimedOut(String),
    /// The scenario asked for something impossible.
    #[error("{0}")]
    BadInput(String),
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
}

impl OpError {
    pub fn kind(&self) -> FailureKind {
        match self {
            OpError::Api(_) => FailureKind::ApiError,
            OpError::Forbidden(_) => FailureKind::Forbidden,
            OpError::NeverAppeared(_) => FailureKind::NeverAppeared,
            OpError::TimedOut(_) => FailureKind::TimedOut,
            OpError::BadInput(_) => FailureKind::BadInput,
            OpError::Interrupted => FailureKind::Interrupted,
        }
    }

    /// A Kubernetes client error while doing `what`, by its status code:
    /// 403 is forbidden, 404 an object that is not there, 422 an object the
    /// scenario wrote wrong (bad input), the rest API errors.
    pub fn kube(what: impl Display, e: &kube::Error) -> OpError {
        let text = format!("{what}: {e}");
        match e {
            kube::Error::Api(s) if s.is_forbidden() => OpError::Forbidden(text),
            kube::Error::Api(s) if s.is_not_found() => OpError::NeverAppeared(text),
            kube::Error::Api(s) if s.is_invalid() => OpError::BadInput(text),
            _ => OpError::Api(text),
        }
    }

    /// A closure for `map_err`: [`OpError::kube`] with `what`.
    pub fn api<W: Display>(what: W) -> impl FnOnce(kube::Error) -> OpError {
        move |e| OpError::kube(what, &e)
    }

    /// A watch error (list or watch refused, or the stream broke).
    pub fn watch(what: impl Display, e: &kube::runtime::watcher::Error) -> OpError {
        use kube::runtime::watcher::Error as W;
        match e {
            W::InitialListFailed(k) | W::WatchStartFailed(k) | W::WatchFailed(k) => {
                OpError::kube(what, k)
            }
            W::WatchError(s) if s.is_forbidden() => OpError::Forbidden(format!("{what}: {e}")),
            _ => OpError::Api(format!("{what}: {e}")),
        }
    }

    pub fn bad(text: impl Display) -> OpError {
        OpError::BadInput(text.to_string())
    }
}

impl From<k8s::K8sError> for OpError {
    fn from(e: k8s::K8sError) -> OpError {
        use k8s::K8sError as K;
        match &e {
            K::Api { what, source } => OpError::kube(what, source),
            K::Connect(_) => OpError::Api(e.to_string()),
            K::Timeout { .. } => OpError::TimedOut(e.to_string()),
            K::UnknownKind { .. } | K::Yaml { .. } | K::Missing { .. } | K::Kubeconfig { .. } => {
                OpError::BadInput(e.to_string())
            }
        }
    }
}

/// What every operation returns.
pub type OpResult = Result<OpOutcome, OpError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_name_the_error() {
        let status = |code: u16, reason: &str| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                reason: reason.into(),
                message: "m".into(),
                ..Default::default()
            }))
        };
        assert_eq!(
            OpError::kube("listing events", &status(403, "Forbidden")).kind(),
            FailureKind::Forbidden
        );
        assert_eq!(
            OpError::kube("reading deployment/x", &status(404, "NotFound")).kind(),
            FailureKind::NeverAppeared
        );
        assert_eq!(
            OpError::kube("patching", &status(500, "InternalError")).kind(),
            FailureKind::ApiError
        );
    }

    #[test]
    fn report_and_scenario_name_the_same_checks() {
        let names: Vec<&str> = CheckKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names, scenario::observed::CHECKS);
        for k in CheckKind::ALL {
            assert_eq!(CheckKind::from_name(k.name()), Some(k));
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(Value::String(k.name().into()))
            );
        }
    }
}
