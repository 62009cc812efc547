//! The worked examples: `examples/plain` passes, `examples/plain-broken`
//! fails with exactly the rules of its three defects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use check::{Severity, check, load_manifests, render};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_plain_example_passes() {
    let objects = load_manifests(&repo().join("examples/plain")).expect("loads");
    let report = check(&objects);
    assert!(
        report.findings.is_empty(),
        "{}",
        render::render(&report, render::Format::Text, &repo()).unwrap_or_default()
    );
    let serving: Vec<_> = report.serving.iter().map(|o| o.object.as_str()).collect();
    assert_eq!(serving, ["Deployment/qwen-chat"]);
    assert_eq!(report.checked.len(), 5);
}

#[test]
fn the_broken_example_fails_with_its_three_rules() {
    let root = repo();
    let objects = load_manifests(&root.join("examples/plain-broken")).expect("loads");
    let report = check(&objects);
    assert!(report.has_errors());
    let rules: BTreeSet<_> = report
        .findings
        .iter()
        .map(|f| (f.rule, f.severity))
        .collect();
    let expected: BTreeSet<_> = [
        "gpu-taint-toleration",
        "readiness-gated-on-model-load",
        "rolling-update-keeps-capacity",
    ]
    .into_iter()
    .map(|r| (r, Severity::Error))
    .collect();
    assert_eq!(rules, expected);
    assert_eq!(report.findings.len(), 3);
    let text =
        render::render(&report, render::Format::Text, &root.join("examples")).expect("renders");
    insta::assert_snapshot!(text);
}

#[test]
fn missing_paths_and_empty_folders_are_clear_errors() {
    let err = load_manifests(Path::new("/nonexistent/manifests")).expect_err("missing");
    assert!(err.to_string().contains("no such file or folder"), "{err}");
    let empty = repo().join("crates/check/tests");
    let err = load_manifests(&empty).expect_err("no YAML here");
    assert!(err.to_string().contains("no Kubernetes manifests"), "{err}");
}
