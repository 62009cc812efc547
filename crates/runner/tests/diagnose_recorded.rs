//! Every diagnosis rule on evidence recorded from real kind-cluster runs
//! (`tests/evidence/*.json`, see `tests/evidence/README.md` for how each was
//! made): the rule fires on the recording of its situation, names the
//! controller that decided and the values it observed, and stays silent on
//! a recording without that situation.

use std::path::PathBuf;

use report::{CheckKind, Decider, FailureKind};
use runner::Failure;
use runner::diagnose::{self, Found};
use runner::evidence::Recording;

fn recording(name: &str) -> Recording {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("evidence")
        .join(format!("{name}.json"));
    Recording::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn all(name: &str) -> Vec<Found> {
    let r = recording(name);
    diagnose::findings(&r.evidence, &r.loads)
}

/// The one finding of `decider` in `found`.
fn only(found: &[Found], decider: Decider) -> Found {
    let mine: Vec<&Found> = found.iter().filter(|f| f.decider == decider).collect();
    assert_eq!(mine.len(), 1, "{decider:?} in {found:#?}");
    mine[0].clone()
}

fn assert_mentions(f: &Found, parts: &[&str]) {
    for p in parts {
        assert!(f.summary.contains(p), "{p:?} missing from: {}", f.summary);
    }
}

// ---- scheduler ----

#[test]
fn scheduler_on_an_unschedulable_gpu_pod() {
    let r = recording("scheduler");
    let f = diagnose::scheduler::rule(&r.evidence).expect("the scheduler rule fires");
    assert_eq!(f.decider, Decider::Scheduler);
    assert_mentions(
        &f,
        &[
            "default-scheduler",
            "Insufficient nvidia.com/gpu",
            "still Pending",
        ],
    );
    insta::assert_snapshot!("scheduler", f.summary);
}

#[test]
fn scheduler_on_a_claim_no_device_can_satisfy() {
    let r = recording("claims");
    let f = diagnose::scheduler::rule(&r.evidence).expect("the scheduler rule fires");
    assert_eq!(f.decider, Decider::Scheduler);
    assert_mentions(
        &f,
        &[
            "cannot allocate all claims",
            "ResourceSlices",
            "quantity('100Gi')",
            "gpu.nvidia.com",
        ],
    );
    // The claim's reason, not the control plane's taint, gives the advice.
    assert!(!f.summary.contains("add the toleration"), "{}", f.summary);
    insta::assert_snapshot!("scheduler_claims", f.summary);
}

#[test]
fn scheduler_silent_when_every_pod_was_placed() {
    let r = recording("healthy");
    assert_eq!(diagnose::scheduler::rule(&r.evidence), None);
}

// ---- image pull ----

#[test]
fn image_pull_names_the_image() {
    let r = recording("image-pull");
    let found = diagnose::image_pull::rule(&r.evidence);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].decider, Decider::Kubelet);
    assert_mentions(
        &found[0],
        &[
            "registry.invalid/models/llama-weights:v1",
            "container `server`",
        ],
    );
    insta::assert_snapshot!("image_pull", found[0].summary);
}

#[test]
fn image_pull_read_from_the_kubelets_event_while_the_status_lags() {
    // Collected the moment the kubelet said `Error: ErrImagePull`: the
    // pod's status still says ContainerCreating.
    let r = recording("image-pull-creating");
    let found = diagnose::image_pull::rule(&r.evidence);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].decider, Decider::Kubelet);
    assert_mentions(
        &found[0],
        &[
            "localhost:1/inferbench/model-server:v2",
            "ErrImagePull",
            "connection refused",
        ],
    );
}

#[test]
fn image_pull_silent_on_pulled_images() {
    for name in ["healthy", "crashloop"] {
        assert!(
            diagnose::image_pull::rule(&recording(name).evidence).is_empty(),
            "{name}"
        );
    }
}

// ---- crash loop ----

#[test]
fn crashloop_quotes_the_last_termination() {
    let found = all("crashloop");
    let f = only(&found, Decider::Kubelet);
    assert_mentions(
        &f,
        &[
            "keeps exiting",
            "exit code 2",
            "reason Error",
            "CrashLoopBackOff",
        ],
    );
    insta::assert_snapshot!("crashloop", f.summary);
}

#[test]
fn crashloop_silent_on_oom_kills_and_liveness_kills() {
    // Both restart their container; each has its own rule.
    for name in ["oom", "liveness", "healthy"] {
        assert!(
            diagnose::crashloop::rule(&recording(name).evidence).is_empty(),
            "{name}"
        );
    }
}

// ---- quota ----

#[test]
fn quota_names_the_quota_and_its_usage() {
    let found = all("quota");
    let f = only(&found, Decider::Admission);
    assert_mentions(
        &f,
        &[
            "resourcequota/no-pods",
            "pods used 0 of 0",
            "ReplicaSet/server-",
        ],
    );
    insta::assert_snapshot!("quota", f.summary);
}

#[test]
fn quota_silent_without_failed_create() {
    assert!(diagnose::quota::rule(&recording("healthy").evidence).is_empty());
}

// ---- OOM ----

#[test]
fn oom_ties_the_kill_to_the_requests_around_it() {
    let found = all("oom");
    let f = only(&found, Decider::KernelOomKiller);
    assert_mentions(
        &f,
        &["OOMKilled", "exit code 137", "its limit of", "before and"],
    );
    insta::assert_snapshot!("oom", f.summary);
}

#[test]
fn oom_silent_without_an_oom_kill() {
    for name in ["oom-twin", "crashloop"] {
        assert!(
            diagnose::oom::rule(&recording(name).evidence, &[]).is_empty(),
            "{name}"
        );
    }
}

// ---- liveness before load ----

#[test]
fn liveness_killing_before_the_model_loaded() {
    let found = all("liveness");
    let f = only(&found, Decider::KubeletProbes);
    assert_mentions(
        &f,
        &[
            "liveness probe httpGet :http/health/ready",
            "before its model had loaded",
            "startupProbe",
        ],
    );
    insta::assert_snapshot!("liveness", f.summary);
}

#[test]
fn liveness_silent_when_readiness_fails_without_kills() {
    for name in ["rollout", "healthy", "crashloop"] {
        assert!(
            diagnose::liveness::rule(&recording(name).evidence).is_empty(),
            "{name}"
        );
    }
}

// ---- readiness probe failing ----

#[test]
fn readiness_failing_reads_the_probe_and_its_unhealthy_events() {
    let r = recording("rollout");
    let f = diagnose::probes::readiness_failing(&r.evidence).expect("fires");
    assert_eq!(f.decider, Decider::KubeletProbes);
    assert_mentions(
        &f,
        &[
            "readiness probe of container `server`, httpGet :http/health/ready",
            "Readiness probe failed",
        ],
    );
    insta::assert_snapshot!("readiness_failing", f.summary);
}

#[test]
fn readiness_failing_silent_when_pods_are_ready() {
    assert_eq!(
        diagnose::probes::readiness_failing(&recording("healthy").evidence),
        None
    );
}

// ---- readiness passing too early ----

#[test]
fn ready_too_early_ties_5xx_to_pods_becoming_ready() {
    let r = recording("ready-too-early");
    let f = diagnose::probes::ready_too_early(&r.evidence, &r.loads).expect("fires");
    assert_eq!(f.decider, Decider::KubeletProbes);
    assert_mentions(
        &f,
        &["answered HTTP 503", "httpGet :http/health ", "became Ready"],
    );
    insta::assert_snapshot!("ready_too_early", f.summary);
}

#[test]
fn ready_too_early_after_a_rollout_replaced_the_early_pods() {
    // 02 `probe-on-liveness` at the scenario's end (clean-clone CI run of
    // 2026-12-02): the 503s came from the first revision's pods, which the
    // rollout has since replaced; only the ReplicaSet's ready history says
    // when they became Ready.
    let r = recording("ready-too-early-end");
    let d = diagnose::diagnose("detect", None, &r.evidence, &r.loads);
    let f = d
        .iter()
        .find(|d| d.decider == Decider::KubeletProbes)
        .unwrap_or_else(|| panic!("{d:#?}"));
    assert!(f.summary.contains("answered HTTP 503"), "{}", f.summary);
    assert!(f.summary.contains("httpGet :http/health "), "{}", f.summary);
    assert!(
        d.iter().all(|d| d.decider != Decider::Service),
        "the probe explains the 503s: {d:#?}"
    );
}

#[test]
fn ready_too_early_silent_when_the_probe_waits_for_the_model() {
    let r = recording("ready-too-early-twin");
    assert_eq!(
        diagnose::probes::ready_too_early(&r.evidence, &r.loads),
        None
    );
}

// ---- rollout stalled ----

#[test]
fn rollout_stalled_states_the_strategy_and_what_blocked() {
    let found = all("rollout");
    let f = only(&found, Decider::RolloutController);
    assert_mentions(
        &f,
        &[
            "ProgressDeadlineExceeded",
            "maxSurge=",
            "maxUnavailable=0",
            "What blocks it",
            "is not Ready",
        ],
    );
    insta::assert_snapshot!("rollout", f.summary);
}

#[test]
fn rollout_silent_when_the_new_revision_became_available() {
    assert!(diagnose::rollout::stalled(&recording("rollout-twin").evidence).is_empty());
}

// ---- rollout capacity ----

#[test]
fn capacity_ties_dropped_requests_to_the_window_without_a_replica() {
    // 05's `no-headroom` twin (maxUnavailable 1, maxSurge 0, one replica),
    // recorded by the clean-clone CI run at its `rollback` step.
    let r = recording("capacity");
    let found = diagnose::rollout::capacity_dropped(&r.evidence, &r.loads);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.decider, Decider::RolloutController);
    assert_mentions(
        f,
        &[
            "got no response while deployment/mock-server had no available replica",
            "maxSurge=0 maxUnavailable=1 with 1 replica",
            "requires 0 available",
            "Keep maxUnavailable at 0",
        ],
    );
    insta::assert_snapshot!("capacity", f.summary);
}

#[test]
fn capacity_silent_when_no_request_was_dropped() {
    let r = recording("rollout");
    assert!(diagnose::rollout::capacity_dropped(&r.evidence, &r.loads).is_empty());
}

// ---- Service selector ----

#[test]
fn selector_drift_names_the_labels() {
    let found = all("selector");
    let f = only(&found, Decider::ServiceSelector);
    assert_mentions(
        &f,
        &["selects {", "no pod in the namespace has those labels"],
    );
    insta::assert_snapshot!("selector", f.summary);
}

#[test]
fn selector_silent_when_endpoints_exist() {
    assert!(diagnose::selector::rule(&recording("selector-twin").evidence).is_empty());
}

// ---- autoscaler ----

#[test]
fn autoscaler_quotes_scaling_limited_at_its_maximum() {
    // 06's `max-2` twin at its `scale-up` step, recorded by the clean-clone
    // CI run: the HPA wanted more than its maxReplicas of 2.
    let found = all("autoscaler");
    let f = only(&found, Decider::Autoscaler);
    assert_mentions(
        &f,
        &[
            "hpa/mock-server has 2 replicas",
            "bounds 1..2",
            "ScalingLimited=True (TooManyReplicas)",
        ],
    );
}

#[test]
fn autoscaler_silent_without_an_autoscaler() {
    assert!(diagnose::autoscaler::rule(&recording("rollout").evidence).is_empty());
}

// ---- the inference service's own errors ----

#[test]
fn server_errors_are_counted_by_status_and_blamed_on_the_server() {
    // 08's `failing` entry at its end: the server was told to answer 500.
    let r = recording("server-errors");
    let found = diagnose::requests::rule(&r.evidence, &r.loads);
    let f = only(&found, Decider::Service);
    assert_mentions(&f, &["10 of 10 requests of load `probe` failed (10× 500)"]);
}

#[test]
fn server_errors_silent_when_every_request_succeeded() {
    // 02's `probe-on-model` twin: 38 requests, all answered 200.
    let r = recording("ready-too-early-twin");
    assert!(r.loads.iter().any(|l| l.requests > 0 && l.failures == 0));
    assert!(diagnose::requests::rule(&r.evidence, &r.loads).is_empty());
}

// ---- the whole chain ----

#[test]
fn every_recording_names_a_controller_never_only_the_assertion() {
    for name in [
        "scheduler",
        "image-pull",
        "crashloop",
        "quota",
        "oom",
        "liveness",
        "rollout",
        "capacity",
        "autoscaler",
        "server-errors",
        "ready-too-early",
        "ready-too-early-end",
        "selector",
    ] {
        let r = recording(name);
        let d = diagnose::diagnose("step", None, &r.evidence, &r.loads);
        assert!(
            d.iter().all(|d| d.decider != Decider::Assertion),
            "{name}: {d:#?}"
        );
    }
}

// ---- what was decided instead (negative twins whose defect is fixed) ----

fn not_met(check: CheckKind, observed: serde_json::Value) -> Failure {
    Failure {
        step: "step".into(),
        error: "the assertion".into(),
        kind: FailureKind::NotMet,
        check: Some(check),
        observed: Some(observed),
    }
}

/// The diagnosis of a twin's recording whose `check` was not met: exactly
/// one finding, by `decider`, from the `instead` rule (no failure rule
/// fires on a twin's evidence).
fn twin(name: &str, check: CheckKind, observed: serde_json::Value, decider: Decider) -> String {
    let r = recording(name);
    assert!(
        diagnose::findings(&r.evidence, &r.loads).is_empty(),
        "{name}: a failure rule fired on a twin: {:#?}",
        diagnose::findings(&r.evidence, &r.loads)
    );
    let f = not_met(check, observed);
    let d = diagnose::diagnose("step", Some(&f), &r.evidence, &r.loads);
    assert_eq!(d.len(), 1, "{name}: {d:#?}");
    assert_eq!(d[0].decider, decider, "{name}: {d:#?}");
    assert!(!d[0].evidence.is_empty(), "{name}: no evidence lines");
    d[0].summary.clone()
}

#[test]
fn a_placed_pod_names_the_scheduler() {
    let s = twin(
        "healthy",
        CheckKind::Event,
        serde_json::json!({"reason": "FailedScheduling", "matching": 0}),
        Decider::Scheduler,
    );
    assert!(s.contains("The scheduler placed 1 pod (server-"), "{s}");
    insta::assert_snapshot!("instead_scheduler", s);
}

#[test]
fn a_container_within_its_limit_names_the_oom_killer() {
    let s = twin(
        "oom-twin",
        CheckKind::ContainerTerminated,
        serde_json::json!({"oomKilled": false}),
        Decider::KernelOomKiller,
    );
    assert!(s.contains("ended no container"), "{s}");
    insta::assert_snapshot!("instead_oom", s);
}

#[test]
fn a_completed_rollout_names_the_rollout_controller() {
    let s = twin(
        "rollout-twin",
        CheckKind::Assert,
        serde_json::json!({}),
        Decider::RolloutController,
    );
    assert!(s.contains("NewReplicaSetAvailable"), "{s}");
    insta::assert_snapshot!("instead_rollout", s);
}

#[test]
fn a_matching_selector_names_the_endpoints() {
    let s = twin(
        "selector-twin",
        CheckKind::Endpoints,
        serde_json::json!({"ready": 2}),
        Decider::ServiceSelector,
    );
    assert!(s.contains("lists 2 ready endpoints"), "{s}");
    insta::assert_snapshot!("instead_endpoints", s);
}

#[test]
fn requests_answered_during_a_rollout_name_the_readiness_probe() {
    let s = twin(
        "ready-too-early-twin",
        CheckKind::FailedRequests,
        serde_json::json!({"failed": 0}),
        Decider::KubeletProbes,
    );
    assert!(s.contains("/health/ready"), "{s}");
    insta::assert_snapshot!("instead_probe", s);
}

#[test]
fn an_error_is_not_explained_by_what_happened_instead() {
    let r = recording("healthy");
    let mut f = not_met(
        CheckKind::Event,
        serde_json::json!({"reason": "FailedScheduling"}),
    );
    f.kind = FailureKind::Forbidden;
    let d = diagnose::diagnose("step", Some(&f), &r.evidence, &r.loads);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].decider, Decider::Assertion);
}

#[test]
fn injected_server_errors_are_not_blamed_on_the_readiness_probe() {
    // 08's `failing` entry: every request answered 500 right after the
    // pods became Ready; the server never recovered, so the errors are the
    // server's, not a probe that passed too early.
    let r = recording("server-errors");
    assert_eq!(
        diagnose::probes::ready_too_early(&r.evidence, &r.loads),
        None
    );
}

#[test]
fn failed_requests_do_not_explain_a_check_about_something_else() {
    // 08's `failing` entry: 10 requests answered 500 in an earlier step.
    // They explain a check on requests, not one on a Service's endpoints.
    let r = recording("server-errors");
    let about_requests = not_met(CheckKind::FailedRequests, serde_json::json!({}));
    let d = diagnose::diagnose("step", Some(&about_requests), &r.evidence, &r.loads);
    assert!(d.iter().any(|d| d.decider == Decider::Service), "{d:#?}");
    let about_endpoints = not_met(CheckKind::Endpoints, serde_json::json!({"ready": 2}));
    let d = diagnose::diagnose("step", Some(&about_endpoints), &r.evidence, &r.loads);
    assert!(d.iter().all(|d| d.decider != Decider::Service), "{d:#?}");
}
