//! The GitHub Actions workflows in `.github/workflows`.
//!
//! The plain tests parse each workflow and check what we rely on (every job
//! has a timeout, e2e always uploads its report folder, ...), so something
//! runs even without Go. The ignored one lints them with the pinned
//! actionlint, obtained through the harness's tool machinery and cached
//! under `~/.cache/inferbench/tools/actionlint/<version>`; `cargo xtask test`
//! runs it.
//!
//! actionlint runs with `-shellcheck=` and `-pyflakes=`: otherwise it calls
//! whichever shellcheck and pyflakes happen to be on PATH, and the same tree
//! could pass on one machine and fail on another (or with another
//! shellcheck release). The pinned actionlint alone gives one answer
//! everywhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use environment::tools::{ToolSource, Toolchain, versions};
use yaml_serde::Value;

fn repo_root() -> PathBuf {
    environment::workspace::repo_root()
}

/// `.github/workflows/*.yml` and `*.yaml`, sorted.
fn workflow_files() -> Vec<PathBuf> {
    let dir = repo_root().join(".github").join("workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn workflow(name: &str) -> Value {
    load(&repo_root().join(".github").join("workflows").join(name))
}

/// The `on:` mapping (a YAML 1.1 reader would see the key `on` as `true`).
fn triggers(w: &Value) -> &Value {
    w.get("on")
        .or_else(|| w.get(Value::Bool(true)))
        .expect("workflow has `on:`")
}

fn trigger_names(w: &Value) -> Vec<String> {
    match triggers(w) {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Value::Mapping(m) => m
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        other => panic!("unexpected `on:` {other:?}"),
    }
}

fn jobs(w: &Value) -> Vec<(String, &Value)> {
    w.get("jobs")
        .and_then(Value::as_mapping)
        .expect("workflow has a `jobs:` mapping")
        .iter()
        .map(|(k, v)| (k.as_str().expect("job id").to_string(), v))
        .collect()
}

fn steps(job: &Value) -> &[Value] {
    job.get("steps")
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn all_steps(w: &Value) -> Vec<&Value> {
    jobs(w).into_iter().flat_map(|(_, j)| steps(j)).collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Every `run:` script of the workflow, joined.
fn scripts(w: &Value) -> String {
    all_steps(w)
        .iter()
        .map(|s| str_of(s, "run"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Steps that use `action` (any version).
fn uses<'a>(w: &'a Value, action: &str) -> Vec<&'a Value> {
    all_steps(w)
        .into_iter()
        .filter(|s| str_of(s, "uses").split('@').next() == Some(action))
        .collect()
}

fn runs_always(step: &Value) -> bool {
    str_of(step, "if").contains("always()")
}

#[test]
fn workflows_parse_and_every_job_has_a_timeout() {
    let files = workflow_files();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for wanted in ["ci.yml", "e2e.yml", "gpu.yml"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} missing: {names:?}"
        );
    }
    for file in &files {
        let w = load(file);
        let f = file.display();
        assert!(!str_of(&w, "name").is_empty(), "{f}: no `name:`");
        assert!(!trigger_names(&w).is_empty(), "{f}: no triggers");
        let jobs = jobs(&w);
        assert!(!jobs.is_empty(), "{f}: no jobs");
        for (id, job) in jobs {
            let timeout = job.get("timeout-minutes").and_then(Value::as_u64);
            assert!(
                timeout.is_some_and(|t| (1..=360).contains(&t)),
                "{f}: job {id} needs `timeout-minutes` (1 to 360), has {:?}",
                job.get("timeout-minutes")
            );
            assert!(job.get("runs-on").is_some(), "{f}: job {id}: no runs-on");
            let steps = steps(job);
            assert!(!steps.is_empty(), "{f}: job {id}: no steps");
            for (i, step) in steps.iter().enumerate() {
                let (u, r) = (step.get("uses").is_some(), step.get("run").is_some());
                assert!(
                    u != r,
                    "{f}: job {id} step {i}: needs exactly one of `uses` and `run`"
                );
                let action = str_of(step, "uses");
                // A local action (`./`, our action.yml) is the checked-out tree.
                if u && !action.starts_with("./") {
                    let (_, version) = action
                        .split_once('@')
                        .unwrap_or_else(|| panic!("{f}: {action} has no @version"));
                    assert!(
                        !matches!(version, "main" | "master" | "HEAD" | "latest"),
                        "{f}: {action}: pin a version, not a branch"
                    );
                }
            }
        }
    }
}

#[test]
fn ci_checks_format_lints_and_tests_with_a_cache() {
    let w = workflow("ci.yml");
    let t = trigger_names(&w);
    assert!(t.contains(&"push".into()) && t.contains(&"pull_request".into()));
    let s = scripts(&w);
    for wanted in [
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets --locked -- -D warnings",
        "cargo test --workspace --locked",
        "--test workflows",
    ] {
        assert!(s.contains(wanted), "ci.yml does not run `{wanted}`");
    }
    let caches = uses(&w, "actions/cache");
    assert!(
        caches.iter().any(|c| {
            let p = c.get("with").map(|w| str_of(w, "path")).unwrap_or_default();
            p.contains("~/.cargo") && p.contains("target")
        }),
        "ci.yml caches neither ~/.cargo nor target"
    );
}

#[test]
fn e2e_runs_the_download_path_and_always_uploads_the_report_folder() {
    let w = workflow("e2e.yml");
    let t = trigger_names(&w);
    for wanted in ["push", "pull_request", "workflow_dispatch"] {
        assert!(t.contains(&wanted.into()), "e2e.yml: no {wanted} trigger");
    }
    let run = all_steps(&w)
        .into_iter()
        .map(|s| str_of(s, "run"))
        .find(|r| r.contains("cargo xtask e2e"))
        .expect("e2e.yml runs cargo xtask e2e");
    assert!(run.contains("--source download"), "{run}");
    assert!(
        run.contains("--report-dir reports/ci") || run.contains("--report-dir \"$REPORT_DIR\""),
        "{run}"
    );
    if run.contains("$REPORT_DIR") {
        assert_eq!(
            w.get("env").map(|e| str_of(e, "REPORT_DIR")),
            Some("reports/ci")
        );
    }
    let uploads = uses(&w, "actions/upload-artifact");
    assert!(
        uploads
            .iter()
            .any(|u| runs_always(u)
                && u.get("with").map(|w| str_of(w, "path")) == Some("reports/ci")),
        "e2e.yml must upload reports/ci with `if: always()`"
    );
    let caches = uses(&w, "actions/cache");
    assert!(
        caches.iter().any(|c| {
            let with = c.get("with").expect("cache has with:");
            str_of(with, "path").contains("~/.cache/inferbench")
                && str_of(with, "key").contains("hashFiles('crates/env/src/tools/versions.rs')")
        }),
        "e2e.yml must cache ~/.cache/inferbench keyed on versions.rs"
    );
    assert!(
        uses(&w, "EnricoMi/publish-unit-test-result-action")
            .iter()
            .any(|s| runs_always(s)
                && s.get("with").map(|w| str_of(w, "files")) == Some("reports/ci/junit.xml")),
        "e2e.yml must publish reports/ci/junit.xml"
    );
}

#[test]
fn gpu_workflow_runs_on_the_self_hosted_gpu_runner() {
    let w = workflow("gpu.yml");
    let t = trigger_names(&w);
    assert!(t.contains(&"workflow_dispatch".into()) && t.contains(&"schedule".into()));
    for (id, job) in jobs(&w) {
        let labels: Vec<&str> = job
            .get("runs-on")
            .and_then(Value::as_sequence)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(labels, ["self-hosted", "linux", "gpu"], "gpu.yml job {id}");
    }
    let s = scripts(&w);
    assert!(s.contains("nvidia-smi"));
    assert!(s.contains("cargo xtask e2e --gpus real --profile vllm"));
    assert!(
        uses(&w, "actions/upload-artifact")
            .iter()
            .any(|u| runs_always(u)),
        "gpu.yml must upload its report with `if: always()`"
    );
    // actionlint rejects labels it does not know unless they are declared.
    let config = load(&repo_root().join(".github").join("actionlint.yaml"));
    let declared: Vec<&str> = config
        .get("self-hosted-runner")
        .and_then(|r| r.get("labels"))
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(declared.contains(&"gpu"), "{declared:?}");
}

/// `INFERBENCH_TOOL_SOURCE` when set (CI with internet sets `download`),
/// otherwise the build from the Go module proxy.
fn actionlint_source() -> ToolSource {
    match std::env::var_os("INFERBENCH_TOOL_SOURCE") {
        Some(_) => ToolSource::from_env().expect("INFERBENCH_TOOL_SOURCE"),
        None => ToolSource::BuildFromGoProxy,
    }
}

#[test]
#[ignore = "builds actionlint from the Go module proxy"]
fn actionlint_finds_no_problems() {
    let source = actionlint_source();
    let started = Instant::now();
    let bin = Toolchain::new(source)
        .actionlint()
        .unwrap_or_else(|e| panic!("getting actionlint {}: {e}", versions::ACTIONLINT));
    eprintln!(
        "actionlint {} ({source:?}) ready in {:.1}s: {}",
        versions::ACTIONLINT,
        started.elapsed().as_secs_f64(),
        bin.display()
    );

    let version = Command::new(&bin)
        .arg("-version")
        .output()
        .expect("actionlint runs");
    let version = String::from_utf8_lossy(&version.stdout);
    assert_eq!(
        version.lines().next().unwrap_or_default().trim(),
        versions::ACTIONLINT.trim_start_matches('v'),
        "actionlint -version: {version}"
    );

    let root = repo_root();
    let files: Vec<PathBuf> = workflow_files()
        .into_iter()
        .map(|p| p.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(p))
        .collect();
    let out = Command::new(&bin)
        .current_dir(&root)
        .args([
            "-no-color",
            "-shellcheck=",
            "-pyflakes=",
            "-config-file",
            ".github/actionlint.yaml",
        ])
        .args(&files)
        .output()
        .expect("actionlint runs");
    assert!(
        out.status.success(),
        "actionlint {} found problems ({}):\n{}{}",
        versions::ACTIONLINT,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("actionlint: {} workflow(s) clean", files.len());
}

/// The composite action a team uses: check first (SARIF to code scanning),
/// then the scenarios on the same template, the report folder uploaded
/// whatever happened and its JUnit published as a check.
#[test]
fn the_action_checks_then_runs_the_scenarios_and_publishes_the_report() {
    let a = load(&repo_root().join("action.yml"));
    assert_eq!(str_of(&a["runs"], "using"), "composite");
    for input in [
        "chart",
        "values",
        "kustomize",
        "manifests",
        "e2e",
        "serve-with",
    ] {
        assert!(
            a["inputs"].get(input).is_some(),
            "action.yml: no input {input}"
        );
    }
    let steps = steps(&a["runs"]);
    let position = |pred: &dyn Fn(&Value) -> bool, what: &str| {
        steps
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("action.yml: no step that {what}"))
    };
    let check = position(
        &|s| str_of(s, "run").contains("xtask check"),
        "runs xtask check",
    );
    let e2e = position(
        &|s| {
            str_of(s, "run").contains("e2e \"${args[@]}\"")
                && str_of(s, "run").contains("--report-dir")
        },
        "runs xtask e2e with the template's arguments and a report folder",
    );
    assert!(check < e2e, "check runs before the scenarios");
    let upload = position(
        &|s| str_of(s, "uses").starts_with("actions/upload-artifact@"),
        "uploads the report",
    );
    assert!(
        runs_always(&steps[upload]),
        "the report is uploaded on failure too"
    );
    let junit = position(
        &|s| str_of(s, "uses").starts_with("mikepenz/action-junit-report@"),
        "publishes JUnit as a check",
    );
    assert!(
        str_of(&steps[junit]["with"], "report_paths").ends_with("junit.xml"),
        "the check reads the report's junit.xml"
    );
    position(
        &|s| str_of(s, "uses").starts_with("github/codeql-action/upload-sarif@"),
        "uploads SARIF",
    );
}
