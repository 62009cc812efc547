//! Generates the prost message types and the tonic client/server code for the
//! kubelet gRPC APIs from our `.proto` files under `proto/`. The files are
//! parsed by protox, a protobuf compiler written in Rust, into a
//! `FileDescriptorSet` that tonic-prost-build compiles, so no `protoc` binary
//! is needed (and `PROTOC` is never read). Output: `$OUT_DIR/v1beta1.rs`
//! (device plugin API), `$OUT_DIR/v1.rs` (pod resources API),
//! `$OUT_DIR/k8s.io.kubelet.pkg.apis.dra.v1.rs` (DRA plugin API) and
//! `$OUT_DIR/pluginregistration.rs` (plugin registration), included by
//! `src/proto.rs`.

const PROTOS: &[&str] = &[
    "proto/deviceplugin/v1beta1/api.proto",
    "proto/podresources/v1/api.proto",
    "proto/dra/v1/api.proto",
    "proto/pluginregistration/v1/api.proto",
];
const INCLUDES: &[&str] = &["proto"];

fn main() {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let fds = match protox::compile(PROTOS, INCLUDES) {
        Ok(fds) => fds,
        Err(e) => panic!("compiling the .proto files: {e:?}"),
    };
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(true)
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("generating the gRPC code: {e}"));
}
