//! CDI (Container Device Interface) specs of prepared claims: one spec file
//! per claim in the CDI directory, one CDI device per allocated device, each
//! setting `NVIDIA_VISIBLE_DEVICES` to every GPU of the claim (so a
//! container given several of the claim's devices sees all of them, whichever
//! edit the runtime applies last).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The CDI vendor/class of claim devices (NVIDIA's driver uses the same).
pub const CDI_KIND: &str = "k8s.gpu.nvidia.com/claim";
/// The CDI spec version written.
pub const CDI_VERSION: &str = "0.6.0";

/// Errors writing or removing a spec.
#[derive(Debug, thiserror::Error)]
#[error("CDI spec {path}: {source}")]
pub struct CdiError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The CDI device name of `device` in claim `claim_uid`.
pub fn device_name(claim_uid: &str, device: &str) -> String {
    format!("{claim_uid}-{device}")
}

/// The fully qualified CDI device id the kubelet passes to the runtime.
pub fn device_id(claim_uid: &str, device: &str) -> String {
    format!("{CDI_KIND}={}", device_name(claim_uid, device))
}

/// The spec file of a claim.
pub fn spec_path(dir: &Path, claim_uid: &str) -> PathBuf {
    dir.join(format!("k8s.gpu.nvidia.com-claim_{claim_uid}.json"))
}

/// The spec of one claim: `devices` are the allocated device names, and
/// `visible` the ids `NVIDIA_VISIBLE_DEVICES` lists.
pub fn claim_spec(claim_uid: &str, devices: &[String], visible: &[String]) -> Value {
    let env = format!("NVIDIA_VISIBLE_DEVICES={}", visible.join(","));
    json!({
        "cdiVersion": CDI_VERSION,
        "kind": CDI_KIND,
        "devices": devices.iter().map(|d| json!({
            "name": device_name(claim_uid, d),
            "containerEdits": { "env": [env] },
        })).collect::<Vec<_>>(),
    })
}

/// Writes the spec of a claim (through a temporary file and a rename, so a
/// runtime never reads half of it).
pub fn write_spec(dir: &Path, claim_uid: &str, spec: &Value) -> Result<PathBuf, CdiError> {
    let path = spec_path(dir, claim_uid);
    let err = |source| CdiError {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, spec.to_string()).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)?;
    Ok(path)
}

/// Removes the spec of a claim; a spec already gone is not an error.
pub fn remove_spec(dir: &Path, claim_uid: &str) -> Result<(), CdiError> {
    let path = spec_path(dir, claim_uid);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CdiError { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_device_of_a_claim_sees_all_its_gpus() {
        let spec = claim_spec(
            "uid-1",
            &["gpu-0".into(), "gpu-1".into()],
            &["GPU-a".into(), "GPU-b".into()],
        );
        assert_eq!(spec["kind"], CDI_KIND);
        assert_eq!(spec["devices"][1]["name"], "uid-1-gpu-1");
        assert_eq!(
            spec["devices"][0]["containerEdits"]["env"][0],
            "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"
        );
        assert_eq!(
            device_id("uid-1", "gpu-0"),
            "k8s.gpu.nvidia.com/claim=uid-1-gpu-0"
        );
    }

    #[test]
    fn specs_are_written_and_removed() {
        let dir = std::env::temp_dir().join(format!("gpu-fakes-cdi-{}", std::process::id()));
        let path = write_spec(
            &dir,
            "u",
            &claim_spec("u", &["gpu-0".into()], &["GPU-a".into()]),
        )
        .expect("written");
        let back: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(back["devices"][0]["name"], "u-gpu-0");
        remove_spec(&dir, "u").expect("removed");
        assert!(!path.exists());
        remove_spec(&dir, "u").expect("removing twice is fine");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
