//! The verdict of a scenario run: passed, failed, or, for a negative twin,
//! failed as expected or passed unexpectedly.
//!
//! A twin fails as expected only when a check of the named step came out
//! *not met* (of the named kind, when it names one) and what the check
//! observed matches the twin's `observed`. An error of any kind (API,
//! forbidden, an object that never appeared, a timeout with nothing to
//! judge, bad input, Ctrl-C) never counts, whatever its text says.

use report::{CheckKind, FailureKind, Outcome};
use scenario::model::ExpectFailure;
use scenario::observed;
use serde_json::Value;

/// The first step that failed in a scenario run, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub step: String,
    /// The failing operation's error line.
    pub error: String,
    pub kind: FailureKind,
    pub check: Option<CheckKind>,
    /// What the check observed (for a check not met).
    pub observed: Option<Value>,
}

/// Why a failure is not the one a twin expects; `None` when it is.
fn mismatch(x: &ExpectFailure, f: &Failure) -> Option<String> {
    if f.step != x.step {
        return Some(format!(
            "expected step {} to fail, but step {} failed first",
            x.step, f.step
        ));
    }
    if f.kind != FailureKind::NotMet {
        return Some(format!(
            "step {} ended in an error ({}), which proves nothing about its check; a negative twin needs the check to run and come out not met",
            f.step,
            f.kind.label()
        ));
    }
    if let Some(want) = &x.check
        && f.check.map(CheckKind::name) != Some(want.as_str())
    {
        return Some(format!(
            "step {}: the {} check was not met, but the twin names the {want} check",
            f.step,
            f.check.map(CheckKind::name).unwrap_or("(unknown)")
        ));
    }
    let Some(pattern) = &x.observed else {
        return Some("the twin names no observation (`observed:`)".into());
    };
    let seen = f.observed.clone().unwrap_or(Value::Null);
    observed::matches(pattern, &seen).err().map(|why| {
        format!(
            "step {}: the check was not met, but not with what the twin expects ({why}); observed {seen}, expected {pattern}",
            f.step
        )
    })
}

/// Judges a run against its expectation.
pub fn verdict(
    expect: Option<&ExpectFailure>,
    failure: Option<&Failure>,
) -> (Outcome, Option<String>) {
    match (expect, failure) {
        (None, None) => (Outcome::Passed, None),
        (None, Some(f)) => (
            Outcome::Failed,
            Some(format!("step {}: {}", f.step, f.error)),
        ),
        (Some(x), None) => (
            Outcome::PassedUnexpectedly,
            Some(format!(
                "negative twin passed: step {} was expected to come out not met{}, observing {}, so the check it proves cannot fail",
                x.step,
                x.check
                    .as_ref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default(),
                x.observed.clone().unwrap_or(Value::Null)
            )),
        ),
        (Some(x), Some(f)) => match mismatch(x, f) {
            None => (
                Outcome::FailedAsExpected,
                Some(format!("step {}: {}", f.step, f.error)),
            ),
            Some(why) => (
                Outcome::Failed,
                Some(format!("negative twin: {why}. The failure: {}", f.error)),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn twin(step: &str, check: Option<&str>, observed: Value) -> ExpectFailure {
        ExpectFailure {
            step: step.into(),
            check: check.map(Into::into),
            observed: Some(observed),
            message_contains: None,
        }
    }

    fn not_met(step: &str, check: CheckKind, observed: Value) -> Failure {
        Failure {
            step: step.into(),
            error: format!("{} not met", check.name()),
            kind: FailureKind::NotMet,
            check: Some(check),
            observed: Some(observed),
        }
    }

    fn error(step: &str, kind: FailureKind, text: &str) -> Failure {
        Failure {
            step: step.into(),
            error: text.into(),
            kind,
            check: None,
            observed: None,
        }
    }

    fn hpa_twin() -> ExpectFailure {
        twin(
            "scale-up",
            Some("hpaReplicas"),
            json!({"maxReplicas": 2, "highestReplicas": 2, "scalingLimitedSeen": true}),
        )
    }

    #[test]
    fn a_twin_fails_as_expected_only_on_its_observation() {
        let capped = json!({"currentReplicas": 2, "maxReplicas": 2, "highestReplicas": 2,
            "scalingLimitedSeen": true, "scalingActive": true});
        assert_eq!(
            verdict(
                Some(&hpa_twin()),
                Some(&not_met("scale-up", CheckKind::HpaReplicas, capped.clone()))
            )
            .0,
            Outcome::FailedAsExpected
        );
        // Not met, but the HPA never wanted more than it had: not the twin's proof.
        let idle = json!({"currentReplicas": 1, "maxReplicas": 2, "highestReplicas": 1,
            "scalingLimitedSeen": false});
        let (o, why) = verdict(
            Some(&hpa_twin()),
            Some(&not_met("scale-up", CheckKind::HpaReplicas, idle)),
        );
        assert_eq!(o, Outcome::Failed);
        assert!(why.unwrap_or_default().contains("highestReplicas is 1"));
        // Another step, or another check of the step.
        assert_eq!(
            verdict(
                Some(&hpa_twin()),
                Some(&not_met("deploy", CheckKind::HpaReplicas, capped.clone()))
            )
            .0,
            Outcome::Failed
        );
        assert_eq!(
            verdict(
                Some(&hpa_twin()),
                Some(&not_met("scale-up", CheckKind::ZeroFailedRequests, capped))
            )
            .0,
            Outcome::Failed
        );
        assert_eq!(
            verdict(Some(&hpa_twin()), None).0,
            Outcome::PassedUnexpectedly
        );
        assert_eq!(verdict(None, None).0, Outcome::Passed);
    }

    #[test]
    fn errors_never_count_as_an_expected_failure() {
        for kind in [
            FailureKind::ApiError,
            FailureKind::Forbidden,
            FailureKind::NeverAppeared,
            FailureKind::TimedOut,
            FailureKind::BadInput,
            FailureKind::Interrupted,
        ] {
            // Even an error whose text reads like the expected observation.
            let f = error(
                "scale-up",
                kind,
                "hpa/mock-server: maxReplicas 2 highestReplicas 2 scalingLimitedSeen true",
            );
            let (o, why) = verdict(Some(&hpa_twin()), Some(&f));
            assert_eq!(o, Outcome::Failed, "{kind:?}");
            assert!(
                why.unwrap_or_default().contains("ended in an error"),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn load_gpu_oom_and_drift_twins_match_their_observations() {
        let load = twin(
            "roll",
            Some("zeroFailedRequests"),
            json!({"requests": {"gte": 1}, "failed": {"gte": 1}}),
        );
        let seen = json!({"requests": 300, "failed": 12, "httpErrors": {"503": 12}, "connectionErrors": 0});
        assert_eq!(
            verdict(
                Some(&load),
                Some(&not_met("roll", CheckKind::ZeroFailedRequests, seen))
            )
            .0,
            Outcome::FailedAsExpected
        );
        let nothing_sent = json!({"requests": 0, "failed": 0});
        assert_eq!(
            verdict(
                Some(&load),
                Some(&not_met(
                    "roll",
                    CheckKind::ZeroFailedRequests,
                    nothing_sent
                ))
            )
            .0,
            Outcome::Failed
        );

        let gpu = twin(
            "too-many-gpus",
            Some("event"),
            json!({"matching": 0, "podScheduled": true}),
        );
        let placed = json!({"reason": "FailedScheduling", "matching": 0, "events": 0, "pods": 1, "podScheduled": true});
        let pending = json!({"reason": "FailedScheduling", "matching": 0, "events": 0, "pods": 1, "podScheduled": false});
        assert_eq!(
            verdict(
                Some(&gpu),
                Some(&not_met("too-many-gpus", CheckKind::Event, placed))
            )
            .0,
            Outcome::FailedAsExpected
        );
        assert_eq!(
            verdict(
                Some(&gpu),
                Some(&not_met("too-many-gpus", CheckKind::Event, pending))
            )
            .0,
            Outcome::Failed
        );

        let oom = twin(
            "observe",
            Some("containerTerminated"),
            json!({"containers": {"gte": 1}, "oomKilled": false}),
        );
        let none = json!({"containers": 0, "oomKilled": false});
        assert_eq!(
            verdict(
                Some(&oom),
                Some(&not_met("observe", CheckKind::ContainerTerminated, none))
            )
            .0,
            Outcome::Failed
        );

        let drift = twin("drift", Some("endpoints"), json!({"ready": 2}));
        assert_eq!(
            verdict(
                Some(&drift),
                Some(&not_met(
                    "drift",
                    CheckKind::Endpoints,
                    json!({"ready": 2, "notReady": 0})
                ))
            )
            .0,
            Outcome::FailedAsExpected
        );
        assert_eq!(
            verdict(
                Some(&drift),
                Some(&not_met(
                    "drift",
                    CheckKind::Endpoints,
                    json!({"ready": 1, "notReady": 1})
                ))
            )
            .0,
            Outcome::Failed
        );
    }
}
