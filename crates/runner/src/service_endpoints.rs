//! A Service's EndpointSlices: listed by the `kubernetes.io/service-name`
//! label the EndpointSlice controller sets, and how long ago they last
//! changed (a load waits until every node's kube-proxy has caught up).

use std::time::Duration;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::{Api, Client};

/// The label selector of `service`'s EndpointSlices.
pub fn selector(service: &str) -> String {
    format!("kubernetes.io/service-name={service}")
}

/// `service`'s EndpointSlices.
pub async fn list(
    client: &Client,
    namespace: &str,
    service: &str,
) -> Result<Vec<EndpointSlice>, kube::Error> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    Ok(slices
        .list(&ListParams::default().labels(&selector(service)))
        .await?
        .items)
}

/// How long after its last endpoint change a Service is taken to be the
/// same on every node: kube-proxy rewrites each node's rules a moment
/// after the EndpointSlice changes (seconds on a busy machine), and until
/// then a client in the cluster still reaches the endpoints the API no
/// longer lists.
pub const ENDPOINTS_SETTLE: Duration = Duration::from_secs(5);

/// How long to wait before a load starts so that `service`'s last
/// endpoint change (its EndpointSlices' `last-change-trigger-time`) is
/// [`ENDPOINTS_SETTLE`] old; zero when it already is or cannot be read.
pub async fn endpoints_settle(client: &Client, namespace: &str, service: &str) -> Duration {
    let Ok(items) = list(client, namespace, service).await else {
        return Duration::ZERO;
    };
    // The trigger time where the controller writes it, else the time of
    // the slice's last write.
    let last = items
        .iter()
        .flat_map(|s| {
            let trigger = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("endpoints.kubernetes.io/last-change-trigger-time"))
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            let written = s
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .filter_map(|f| f.time.as_ref().map(|t| t.0));
            trigger.into_iter().chain(written)
        })
        .max();
    let Some(last) = last else {
        return Duration::ZERO;
    };
    let age = jiff::Timestamp::now().duration_since(last);
    let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
    ENDPOINTS_SETTLE.saturating_sub(age)
}
