//! inferbench's fake GPUs on the GPU pool: the gpu-fakes image, its
//! DaemonSet (device plugin and/or DRA driver, GPU feature labels,
//! exporter) with the arguments `--gpu-api`, `--gpu-sharing` and `--mig`
//! ask for, the DRA DeviceClasses, and the image-ID annotation that rolls
//! its pods when the image is rebuilt.

use std::path::PathBuf;

use super::{AddOn, AddOnContext, Installed};
use crate::ClusterError;
use crate::kubectl::Kubectl;

/// Builds and loads the gpu-fakes image, applies its DaemonSet and waits
/// until every GPU-pool node advertises GPUs.
#[derive(Debug, Clone, Copy)]
pub struct GpuFakes;

impl GpuFakes {
    pub const NAME: &'static str = "gpu-fakes";
}

impl AddOn for GpuFakes {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn applies(&self, ctx: &AddOnContext) -> bool {
        ctx.wants_gpu_fakes()
    }

    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError> {
        let docker = ctx.require_docker(Self::NAME)?;
        let image = environment::images::build_gpu_fakes_image(docker)?;
        ctx.provider.load_image(ctx.cluster, &image)?;
        let image_id = docker.image_id(&image)?;
        install(ctx.kubectl, ctx.options, &image_id)?;
        Ok(Installed { image: Some(image) })
    }
}

/// The gpu-fakes DaemonSet and its RBAC, as rendered into fixtures.
pub fn gpu_fakes_manifest_path() -> PathBuf {
    environment::workspace::repo_root()
        .join("fixtures")
        .join("gpu-fakes")
        .join("gpu-fakes.yaml")
}

/// The DRA driver's DeviceClasses, as rendered into fixtures.
pub fn device_classes_manifest_path() -> PathBuf {
    gpu_fakes_manifest_path().with_file_name("device-classes.yaml")
}

/// The label on everything the DRA driver publishes (slices, classes).
const MANAGED_BY_GPU_FAKES: &str = "app.kubernetes.io/managed-by=gpu-fakes";

/// The pod-template annotation that carries the ID of the image a
/// workload runs. Our images keep one tag (`:dev`) across rebuilds, so
/// without it `up` on a reused cluster would leave pods running the old
/// image; a new ID changes the template and rolls the pods.
pub const IMAGE_ID_ANNOTATION: &str = "inferbench.dev/image-id";

/// The gpu-fakes DaemonSet's name in its manifest.
const GPU_FAKES_DAEMONSET: &str = "gpu-fakes-gpu";

fn read(path: &std::path::Path) -> Result<String, ClusterError> {
    std::fs::read_to_string(path).map_err(crate::io_err(format!("reading {}", path.display())))
}

/// Applies the gpu-fakes DaemonSet (its pods annotated with `image_id`, see
/// [`IMAGE_ID_ANNOTATION`], and run with the asked GPU API and sharing),
/// the DeviceClasses when DRA is on (removed, with our slices, when it is
/// off), and waits until every GPU-pool node advertises its GPUs: a
/// non-zero `nvidia.com/gpu` (or `.shared` / MIG) allocatable, and a
/// ResourceSlice of `gpu.nvidia.com`.
fn install(kubectl: &Kubectl, opts: &crate::UpOptions, image_id: &str) -> Result<(), ClusterError> {
    let (gpu_nodes, timeout, api) = (opts.gpu_workers, opts.ready_timeout, opts.gpu_api());
    let path = gpu_fakes_manifest_path();
    let stale = |detail: String| ClusterError::Parse {
        what: path.display().to_string(),
        detail: format!(
            "{detail}; regenerate it with `cargo run -p gpu-fakes -- render-manifests > \
             fixtures/gpu-fakes/gpu-fakes.yaml`"
        ),
    };
    let manifest = annotate_pod_template(
        &read(&path)?,
        "DaemonSet",
        GPU_FAKES_DAEMONSET,
        IMAGE_ID_ANNOTATION,
        image_id,
    )
    .map_err(stale)?;
    let args = crate::gpu_api::gpu_fakes_args(api, &opts.gpu_partitioning);
    let manifest =
        set_container_args(&manifest, "DaemonSet", GPU_FAKES_DAEMONSET, &args).map_err(stale)?;
    if api.dra() {
        kubectl.apply(&read(&device_classes_manifest_path())?)?;
    }
    kubectl.apply(&manifest)?;
    kubectl.wait_rollout_of(
        "gpu-fakes",
        &format!("daemonset/{GPU_FAKES_DAEMONSET}"),
        timeout,
    )?;
    if !api.dra() {
        // A cluster that had DRA on: its classes and slices would offer
        // GPUs no driver prepares.
        for kind in ["resourceslices", "deviceclasses"] {
            kubectl.run(&[
                "delete",
                kind,
                "-l",
                MANAGED_BY_GPU_FAKES,
                "--ignore-not-found",
            ])?;
        }
    }
    if api.device_plugin() {
        let resource = opts.gpu_partitioning.resource_name();
        kubectl.poll(
            &format!("the GPU pool to advertise {resource}"),
            timeout,
            |k| {
                let out = k.run(&[
                    "get",
                    "nodes",
                    "-l",
                    "nvidia.com/gpu.present=true",
                    "-o",
                    "jsonpath={range .items[*]}{.status.allocatable}{\"\\n\"}{end}",
                ])?;
                let advertised = out
                    .lines()
                    .filter(|l| l.contains(&format!("\"{resource}\"")))
                    .count();
                Ok((advertised as u32 >= gpu_nodes).then_some(()))
            },
        )?;
    }
    if api.dra() {
        kubectl.poll("a gpu.nvidia.com ResourceSlice on every GPU node", timeout, |k| {
            let out = k.run(&[
                "get",
                "resourceslices",
                "-o",
                "jsonpath={range .items[*]}{.spec.driver} {.spec.nodeName} {.spec.devices[*].name}{\"\\n\"}{end}",
            ])?;
            let nodes = out
                .lines()
                .filter(|l| l.starts_with("gpu.nvidia.com ") && l.split_whitespace().count() > 2)
                .count();
            Ok((nodes as u32 >= gpu_nodes).then_some(()))
        })?;
    }
    Ok(())
}

/// Sets `--flag=value` for each of `args` in the first container of the
/// `kind` named `name` (replacing the flag where it is given, appending it
/// where not); the other documents are kept as they are.
pub fn set_container_args(
    manifest: &str,
    kind: &str,
    name: &str,
    args: &[(&str, String)],
) -> Result<String, String> {
    use yaml_serde::Value;
    edit_workload(manifest, kind, name, |v| {
        let list = v
            .get_mut("spec")
            .and_then(|s| s.get_mut("template"))
            .and_then(|t| t.get_mut("spec"))
            .and_then(|s| s.get_mut("containers"))
            .and_then(|c| c.get_mut(0))
            .and_then(|c| c.get_mut("args"))
            .and_then(Value::as_sequence_mut)
            .ok_or_else(|| format!("{kind} {name} has no container with args"))?;
        for (flag, value) in args {
            let arg = Value::from(format!("{flag}={value}"));
            let prefix = format!("{flag}=");
            match list
                .iter_mut()
                .find(|a| a.as_str().is_some_and(|s| s.starts_with(&prefix)))
            {
                Some(existing) => *existing = arg,
                None => list.push(arg),
            }
        }
        Ok(())
    })
}

/// Applies `edit` to the document of the `kind` named `name` in a
/// multi-document manifest; the other documents are kept as they are. The
/// error says what was missing.
fn edit_workload(
    manifest: &str,
    kind: &str,
    name: &str,
    mut edit: impl FnMut(&mut yaml_serde::Value) -> Result<(), String>,
) -> Result<String, String> {
    use yaml_serde::Value;
    let mut out = Vec::new();
    let mut found = false;
    for doc in k8s::split_documents(manifest) {
        let mut v: Value =
            yaml_serde::from_str(doc).map_err(|e| format!("a document does not parse: {e}"))?;
        let is_it = v.get("kind").and_then(Value::as_str) == Some(kind)
            && v.get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                == Some(name);
        if !is_it {
            out.push(doc.trim_end().to_string());
            continue;
        }
        edit(&mut v)?;
        let text = yaml_serde::to_string(&v).map_err(|e| e.to_string())?;
        out.push(text.trim_end().to_string());
        found = true;
    }
    if !found {
        return Err(format!("no {kind} named {name}"));
    }
    Ok(out.join("\n---\n") + "\n")
}

/// Sets annotation `key: value` on the pod template of the `kind` named
/// `name` in a multi-document manifest; the other documents are kept as
/// they are. The error says what was missing.
pub fn annotate_pod_template(
    manifest: &str,
    kind: &str,
    name: &str,
    key: &str,
    value: &str,
) -> Result<String, String> {
    use yaml_serde::Value;
    edit_workload(manifest, kind, name, |v| {
        let template = v
            .get_mut("spec")
            .and_then(|s| s.get_mut("template"))
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| format!("{kind} {name} has no spec.template"))?;
        let metadata = template
            .entry(Value::from("metadata"))
            .or_insert_with(|| Value::Mapping(Default::default()));
        let metadata = metadata
            .as_mapping_mut()
            .ok_or_else(|| format!("{kind} {name}: spec.template.metadata is not a mapping"))?;
        let annotations = metadata
            .entry(Value::from("annotations"))
            .or_insert_with(|| Value::Mapping(Default::default()));
        let annotations = annotations.as_mapping_mut().ok_or_else(|| {
            format!("{kind} {name}: spec.template.metadata.annotations is not a mapping")
        })?;
        annotations.insert(Value::from(key), Value::from(value));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_annotations(manifest: &str, kind: &str) -> Vec<(String, String)> {
        k8s::split_documents(manifest)
            .into_iter()
            .map(|d| yaml_serde::from_str::<yaml_serde::Value>(d).expect("parses"))
            .filter(|v| v["kind"].as_str() == Some(kind))
            .filter_map(|v| {
                v["spec"]["template"]["metadata"]["annotations"]
                    .as_mapping()
                    .cloned()
            })
            .flat_map(|m| {
                m.into_iter().map(|(k, v)| {
                    (
                        k.as_str().unwrap_or_default().to_string(),
                        v.as_str().unwrap_or_default().to_string(),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn gpu_fakes_pods_carry_the_image_id() {
        let manifest = std::fs::read_to_string(gpu_fakes_manifest_path()).expect("fixture");
        let docs = k8s::split_documents(&manifest).len();
        let once = annotate_pod_template(
            &manifest,
            "DaemonSet",
            GPU_FAKES_DAEMONSET,
            IMAGE_ID_ANNOTATION,
            "sha256:aaa",
        )
        .expect("annotated");
        assert_eq!(k8s::split_documents(&once).len(), docs);
        assert_eq!(
            pod_annotations(&once, "DaemonSet"),
            vec![(IMAGE_ID_ANNOTATION.to_string(), "sha256:aaa".to_string())]
        );
        // A rebuilt image replaces the ID; nothing else moves.
        let twice = annotate_pod_template(
            &once,
            "DaemonSet",
            GPU_FAKES_DAEMONSET,
            IMAGE_ID_ANNOTATION,
            "sha256:bbb",
        )
        .expect("annotated again");
        assert_eq!(
            pod_annotations(&twice, "DaemonSet"),
            vec![(IMAGE_ID_ANNOTATION.to_string(), "sha256:bbb".to_string())]
        );
        assert_eq!(twice.replace("sha256:bbb", "sha256:aaa"), once);
    }

    #[test]
    fn gpu_fakes_runs_with_the_asked_api_and_sharing() {
        let manifest = std::fs::read_to_string(gpu_fakes_manifest_path()).expect("fixture");
        let parts = crate::GpuPartitioning::mig("1g.10gb:7").expect("valid");
        let args = crate::gpu_api::gpu_fakes_args(crate::GpuApi::Dra, &parts);
        let out =
            set_container_args(&manifest, "DaemonSet", GPU_FAKES_DAEMONSET, &args).expect("set");
        let ds = k8s::split_documents(&out)
            .into_iter()
            .map(|d| yaml_serde::from_str::<yaml_serde::Value>(d).expect("parses"))
            .find(|v| v["kind"].as_str() == Some("DaemonSet"))
            .expect("daemonset");
        let args: Vec<&str> = ds["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_sequence()
            .expect("args")
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert!(args.contains(&"--gpu-api=dra"), "{args:?}");
        assert!(args.contains(&"--mig-profile=1g.10gb"), "{args:?}");
        assert!(args.contains(&"--mig-instances=7"), "{args:?}");
        assert_eq!(
            args.iter().filter(|a| a.starts_with("--gpu-api=")).count(),
            1
        );
        assert_eq!(
            args.iter().filter(|a| a.starts_with("--replicas=")).count(),
            1
        );
    }

    #[test]
    fn annotating_a_missing_workload_says_what_is_missing() {
        let err = annotate_pod_template(
            "kind: ConfigMap\nmetadata: {name: x}\n",
            "DaemonSet",
            "x",
            "k",
            "v",
        )
        .expect_err("no DaemonSet");
        assert_eq!(err, "no DaemonSet named x");
        let err = annotate_pod_template(
            "kind: DaemonSet\nmetadata: {name: x}\nspec: {}\n",
            "DaemonSet",
            "x",
            "k",
            "v",
        )
        .expect_err("no template");
        assert_eq!(err, "DaemonSet x has no spec.template");
    }
}
