//! The rendered DaemonSet/RBAC manifests: snapshot, and the committed fixture
//! stays equal to the default rendering.

use gpu_fakes::manifests::{ManifestOptions, device_classes_yaml, render_yaml};

#[test]
fn manifests_snapshot() {
    insta::assert_snapshot!(render_yaml(&ManifestOptions::default()).expect("render"));
}

#[test]
fn manifests_fixture_is_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/gpu-fakes/gpu-fakes.yaml"
    );
    let rendered = render_yaml(&ManifestOptions::default()).expect("render");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{path} is stale: run `cargo run -p gpu-fakes -- render-manifests > fixtures/gpu-fakes/gpu-fakes.yaml`"
    );
}

#[test]
fn device_classes_snapshot_and_fixture() {
    let rendered = device_classes_yaml().expect("render");
    insta::assert_snapshot!(rendered);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/gpu-fakes/device-classes.yaml"
    );
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{path} is stale: run `cargo run -p gpu-fakes -- render-manifests --device-classes > fixtures/gpu-fakes/device-classes.yaml`"
    );
}
