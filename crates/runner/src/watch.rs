//! Waiting on the API by watching: keep the watched objects up to date from
//! watch events and re-check a condition after each change, until it holds
//! or the time is up. Every retrying operation (assert, wait, expect) is
//! built on this, so none of them polls.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// Watches `api` (filtered by `cfg`) until `check` over the current objects
/// returns `Ok(detail)`. On timeout, the error is `check`'s last complaint.
/// `check` also runs on a heartbeat, for conditions that depend on time.
pub async fn until<K, F>(
    api: Api<K>,
    cfg: watcher::Config,
    timeout: Duration,
    mut check: F,
) -> Result<String, String>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: FnMut(&[K]) -> Result<String, String>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let stream = watcher(api, cfg).default_backoff();
    futures::pin_mut!(stream);
    let mut objects: BTreeMap<String, K> = BTreeMap::new();
    let mut init: BTreeMap<String, K> = BTreeMap::new();
    let mut synced = false;
    let mut last = "no object seen yet".to_string();
    let key = |o: &K| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
    loop {
        let next = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                return Err(format!("after {}: {last}", scenario::model::format_duration(timeout)));
            }
            _ = tokio::time::sleep(Duration::from_secs(2)), if synced => None,
            item = stream.next() => match item {
                Some(i) => Some(i),
                None => return Err(format!("the watch ended: {last}")),
            },
        };
        match next {
            None => {}
            Some(Err(e)) => {
                last = format!("watch error: {e}");
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
            Ok(detail) => return Ok(detail),
            Err(why) => last = why,
        }
    }
}

/// A watch on one object by name.
pub fn named(name: &str) -> watcher::Config {
    watcher::Config::default().fields(&format!("metadata.name={name}"))
}
