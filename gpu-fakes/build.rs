//! Generates the tonic client/server code for the kubelet gRPC services from
//! service descriptions written here in Rust (tonic-build's `manual` mode), so
//! no `protoc` and no `.proto` files are needed. The message types are
//! hand-written prost structs in `src/proto.rs`.

use tonic_build::manual::{Builder, Method, Service};

const CODEC: &str = "tonic_prost::ProstCodec";

fn method(name: &str, route: &str, input: &str, output: &str, streaming: bool) -> Method {
    let b = Method::builder()
        .name(name)
        .route_name(route)
        .input_type(input)
        .output_type(output)
        .codec_path(CODEC);
    if streaming {
        b.server_streaming().build()
    } else {
        b.build()
    }
}

fn main() {
    let dp = "crate::proto::deviceplugin";
    let registration = Service::builder()
        .name("Registration")
        .package("v1beta1")
        .method(method(
            "register",
            "Register",
            &format!("{dp}::RegisterRequest"),
            &format!("{dp}::Empty"),
            false,
        ))
        .build();
    let device_plugin = Service::builder()
        .name("DevicePlugin")
        .package("v1beta1")
        .method(method(
            "get_device_plugin_options",
            "GetDevicePluginOptions",
            &format!("{dp}::Empty"),
            &format!("{dp}::DevicePluginOptions"),
            false,
        ))
        .method(method(
            "list_and_watch",
            "ListAndWatch",
            &format!("{dp}::Empty"),
            &format!("{dp}::ListAndWatchResponse"),
            true,
        ))
        .method(method(
            "get_preferred_allocation",
            "GetPreferredAllocation",
            &format!("{dp}::PreferredAllocationRequest"),
            &format!("{dp}::PreferredAllocationResponse"),
            false,
        ))
        .method(method(
            "allocate",
            "Allocate",
            &format!("{dp}::AllocateRequest"),
            &format!("{dp}::AllocateResponse"),
            false,
        ))
        .method(method(
            "pre_start_container",
            "PreStartContainer",
            &format!("{dp}::PreStartContainerRequest"),
            &format!("{dp}::PreStartContainerResponse"),
            false,
        ))
        .build();
    let pr = "crate::proto::podresources";
    let lister = Service::builder()
        .name("PodResourcesLister")
        .package("v1")
        .method(method(
            "list",
            "List",
            &format!("{pr}::ListPodResourcesRequest"),
            &format!("{pr}::ListPodResourcesResponse"),
            false,
        ))
        .build();
    Builder::new().compile(&[registration, device_plugin, lister]);
    println!("cargo:rerun-if-changed=build.rs");
}
