//! Real NVIDIA GPUs in kind nodes, the way NVIDIA's nvkind does it.
//!
//! 1. The host: an NVIDIA driver (`nvidia-smi` lists GPUs) and the NVIDIA
//!    Container Toolkit as Docker's default runtime, accepting
//!    `NVIDIA_VISIBLE_DEVICES` as volume mounts
//!    ([`preflight`] checks it and prints the commands that fix it).
//! 2. The kind configuration: each GPU worker mounts `/dev/null` at
//!    `/var/run/nvidia-container-devices/<index>` for the GPUs it gets;
//!    the host's runtime injects those GPUs into the node container.
//! 3. Inside each GPU node ([`node_setup_script`]): the toolkit, containerd
//!    configured with an `nvidia` runtime, and `/proc/driver/nvidia/params`
//!    masked so containers cannot recreate device files of GPUs that are
//!    not theirs.
//! 4. The cluster: a RuntimeClass `nvidia` and NVIDIA's device plugin
//!    (`fixtures/nvidia/device-plugin.yaml`), then GPU feature labels from
//!    what `nvidia-smi` reported.
//!
//! Steps 3 and 4 download NVIDIA's packages and images: this path needs
//! the internet, unlike the fake GPUs.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::kubectl::Kubectl;
use crate::{ClusterError, ExtraMount, GPU_PRESENT_LABEL};
use environment::docker::Docker;
use environment::tools::exec::Cmd;

/// Where nvkind-style mounts tell the host runtime which GPUs a node gets.
pub const DEVICE_MOUNT_DIR: &str = "/var/run/nvidia-container-devices";
/// The toolkit setting that makes those mounts count.
pub const VOLUME_MOUNTS_SETTING: &str = "accept-nvidia-visible-devices-as-volume-mounts";
/// The host's NVIDIA Container Runtime configuration.
pub const RUNTIME_CONFIG: &str = "/etc/nvidia-container-runtime/config.toml";
/// Where GPU nodes see the host's Hugging Face cache (the vLLM fixture's
/// `modelCacheHostPath`), so pods do not download models again.
pub const MODEL_CACHE_IN_NODE: &str = "/var/lib/inferbench/hf-cache";

/// One GPU as `nvidia-smi` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGpu {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    pub memory_mib: u64,
}

impl HostGpu {
    /// GPU feature discovery's spelling of the product (`NVIDIA-H100-80GB-HBM3`).
    pub fn product_label(&self) -> String {
        self.name
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }
}

/// Parses `nvidia-smi --query-gpu=index,name,uuid,memory.total --format=csv,noheader,nounits`.
pub fn parse_gpus(csv: &str) -> Result<Vec<HostGpu>, ClusterError> {
    let mut out = Vec::new();
    for line in csv.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = || ClusterError::Parse {
            what: "nvidia-smi --query-gpu".into(),
            detail: format!("expected `index, name, uuid, memory.total`, got {line:?}"),
        };
        if fields.len() != 4 {
            return Err(bad());
        }
        out.push(HostGpu {
            index: fields[0].parse().map_err(|_| bad())?,
            name: fields[1].to_string(),
            uuid: fields[2].to_string(),
            memory_mib: fields[3].parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

/// Whether the runtime configuration accepts device lists as volume mounts.
pub fn accepts_volume_mounts(config_toml: &str) -> bool {
    config_toml.lines().any(|l| {
        let l = l.trim();
        !l.starts_with('#')
            && l.split_once('=').is_some_and(|(k, v)| {
                k.trim() == VOLUME_MOUNTS_SETTING && v.trim().trim_matches('"') == "true"
            })
    })
}

/// The host's GPUs, after checking everything nvkind needs on the host.
/// Every problem is listed with the command that fixes it.
pub fn preflight(docker: &Docker) -> Result<Vec<HostGpu>, ClusterError> {
    let mut problems = Vec::new();
    let gpus = match Cmd::new("nvidia-smi")
        .args([
            "--query-gpu=index,name,uuid,memory.total",
            "--format=csv,noheader,nounits",
        ])
        .timeout(Duration::from_secs(30))
        .output_string()
    {
        Ok(out) => parse_gpus(&out)?,
        Err(e) => {
            problems.push(format!(
                "nvidia-smi does not list GPUs ({e}): install the NVIDIA driver on this host"
            ));
            Vec::new()
        }
    };
    if gpus.is_empty() && problems.is_empty() {
        problems.push("nvidia-smi lists no GPU".to_string());
    }
    match docker.default_runtime() {
        Ok(r) if r.trim() == "nvidia" => {}
        Ok(r) => problems.push(format!(
            "Docker's default runtime is {:?}, not \"nvidia\": install the NVIDIA Container Toolkit, then\n    \
             sudo nvidia-ctk runtime configure --runtime=docker --set-as-default --cdi.enabled\n    \
             sudo systemctl restart docker",
            r.trim()
        )),
        Err(e) => problems.push(format!("cannot ask Docker for its default runtime: {e}")),
    }
    let config = std::fs::read_to_string(RUNTIME_CONFIG).unwrap_or_default();
    if !accepts_volume_mounts(&config) {
        problems.push(format!(
            "{RUNTIME_CONFIG} does not set {VOLUME_MOUNTS_SETTING} = true, so kind nodes cannot be given GPUs:\n    \
             sudo nvidia-ctk config --set {VOLUME_MOUNTS_SETTING}=true --in-place\n    \
             sudo systemctl restart docker"
        ));
    }
    if problems.is_empty() {
        Ok(gpus)
    } else {
        Err(ClusterError::GpuHost(format!(
            "{}\n(check: docker run --rm -v /dev/null:{DEVICE_MOUNT_DIR}/all ubuntu nvidia-smi -L)",
            problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        )))
    }
}

/// Splits the host's GPUs over at most `workers` GPU nodes, round robin:
/// one list of GPU indices per node (fewer nodes than asked when there
/// are fewer GPUs).
pub fn assign(gpus: &[HostGpu], workers: u32) -> Vec<Vec<u32>> {
    let nodes = (workers as usize).min(gpus.len());
    let mut out = vec![Vec::new(); nodes];
    for (i, g) in gpus.iter().enumerate() {
        if nodes > 0 {
            out[i % nodes].push(g.index);
        }
    }
    out
}

/// The kind extra mounts that hand `indices` to a node, plus the model cache.
pub fn node_mounts(indices: &[u32], model_cache: Option<&PathBuf>) -> Vec<ExtraMount> {
    let mut m: Vec<ExtraMount> = indices
        .iter()
        .map(|i| ExtraMount {
            host_path: "/dev/null".into(),
            container_path: format!("{DEVICE_MOUNT_DIR}/{i}"),
        })
        .collect();
    if let Some(cache) = model_cache {
        m.push(ExtraMount {
            host_path: cache.display().to_string(),
            container_path: MODEL_CACHE_IN_NODE.into(),
        });
    }
    m
}

/// The host's Hugging Face cache (`$HF_HOME`, else `~/.cache/huggingface`), created if missing.
pub fn host_model_cache() -> Option<PathBuf> {
    let dir = std::env::var_os("HF_HOME").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface"))
    })?;
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// What runs inside a GPU node: the toolkit (from NVIDIA's apt repository
/// when the node lacks it), containerd's `nvidia` runtime, the
/// `ModifyDeviceFiles` mask, and the device files of GPUs that belong to
/// other nodes removed.
pub fn node_setup_script(mine: &[u32], all: &[u32]) -> String {
    let mut s = String::from(
        r#"set -euo pipefail
if ! command -v nvidia-ctk >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq curl gpg ca-certificates >/dev/null
  curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey \
    | gpg --batch --yes --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
  curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \
    | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \
    > /etc/apt/sources.list.d/nvidia-container-toolkit.list
  apt-get update -qq
  apt-get install -y -qq nvidia-container-toolkit >/dev/null
fi
nvidia-ctk runtime configure --runtime=containerd --config-source=file
systemctl restart containerd
if ! grep -q '^ModifyDeviceFiles: 0$' /proc/driver/nvidia/params; then
  umount -R /proc/driver/nvidia || true
  cp /proc/driver/nvidia/params /root/gpu-params
  sed -i 's/^ModifyDeviceFiles: 1$/ModifyDeviceFiles: 0/' /root/gpu-params
  mount --bind /root/gpu-params /proc/driver/nvidia/params
fi
"#,
    );
    for i in all.iter().filter(|i| !mine.contains(i)) {
        let _ = writeln!(
            s,
            "while umount /dev/nvidia{i} 2>/dev/null; do :; done; rm -rf /dev/nvidia{i}"
        );
    }
    s
}

/// Runs [`node_setup_script`] in the node container `node`.
pub fn setup_node(
    docker: &Docker,
    node: &str,
    mine: &[u32],
    all: &[u32],
) -> Result<(), ClusterError> {
    docker
        .cmd()
        .args(["exec", "-i", node, "bash", "-s"])
        .stdin_bytes(node_setup_script(mine, all))
        .timeout(Duration::from_secs(900))
        .progress(format!("setting up the NVIDIA runtime in {node}"))
        .run()?;
    Ok(())
}

/// NVIDIA's device plugin and the `nvidia` RuntimeClass, as applied.
pub fn device_plugin_manifest_path() -> PathBuf {
    environment::workspace::repo_root()
        .join("fixtures")
        .join("nvidia")
        .join("device-plugin.yaml")
}

/// Applies NVIDIA's device plugin, waits until every GPU node advertises
/// `nvidia.com/gpu`, and labels the nodes with what `nvidia-smi` reported.
pub fn install_device_plugin(
    kubectl: &Kubectl,
    assignment: &[Vec<u32>],
    gpus: &[HostGpu],
    timeout: Duration,
) -> Result<(), ClusterError> {
    let path = device_plugin_manifest_path();
    let manifest = std::fs::read_to_string(&path)
        .map_err(crate::io_err(format!("reading {}", path.display())))?;
    kubectl.apply(&manifest)?;
    kubectl.wait_rollout_of(
        "kube-system",
        "daemonset/nvidia-device-plugin-daemonset",
        timeout,
    )?;
    let nodes = gpu_node_names(kubectl)?;
    kubectl.poll("the GPU nodes to advertise nvidia.com/gpu", timeout, |k| {
        let out = k.run(&[
            "get",
            "nodes",
            "-l",
            &format!("{GPU_PRESENT_LABEL}=true"),
            "-o",
            "jsonpath={range .items[*]}{.status.allocatable.nvidia\\.com/gpu}{\"\\n\"}{end}",
        ])?;
        let ready = out
            .lines()
            .filter(|l| l.trim().parse::<u32>().is_ok_and(|n| n > 0))
            .count();
        Ok((ready >= nodes.len()).then_some(()))
    })?;
    for (node, indices) in nodes.iter().zip(assignment) {
        let Some(first) = gpus.iter().find(|g| indices.contains(&g.index)) else {
            continue;
        };
        kubectl.run(&[
            "label",
            "node",
            node,
            "--overwrite",
            &format!("nvidia.com/gpu.product={}", first.product_label()),
            &format!("nvidia.com/gpu.count={}", indices.len()),
            &format!("nvidia.com/gpu.memory={}", first.memory_mib),
        ])?;
    }
    Ok(())
}

/// The GPU pool's node names, in kind's order (they are the containers' names).
pub fn gpu_node_names(kubectl: &Kubectl) -> Result<Vec<String>, ClusterError> {
    let out = kubectl.run(&[
        "get",
        "nodes",
        "-l",
        &format!("{GPU_PRESENT_LABEL}=true"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
    ])?;
    let mut names: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    // kind numbers workers in configuration order: worker2 before worker10.
    names.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H100X2: &str = "0, NVIDIA H100 80GB HBM3, GPU-8d1e4f3c-0000-0000-0000-000000000000, 81559\n1, NVIDIA H100 80GB HBM3, GPU-8d1e4f3c-0000-0000-0000-000000000001, 81559\n";

    #[test]
    fn nvidia_smi_rows_become_gpus_with_gfd_product_names() {
        let gpus = parse_gpus(H100X2).expect("parsed");
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[1].index, 1);
        assert_eq!(gpus[0].memory_mib, 81559);
        assert_eq!(gpus[0].product_label(), "NVIDIA-H100-80GB-HBM3");
        let e = parse_gpus("0, H100\n").unwrap_err().to_string();
        assert!(e.contains("index, name, uuid, memory.total"), "{e}");
    }

    #[test]
    fn gpus_are_dealt_round_robin_to_at_most_as_many_nodes() {
        let gpus = parse_gpus(H100X2).unwrap();
        assert_eq!(assign(&gpus, 2), vec![vec![0], vec![1]]);
        assert_eq!(assign(&gpus, 1), vec![vec![0, 1]]);
        assert_eq!(
            assign(&gpus, 5),
            vec![vec![0], vec![1]],
            "no GPU-less GPU nodes"
        );
        assert!(assign(&[], 2).is_empty());
    }

    #[test]
    fn the_volume_mount_setting_must_be_true_and_not_commented_out() {
        assert!(accepts_volume_mounts(
            "[nvidia-container-cli]\naccept-nvidia-visible-devices-as-volume-mounts = true\n"
        ));
        assert!(!accepts_volume_mounts(
            "#accept-nvidia-visible-devices-as-volume-mounts = true\n"
        ));
        assert!(!accepts_volume_mounts(
            "accept-nvidia-visible-devices-as-volume-mounts = false\n"
        ));
    }

    #[test]
    fn node_setup_masks_device_files_and_removes_other_nodes_gpus() {
        let script = node_setup_script(&[1], &[0, 1, 2]);
        insta::assert_snapshot!("node_setup_script_gpu_1_of_3", script);
        assert!(script.contains("rm -rf /dev/nvidia0"));
        assert!(!script.contains("rm -rf /dev/nvidia1"));
    }

    #[test]
    fn the_device_plugin_fixture_runs_on_gpu_nodes_with_the_nvidia_runtime() {
        let text = std::fs::read_to_string(device_plugin_manifest_path()).expect("fixture");
        let docs: Vec<serde_json::Value> = text
            .split("\n---")
            .filter(|d| {
                d.lines()
                    .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
            })
            .map(|d| yaml_serde::from_str(d).expect("YAML"))
            .collect();
        let rc = docs
            .iter()
            .find(|d| d["kind"] == "RuntimeClass")
            .expect("RuntimeClass");
        assert_eq!(rc["metadata"]["name"], "nvidia");
        assert_eq!(rc["handler"], "nvidia");
        let ds = docs
            .iter()
            .find(|d| d["kind"] == "DaemonSet")
            .expect("DaemonSet");
        let pod = &ds["spec"]["template"]["spec"];
        assert_eq!(pod["runtimeClassName"], "nvidia");
        assert_eq!(pod["nodeSelector"][GPU_PRESENT_LABEL], "true");
        assert!(
            pod["tolerations"]
                .as_array()
                .expect("tolerations")
                .iter()
                .any(|t| t["key"] == "nvidia.com/gpu")
        );
        let image = pod["containers"][0]["image"].as_str().expect("image");
        assert!(
            image.starts_with("nvcr.io/nvidia/k8s-device-plugin:v"),
            "{image}"
        );
        assert_eq!(
            pod["volumes"][0]["hostPath"]["path"],
            "/var/lib/kubelet/device-plugins"
        );
    }
}
