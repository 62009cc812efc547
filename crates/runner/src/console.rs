//! Live progress on the console: which scenario and step, how long, load
//! numbers while a load runs. Quiet mode prints failures only. In GitHub
//! Actions each scenario is a folded `::group::`.
//!
//! When scenarios run concurrently, each one's lines would interleave with
//! the others'. Then only the start and end of each scenario print live
//! (one line each); a scenario's own lines are held in its [`Console`] and
//! printed together, as one block (one group in GitHub Actions), when it
//! ends.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Console {
    quiet: bool,
    github: bool,
    started: Instant,
    /// Concurrent runs: scenario consoles hold their lines until the end.
    concurrent: bool,
    /// The held lines of one scenario (a console made by [`Console::scenario`]).
    held: Option<Arc<Mutex<Vec<String>>>>,
}

impl Console {
    pub fn new(quiet: bool, concurrent: bool) -> Console {
        Console {
            quiet,
            github: std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
            started: Instant::now(),
            concurrent,
            held: None,
        }
    }

    /// The console one scenario writes to: its lines are held until
    /// [`Console::scenario_end`] when scenarios run concurrently.
    pub fn scenario(&self) -> Console {
        Console {
            held: self.concurrent.then(|| Arc::new(Mutex::new(Vec::new()))),
            ..self.clone()
        }
    }

    fn stamp(&self) -> String {
        let s = self.started.elapsed().as_secs();
        format!("[{:02}:{:02}]", s / 60, s % 60)
    }

    /// Prints a line now, or holds it for the scenario's block.
    fn line(&self, text: String) {
        match &self.held {
            Some(held) => {
                if let Ok(mut h) = held.lock() {
                    h.push(text);
                }
            }
            None => eprintln!("{text}"),
        }
    }

    pub fn scenario_start(&self, name: &str, namespace: &str) {
        if self.quiet {
            return;
        }
        if self.github && self.held.is_none() {
            eprintln!("::group::scenario {name}");
        }
        eprintln!("{} ▶ {name} (namespace {namespace})", self.stamp());
    }

    pub fn scenario_end(&self, name: &str, outcome: &str, secs: f64) {
        let loud = outcome == "failed" || outcome == "passed unexpectedly";
        let end = format!("{} ■ {name}: {outcome} in {secs:.0}s", self.stamp());
        let Some(held) = &self.held else {
            if self.github && !self.quiet {
                eprintln!("::endgroup::");
            }
            if !self.quiet || loud {
                eprintln!("{end}");
            }
            return;
        };
        let lines = held.lock().map(|mut h| std::mem::take(&mut *h));
        let lines = lines.unwrap_or_default();
        // One write for the whole block, so concurrent blocks do not mix.
        let mut block = String::new();
        if !lines.is_empty() {
            if self.github {
                block.push_str(&format!("::group::scenario {name}\n"));
            }
            for l in &lines {
                block.push_str(&format!("  {name} │ {l}\n"));
            }
            if self.github {
                block.push_str("::endgroup::\n");
            }
        }
        if !self.quiet || loud {
            block.push_str(&end);
            block.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(block.as_bytes());
    }

    pub fn step(&self, name: &str, attempt: u32) {
        if !self.quiet {
            let again = if attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            self.line(format!("{}   step {name}{again}", self.stamp()));
        }
    }

    pub fn op(&self, kind: &str, what: &str) {
        if !self.quiet {
            self.line(format!("{}     {kind}: {what}", self.stamp()));
        }
    }

    pub fn op_failed(&self, kind: &str, error: &str) {
        let first = error.lines().next().unwrap_or("");
        self.line(format!("{}     ✗ {kind} failed: {first}", self.stamp()));
    }

    pub fn info(&self, line: &str) {
        if !self.quiet {
            self.line(format!("{}     {line}", self.stamp()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concurrent_scenario_holds_its_lines_until_it_ends() {
        let console = Console::new(false, true);
        let a = console.scenario();
        let b = console.scenario();
        a.step("deploy", 1);
        b.op_failed("expect", "not met\nsecond line");
        fn held(c: &Console) -> Vec<String> {
            c.held.as_ref().expect("held").lock().expect("lock").clone()
        }
        let a_lines = held(&a);
        let b_lines = held(&b);
        assert_eq!(a_lines.len(), 1);
        assert!(a_lines[0].ends_with("step deploy"), "{a_lines:?}");
        assert_eq!(b_lines.len(), 1);
        assert!(
            b_lines[0].ends_with("✗ expect failed: not met"),
            "{b_lines:?}"
        );
        a.scenario_end("a", "passed", 1.0);
        assert!(held(&a).is_empty());
    }

    #[test]
    fn a_serial_scenario_prints_as_it_goes() {
        let console = Console::new(false, false).scenario();
        assert!(console.held.is_none());
    }
}
