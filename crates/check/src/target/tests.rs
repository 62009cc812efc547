use std::path::{Path, PathBuf};

use super::*;
use crate::input::{load_manifests, parse_documents};

fn objects(yaml: &str) -> Vec<Object> {
    parse_documents(Path::new("t.yaml"), yaml).expect("test YAML parses")
}

fn deployment(name: &str, app: &str, container: &str, gpu: bool) -> String {
    let limits = if gpu {
        "\n          resources: {limits: {nvidia.com/gpu: 1}}"
    } else {
        ""
    };
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  template:\n    metadata: {{labels: {{app: {app}}}}}\n    spec:\n      containers:\n        - name: {container}\n          image: vllm/vllm-openai:v0.11.0\n          ports: [{{name: http, containerPort: 8000}}]{limits}\n"
    )
}

fn service(name: &str, app: &str, ports: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {app}}}\n  ports: {ports}\n"
    )
}

const ONE_PORT: &str = "[{port: 80, targetPort: http}]";

#[test]
fn the_worked_plain_example_has_one_target() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plain");
    let objs = load_manifests(&dir).expect("the example loads");
    let t = discover(&objs, &Choice::default()).expect("a target");
    assert_eq!(objs[t.workload].display(), t.workload_ref);
    assert_eq!(objs[t.service].kind(), "Service");
    insta::assert_snapshot!(t.describe());
}

#[test]
fn the_service_that_selects_the_pods_and_its_port() {
    let yaml = [
        deployment("llm", "llm", "server", true),
        service("other", "web", ONE_PORT),
        service("llm", "llm", ONE_PORT),
    ]
    .concat();
    let objs = objects(&yaml);
    let t = discover(&objs, &Choice::default()).expect("a target");
    assert_eq!(t.workload_ref, "Deployment/llm");
    assert_eq!(t.container, "server");
    assert_eq!(t.service_name, "llm");
    assert_eq!(t.service, 2);
    assert_eq!(t.port, 80);
    assert_eq!(t.target_port, Value::from("http"));
    assert_eq!(t.gpus, Some(1.0));
}

#[test]
fn two_serving_workloads_are_listed_and_a_choice_settles_it() {
    let yaml = [
        deployment("llm-a", "a", "server", true),
        deployment("llm-b", "b", "server", true),
        service("b", "b", ONE_PORT),
    ]
    .concat();
    let objs = objects(&yaml);
    let err = discover(&objs, &Choice::default()).expect_err("ambiguous");
    assert_eq!(
        err.to_string(),
        "2 serving workloads (Deployment/llm-a, Deployment/llm-b): name the one the scenarios act on with `--target KIND/NAME`"
    );
    let choice = Choice {
        workload: Some("Deployment/llm-b".into()),
        ..Choice::default()
    };
    let t = discover(&objs, &choice).expect("chosen");
    assert_eq!(t.workload_ref, "Deployment/llm-b");
    assert_eq!(t.service_name, "b");
    let wrong = Choice {
        workload: Some("llm-c".into()),
        ..Choice::default()
    };
    assert!(matches!(
        discover(&objs, &wrong),
        Err(DiscoverError::NoSuchWorkload { candidates, .. }) if candidates.len() == 2
    ));
}

#[test]
fn no_serving_workload_lists_what_there_is() {
    let yaml =
        deployment("web", "web", "nginx", false).replace("vllm/vllm-openai:v0.11.0", "nginx:1.27");
    let err = discover(&objects(&yaml), &Choice::default()).expect_err("none");
    let text = err.to_string();
    assert!(text.starts_with("no serving workload"), "{text}");
    assert!(text.contains("(found: Deployment/web)"), "{text}");
}

#[test]
fn no_service_and_two_services_are_errors_that_say_what_to_do() {
    let none = deployment("llm", "llm", "server", true);
    let err = discover(&objects(&none), &Choice::default()).expect_err("no Service");
    assert!(
        err.to_string().contains("no Service selects its pods"),
        "{err}"
    );

    let two = [
        deployment("llm", "llm", "server", true),
        service("llm", "llm", ONE_PORT),
        service("llm-metrics", "llm", "[{port: 9090}]"),
    ]
    .concat();
    let objs = objects(&two);
    let err = discover(&objs, &Choice::default()).expect_err("two");
    assert!(err.to_string().contains("--service NAME"), "{err}");
    let choice = Choice {
        service: Some("llm".into()),
        ..Choice::default()
    };
    assert_eq!(
        discover(&objs, &choice).expect("chosen").service_name,
        "llm"
    );
}

#[test]
fn of_several_ports_the_http_one_or_the_one_reaching_the_container() {
    let named = [
        deployment("llm", "llm", "server", true),
        service(
            "llm",
            "llm",
            "[{name: metrics, port: 9090}, {name: http, port: 8080, targetPort: 8000}]",
        ),
    ]
    .concat();
    assert_eq!(
        discover(&objects(&named), &Choice::default())
            .expect("http")
            .port,
        8080
    );

    let reaching = [
        deployment("llm", "llm", "server", true),
        service(
            "llm",
            "llm",
            "[{name: metrics, port: 9090}, {name: api, port: 8080, targetPort: 8000}]",
        ),
    ]
    .concat();
    assert_eq!(
        discover(&objects(&reaching), &Choice::default())
            .expect("targets 8000")
            .port,
        8080
    );

    let neither = [
        deployment("llm", "llm", "server", true),
        service("llm", "llm", "[{name: a, port: 1}, {name: b, port: 2}]"),
    ]
    .concat();
    assert!(matches!(
        discover(&objects(&neither), &Choice::default()),
        Err(DiscoverError::AmbiguousPort { ports: 2, .. })
    ));
}

#[test]
fn a_sidecar_does_not_hide_the_server() {
    let yaml = deployment("llm", "llm", "server", true).replace(
        "      containers:\n",
        "      containers:\n        - name: proxy\n          image: envoyproxy/envoy:v1.31.0\n",
    ) + &service("llm", "llm", ONE_PORT);
    let t = discover(&objects(&yaml), &Choice::default()).expect("the GPU container");
    assert_eq!(t.container, "server");
}
