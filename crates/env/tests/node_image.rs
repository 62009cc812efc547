//! Builds the local kind node image for real (long on a cold cache).

#[test]
#[ignore = "needs root, Docker and the Go module proxy; cold run takes tens of minutes: run cargo xtask test"]
fn builds_node_image_with_preloaded_images() {
    let (docker, _) = environment::docker::ensure_engine().expect("docker engine");
    let tools =
        environment::tools::Toolchain::new(environment::tools::ToolSource::BuildFromGoProxy);
    let reference =
        environment::node_image::ensure_node_image(&docker, &tools).expect("node image");
    assert!(docker.image_exists(&reference).expect("docker answers"));
}
