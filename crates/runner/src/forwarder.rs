//! A Service reached through port-forwards, the way `kubectl port-forward`
//! reaches one pod, but spread like the Service spreads traffic: every
//! accepted local connection is forwarded to a *ready* endpoint of the
//! Service, picked round-robin from its EndpointSlices (watched, not polled).
//! A rollout therefore moves traffic to new pods as soon as the endpoint
//! controller does, and a terminating pod gets no new connection.
//!
//! [`ServiceForwarder::start`] returns only once the first list of the
//! Service's EndpointSlices is in, so a load started right after it never
//! mistakes "not listed yet" for "no ready endpoint".

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Error)]
pub enum ForwardError {
    #[error("load target {0:?} is not `service/NAME:PORT`")]
    BadTarget(String),
    #[error("service {namespace}/{name} not found: {source}")]
    NoService {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("service {service} has no port {port}; it has {have}")]
    NoPort {
        service: String,
        port: u16,
        have: String,
    },
    #[error("cannot listen on 127.0.0.1: {0}")]
    Listen(#[source] std::io::Error),
    #[error(
        "the EndpointSlices of service {namespace}/{name} were not listed within {}s; \
         is the API server up (kubectl get endpointslices -n {namespace})?",
        within.as_secs()
    )]
    EndpointsNotListed {
        namespace: String,
        name: String,
        within: Duration,
    },
}

/// How long [`ServiceForwarder::start`] waits for the first list of
/// EndpointSlices.
pub const ENDPOINTS_LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// `service/NAME:PORT`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    pub service: String,
    pub port: u16,
}

impl ServiceTarget {
    pub fn parse(text: &str) -> Result<ServiceTarget, ForwardError> {
        let bad = || ForwardError::BadTarget(text.to_string());
        let rest = text
            .strip_prefix("service/")
            .or_else(|| text.strip_prefix("svc/"))
            .ok_or_else(bad)?;
        let (name, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        if name.is_empty() {
            return Err(bad());
        }
        Ok(ServiceTarget {
            service: name.to_string(),
            port,
        })
    }
}

/// A running forwarder; dropping it stops listening and forwarding.
pub struct ServiceForwarder {
    pub local: SocketAddr,
    picker: Arc<Picker>,
    /// Bumped on every EndpointSlice change the watch sees.
    changes: tokio::sync::watch::Receiver<u64>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServiceForwarder {
    /// Starts listening on a free loopback port.
    pub async fn start(
        client: Client,
        namespace: &str,
        target: &ServiceTarget,
    ) -> Result<ServiceForwarder, ForwardError> {
        let services: Api<Service> = Api::namespaced(client.clone(), namespace);
        let svc =
            services
                .get(&target.service)
                .await
                .map_err(|source| ForwardError::NoService {
                    namespace: namespace.to_string(),
                    name: target.service.clone(),
                    source,
                })?;
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.clone())
            .unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p.port == i32::from(target.port))
            .ok_or_else(|| ForwardError::NoPort {
                service: target.service.clone(),
                port: target.port,
                have: ports
                    .iter()
                    .map(|p| p.port.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let port_name = port.name.clone();
        let fallback_target = match &port.target_port {
            Some(IntOrString::Int(n)) => u16::try_from(*n).ok(),
            _ => None,
        }
        .or(Some(target.port));

        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
        let (store, writer) = reflector::store();
        let cfg =
            watcher::Config::default().labels(&crate::service_endpoints::selector(&target.service));
        let (changed, changes) = tokio::sync::watch::channel(0u64);
        let watch = tokio::spawn(async move {
            let stream = watcher(slices, cfg).default_backoff().reflect(writer);
            futures::pin_mut!(stream);
            while stream.next().await.is_some() {
                changed.send_modify(|n| *n += 1);
            }
        });
        let listed = tokio::time::timeout(ENDPOINTS_LIST_TIMEOUT, store.wait_until_ready()).await;
        if !matches!(listed, Ok(Ok(()))) {
            watch.abort();
            return Err(ForwardError::EndpointsNotListed {
                namespace: namespace.to_string(),
                name: target.service.clone(),
                within: ENDPOINTS_LIST_TIMEOUT,
            });
        }

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(ForwardError::Listen)?;
        let local = listener.local_addr().map_err(ForwardError::Listen)?;
        let picker = Arc::new(Picker {
            store,
            port_name,
            fallback_port: fallback_target,
            next: AtomicUsize::new(0),
        });
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        let accepting = picker.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let (picker, pods) = (accepting.clone(), pods.clone());
                tokio::spawn(async move {
                    forward_one(conn, &picker, &pods).await;
                });
            }
        });
        Ok(ServiceForwarder {
            local,
            picker,
            changes,
            tasks: vec![watch, accept],
        })
    }

    /// How many ready endpoints the Service has now, as the forwarder sees it.
    pub fn ready_endpoints(&self) -> usize {
        self.picker.ready().len()
    }

    /// Waits up to `within` until the Service has a ready endpoint; false if
    /// it still has none. The endpoint controller publishes a pod's
    /// readiness a moment after the pod turns Ready, so a load started right
    /// after a rollout waits for that moment instead of failing through it.
    pub async fn wait_for_ready_endpoint(&self, within: Duration) -> bool {
        let mut changes = self.changes.clone();
        let wait = async {
            loop {
                changes.borrow_and_update();
                if self.ready_endpoints() > 0 {
                    return;
                }
                if changes.changed().await.is_err() {
                    // The watch ended; nothing will change any more.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local)
    }
}

impl Drop for ServiceForwarder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Picker {
    store: Store<EndpointSlice>,
    port_name: Option<String>,
    fallback_port: Option<u16>,
    next: AtomicUsize,
}

impl Picker {
    /// A ready endpoint's pod name and port, round-robin.
    fn pick(&self) -> Option<(String, u16)> {
        let mut ready = self.ready();
        if ready.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % ready.len();
        Some(ready.swap_remove(i))
    }

    /// Every ready endpoint's pod name and port, sorted.
    fn ready(&self) -> Vec<(String, u16)> {
        let mut ready = Vec::new();
        for slice in self.store.state() {
            let port = slice
                .ports
                .as_ref()
                .and_then(|ps| {
                    ps.iter()
                        .find(|p| p.name == self.port_name || self.port_name.is_none())
                        .and_then(|p| p.port)
                })
                .and_then(|p| u16::try_from(p).ok())
                .or(self.fallback_port);
            let Some(port) = port else { continue };
            for ep in &slice.endpoints {
                let is_ready = ep
                    .conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    .unwrap_or(false);
                let pod = ep
                    .target_ref
                    .as_ref()
                    .filter(|r| r.kind.as_deref() == Some("Pod"))
                    .and_then(|r| r.name.clone());
                if let (true, Some(pod)) = (is_ready, pod) {
                    ready.push((pod, port));
                }
            }
        }
        ready.sort();
        ready
    }
}

/// Forwards one local connection; closing it without a byte is how "no
/// ready endpoint" and "forward failed" reach the client, as a refused
/// connection to a Service with no endpoints would.
async fn forward_one(mut conn: TcpStream, picker: &Picker, pods: &Api<Pod>) {
    let Some((pod, port)) = picker.pick() else {
        return;
    };
    let Ok(Ok(mut pf)) =
        tokio::time::timeout(Duration::from_secs(10), pods.portforward(&pod, &[port])).await
    else {
        return;
    };
    let Some(mut upstream) = pf.take_stream(port) else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    drop(upstream);
    pf.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            ServiceTarget::parse("service/mock-server:8000").expect("valid"),
            ServiceTarget {
                service: "mock-server".into(),
                port: 8000
            }
        );
        assert!(ServiceTarget::parse("svc/x:80").is_ok());
        for bad in [
            "mock-server:8000",
            "service/mock",
            "service/:80",
            "service/a:http",
        ] {
            assert!(ServiceTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
