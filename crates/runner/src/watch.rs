//! Waiting on the API by watching: keep the watched objects up to date from
//! watch events and re-check a condition after each change, until it holds
//! or the time is up. Every retrying operation (assert, wait, expect) is
//! built on this, so none of them polls.
//!
//! The check says what it made of the objects ([`Seen`]); at the deadline
//! that decides between a check *not met* (it observed something else), an
//! object that never appeared, and a timeout with nothing to judge. A watch
//! that RBAC refuses ends at once as forbidden; one that never lists ends
//! as an API error or a timeout, never as a check not met.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::outcome::{Check, Observed, OpError, OpOutcome};

/// What a check made of the current objects.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// The check holds.
    Held(Observed),
    /// It does not hold (yet); at the deadline, the check is not met.
    NotYet(Observed),
    /// It does not hold and no longer can (a Job that completed will not
    /// fail): the check is not met now, without waiting for the deadline.
    Settled(Observed),
    /// The object it needs is not there; at the deadline, it never appeared.
    Absent(String),
    /// The object is there, but the check cannot be judged (an autoscaler
    /// without metrics); at the deadline, a timeout.
    Unjudgeable(String),
}

/// How a watch ended, when it could judge.
#[derive(Debug, Clone, PartialEq)]
pub enum Watched {
    Held(Observed),
    /// The deadline passed; the last observation.
    NotMet(Observed),
}

impl Watched {
    /// The outcome of `check` that this watch decided.
    pub fn judged(self, check: Check) -> OpOutcome {
        match self {
            Watched::Held(o) => check.passed(o),
            Watched::NotMet(o) => check.not_met(o),
        }
    }
}

/// What the last check said becomes at the deadline.
fn at_deadline(
    last: Option<Seen>,
    after: &str,
    listed: Option<String>,
) -> Result<Watched, OpError> {
    match last {
        Some(Seen::Held(o)) => Ok(Watched::Held(o)),
        Some(Seen::NotYet(o) | Seen::Settled(o)) => Ok(Watched::NotMet(o)),
        Some(Seen::Absent(why)) => Err(OpError::NeverAppeared(format!("{after}: {why}"))),
        Some(Seen::Unjudgeable(why)) => Err(OpError::TimedOut(format!("{after}: {why}"))),
        None => Err(OpError::TimedOut(format!(
            "{after}: the watch never listed the objects{}",
            listed
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        ))),
    }
}

/// Watches `api` (filtered by `cfg`) until `check` over the current objects
/// says [`Seen::Held`], or the timeout passes. `check` also runs on a
/// heartbeat, for conditions that depend on time.
pub async fn until<K, F>(
    api: Api<K>,
    cfg: watcher::Config,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<Watched, OpError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: FnMut(&[K]) -> Seen,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let stream = watcher(api, cfg).default_backoff();
    futures::pin_mut!(stream);
    let mut objects: BTreeMap<String, K> = BTreeMap::new();
    let mut init: BTreeMap<String, K> = BTreeMap::new();
    let mut synced = false;
    let mut last: Option<Seen> = None;
    let mut last_error: Option<String> = None;
    let after = format!(
        "{what}, after {}",
        scenario::model::format_duration(timeout)
    );
    let key = |o: &K| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
    loop {
        let next = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                return at_deadline(last, &after, last_error);
            }
            _ = tokio::time::sleep(Duration::from_secs(2)), if synced => None,
            item = stream.next() => match item {
                Some(i) => Some(i),
                None => return Err(OpError::Api(format!("{what}: the watch ended"))),
            },
        };
        match next {
            None => {}
            Some(Err(e)) => {
                let err = OpError::watch(what, &e);
                if matches!(err, OpError::Forbidden(_)) {
                    return Err(err);
                }
                last_error = Some(err.to_string());
                continue;
            }
            Some(Ok(event)) => match event {
                watcher::Event::Apply(o) => {
                    objects.insert(key(&o), o);
                }
                watcher::Event::Delete(o) => {
                    objects.remove(&key(&o));
                }
                watcher::Event::Init => init.clear(),
                watcher::Event::InitApply(o) => {
                    init.insert(key(&o), o);
                }
                watcher::Event::InitDone => {
                    objects = std::mem::take(&mut init);
                    synced = true;
                }
            },
        }
        if !synced {
            continue;
        }
        let current: Vec<K> = objects.values().cloned().collect();
        match check(&current) {
            Seen::Held(o) => return Ok(Watched::Held(o)),
            Seen::Settled(o) => return Ok(Watched::NotMet(o)),
            other => last = Some(other),
        }
    }
}

/// A watch on one object by name.
pub fn named(name: &str) -> watcher::Config {
    watcher::Config::default().fields(&format!("metadata.name={name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::FailureKind;
    use serde_json::json;

    #[test]
    fn the_deadline_tells_not_met_from_errors() {
        let o = Observed::new("hpa/x has 2 replicas", json!({"currentReplicas": 2}));
        assert_eq!(
            at_deadline(Some(Seen::NotYet(o.clone())), "a", None),
            Ok(Watched::NotMet(o))
        );
        let kind = |r: Result<Watched, OpError>| r.map_err(|e| e.kind()).err();
        assert_eq!(
            kind(at_deadline(
                Some(Seen::Absent("no hpa/x".into())),
                "a",
                None
            )),
            Some(FailureKind::NeverAppeared)
        );
        assert_eq!(
            kind(at_deadline(
                Some(Seen::Unjudgeable("no metrics".into())),
                "a",
                None
            )),
            Some(FailureKind::TimedOut)
        );
        assert_eq!(
            kind(at_deadline(None, "a", Some("API error: 500".into()))),
            Some(FailureKind::TimedOut)
        );
    }
}
