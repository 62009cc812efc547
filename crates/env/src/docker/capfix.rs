//! The `capfix` OCI runtime: a wrapper around runc that drops the
//! capabilities missing from the host's bounding set before calling it, for
//! VMs where `docker run --privileged` otherwise fails. This module knows
//! its name, its script, and how to tell a host that needs it.

use std::path::Path;

/// The name our OCI runtime wrapper is registered under in dockerd.
pub const CAPFIX_RUNTIME: &str = "capfix";

/// The capfix wrapper script with the real runc and jq paths filled in.
pub fn capfix_script(runc: &Path, jq: &Path) -> String {
    include_str!("../../assets/capfix-runtime.sh")
        .replace("@RUNC@", &runc.display().to_string())
        .replace("@JQ@", &jq.display().to_string())
}

/// Whether the capability bounding set of this process lacks any
/// capability up to `CAP_CHECKPOINT_RESTORE` (bit 40): a cheap hint that
/// privileged containers will need the capfix runtime.
pub fn bounding_set_incomplete() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|bnd| bnd & ((1u64 << 41) - 1) != (1u64 << 41) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capfix_script_has_paths_filled_in() {
        let s = capfix_script(Path::new("/usr/sbin/runc"), Path::new("/usr/bin/jq"));
        assert!(s.contains("RUNC=\"${INFERBENCH_CAPFIX_RUNC:-/usr/sbin/runc}\""));
        assert!(!s.contains("@RUNC@") && !s.contains("@JQ@"));
    }
}
