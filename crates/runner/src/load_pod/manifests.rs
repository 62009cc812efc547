//! The generator's pod and indexed Job manifests, and their names.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use loadgen::GenPlan;
use serde_json::json;

/// `load-NAME-xxxxx`, a valid pod name whatever the load is called.
pub(super) fn pod_name(load: &str) -> String {
    let mut base = scenario::plan::dns_safe(load);
    base.truncate(40);
    let base = base.trim_matches('-');
    format!("load-{base}-{:05x}", crate::random_suffix(0xfffff))
}

/// The labels of a load's generator pods.
fn labels(name: &str, load: &str) -> serde_json::Value {
    json!({
        "app.kubernetes.io/name": "inferbench-load",
        "app.kubernetes.io/part-of": "inferbench",
        "inferbench.dev/role": "load-generator",
        "inferbench.dev/load": load_label(load),
        "inferbench.dev/generator": load_label(name),
    })
}

/// The pod: one container running `mock-server load --plan JSON`, never
/// restarted, small requests, no service account token.
pub fn manifest(name: &str, load: &str, image: &str, plan: &GenPlan, deadline: Duration) -> Pod {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": labels(name, load) },
        "spec": pod_spec(image, plan, deadline),
    });
    serde_json::from_value(pod).unwrap_or_default()
}

/// An indexed Job of `plan.generators` such pods, all at once, spread over
/// the nodes where they fit, none retried (a generator that fails fails
/// the load, as one pod's would).
pub fn job_manifest(
    name: &str,
    load: &str,
    image: &str,
    plan: &GenPlan,
    deadline: Duration,
) -> Job {
    let n = plan.generators.max(1);
    let mut spec = pod_spec(image, plan, deadline);
    spec["topologySpreadConstraints"] = json!([{
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": { "matchLabels": { "inferbench.dev/generator": load_label(name) } },
    }]);
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name, "labels": labels(name, load) },
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": n,
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline.as_secs().max(1) + 120,
            "template": {
                "metadata": { "labels": labels(name, load) },
                "spec": spec,
            },
        },
    });
    serde_json::from_value(job).unwrap_or_default()
}

fn pod_spec(image: &str, plan: &GenPlan, deadline: Duration) -> serde_json::Value {
    let plan_json = serde_json::to_string(plan).unwrap_or_default();
    json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 1,
        "activeDeadlineSeconds": deadline.as_secs().max(1) + 60,
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "containers": [{
            "name": "load",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "args": ["load", "--plan", plan_json],
            "resources": {
                "requests": {"cpu": "100m", "memory": "32Mi"},
                "limits": {"memory": "256Mi"},
            },
        }],
    })
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`.
pub(super) fn load_label(load: &str) -> String {
    let v: String = load
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}
