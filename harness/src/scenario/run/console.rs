//! Live progress on the console: which scenario and step, how long, load
//! numbers while a load runs. Quiet mode prints failures only. In GitHub
//! Actions each scenario is a folded `::group::`.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Console {
    quiet: bool,
    github: bool,
    started: Instant,
}

impl Console {
    pub fn new(quiet: bool) -> Console {
        Console {
            quiet,
            github: std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
            started: Instant::now(),
        }
    }

    fn stamp(&self) -> String {
        let s = self.started.elapsed().as_secs();
        format!("[{:02}:{:02}]", s / 60, s % 60)
    }

    pub fn scenario_start(&self, name: &str, namespace: &str) {
        if self.quiet {
            return;
        }
        if self.github {
            eprintln!("::group::scenario {name}");
        }
        eprintln!("{} ▶ {name} (namespace {namespace})", self.stamp());
    }

    pub fn scenario_end(&self, name: &str, outcome: &str, secs: f64) {
        if self.github && !self.quiet {
            eprintln!("::endgroup::");
        }
        if !self.quiet || outcome == "failed" || outcome == "passed unexpectedly" {
            eprintln!("{} ■ {name}: {outcome} in {secs:.0}s", self.stamp());
        }
    }

    pub fn step(&self, name: &str, attempt: u32) {
        if !self.quiet {
            let again = if attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            eprintln!("{}   step {name}{again}", self.stamp());
        }
    }

    pub fn op(&self, kind: &str, what: &str) {
        if !self.quiet {
            eprintln!("{}     {kind}: {what}", self.stamp());
        }
    }

    pub fn op_failed(&self, kind: &str, error: &str) {
        let first = error.lines().next().unwrap_or("");
        eprintln!("{}     ✗ {kind} failed: {first}", self.stamp());
    }

    pub fn info(&self, line: &str) {
        if !self.quiet {
            eprintln!("{}     {line}", self.stamp());
        }
    }
}
