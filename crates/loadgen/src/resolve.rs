//! Name resolution, once per host for a load: a fresh connection per
//! request still goes through kube-proxy to any of the Service's pods,
//! but does not pay for a DNS lookup each time (a cluster's resolver
//! tries every search domain of a short name first, a few milliseconds a
//! request). A Service's ClusterIP does not change while a load runs.
//! A failed lookup is not kept: the next request asks again.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use tower_service::Service;

/// A resolver that asks the system once per host and remembers the answer.
#[derive(Debug, Clone, Default)]
pub struct CachedResolver {
    known: Arc<Mutex<HashMap<String, Vec<SocketAddr>>>>,
}

type Resolving = Pin<Box<dyn Future<Output = io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl Service<Name> for CachedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let known = self.known.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            if let Some(addrs) = known.lock().ok().and_then(|k| k.get(&host).cloned()) {
                return Ok(addrs.into_iter());
            }
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} resolved to no address"),
                ));
            }
            if let Ok(mut k) = known.lock() {
                k.insert(host, addrs.clone());
            }
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[tokio::test]
    async fn a_host_is_looked_up_once() {
        let mut r = CachedResolver::default();
        let name = Name::from_str("localhost").expect("a name");
        let first: Vec<SocketAddr> = r.call(name.clone()).await.expect("resolves").collect();
        assert!(!first.is_empty());
        // What is remembered is what the next request gets.
        r.known
            .lock()
            .unwrap()
            .insert("localhost".into(), vec!["10.96.0.10:0".parse().unwrap()]);
        let second: Vec<SocketAddr> = r.call(name).await.expect("resolves").collect();
        assert_eq!(second, vec!["10.96.0.10:0".parse::<SocketAddr>().unwrap()]);
        let bad = Name::from_str("no-such-host.invalid").expect("a name");
        assert!(r.call(bad).await.is_err());
        assert!(!r.known.lock().unwrap().contains_key("no-such-host.invalid"));
    }
}
