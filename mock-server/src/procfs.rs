//! CPU time and resident memory of a process, read from `/proc` (Linux).

use std::fs;

/// A point-in-time reading of a process's resource use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub rss_bytes: u64,
}

/// `/proc` reports CPU time in USER_HZ ticks, which Linux fixes at 100 for user space.
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    /// Reads this process's stats; `None` where `/proc` is unavailable.
    pub fn read_self() -> Option<ProcessStats> {
        Self::read_path("/proc/self")
    }

    /// Reads the stats of process `pid`; `None` when it is gone or `/proc` is unavailable.
    pub fn read_pid(pid: u32) -> Option<ProcessStats> {
        Self::read_path(&format!("/proc/{pid}"))
    }

    fn read_path(dir: &str) -> Option<ProcessStats> {
        let stat = fs::read_to_string(format!("{dir}/stat")).ok()?;
        let status = fs::read_to_string(format!("{dir}/status")).ok()?;
        Some(ProcessStats {
            cpu_seconds: parse_cpu_seconds(&stat)?,
            rss_bytes: parse_rss_bytes(&status)?,
        })
    }
}

/// utime and stime are fields 14 and 15 of `/proc/PID/stat`; the command name
/// (field 2) may hold spaces, so count from the closing parenthesis.
fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field N is at index N - 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

fn parse_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let stat = "42 (mock server) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert_eq!(
            parse_rss_bytes("Name:\tx\nVmRSS:\t  2048 kB\n"),
            Some(2 * 1024 * 1024)
        );
    }

    #[test]
    fn reads_own_process() {
        let s = ProcessStats::read_self().expect("/proc/self is readable on Linux");
        assert!(s.rss_bytes > 0);
    }
}
