//! A load as the serving pods saw it: the change in their request-latency
//! histograms' sums and counts between a scrape just before the load and
//! one just after. Read only when the same pods answered both scrapes
//! (a replaced pod takes its counters with it).

use report::ServerView;

use crate::server_metrics::Snapshot;

const E2E: &str = "vllm:e2e_request_latency_seconds";
const TTFT: &str = "vllm:time_to_first_token_seconds";

/// The mean of what a histogram observed between two scrapes, in ms, and
/// how many observations that was.
fn mean_ms(before: &Snapshot, after: &Snapshot, histogram: &str) -> Option<(u64, f64)> {
    let get = |s: &Snapshot, part: &str| s.sums.get(&format!("{histogram}_{part}")).copied();
    let count = get(after, "count")? - get(before, "count")?;
    let sum = get(after, "sum")? - get(before, "sum")?;
    (count >= 1.0 && sum >= 0.0).then(|| (count.round() as u64, sum / count * 1000.0))
}

/// The pods' view of what happened between `before` and `after`.
pub fn between(before: &Snapshot, after: &Snapshot) -> Option<ServerView> {
    if before.pods != after.pods {
        return None;
    }
    let (requests, e2e_mean_ms) = mean_ms(before, after, E2E)?;
    Some(ServerView {
        requests,
        e2e_mean_ms,
        ttft_mean_ms: mean_ms(before, after, TTFT).map(|(_, m)| m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(pods: &[&str], e2e: (f64, f64), ttft: (f64, f64)) -> Snapshot {
        Snapshot {
            pods: pods.iter().map(|p| p.to_string()).collect(),
            sums: [
                (format!("{E2E}_count"), e2e.0),
                (format!("{E2E}_sum"), e2e.1),
                (format!("{TTFT}_count"), ttft.0),
                (format!("{TTFT}_sum"), ttft.1),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn the_change_between_two_scrapes_is_the_load() {
        let before = snap(&["a", "b"], (10.0, 1.0), (10.0, 0.2));
        let after = snap(&["a", "b"], (110.0, 11.0), (110.0, 2.2));
        let v = between(&before, &after).expect("a view");
        assert_eq!(v.requests, 100);
        assert!((v.e2e_mean_ms - 100.0).abs() < 1e-9);
        assert!((v.ttft_mean_ms.unwrap() - 20.0).abs() < 1e-9);
    }

    #[test]
    fn no_view_across_replaced_pods_or_without_requests() {
        let before = snap(&["a"], (10.0, 1.0), (10.0, 0.2));
        assert!(between(&before, &snap(&["b"], (5.0, 1.0), (5.0, 0.1))).is_none());
        assert!(between(&before, &before.clone()).is_none());
        let mut no_ttft = snap(&["a"], (20.0, 2.0), (0.0, 0.0));
        no_ttft.sums.retain(|k, _| !k.starts_with(TTFT));
        let v = between(&before, &no_ttft).expect("e2e alone");
        assert_eq!((v.requests, v.ttft_mean_ms), (10, None));
    }
}
