//! Every report format, rendered from one fixed run
//! (`tests/fixtures/report/run.json`): snapshots, plus the properties a
//! snapshot cannot show (the JUnit XML parses, counts add up, text is
//! escaped, the HTML fetches nothing).

use std::path::{Path, PathBuf};

use report::{
    self, Outcome, REPORT_JSON, ReportError, RunReport, SCHEMA_VERSION, json, junit, markdown,
};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/run.json")
}

fn fixture() -> RunReport {
    json::read(&fixture_path()).expect("the fixture run reads")
}

fn scenario_mut<'a>(report: &'a mut RunReport, name: &str) -> &'a mut report::ScenarioReport {
    report
        .scenarios
        .iter_mut()
        .find(|s| s.name == name)
        .expect("scenario in fixture")
}

// ---- JSON ----

#[test]
fn json_round_trips_the_fixture_without_loss() {
    let text = std::fs::read_to_string(fixture_path()).expect("fixture file");
    let original: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let written = json::to_string(&fixture()).expect("serializes");
    let rewritten: serde_json::Value = serde_json::from_str(&written).expect("output is JSON");
    assert_eq!(original, rewritten);
}

#[test]
fn json_snapshot() {
    let written = json::to_string(&fixture()).expect("serializes");
    insta::assert_snapshot!("report_json", written);
}

#[test]
fn json_schema_snapshot() {
    insta::assert_json_snapshot!("report_json_schema", json::json_schema());
}

#[test]
fn reading_another_schema_version_says_so() {
    let text = std::fs::read_to_string(fixture_path())
        .expect("fixture file")
        .replace(SCHEMA_VERSION, "inferbench.dev/report/v0");
    let err = json::from_str(&text, Path::new("old/report.json")).expect_err("rejected");
    assert!(matches!(err, ReportError::SchemaMismatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("old/report.json"), "{message}");
    assert!(
        message.contains("\"inferbench.dev/report/v0\""),
        "{message}"
    );
    assert!(message.contains(SCHEMA_VERSION), "{message}");
}

#[test]
fn reading_without_a_schema_or_bad_json_names_the_file() {
    let err = json::from_str("{\"runId\": \"x\"}", Path::new("a.json")).expect_err("rejected");
    assert!(err.to_string().contains("(none)"), "{err}");
    let err = json::from_str("{not json", Path::new("b.json")).expect_err("rejected");
    assert!(matches!(err, ReportError::Parse { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("b.json is not a valid"),
        "{err}"
    );
    let err = json::read(Path::new("/nonexistent/report.json")).expect_err("missing");
    assert!(
        err.to_string().contains("/nonexistent/report.json"),
        "{err}"
    );
}

// ---- JUnit ----

fn parse_xml(xml: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("junit.xml parses: {e}\n{xml}"))
}

fn testcase<'a>(doc: &'a roxmltree::Document<'a>, name: &str) -> roxmltree::Node<'a, 'a> {
    doc.descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
        .unwrap_or_else(|| panic!("testcase {name}"))
}

fn child<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
    node.children().find(|n| n.has_tag_name(tag))
}

#[test]
fn junit_per_scenario() {
    let xml = junit::render(&fixture(), junit::Granularity::Scenario);
    insta::assert_snapshot!("report_junit_scenario", xml);
    let doc = parse_xml(&xml);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("4"));
    assert_eq!(root.attribute("failures"), Some("2"));
    assert_eq!(root.children().filter(|n| n.is_element()).count(), 1);

    let gpu = testcase(&doc, "gpu-scheduling[two-gpus-per-pod]");
    let failure = child(gpu, "failure").expect("failure element");
    assert!(
        failure
            .attribute("message")
            .is_some_and(|m| m.starts_with("timed out after 120s"))
    );
    let body = failure.text().unwrap_or_default();
    assert!(body.contains("0/4 nodes are available: 2 Insufficient nvidia.com/gpu"));
    assert!(body.contains("Diagnosis (scheduler, step `wait-ready`)"));

    let twin = testcase(&doc, "error-rate-gate[negative]");
    assert!(
        child(twin, "failure").is_none(),
        "failed as expected is a pass"
    );
    let note = child(twin, "system-out")
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(note.contains("negative twin failed as expected at step `check-error-rate`"));

    let rolling = testcase(&doc, "rolling-update[chat-stream]");
    assert_eq!(rolling.attribute("time"), Some("70.000"));
}

#[test]
fn junit_per_step() {
    let xml = junit::render(&fixture(), junit::Granularity::Step);
    insta::assert_snapshot!("report_junit_step", xml);
    let doc = parse_xml(&xml);
    let suites: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 4);
    let gpu = suites
        .iter()
        .find(|s| s.attribute("name") == Some("gpu-scheduling[two-gpus-per-pod]"))
        .expect("gpu suite");
    assert_eq!(gpu.attribute("tests"), Some("4"));
    assert_eq!(gpu.attribute("failures"), Some("1"));
    assert_eq!(gpu.attribute("skipped"), Some("1"));
    let skipped = testcase(&doc, "check-metrics");
    assert!(child(skipped, "skipped").is_some());
    let oom = testcase(&doc, "big-prompts");
    let body = child(oom, "failure")
        .and_then(|f| f.text())
        .unwrap_or_default();
    assert!(body.contains("OOMKilled"), "{body}");
}

#[test]
fn junit_negative_twin_that_passed_fails() {
    let mut report = fixture();
    let twin = scenario_mut(&mut report, "error-rate-gate[negative]");
    twin.outcome = Outcome::PassedUnexpectedly;
    twin.error = None;
    for step in &mut twin.steps {
        step.outcome = Outcome::Passed;
        step.error = None;
    }
    for granularity in [junit::Granularity::Scenario, junit::Granularity::Step] {
        let xml = junit::render(&report, granularity);
        let doc = parse_xml(&xml);
        let failures: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .filter(|n| n.attribute("type") == Some("passedUnexpectedly"))
            .collect();
        assert_eq!(failures.len(), 1, "{granularity:?}");
        let message = failures[0].attribute("message").unwrap_or_default();
        assert!(message.starts_with(junit::PASSED_UNEXPECTEDLY), "{message}");
        assert!(message.contains("`check-error-rate`"), "{message}");
    }
}

#[test]
fn junit_keeps_a_failure_no_step_carries() {
    let mut report = fixture();
    let oom = scenario_mut(&mut report, "large-payload-oom");
    for step in &mut oom.steps {
        step.outcome = Outcome::Passed;
    }
    let xml = junit::render(&report, junit::Granularity::Step);
    let doc = parse_xml(&xml);
    let verdict = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("testcase") && n.attribute("classname") == Some("large-payload-oom")
        })
        .find(|n| n.attribute("name") == Some("scenario verdict"))
        .expect("a testcase for the scenario's own failure");
    assert!(child(verdict, "failure").is_some());
}

#[test]
fn junit_escapes_hostile_text() {
    let mut report = fixture();
    let hostile = "<script>alert('x')</script> & \"quotes\" ]]> \u{1b}[31m\nsecond line";
    let gpu = scenario_mut(&mut report, "gpu-scheduling[two-gpus-per-pod]");
    gpu.error = Some(hostile.to_string());
    gpu.name = "a<b>&\"c\"".to_string();
    let xml = junit::render(&report, junit::Granularity::Scenario);
    let doc = parse_xml(&xml);
    let case = testcase(&doc, "a<b>&\"c\"");
    let failure = child(case, "failure").expect("failure");
    let expected = hostile.replace('\u{1b}', "\u{FFFD}");
    assert_eq!(failure.attribute("message"), Some(expected.as_str()));
    assert!(failure.text().unwrap_or_default().starts_with(&expected));
}

// ---- Markdown ----

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("report_markdown", markdown::render(&fixture()));
}

#[test]
fn step_summary_is_appended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").expect("write");
    markdown::append_step_summary(&summary, &fixture()).expect("appends");
    let text = std::fs::read_to_string(&summary).expect("read");
    assert!(text.starts_with("earlier step\n# inferbench run `20261123-163000-ab12`: failed"));
    assert!(text.contains("## Failures"));
}

// ---- HTML ----

#[test]
fn html_snapshot() {
    insta::assert_snapshot!("report_html", report::html::render(&fixture()));
}

#[test]
fn html_fetches_nothing() {
    let html = report::html::render(&fixture());
    // Text may mention URLs (a probe's target); nothing may load one.
    for needle in [
        "href=\"http",
        "href=\"//",
        "<link",
        " src=",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(needle),
            "the HTML report must be self-contained, found {needle:?}"
        );
    }
    assert!(html.contains("href=\"artifacts/large-payload-oom/events.txt\""));
}

#[test]
fn html_escapes_hostile_text() {
    let mut report = fixture();
    scenario_mut(&mut report, "large-payload-oom").error =
        Some("</pre><script>document.body.dataset.pwned=1</script>".to_string());
    let html = report::html::render(&report);
    assert!(!html.contains("<script>document.body"));
    assert!(html.contains("&lt;/pre&gt;&lt;script&gt;document.body.dataset.pwned=1"));
}

// ---- The folder ----

#[test]
fn write_folder_writes_every_format_next_to_the_artifacts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let artifact = dir.path().join("artifacts/large-payload-oom/events.txt");
    std::fs::create_dir_all(artifact.parent().expect("parent")).expect("mkdir");
    std::fs::write(&artifact, "events").expect("write artifact");

    let written = report::write_folder(dir.path(), &fixture()).expect("writes");
    for path in [
        &written.json,
        &written.junit,
        &written.markdown,
        &written.html,
    ] {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "{} written", path.display());
    }
    assert_eq!(written.json, dir.path().join(REPORT_JSON));
    assert_eq!(std::fs::read_to_string(&artifact).expect("kept"), "events");
    assert_eq!(json::read(dir.path()).expect("reads the folder"), fixture());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn write_folder_with_step_granularity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = report::WriteOptions {
        junit: junit::Granularity::Step,
    };
    let written = report::write_folder_with(dir.path(), &fixture(), &options).expect("writes");
    let xml = std::fs::read_to_string(written.junit).expect("junit");
    assert_eq!(xml.matches("<testsuite ").count(), 4);
}

// ---- A team's template ----

fn with_template() -> RunReport {
    let mut r = fixture();
    r.templates.push(report::TemplateReport {
        variant: Some("dev-values".into()),
        source: "helm chart examples/charts/llm with ci/dev-values.yaml".into(),
        target: "Deployment/inferbench-llm (container `vllm`, 1 nvidia.com/gpu) behind Service/inferbench-llm port 80".into(),
        served_by: "mock stand-in".into(),
        installed_with: "helm release inferbench".into(),
        findings: vec![
            report::StaticFinding {
                rule: "helm-lint".into(),
                severity: "info".into(),
                object: "chart llm".into(),
                file: "examples/charts/llm/Chart.yaml".into(),
                line: 1,
                message: "helm lint: icon is recommended".into(),
            },
            report::StaticFinding {
                rule: "readiness-gates-model-load".into(),
                severity: "error".into(),
                object: "Deployment/inferbench-llm".into(),
                file: "examples/charts/llm/templates/deployment.yaml".into(),
                line: 40,
                message: "readiness asks /health, the same as liveness | and loads nothing".into(),
            },
        ],
    });
    r
}

#[test]
fn the_template_section_lists_each_variant_and_its_findings() {
    let md = markdown::render(&with_template());
    let section: String = md
        .split("## Template\n")
        .nth(1)
        .and_then(|rest| rest.split("## Scenarios").next())
        .expect("a Template section before the scenarios")
        .to_string();
    insta::assert_snapshot!("markdown_template_section", section);
    let html = report::html::render(&with_template());
    assert!(html.contains("<h2>Template</h2>"), "the HTML shows it too");
    assert!(html.contains("helm release inferbench"));
    assert!(
        !markdown::render(&fixture()).contains("## Template"),
        "no section for a run on our fixtures"
    );
}
