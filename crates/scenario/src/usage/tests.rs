use super::*;
use serde_json::json;

const SCENARIO: &str = r#"apiVersion: inferbench.dev/v1alpha1
kind: Scenario
metadata: { name: uses-bindings }
spec:
  bindings: { replicas: 2 }
  steps:
    - name: deploy
      noTwin: a test scenario
      try:
        - apply: { file: template.yaml }
        - load: { target: "service/{{ server }}:{{ port }}", users: 1, requests: 1 }
        - rollout: { target: "deployment/{{ server }}", env: { "{{ versionEnv }}": v2 } }
"#;

const TEMPLATE: &str = "kind: Deployment\nmetadata: { name: \"{{ server }}\" }\nspec:\n  replicas: {{ replicas }}\n  image: {{ image }}\n";

fn profile(bindings: serde_json::Value) -> Profile {
    let text = format!(
        "apiVersion: inferbench.dev/v1alpha1\nkind: Profile\nmetadata: {{ name: thin }}\nspec:\n  bindings: {bindings}\n"
    );
    crate::profile::parse(Path::new("thin.yaml"), &text).expect("profile parses")
}

fn setup() -> (tempfile::TempDir, Vec<(PathBuf, Scenario)>) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("s.yaml"), SCENARIO).expect("write");
    std::fs::write(dir.path().join("template.yaml"), TEMPLATE).expect("write");
    std::fs::write(dir.path().join("values.yaml"), "image: x\n").expect("write");
    let loaded = crate::load_all(&[dir.path().join("s.yaml")]).expect("loads");
    (dir, loaded)
}

#[test]
fn lint_against_a_profile_reports_each_missing_binding_where_it_is_used() {
    let (dir, loaded) = setup();
    let thin = profile(json!({"servingTemplate": "t", "server": "m", "port": 8000}));
    let problems = lint_against_profile(&loaded, &thin, &Bindings::new(), dir.path());
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 1, "{text:?}");
    let p = &problems[0];
    assert_eq!(p.line, crate::line_of(SCENARIO, "versionEnv"));
    assert!(
        p.message
            .contains("`{{ versionEnv }}`: profile thin binds no `versionEnv`"),
        "{p}"
    );
    assert!(p.message.contains("uses-bindings"), "{p}");
    let full =
        profile(json!({"servingTemplate": "t", "server": "m", "port": 8000, "versionEnv": "V"}));
    assert_eq!(
        lint_against_profile(&loaded, &full, &Bindings::new(), dir.path()),
        vec![]
    );
}

#[test]
fn lint_against_a_profile_reads_the_templates_and_checks_rendered_numbers() {
    let (dir, loaded) = setup();
    std::fs::write(dir.path().join("values.yaml"), "other: x\n").expect("write");
    let p =
        profile(json!({"servingTemplate": "t", "server": "m", "port": 70000, "versionEnv": "V"}));
    let problems = lint_against_profile(&loaded, &p, &Bindings::new(), dir.path());
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{text:?}");
    assert!(
        text.iter().any(|t| t.contains("template.yaml:5:")
            && t.contains("no binding named `image`")
            && t.contains("under profile thin")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("port 70000 is out of range") && t.contains("s.yaml:7:")),
        "{text:?}"
    );
}

#[test]
fn unknown_set_names_are_named_with_the_closest_known_one() {
    let (dir, loaded) = setup();
    let base: Bindings = [("server".to_string(), json!("m"))].into();
    let known = known_names(&loaded, &base, dir.path());
    for name in ["replicas", "server", "port", "versionEnv", "image"] {
        assert!(known.contains(name), "{name} in {known:?}");
    }
    let set = crate::bindings::parse_set(&["replicsa=3".into(), "image=x".into()]).expect("set");
    let unknown = unknown_set(&set, &known);
    assert_eq!(unknown.len(), 1);
    let text = unknown[0].to_string();
    assert!(
        text.starts_with("--set replicsa: no scenario, template or profile uses a binding named `replicsa`; did you mean `replicas`?"),
        "{text}"
    );
    assert!(
        text.contains("Known bindings: image, port, replicas"),
        "{text}"
    );
    let far = unknown_set(
        &crate::bindings::parse_set(&["zzzzzz=1".into()]).expect("set"),
        &known,
    );
    assert_eq!(far[0].suggestion, None);
}

#[test]
fn the_built_in_scenarios_render_against_the_built_in_profiles() {
    let root = crate::repo_root();
    let all = crate::load_all(&[root.join("scenarios")]).expect("built-ins load");
    for name in crate::profile::builtin_names() {
        let p = crate::profile::load(&name).expect("profile loads");
        let problems = lint_against_profile(&all, &p, &Bindings::new(), &root);
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "profile {name}: {text:#?}");
    }
}
