//! The test binaries of one `cargo test --no-run` build, run side by side
//! the way cargo-nextest runs them: each binary in its own process, its
//! output kept and printed in one piece when it ends. `cargo test` runs
//! them one after another, so the cluster tests' waiting added up.
//!
//! The binaries that change what the shared kind cluster offers the other
//! tests ([`ON_THE_SHARED_CLUSTER`]) run in turn, in one lane; every other
//! binary runs in a pool beside that lane.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Test binaries that change the shared kind cluster under the others'
/// feet, by (package, target): they run one at a time, in this order.
/// A new test that changes cluster-wide state belongs here.
pub const ON_THE_SHARED_CLUSTER: &[(&str, &str)] = &[
    // `up` again on the shared cluster: re-applies every add-on and rolls
    // gpu-fakes' pods twice.
    ("inferbench-cluster", "kind_cluster"),
    // Holds the pool's GPUs and makes a device unhealthy.
    ("gpu-fakes", "cluster"),
    // Scales metrics-server to zero, then restarts kube-apiserver to heal.
    ("inferbench-runner", "honest_twins"),
];

/// One test executable cargo built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    pub package: String,
    /// The target's name (`kind_cluster` for `tests/kind_cluster.rs`).
    pub target: String,
    /// `lib`, `bin` or `test`.
    pub kind: String,
    pub executable: PathBuf,
    /// Arguments before the test arguments (none for a test binary).
    pub leading_args: Vec<String>,
    /// Where cargo runs it from: the package's folder.
    pub package_dir: PathBuf,
}

impl TestBinary {
    /// The doc tests of the whole workspace, which `--no-run` does not
    /// build: `cargo test --doc` run as one more binary.
    pub fn doc_tests(cargo: &Path, workspace: &Path) -> TestBinary {
        TestBinary {
            package: "workspace".into(),
            target: "doc tests".into(),
            kind: "doc".into(),
            executable: cargo.to_path_buf(),
            leading_args: ["test", "--workspace", "--doc", "--locked", "--"]
                .map(String::from)
                .to_vec(),
            package_dir: workspace.to_path_buf(),
        }
    }

    /// `package target (kind)`, as the console shows it.
    pub fn label(&self) -> String {
        format!("{} {} ({})", self.package, self.target, self.kind)
    }

    fn on_the_shared_cluster(&self) -> Option<usize> {
        ON_THE_SHARED_CLUSTER
            .iter()
            .position(|(p, t)| *p == self.package && *t == self.target)
    }
}

/// The test executables in cargo's `--message-format=json` output (one
/// JSON object per line; lines that are not compiler artifacts with an
/// executable are skipped).
pub fn from_cargo_messages(stdout: &str) -> anyhow::Result<Vec<TestBinary>> {
    let mut out = Vec::new();
    for (i, line) in stdout.lines().enumerate() {
        if !line.starts_with('{') {
            continue;
        }
        let msg: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("cargo's JSON message on line {}", i + 1))?;
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(executable) = msg["executable"].as_str() else {
            continue;
        };
        let manifest = msg["manifest_path"]
            .as_str()
            .context("a compiler artifact without manifest_path")?;
        let package_dir = Path::new(manifest)
            .parent()
            .context("manifest_path has no folder")?
            .to_path_buf();
        let package = msg["package_id"]
            .as_str()
            .map(package_name)
            .context("a compiler artifact without package_id")?;
        out.push(TestBinary {
            package,
            target: msg["target"]["name"].as_str().unwrap_or("?").to_string(),
            kind: msg["target"]["kind"][0].as_str().unwrap_or("?").to_string(),
            executable: PathBuf::from(executable),
            leading_args: Vec::new(),
            package_dir,
        });
    }
    Ok(out)
}

/// The package name in a package ID: `path+file:///x/crates/cluster#inferbench-cluster@0.1.0`
/// (cargo 1.77 and later), `path+file:///x/xtask#0.1.0` (name = folder) or
/// `name 0.1.0 (path+file:///x)` (older).
fn package_name(id: &str) -> String {
    if let Some((url, rest)) = id.split_once('#') {
        return match rest.split_once('@') {
            Some((name, _)) => name.to_string(),
            None => url.rsplit('/').next().unwrap_or(url).to_string(),
        };
    }
    id.split(' ').next().unwrap_or(id).to_string()
}

/// How one binary ended.
#[derive(Debug)]
pub struct Ran {
    pub label: String,
    pub took: Duration,
    pub ok: bool,
}

/// Runs the test binaries: those [`ON_THE_SHARED_CLUSTER`] in turn (then
/// `after_lane`, on the same cluster), every other one in a pool of `jobs`
/// beside them. Each gets `args` (e.g. `--include-ignored`) and `env`.
/// Returns the lane's and the pool's wall time, after both ended.
pub fn run_all(
    binaries: Vec<TestBinary>,
    args: &[String],
    env: &[(String, OsString)],
    jobs: usize,
    after_lane: impl FnOnce() -> anyhow::Result<()> + Send,
) -> anyhow::Result<Lanes> {
    let (mut lane, mut pool): (Vec<_>, Vec<_>) = binaries
        .into_iter()
        .partition(|b| b.on_the_shared_cluster().is_some());
    lane.sort_by_key(|b| b.on_the_shared_cluster());
    // Integration tests first: they are the slow ones.
    pool.sort_by_key(|b| b.kind != "test");
    let print = Mutex::new(());
    let queue = Mutex::new(pool.into_iter());
    let ran = Mutex::new(Vec::new());
    let (lane_took, pool_took, after) = std::thread::scope(|s| {
        let lane_job = s.spawn(|| {
            let t0 = Instant::now();
            for b in &lane {
                let r = run_one(b, args, env, &print);
                ran.lock().unwrap_or_else(|e| e.into_inner()).push(r);
            }
            let binaries = t0.elapsed();
            let t1 = Instant::now();
            let after = after_lane();
            (binaries, t1.elapsed(), after)
        });
        let t0 = Instant::now();
        let workers: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                s.spawn(|| {
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                        let Some(b) = next else { break };
                        let r = run_one(&b, args, env, &print);
                        ran.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        let pool_took = t0.elapsed();
        let (lane_took, after_took, after) = lane_job.join().unwrap_or_else(|_| {
            (
                Duration::ZERO,
                Duration::ZERO,
                Err(anyhow::anyhow!("the cluster lane panicked")),
            )
        });
        ((lane_took, after_took), pool_took, after)
    });
    let mut ran = ran.into_inner().unwrap_or_else(|e| e.into_inner());
    ran.sort_by_key(|r| std::cmp::Reverse(r.took));
    let slowest: Vec<String> = ran
        .iter()
        .take(5)
        .map(|r| format!("{} {:.0}s", r.label, r.took.as_secs_f64()))
        .collect();
    eprintln!("==> slowest test binaries: {}", slowest.join(", "));
    let failed: Vec<&str> = ran
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.label.as_str())
        .collect();
    let lanes = Lanes {
        shared_cluster: lane_took.0,
        after_lane: lane_took.1,
        after_lane_ok: after.is_ok(),
        the_rest: pool_took,
        binaries: ran.len(),
    };
    if !failed.is_empty() {
        bail!(
            "{} of {} test binaries failed: {} (their output is above)",
            failed.len(),
            lanes.binaries,
            failed.join(", ")
        );
    }
    after?;
    Ok(lanes)
}

/// How long each lane of [`run_all`] took.
#[derive(Debug, Clone, Copy)]
pub struct Lanes {
    /// The binaries on the shared cluster, in turn.
    pub shared_cluster: Duration,
    /// What ran after them in the same lane.
    pub after_lane: Duration,
    pub after_lane_ok: bool,
    /// The pool beside the lane.
    pub the_rest: Duration,
    pub binaries: usize,
}

/// Runs one binary from its package's folder, as `cargo test` would, and
/// prints its output in one piece when it ends.
fn run_one(b: &TestBinary, args: &[String], env: &[(String, OsString)], print: &Mutex<()>) -> Ran {
    let label = b.label();
    let t0 = Instant::now();
    let out = Command::new(&b.executable)
        .args(&b.leading_args)
        .args(args)
        .current_dir(&b.package_dir)
        .env("CARGO_MANIFEST_DIR", &b.package_dir)
        .env("CARGO_PKG_NAME", &b.package)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output();
    let took = t0.elapsed();
    let _guard = print.lock().unwrap_or_else(|e| e.into_inner());
    let ok = match out {
        Ok(out) => {
            let ok = out.status.success();
            eprintln!(
                "──── {label}: {} in {:.1}s ({})",
                if ok { "ok" } else { "FAILED" },
                took.as_secs_f64(),
                b.executable.display()
            );
            eprint!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            ok
        }
        Err(e) => {
            eprintln!(
                "──── {label}: could not start {}: {e}",
                b.executable.display()
            );
            false
        }
    };
    Ran { label, took, ok }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_executables_are_read_from_cargo_messages() {
        let text = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/cluster#inferbench-cluster@0.1.0","manifest_path":"/w/crates/cluster/Cargo.toml","target":{"kind":["test"],"name":"kind_cluster"},"profile":{"test":true},"executable":"/t/debug/deps/kind_cluster-1"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/cluster#inferbench-cluster@0.1.0","manifest_path":"/w/crates/cluster/Cargo.toml","target":{"kind":["lib"],"name":"cluster"},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","package_id":"path+file:///w/xtask#0.1.0","manifest_path":"/w/xtask/Cargo.toml","target":{"kind":["bin"],"name":"xtask"},"profile":{"test":true},"executable":"/t/debug/deps/xtask-2"}
{"reason":"build-finished","success":true}
"#;
        let got = from_cargo_messages(text).expect("parsed");
        assert_eq!(
            got,
            vec![
                TestBinary {
                    package: "inferbench-cluster".into(),
                    target: "kind_cluster".into(),
                    kind: "test".into(),
                    executable: "/t/debug/deps/kind_cluster-1".into(),
                    leading_args: Vec::new(),
                    package_dir: "/w/crates/cluster".into(),
                },
                TestBinary {
                    package: "xtask".into(),
                    target: "xtask".into(),
                    kind: "bin".into(),
                    executable: "/t/debug/deps/xtask-2".into(),
                    leading_args: Vec::new(),
                    package_dir: "/w/xtask".into(),
                },
            ]
        );
        assert_eq!(got[0].on_the_shared_cluster(), Some(0));
        assert_eq!(got[1].on_the_shared_cluster(), None);
        assert!(from_cargo_messages("{not json\n").is_err());
    }

    #[test]
    fn package_names_come_from_every_package_id_form() {
        assert_eq!(
            package_name("path+file:///w/crates/runner#inferbench-runner@0.1.0"),
            "inferbench-runner"
        );
        assert_eq!(package_name("path+file:///w/xtask#0.1.0"), "xtask");
        assert_eq!(package_name("xtask 0.1.0 (path+file:///w/xtask)"), "xtask");
    }

    #[test]
    fn the_lane_runs_in_turn_before_its_follow_up_and_a_failure_fails_the_run() {
        let sh = |package: &str, target: &str, script: &str| TestBinary {
            package: package.into(),
            target: target.into(),
            kind: "test".into(),
            executable: "/bin/sh".into(),
            leading_args: vec!["-c".into(), script.into()],
            package_dir: std::env::temp_dir(),
        };
        let dir = std::env::temp_dir().join(format!("ib-lanes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("log");
        let turn = "echo start >> \"$LOG\"; sleep 0.3; echo end >> \"$LOG\"";
        let binaries = vec![
            sh("gpu-fakes", "cluster", turn),
            sh("p", "beside", "exit 0"),
            sh("inferbench-cluster", "kind_cluster", turn),
        ];
        let env = [("LOG".to_string(), log.clone().into_os_string())];
        let seen = Mutex::new(String::new());
        let lanes = run_all(binaries, &[], &env, 2, || {
            *seen.lock().expect("lock") = std::fs::read_to_string(&log)?;
            Ok(())
        })
        .expect("all pass");
        assert_eq!(lanes.binaries, 3);
        // In turn (never two at once), and both done before the follow-up.
        assert_eq!(seen.into_inner().expect("lock"), "start\nend\nstart\nend\n");

        let failing = vec![sh("p", "a", "exit 3"), sh("p", "b", "exit 0")];
        let err = run_all(failing, &[], &[], 2, || Ok(())).expect_err("exit 3 fails");
        assert_eq!(
            err.to_string(),
            "1 of 2 test binaries failed: p a (test) (their output is above)"
        );
        let err = run_all(Vec::new(), &[], &[], 1, || bail!("after the lane")).expect_err("after");
        assert_eq!(err.to_string(), "after the lane");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
