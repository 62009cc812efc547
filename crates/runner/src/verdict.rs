//! The verdict of a scenario run: passed, failed, or, for a negative twin,
//! failed as expected (in the named step) or passed unexpectedly.

use report::Outcome;
use scenario::model::ExpectFailure;

/// The first step that failed in a scenario run, and its error.
pub struct Failure {
    pub step: String,
    pub error: String,
}

/// Judges a run against its expectation: a negative twin must fail in
/// the named step, with the named text.
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
                "negative twin passed: step {} was expected to fail{}, so the assertion it proves cannot fail",
                x.step,
                x.message_contains
                    .as_ref()
                    .map(|m| format!(" with {m:?}"))
                    .unwrap_or_default()
            )),
        ),
        (Some(x), Some(f)) => {
            let text_ok = x
                .message_contains
                .as_ref()
                .is_none_or(|m| f.error.contains(m.as_str()));
            if f.step == x.step && text_ok {
                (
                    Outcome::FailedAsExpected,
                    Some(format!("step {}: {}", f.step, f.error)),
                )
            } else {
                (
                    Outcome::Failed,
                    Some(format!(
                        "expected to fail in step {}{}, but failed in step {}: {}",
                        x.step,
                        x.message_contains
                            .as_ref()
                            .map(|m| format!(" with {m:?}"))
                            .unwrap_or_default(),
                        f.step,
                        f.error
                    )),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(step: &str, error: &str) -> Failure {
        Failure {
            step: step.into(),
            error: error.into(),
        }
    }

    #[test]
    fn negative_twins_must_fail_where_they_say() {
        let x = ExpectFailure {
            step: "verify".into(),
            message_contains: Some("failed requests".into()),
        };
        assert_eq!(
            verdict(Some(&x), Some(&f("verify", "load had 3 failed requests"))).0,
            Outcome::FailedAsExpected
        );
        assert_eq!(
            verdict(Some(&x), Some(&f("deploy", "failed requests"))).0,
            Outcome::Failed
        );
        assert_eq!(
            verdict(Some(&x), Some(&f("verify", "timeout"))).0,
            Outcome::Failed
        );
        assert_eq!(verdict(Some(&x), None).0, Outcome::PassedUnexpectedly);
        assert_eq!(verdict(None, None).0, Outcome::Passed);
        assert_eq!(verdict(None, Some(&f("a", "b"))).0, Outcome::Failed);
    }
}
