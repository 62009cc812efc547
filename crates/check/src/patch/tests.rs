use std::path::PathBuf;

use super::*;
use crate::input::load_manifests;
use crate::target::{Choice, discover};

/// The worked plain example and its target.
fn example() -> (Vec<Object>, Target) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plain");
    let objs = load_manifests(&dir).expect("the example loads");
    let t = discover(&objs, &Choice::default()).expect("a target");
    (objs, t)
}

fn applied(patch: Patch) -> (Vec<Object>, Target, Vec<String>) {
    let (mut objs, t) = example();
    let lines = apply(&mut objs, &t, &patch)
        .unwrap_or_else(|e| panic!("{patch:?}: {e}"))
        .iter()
        .map(Applied::describe)
        .collect();
    (objs, t, lines)
}

fn serving<'a>(objs: &'a [Object], t: &Target) -> &'a Value {
    objs[t.workload]
        .value
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["name"] == t.container.as_str()))
        .expect("the serving container")
}

#[test]
fn every_patch_says_what_it_changed() {
    let patches = [
        Patch::Replicas(1),
        Patch::MaxUnavailable(json!(1)),
        Patch::MaxSurge(json!("0%")),
        Patch::ReadinessPath("/health".into()),
        Patch::SelectorDrift,
        Patch::MemoryLimit("48Mi".into()),
        Patch::GpuLimit(8),
        Patch::DropGpuToleration,
        Patch::NodeSelector(BTreeMap::from([("pool".into(), "missing".into())])),
        Patch::PreStopSleep(25),
        Patch::TerminationGrace(28),
        Patch::Env {
            name: "MOCK_VERSION".into(),
            value: "v2".into(),
        },
        Patch::StandIn {
            image: "inferbench/mock-server:dev".into(),
        },
    ];
    let mut out = String::new();
    for p in patches {
        let (_, _, lines) = applied(p.clone());
        assert!(!lines.is_empty(), "{p:?} changed nothing");
        out.push_str(&format!("{p:?}\n"));
        for l in lines {
            out.push_str(&format!("  {l}\n"));
        }
    }
    insta::assert_snapshot!(out);
}

#[test]
fn the_patched_value_is_in_the_object() {
    let (objs, t, _) = applied(Patch::ReadinessPath("/health".into()));
    assert_eq!(
        serving(&objs, &t).pointer("/readinessProbe/httpGet/path"),
        Some(&json!("/health"))
    );
    let (objs, t, _) = applied(Patch::Replicas(1));
    assert_eq!(
        objs[t.workload].value.pointer("/spec/replicas"),
        Some(&json!(1))
    );
    let (objs, t, _) = applied(Patch::DropGpuToleration);
    let tolerations = objs[t.workload]
        .value
        .pointer("/spec/template/spec/tolerations")
        .and_then(Value::as_array)
        .expect("a list stays");
    assert!(tolerations.iter().all(|t| t["key"] != GPU_KEY));
}

#[test]
fn the_stand_in_keeps_the_pod_spec_and_runs_vllms_command_line() {
    let (before, t) = example();
    let (after, _, _) = applied(Patch::StandIn {
        image: "inferbench/mock-server:dev".into(),
    });
    let (b, a) = (serving(&before, &t), serving(&after, &t));
    assert_eq!(a["image"], "inferbench/mock-server:dev");
    for kept in ["readinessProbe", "ports", "args", "volumeMounts"] {
        assert_eq!(a.get(kept), b.get(kept), "{kept} kept");
    }
    assert_eq!(
        a["resources"]["limits"], b["resources"]["limits"],
        "limits kept"
    );
    assert_eq!(
        a["resources"]["requests"]["cpu"], "50m",
        "requests cut for the mock"
    );
    let command = a["command"].as_array().expect("a command");
    assert_eq!(command[0], "vllm");
}

#[test]
fn a_patch_that_does_not_fit_is_an_error_naming_the_object() {
    let (mut objs, t) = example();
    apply(&mut objs, &t, &Patch::DropGpuToleration).expect("first time");
    let err = apply(&mut objs, &t, &Patch::DropGpuToleration).expect_err("nothing left");
    assert!(err.to_string().starts_with(&t.workload_ref), "{err}");
    assert!(
        err.to_string().contains("no toleration for nvidia.com/gpu"),
        "{err}"
    );
}

#[test]
fn set_path_creates_mappings_and_returns_what_it_replaced() {
    let mut v = json!({"a": 1});
    assert_eq!(set_path(&mut v, &["b", "c"], json!(2)), Value::Null);
    assert_eq!(set_path(&mut v, &["b", "c"], json!(3)), json!(2));
    assert_eq!(set_path(&mut v, &["a", "d"], json!(4)), Value::Null);
    assert_eq!(v, json!({"a": {"d": 4}, "b": {"c": 3}}));
}
