//! `cargo xtask check` on a Helm chart and a kustomize overlay, rendered
//! with the pinned Helm and kubectl (built from the Go module proxy or
//! downloaded on first use, then cached): the worked examples pass, the
//! broken values fail with the rules of their three defects pointed at the
//! chart's template, and bad input is one clear error.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn xtask(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("xtask runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs Helm (built from the Go module proxy on first use): run cargo xtask test"]
fn the_chart_passes_with_each_ci_values_file() {
    let (code, stdout, stderr) = xtask(&["check", "--chart", "examples/charts/llm"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // chart-testing's convention: one check per ci/*-values.yaml.
    for values in ["ci/dev-values.yaml", "ci/prod-values.yaml"] {
        let line = stderr
            .lines()
            .find(|l| l.contains(values) && l.contains("error(s)"))
            .unwrap_or_else(|| panic!("no summary for {values}:\n{stderr}"));
        assert!(line.contains(": 0 error(s)"), "{line}");
    }
    assert!(
        stdout.contains("== chart examples/charts/llm -f examples/charts/llm/ci/dev-values.yaml"),
        "{stdout}"
    );
}

#[test]
#[ignore = "needs Helm (built from the Go module proxy on first use): run cargo xtask test"]
fn the_broken_values_fail_with_their_three_rules_in_the_template() {
    let (code, stdout, stderr) = xtask(&[
        "check",
        "--chart",
        "examples/charts/llm",
        "-f",
        "examples/broken/llm-values.yaml",
        "--format",
        "json",
    ]);
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: check failed: 3 error-severity finding(s)"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let mut rules: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["file"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    rules.sort();
    let template = "examples/charts/llm/templates/deployment.yaml";
    assert_eq!(
        rules,
        [
            ("gpu-taint-toleration".to_string(), template.to_string()),
            (
                "readiness-gated-on-model-load".to_string(),
                template.to_string()
            ),
            (
                "rolling-update-keeps-capacity".to_string(),
                template.to_string()
            ),
        ],
        "{stdout}"
    );
    // The readiness finding points at the template's readinessProbe line.
    let readiness = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["rule"] == "readiness-gated-on-model-load")
        .expect("readiness finding");
    let line = readiness["line"].as_u64().expect("line") as usize;
    let text = std::fs::read_to_string(repo().join(template)).expect("template");
    let at = text.lines().nth(line - 1).unwrap_or_default();
    assert!(
        at.contains("readinessProbe") || at.contains("startupProbe"),
        "line {line}: {at:?}"
    );
}

#[test]
#[ignore = "needs kubectl (built from the Go module proxy on first use): run cargo xtask test"]
fn the_kustomize_overlay_passes_and_points_at_the_base() {
    let (code, stdout, stderr) = xtask(&[
        "check",
        "--kustomize",
        "examples/kustomize/overlays/staging",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let serving: Vec<&str> = report["serving"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["object"].as_str())
        .collect();
    assert_eq!(serving, ["Deployment/staging-llm"], "{stdout}");
    let deployment = report["checked"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["object"] == "Deployment/staging-llm")
        .expect("the deployment was checked");
    assert_eq!(
        deployment["file"], "examples/kustomize/base/deployment.yaml",
        "{stdout}"
    );
    assert_eq!(
        deployment["line"], 4,
        "the line of `kind: Deployment`: {stdout}"
    );
}

#[test]
#[ignore = "needs Helm (built from the Go module proxy on first use): run cargo xtask test"]
fn bad_charts_values_and_overlays_are_one_clear_error() {
    let (code, _, stderr) = xtask(&["check", "--chart", "examples/plain"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("examples/plain: not a Helm chart (no Chart.yaml"),
        "{stderr}"
    );

    let (code, _, stderr) = xtask(&["check", "--chart", "examples/charts/llm", "-f", "nope.yaml"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("nope.yaml: values file not found"),
        "{stderr}"
    );

    let (code, _, stderr) = xtask(&["check", "--kustomize", "examples/plain"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("examples/plain: not a kustomization"),
        "{stderr}"
    );

    // A template that does not render: Helm's own message, quoted.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
    std::fs::write(
        dir.path().join("Chart.yaml"),
        "apiVersion: v2\nname: bad\nversion: 0.1.0\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name | required \"set name\" }}\n",
    )
    .expect("write");
    let chart = dir.path().to_string_lossy().into_owned();
    let (code, _, stderr) = xtask(&["check", "--chart", &chart]);
    assert_ne!(code, 0);
    assert!(stderr.contains("helm template"), "{stderr}");
    assert!(stderr.contains("set name"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn one_run_prints_text_and_writes_sarif() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sarif = dir.path().join("findings.sarif");
    let (code, stdout, stderr) = xtask(&[
        "check",
        "--manifests",
        "examples/plain-broken",
        "--sarif",
        sarif.to_str().expect("UTF-8 temp path"),
    ]);
    assert_ne!(code, 0, "the broken manifests have errors: {stderr}");
    assert!(
        stdout.contains("error"),
        "text findings on stdout: {stdout}"
    );
    let written = std::fs::read_to_string(&sarif).expect("SARIF written");
    let doc: serde_json::Value = serde_json::from_str(&written).expect("SARIF is JSON");
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().expect("results array");
    assert!(
        results.iter().any(|r| r["level"] == "error"),
        "the errors are in the SARIF too: {written}"
    );
}

#[test]
fn check_names_the_target_and_a_wrong_choice_is_an_error() {
    let (code, _, stderr) = xtask(&["check", "--manifests", "examples/plain"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "scenarios act on Deployment/qwen-chat (container `vllm`, 1 nvidia.com/gpu) behind Service/qwen-chat port 80"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = xtask(&[
        "check",
        "--manifests",
        "examples/plain",
        "--target",
        "Deployment/nope",
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("target Deployment/nope: no Deployment or StatefulSet of that name in the template (found: Deployment/qwen-chat)"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_profiles_template_paths_are_relative_to_the_profile() {
    let profile = repo().join("examples/profiles/plain.yaml");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["check", "--profile"])
        .arg(&profile)
        .current_dir(elsewhere.path())
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("scenarios act on Deployment/qwen-chat"),
        "{stderr}"
    );
    // A profile that binds our own template has no spec.template to check.
    let (code, _, stderr) = xtask(&["check", "--profile", "mock"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no `spec.template`"), "{stderr}");
}

#[test]
#[ignore = "needs Helm (built from the Go module proxy on first use): run cargo xtask test"]
fn the_chart_profile_checks_its_chart_with_its_values() {
    let (code, stdout, stderr) = xtask(&["check", "--profile", "examples/profiles/chart.yaml"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("dev-values.yaml"), "{stderr}");
    assert!(stderr.contains("(container `vllm`"), "{stderr}");
}
