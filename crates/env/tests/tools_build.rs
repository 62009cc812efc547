//! Builds every pinned tool from the Go module proxy and prints how long
//! each took. Point INFERBENCH_CACHE, GOCACHE and GOMODCACHE at empty
//! folders to measure a cold build.

use std::time::Instant;

use environment::tools::{ToolSource, Toolchain};

#[test]
#[ignore = "needs Go and the Go module proxy; cold run takes about 30 minutes on 2 cores: run cargo xtask test"]
fn builds_all_tools_from_the_go_module_proxy() {
    let tools = Toolchain::new(ToolSource::BuildFromGoProxy);
    let mut timings = Vec::new();
    let mut step =
        |name: &str, f: &dyn Fn() -> Result<std::path::PathBuf, environment::tools::ToolError>| {
            let start = Instant::now();
            let path = f().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(path.exists(), "{name}: {} missing", path.display());
            timings.push(format!("{name} {:.0}s", start.elapsed().as_secs_f64()));
        };
    step("kind", &|| tools.kind());
    step("kubernetes", &|| tools.kubernetes());
    step("etcd", &|| tools.etcd());
    step("coredns", &|| tools.coredns());
    step("metrics-server", &|| tools.metrics_server());
    step("local-path-provisioner", &|| tools.local_path_provisioner());
    step("helm", &|| tools.helm());
    step("kind source", &|| tools.kind_source());
    eprintln!("tool build timings: {}", timings.join(", "));
    let kubeadm = tools.kubernetes().expect("cached").join("kubeadm");
    let out = std::process::Command::new(kubeadm)
        .args(["version", "-o", "short"])
        .output()
        .expect("kubeadm runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        environment::tools::versions::KUBERNETES
    );
    // Helm's version and the Kubernetes version it renders for are stamped
    // as its Makefile does (an unstamped build renders for v1.20.0).
    let helm = tools.helm().expect("cached");
    let out = std::process::Command::new(&helm)
        .args(["version", "--template", "{{ .Version }}"])
        .output()
        .expect("helm runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        environment::tools::versions::HELM
    );
    let chart = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(chart.path().join("templates")).expect("mkdir");
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: kv\nversion: 0.1.0\n",
    )
    .expect("write");
    std::fs::write(
        chart.path().join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kv\ndata:\n  kube: \"{{ .Capabilities.KubeVersion.Version }}\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(&helm)
        .arg("template")
        .arg("kv")
        .arg(chart.path())
        .output()
        .expect("helm template runs");
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert!(rendered.contains("kube: \"v1.37.0\""), "{rendered}");
}
