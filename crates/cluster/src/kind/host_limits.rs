//! The host's inotify limits, which every kind node's kubelet and systemd
//! draw on. Debian's defaults (128 instances) hold about two 4-node
//! clusters; the nodes of a third exit at once and `kind create` fails
//! with "container ... is not running". kind's known-issues page asks for
//! 512 instances and 524288 watches: raised here where we may (root),
//! otherwise the command to do it is printed.

use std::path::Path;

const PROC: &str = "/proc/sys/fs/inotify";

/// One limit: its `/proc/sys/fs/inotify` file and the least kind needs.
const LIMITS: [(&str, u64); 2] = [("max_user_instances", 512), ("max_user_watches", 524_288)];

/// The limits below what kind needs, as `(file, now, wanted)`.
pub fn short(read: impl Fn(&str) -> Option<u64>) -> Vec<(&'static str, u64, u64)> {
    LIMITS
        .iter()
        .filter_map(|&(file, want)| {
            let now = read(file)?;
            (now < want).then_some((file, now, want))
        })
        .collect()
}

/// Raises the limits that are short, or says how to. Never fails: a node
/// that does not start reports itself, this only makes it less likely.
pub fn ensure() {
    let dir = Path::new(PROC);
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    for (file, now, want) in short(read) {
        match std::fs::write(dir.join(file), want.to_string()) {
            Ok(()) => eprintln!(
                "inferbench: raised fs.inotify.{file} from {now} to {want} (kind nodes need it)"
            ),
            Err(e) => eprintln!(
                "inferbench: fs.inotify.{file} is {now}; kind nodes may fail to start below {want} \
                 ({e}). Raise it: sudo sysctl -w fs.inotify.{file}={want}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_limits_below_what_kind_needs_are_short() {
        let debian = |f: &str| match f {
            "max_user_instances" => Some(128),
            "max_user_watches" => Some(1_000_000),
            _ => None,
        };
        assert_eq!(short(debian), vec![("max_user_instances", 128, 512)]);
        assert!(short(|_| Some(u64::MAX)).is_empty());
        // Unreadable (not Linux, no /proc): nothing to raise.
        assert!(short(|_| None).is_empty());
    }
}
