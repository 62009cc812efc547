//! `mock-server devices`: what GPUs the container was given, as a Job's
//! termination message: `NVIDIA_VISIBLE_DEVICES` as NVIDIA's container
//! runtime reads it (set by the device plugin's `Allocate`, or by the CDI
//! spec a DRA driver prepared for the pod's claim), split into devices.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The variable NVIDIA's container runtime reads.
pub const VISIBLE_DEVICES: &str = "NVIDIA_VISIBLE_DEVICES";

/// What `mock-server devices` is told.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mock-server devices",
    about = "Report the GPUs this container was given (NVIDIA_VISIBLE_DEVICES) as a JSON termination message."
)]
pub struct DevicesArgs {
    #[arg(
        long,
        env = "MOCK_DEVICES_SUMMARY",
        default_value = "/dev/termination-log"
    )]
    pub summary: PathBuf,
}

/// The termination message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Devices {
    /// The variable as set; absent when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_visible_devices: Option<String>,
    /// The devices it names (UUIDs or indices); empty for unset, `none`,
    /// `void` or an empty value; `all` stays `all`.
    pub devices: Vec<String>,
    pub count: usize,
}

impl Devices {
    pub fn from_value(value: Option<&str>) -> Devices {
        let devices: Vec<String> = match value.map(str::trim) {
            None | Some("" | "none" | "void") => Vec::new(),
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect(),
        };
        Devices {
            nvidia_visible_devices: value.map(str::to_string),
            count: devices.len(),
            devices,
        }
    }
}

/// Reads the environment, writes the summary, prints it.
pub fn run(args: &DevicesArgs) -> std::io::Result<Devices> {
    let value = std::env::var(VISIBLE_DEVICES).ok();
    let devices = Devices::from_value(value.as_deref());
    let text = serde_json::to_string(&devices).map_err(std::io::Error::other)?;
    std::fs::write(&args.summary, &text)?;
    println!("{text}");
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_is_split_into_devices() {
        let d = Devices::from_value(Some("GPU-a,GPU-b"));
        assert_eq!(d.devices, ["GPU-a", "GPU-b"]);
        assert_eq!(d.count, 2);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["nvidiaVisibleDevices"], "GPU-a,GPU-b");
        for none in [None, Some(""), Some("none"), Some("void")] {
            assert_eq!(Devices::from_value(none).count, 0, "{none:?}");
        }
        assert!(
            serde_json::to_value(Devices::from_value(None))
                .unwrap()
                .get("nvidiaVisibleDevices")
                .is_none()
        );
        assert_eq!(Devices::from_value(Some("all")).devices, ["all"]);
    }
}
