//! Scenarios: the YAML format ([`model`]), loading with precise errors,
//! lint, the JSON Schema editors use, serving profiles ([`profile`]),
//! `{{ name }}` bindings ([`bindings`], [`render`]) and the plan of a run
//! ([`plan`]: matrix entries, namespaces, requirements, exclusive runs).
//!
//! This crate is pure: it reads files and returns values. It must not
//! depend on a Kubernetes client, an async runtime or the load engine, so
//! that `cargo xtask scenarios lint` and editors' schema export build
//! without them. Running a plan against a cluster is the runner's job
//! (`harness::runner`).

pub mod bindings;
pub mod limits;
mod load_lint;
pub mod model;
pub mod observed;
pub mod plan;
pub mod profile;
pub mod render;
pub mod schedule;
pub mod template_spec;
mod twins;
pub mod usage;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use model::{API_VERSION, Action, Operation, Scenario, Step};

/// The repository this crate was built from: where the built-in scenarios,
/// profiles and fixtures live (`crates/scenario/` is two levels under it).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A problem in a scenario file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; `None` when the problem has no single place.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Why scenarios could not be loaded.
#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

/// Parses and checks one scenario from `text`; `file` is only used in messages.
pub fn parse(file: &Path, text: &str) -> Result<Scenario, Vec<Problem>> {
    let scenario: Scenario = yaml_serde::from_str(text).map_err(|e| {
        let loc = e.location();
        vec![Problem {
            file: file.to_path_buf(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message: e.to_string(),
        }]
    })?;
    let problems = check(file, text, &scenario);
    if problems.is_empty() {
        Ok(scenario)
    } else {
        Err(problems)
    }
}

/// Checks what the types alone don't.
fn check(file: &Path, text: &str, s: &Scenario) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut out_limits = Vec::new();
    let mut problem = |needle: Option<&str>, message: String| {
        let line = needle.and_then(|n| line_of(text, n));
        out.push(Problem {
            file: file.to_path_buf(),
            line,
            column: line.map(|_| 1),
            message,
        });
    };
    if s.api_version != API_VERSION {
        problem(
            Some("apiVersion:"),
            format!(
                "apiVersion is {:?}; expected {API_VERSION:?}",
                s.api_version
            ),
        );
    }
    if s.kind != "Scenario" {
        problem(
            Some("kind:"),
            format!("kind is {:?}; expected \"Scenario\"", s.kind),
        );
    }
    if !is_dns_label(&s.metadata.name) {
        problem(
            Some("name:"),
            format!(
                "metadata.name {:?} must be a DNS-1123 label (lowercase letters, digits, '-', at most 63)",
                s.metadata.name
            ),
        );
    }
    if let Some(ns) = &s.spec.namespace
        && !is_dns_label(ns)
    {
        problem(
            Some("namespace:"),
            format!("spec.namespace {ns:?} must be a DNS-1123 label"),
        );
    }
    if s.spec.steps.is_empty() {
        problem(
            Some("steps:"),
            "spec.steps is empty; a scenario needs at least one step".into(),
        );
    }
    let mut seen = HashSet::new();
    for (i, step) in s.spec.steps.iter().enumerate() {
        let needle = format!("name: {}", step.name);
        if !seen.insert(step.name.as_str()) {
            problem(
                Some(&needle),
                format!("spec.steps[{i}]: step name {:?} is used twice", step.name),
            );
        }
        if step.try_.is_empty() {
            problem(
                Some(&needle),
                format!("spec.steps[{i}] ({}): `try` is empty", step.name),
            );
        }
        for (block, ops) in [
            ("try", &step.try_),
            ("catch", &step.catch),
            ("finally", &step.finally),
        ] {
            for (j, op) in ops.iter().enumerate() {
                if let Err(m) = check_action(&op.action) {
                    problem(
                        Some(&needle),
                        format!("spec.steps[{i}].{block}[{j}] ({}): {m}", op.action.kind()),
                    );
                }
                for (key, m) in limits::check(&op.action) {
                    // The key's own line, below the step's.
                    let from = line_of(text, &needle).unwrap_or(1);
                    let line = line_after(text, from, &format!("{key}:")).or(Some(from));
                    out_limits.push(Problem {
                        file: file.to_path_buf(),
                        line,
                        column: line.map(|_| 1),
                        message: format!(
                            "spec.steps[{i}].{block}[{j}] ({}): {m}",
                            op.action.kind()
                        ),
                    });
                }
            }
        }
    }
    let steps: Vec<&str> = s.spec.steps.iter().map(|st| st.name.as_str()).collect();
    for (at, x) in s.spec.expectations() {
        if !steps.contains(&x.step.as_str()) {
            problem(
                Some(&format!("step: {}", x.step)),
                format!(
                    "{at}: no step named {:?}; the steps are {}",
                    x.step,
                    steps.join(", ")
                ),
            );
        }
    }
    let mut names = HashSet::new();
    for (i, m) in s.spec.matrix.iter().enumerate() {
        if !names.insert(m.name.as_str()) {
            problem(
                Some(&format!("name: {}", m.name)),
                format!("spec.matrix[{i}]: name {:?} is used twice", m.name),
            );
        }
    }
    out.append(&mut out_limits);
    for (line, message) in twins::lint(text, s) {
        out.push(Problem {
            file: file.to_path_buf(),
            line,
            column: line.map(|_| 1),
            message,
        });
    }
    out
}

fn check_action(a: &Action) -> Result<(), String> {
    match a {
        Action::Apply(x) => {
            let n = [
                x.file.is_some(),
                x.kustomize.is_some(),
                x.resource.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if n != 1 {
                return Err("needs exactly one of file, kustomize, resource".into());
            }
        }
        Action::Assert(x) => {
            if x.file.is_some() == x.resource.is_some() {
                return Err("needs exactly one of file, resource".into());
            }
        }
        Action::Wait(x) => {
            if x.rollout.is_none() && x.resource.is_none() {
                return Err(
                    "needs rollout: kind/name, or resource: kind/name with a condition".into(),
                );
            }
            if x.resource.is_some() && x.condition.is_none() {
                return Err("resource needs a condition (e.g. Available)".into());
            }
        }
        Action::Load(x) => load_lint::check(x)?,
        Action::Inject(x) => {
            const FAULTS: [&str; 8] = [
                "kill-pod",
                "evict",
                "drain",
                "fill-memory",
                "fail-readiness",
                "gpu-unhealthy",
                "gpu-xid",
                "mock-config",
            ];
            if !FAULTS.contains(&x.fault.as_str()) {
                return Err(format!(
                    "fault {:?}: expected one of {}",
                    x.fault,
                    FAULTS.join(", ")
                ));
            }
        }
        Action::Expect(x) => {
            let n = [
                x.event.is_some(),
                x.container_terminated.is_some() || x.min_restarts.is_some(),
                x.hpa_replicas.is_some(),
                x.zero_failed_requests.is_some(),
                x.failed_requests.is_some(),
                x.served_by.is_some(),
                x.endpoints.is_some(),
                x.pod_replaced.is_some(),
                x.termination_message.is_some(),
                x.access.is_some(),
                x.slo.is_some(),
                x.metric.is_some(),
                x.vpa_recommendation.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if n != 1 {
                return Err(format!(
                    "expects {n} things: give exactly one of event, containerTerminated/minRestarts, hpaReplicas, zeroFailedRequests, failedRequests, servedBy, endpoints, podReplaced, terminationMessage, access, slo, metric, vpaRecommendation"
                ));
            }
            if x.selector.is_some() && x.container_terminated.is_none() && x.min_restarts.is_none()
            {
                return Err("selector only applies to containerTerminated and minRestarts".into());
            }
            if let Some(a) = &x.access {
                if a.service_account.is_some() == a.workload.is_some() {
                    return Err("access: give serviceAccount (a name) or workload (deployment/NAME), one of them".into());
                }
                if a.denied.is_empty() && a.allowed.is_empty() {
                    return Err(
                        "access: give denied, allowed or both, e.g. `denied: [get secrets]`".into(),
                    );
                }
                for r in a.denied.iter().chain(&a.allowed) {
                    model::AccessRequest::parse(r).map_err(|m| format!("access: {m}"))?;
                }
            }
            if let Some(slo) = &x.slo {
                slo.validate()?;
            }
            if let Some(m) = &x.metric {
                m.validate()?;
            }
            if let Some(t) = &x.termination_message {
                observed::check_pattern_of("matches", &t.matches)
                    .map_err(|m| format!("terminationMessage: {m}"))?;
            }
            if let Some(e) = &x.endpoints
                && e.ready.is_none()
                && e.min.is_none()
            {
                return Err("endpoints needs ready (exact) or min".into());
            }
        }
        Action::Rollout(x) => {
            if x.image.is_none() && x.env.is_empty() && x.resources.is_none() {
                return Err("changes nothing: give image, env or resources".into());
            }
        }
        Action::Canary(c) => c.lint()?,
        Action::Rollback(_) | Action::Scale(_) | Action::Sleep(_) | Action::Script(_) => {}
    }
    Ok(())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The 1-based line of the first line containing `needle`.
pub(crate) fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// The 1-based line of the first line at or after line `from` containing `needle`.
fn line_after(text: &str, from: usize, needle: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
}

/// Loads every `*.yaml` / `*.yml` under `paths` (files or folders), all or nothing.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Scenario)>, ScenarioError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    files.sort();
    let mut problems = Vec::new();
    let mut loaded = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| ScenarioError::Read {
            path: f.clone(),
            source,
        })?;
        match parse(&f, &text) {
            Ok(s) => loaded.push((f, s)),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(ScenarioError::Invalid { problems })
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let meta = std::fs::metadata(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let p = entry.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// The JSON Schema of a scenario file, for editors (yaml-language-server).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_scenarios_that_apply_the_serving_template_deploy_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        let read = |name: &str| {
            let file = root.join(name);
            let text = std::fs::read_to_string(&file).expect("a built-in scenario");
            parse(&file, &text).expect("valid")
        };
        assert!(read("01-rolling-update-under-load.yaml").deploys_serving_template());
        assert!(!read("09-gpu-unhealthy.yaml").deploys_serving_template());
    }

    use super::*;
    use std::time::Duration;

    const GOOD: &str = r#"
apiVersion: inferbench.dev/v1alpha1
kind: Scenario
metadata:
  name: rollout-under-load
  description: zero failed requests
spec:
  bindings: { replicas: 2 }
  timeouts: { assert: 2m, load: 90s }
  steps:
    - name: deploy
      try:
        - apply: { file: fixtures/mock-server/deployment.yaml }
        - wait: { rollout: deployment/mock-server }
          timeout: 1m30s
    - name: load-and-roll
      retries: 1
      noTwin: a test scenario
      try:
        - load: { target: "service/mock-server:8000", users: 8, duration: 30s, background: true }
        - rollout: { target: deployment/mock-server, image: "inferbench/mock-server:dev", env: { MOCK_VERSION: v2 } }
        - expect: { zeroFailedRequests: { load: load } }
      finally:
        - sleep: { duration: 500ms }
"#;

    #[test]
    fn parses_a_good_scenario() {
        let s = parse(Path::new("good.yaml"), GOOD).expect("valid");
        assert_eq!(s.metadata.name, "rollout-under-load");
        assert_eq!(s.spec.timeouts.load, Some(Duration::from_secs(90)));
        assert_eq!(
            s.spec.steps[0].try_[1].timeout,
            Some(Duration::from_secs(90))
        );
        assert_eq!(s.spec.steps[1].try_[0].action.kind(), "load");
        assert!(
            matches!(&s.spec.steps[1].finally[0].action, Action::Sleep(x) if x.duration == Duration::from_millis(500))
        );
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let bad = GOOD.replace("users: 8", "users: eight");
        let p = parse(Path::new("s.yaml"), &bad).unwrap_err();
        assert_eq!(p.len(), 1);
        let msg = p[0].to_string();
        assert!(msg.starts_with("s.yaml:"), "{msg}");
        assert!(p[0].line.is_some(), "{msg}");
        assert!(
            msg.contains("users") || msg.contains("invalid type"),
            "{msg}"
        );
    }

    #[test]
    fn an_operation_holds_exactly_one_action() {
        let two = GOOD.replace(
            "- sleep: { duration: 500ms }",
            "- sleep: { duration: 500ms }\n          script: { run: date }",
        );
        let msg = parse(Path::new("s.yaml"), &two).unwrap_err()[0].to_string();
        assert!(msg.contains("2 actions (sleep, script)"), "{msg}");
        let unknown = GOOD.replace(
            "- sleep: { duration: 500ms }",
            "- snooze: { duration: 500ms }",
        );
        let msg = parse(Path::new("s.yaml"), &unknown).unwrap_err()[0].to_string();
        assert!(msg.contains("unknown operation key `snooze`"), "{msg}");
    }

    #[test]
    fn semantic_problems_point_at_their_line() {
        let bad = GOOD
            .replace("name: load-and-roll", "name: deploy")
            .replace("rollout-under-load", "Rollout_Under_Load");
        let problems = parse(Path::new("s.yaml"), &bad).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|t| t.contains("DNS-1123")), "{text:?}");
        let dup = problems
            .iter()
            .find(|p| p.message.contains("used twice"))
            .expect("duplicate step found");
        assert_eq!(dup.line, line_of(&bad, "name: deploy"));
    }

    fn with_twin(twin: &str) -> String {
        GOOD.replace(
            "  timeouts: { assert: 2m, load: 90s }",
            &format!("  matrix:\n    - name: twin\n      expectFailure: {twin}\n  timeouts: {{ assert: 2m, load: 90s }}"),
        )
        .replace("      noTwin: a test scenario\n", "")
    }

    #[test]
    fn a_twin_names_an_observation_and_never_error_text() {
        let good = with_twin(
            "{ step: load-and-roll, check: zeroFailedRequests, observed: { failed: { gte: 1 } } }",
        );
        parse(Path::new("s.yaml"), &good).expect("a twin with an observation is valid");
        let old = with_twin("{ step: load-and-roll, messageContains: failed requests }");
        let p = parse(Path::new("s.yaml"), &old).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        let msg = p[0].to_string();
        assert!(
            msg.starts_with(&format!(
                "s.yaml:{}:",
                line_of(&old, "messageContains").unwrap_or(0)
            )),
            "{msg}"
        );
        assert!(msg.contains("messageContains is no longer read"), "{msg}");
        assert!(msg.contains("observed: {"), "{msg}");
        let empty = with_twin("{ step: load-and-roll, observed: {} }");
        let msg = parse(Path::new("s.yaml"), &empty).unwrap_err()[0].to_string();
        assert!(msg.contains("names nothing"), "{msg}");
        let none = with_twin("{ step: load-and-roll }");
        let msg = parse(Path::new("s.yaml"), &none).unwrap_err()[0].to_string();
        assert!(msg.contains("needs `observed:`"), "{msg}");
        let check = with_twin("{ step: load-and-roll, check: hpa, observed: { a: 1 } }");
        let msg = parse(Path::new("s.yaml"), &check).unwrap_err()[0].to_string();
        assert!(msg.contains("check \"hpa\": expected one of"), "{msg}");
        let no_check = with_twin("{ step: deploy, observed: { a: 1 } }").replace(
            "        - wait: { rollout: deployment/mock-server }\n          timeout: 1m30s\n",
            "",
        );
        let p = parse(Path::new("s.yaml"), &no_check).unwrap_err();
        assert!(
            p.iter().any(|p| p.message.contains("checks nothing")),
            "{p:?}"
        );
    }

    #[test]
    fn every_checking_step_has_a_twin_or_says_why_not() {
        let bare = GOOD.replace("      noTwin: a test scenario\n", "");
        let p = parse(Path::new("s.yaml"), &bare).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].message
                .contains("(load-and-roll): its checks have no negative twin"),
            "{}",
            p[0]
        );
        assert_eq!(p[0].line, line_of(&bare, "name: load-and-roll"));
        let blank = GOOD.replace("noTwin: a test scenario", "noTwin: \"  \"");
        let p = parse(Path::new("s.yaml"), &blank).unwrap_err();
        assert!(p[0].message.contains("noTwin needs the reason"), "{}", p[0]);
    }

    #[test]
    fn negative_twins_must_name_a_real_step() {
        let bad = GOOD.replace(
            "  timeouts: { assert: 2m, load: 90s }",
            "  matrix:\n    - name: twin\n      expectFailure: { step: nowhere, observed: { failed: 1 } }\n  timeouts: { assert: 2m, load: 90s }",
        );
        let p = parse(Path::new("s.yaml"), &bad).unwrap_err();
        assert!(
            p[0].message.contains("no step named \"nowhere\""),
            "{}",
            p[0]
        );
        assert_eq!(p[0].line, line_of(&bad, "step: nowhere"));
    }

    #[test]
    fn the_built_in_scenarios_lint_clean_and_every_twin_names_an_observation() {
        let all = load_all(&[repo_root().join("scenarios")]).unwrap_or_else(|e| panic!("{e}"));
        assert!(all.len() >= 8);
        let mut twins = 0;
        for (file, s) in &all {
            for x in s
                .spec
                .matrix
                .iter()
                .filter_map(|m| m.expect_failure.as_ref())
            {
                twins += 1;
                assert!(
                    x.observed.is_some(),
                    "{}: twin of {}",
                    file.display(),
                    x.step
                );
                assert!(
                    x.check.is_some(),
                    "{}: twin of {} names its check",
                    file.display(),
                    x.step
                );
            }
        }
        assert!(twins >= 12, "{twins} twins");
        let gpu = all
            .iter()
            .find(|(_, s)| s.metadata.name == "gpu-unschedulable")
            .map(|(_, s)| s)
            .expect("gpu-unschedulable");
        for step in &gpu.spec.steps {
            assert!(
                gpu.spec.matrix.iter().any(|m| m
                    .expect_failure
                    .as_ref()
                    .is_some_and(|x| x.step == step.name)),
                "step {} of gpu-unschedulable has a twin",
                step.name
            );
        }
    }

    #[test]
    fn numbers_out_of_range_say_where_and_what_to_write() {
        for (from, to, line_needle, says) in [
            (
                "users: 8",
                "users: 0",
                "users: 0",
                "users must be at least 1",
            ),
            (
                "users: 8",
                "users: 100000",
                "users: 100000",
                "at most 10000 users",
            ),
            (
                "service/mock-server:8000",
                "service/mock-server:70000",
                "mock-server:70000",
                "port 70000 is out of range; expected 1 to 65535",
            ),
            (
                "env: { MOCK_VERSION: v2 } }",
                "resources: { limits: { memory: 1Zi } } }",
                "1Zi",
                "resources.limits.memory: \"1Zi\" is not a Kubernetes quantity: unknown suffix \"Zi\"",
            ),
            (
                "duration: 500ms",
                "duration: 99999999999999h",
                "99999999999999h",
                "longer than 168h (7 days)",
            ),
        ] {
            let bad = GOOD.replace(from, to);
            let p = parse(Path::new("s.yaml"), &bad).unwrap_err();
            let msg = p[0].to_string();
            let want = format!("s.yaml:{}:", line_of(&bad, line_needle).unwrap_or(0));
            assert!(msg.starts_with(&want), "{to}: {msg} (wanted {want})");
            assert!(msg.contains(says), "{to}: {msg}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(model::parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            model::parse_duration("250ms"),
            Ok(Duration::from_millis(250))
        );
        assert!(
            model::parse_duration("10")
                .unwrap_err()
                .contains("needs a unit")
        );
        assert!(
            model::parse_duration("5d")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert_eq!(model::format_duration(Duration::from_secs(120)), "2m");
    }

    #[test]
    fn schema_names_every_action() {
        let schema = json_schema().to_string();
        for a in model::ACTIONS {
            assert!(
                schema.contains(&format!("\"{a}\"")),
                "{a} missing from the schema"
            );
        }
    }
}
