//! The xtask binary on bad input: the error with its file and line, a
//! non-zero exit, and never a stack backtrace or a panic message, even with
//! `RUST_BACKTRACE=1`.

use std::process::Command;

fn xtask(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("xtask runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_no_trace(stderr: &str) {
    for bad in ["stack backtrace", "panicked", "Stack backtrace", "Error: "] {
        assert!(!stderr.contains(bad), "{bad:?} in stderr:\n{stderr}");
    }
}

#[test]
fn a_broken_scenario_is_an_error_with_its_line_not_a_trace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        "apiVersion: inferbench.dev/v1alpha1\nkind: Scenario\nmetadata: { name: broken }\nspec:\n  steps:\n    - name: s\n      noTwin: test\n      try:\n        - sleep: { duration: 99999999999999h }\n",
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let (code, _, stderr) = xtask(&["scenarios", "lint", &path]);
    assert_ne!(code, 0, "{stderr}");
    assert_no_trace(&stderr);
    let stderr = stderr.replace(&path, "broken.yaml");
    assert!(stderr.starts_with("error: broken.yaml:9:"), "{stderr}");
    assert!(stderr.contains("168h (7 days)"), "{stderr}");
}

#[test]
fn a_missing_file_and_a_bad_set_are_errors_not_traces() {
    let (code, _, stderr) = xtask(&["scenarios", "lint", "/nonexistent/scenario.yaml"]);
    assert_ne!(code, 0);
    assert_no_trace(&stderr);
    assert!(
        stderr.starts_with("error: cannot read /nonexistent/scenario.yaml"),
        "{stderr}"
    );
    let (code, _, stderr) = xtask(&["scenarios", "lint", "--set", "novalue"]);
    assert_ne!(code, 0);
    assert_no_trace(&stderr);
    assert!(stderr.contains("expected NAME=VALUE"), "{stderr}");
}

#[test]
fn lint_against_a_profile_that_lacks_a_binding_names_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = dir.path().join("thin.yaml");
    std::fs::write(
        &profile,
        "apiVersion: inferbench.dev/v1alpha1\nkind: Profile\nmetadata: { name: thin }\nspec:\n  provides: [mock-server]\n  bindings:\n    servingTemplate: fixtures/mock-server/deployment.yaml\n    server: mock-server\n    port: 8000\n",
    )
    .expect("write");
    let (code, stdout, stderr) = xtask(&[
        "scenarios",
        "lint",
        "--profile",
        &profile.to_string_lossy(),
        "--set",
        "replicsa=3",
    ]);
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    assert_no_trace(&stderr);
    assert!(
        stderr.contains("warning: --set replicsa: no scenario, template or profile uses a binding named `replicsa`; did you mean `replicas`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("01-rolling-update-under-load.yaml:")
            && stderr.contains("profile thin binds no `versionEnv`"),
        "{stderr}"
    );
    let (code, stdout, stderr) = xtask(&["scenarios", "lint", "--profile", "all"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ok  profile vllm: every scenario renders"),
        "{stdout}"
    );
}

#[test]
fn a_template_without_its_named_target_is_refused_before_any_cluster_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/plain");
    let profile = dir.path().join("team.yaml");
    std::fs::write(
        &profile,
        format!(
            "apiVersion: inferbench.dev/v1alpha1\nkind: Profile\nmetadata: {{ name: team }}\nspec:\n  template:\n    manifests: {plain}\n    target: {{ workload: Deployment/nope }}\n"
        ),
    )
    .expect("profile written");
    let (code, _, stderr) = xtask(&["e2e", "--profile", profile.to_str().expect("UTF-8")]);
    assert_ne!(code, 0);
    assert_no_trace(&stderr);
    assert!(
        stderr.contains("target Deployment/nope: no Deployment or StatefulSet of that name"),
        "{stderr}"
    );
    assert!(!stderr.contains("bringing up"), "{stderr}");
}

/// `e2e --chart/--kustomize/--manifests` with bad input: one message naming
/// what and where, before any cluster work (`bringing up` never printed).
#[test]
fn bad_template_flags_are_refused_before_any_cluster_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/charts/llm");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("folder");
    std::fs::write(
        empty.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\ndata: { a: b }\n",
    )
    .expect("manifest");
    let empty = empty.to_str().expect("UTF-8");
    let cases: [(&[&str], &str); 4] = [
        (
            &["e2e", "--chart", "/nonexistent/chart"],
            "not a Helm chart",
        ),
        (
            &["e2e", "--chart", chart, "-f", "/nonexistent/values.yaml"],
            "/nonexistent/values.yaml: values file not found",
        ),
        (&["e2e", "--manifests", empty], "no serving workload"),
        (
            &["e2e", "--target", "Deployment/x"],
            "give --chart, --kustomize or --manifests",
        ),
    ];
    for (args, wanted) in cases {
        let (code, _, stderr) = xtask(args);
        assert_ne!(code, 0, "{args:?}");
        assert_no_trace(&stderr);
        assert!(
            stderr.contains(wanted),
            "{args:?}: {wanted:?} not in:\n{stderr}"
        );
        assert!(!stderr.contains("bringing up"), "{args:?}: {stderr}");
    }
}
