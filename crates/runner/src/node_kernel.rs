//! What a node's kernel logged, read on the node itself where the cluster
//! lets the harness in (a kind node is a container it can `docker exec`).
//!
//! The API reports an OOM kill only as the container runtime labelled it.
//! containerd learns of one through the container's memory cgroup; when
//! that notice comes after the task's exit has been handled (a loaded node
//! makes this likely), it is lost and the kubelet records the kill as
//! `Error`, exit code 137, for good. The kernel logs every kill of its OOM
//! killer (`oom-kill:... task_memcg=.../pod<uid>/<container>`, in `dmesg`)
//! with the memory cgroup of the task it killed, which names the pod and
//! the container: that line settles what an exit code 137 was.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one read on a node may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run a command on a node: `PROGRAM ARGS... NODE sh -c SCRIPT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeExec {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl NodeExec {
    /// `docker exec NODE ...`: kind's nodes are containers named as the node.
    pub fn docker(cli: impl Into<PathBuf>) -> NodeExec {
        NodeExec {
            program: cli.into(),
            args: vec!["exec".into()],
        }
    }

    /// Runs `script` under `sh -c` on `node`, with `arg` as `$1`; its stdout.
    pub fn run(&self, node: &str, script: &str, arg: &str) -> Result<String, String> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .args([node, "sh", "-c", script, "sh", arg])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.program.display()))?;
        // Drained while it runs: a child whose output fills the pipe would
        // otherwise never exit.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_string(&mut text);
                }
                text
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > READ_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "reading on node {node} took more than {}s",
                        READ_TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for the read on node {node}: {e}")),
            }
        };
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        if !status.success() {
            return Err(format!("on node {node}: {} ({status})", err.trim()));
        }
        Ok(out)
    }
}

/// The kernel's OOM kill lines whose victim's memory cgroup is in the pod
/// (systemd driver: `...-pod<uid with _>.slice/`; cgroupfs: `pod<uid>/`).
const OOM_KILL_LINES: &str = r#"u=$1; s=$(printf %s "$u" | tr - _)
out=$(dmesg 2>&1) || { echo "dmesg: $out" >&2; exit 3; }
printf '%s\n' "$out" | grep 'oom-kill:' | grep -e "pod$s.slice/" -e "pod$u/" || true"#;

/// The containers of the pod with `uid` whose tasks the kernel's OOM
/// killer ended, by container ID (the hex ID the runtime gives, as in a
/// container status's `containerID` after `containerd://`), from the
/// kernel log as `node` reads it.
pub fn oom_killed_containers(
    exec: &NodeExec,
    node: &str,
    uid: &str,
) -> Result<BTreeSet<String>, String> {
    let out = exec.run(node, OOM_KILL_LINES, uid)?;
    Ok(out.lines().filter_map(victim_container).collect())
}

/// The container ID at the end of an `oom-kill:` line's `task_memcg`:
/// `.../cri-containerd-<id>.scope` (systemd) or `.../pod<uid>/<id>`.
fn victim_container(line: &str) -> Option<String> {
    let memcg = line
        .split(',')
        .find_map(|f| f.trim().strip_prefix("task_memcg="))?;
    let last = memcg.rsplit('/').next()?;
    let id = last.strip_suffix(".scope").unwrap_or(last);
    let id = ["cri-containerd-", "crio-", "docker-"]
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id);
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for `docker exec`: `sh -c 'shift; exec "$@"' sh NODE sh -c SCRIPT sh ARG`
    /// runs the script locally, as the node would.
    fn local() -> NodeExec {
        NodeExec {
            program: "sh".into(),
            args: vec!["-c".into(), r#"shift; exec "$@""#.into(), "sh".into()],
        }
    }

    #[test]
    fn runs_the_script_with_its_argument() {
        assert_eq!(local().run("n1", "echo $1", "abc").unwrap(), "abc\n");
    }

    #[test]
    fn output_larger_than_a_pipe_is_read_whole() {
        let out = local().run("n1", "yes x | head -c 200000", "").unwrap();
        assert_eq!(out.len(), 200_000);
    }

    #[test]
    fn a_failing_script_reports_its_stderr() {
        let e = local().run("n1", "echo nope >&2; exit 3", "x").unwrap_err();
        assert!(e.contains("on node n1: nope"), "{e}");
    }

    /// As a kind node logged it (systemd cgroup driver, nested in Docker).
    const LINE: &str = "[ 6297.718968] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-b43c.scope,mems_allowed=0,oom_memcg=/docker/5b86/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod9efaa97f_3e97_44ae_867b_2b65873c59a0.slice,task_memcg=/docker/5b86/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod9efaa97f_3e97_44ae_867b_2b65873c59a0.slice/cri-containerd-b43cde85ca0e.scope,task=mock-server,pid=8662,uid=65532";

    #[test]
    fn the_victims_container_is_read_from_its_memory_cgroup() {
        assert_eq!(victim_container(LINE).as_deref(), Some("b43cde85ca0e"));
        let cgroupfs = "oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/kubepods/burstable/pod9efaa97f-3e97,task_memcg=/kubepods/burstable/pod9efaa97f-3e97/0123abcd,task=x,pid=1,uid=0";
        assert_eq!(victim_container(cgroupfs).as_deref(), Some("0123abcd"));
        assert_eq!(
            victim_container("oom-kill:constraint=CONSTRAINT_NONE,task=x"),
            None
        );
    }

    /// A stand-in node whose `dmesg` prints a kill in pod
    /// 9efaa97f-3e97-44ae-867b-2b65873c59a0: the script runs in bash with
    /// `dmesg` a function, its argument as `$1`.
    fn node_with_log() -> NodeExec {
        // argv after `-c X`: bash NODE sh -c SCRIPT sh ARG.
        let x = format!(
            r#"dmesg() {{ printf '%s\n' '[1.0] booted' '{LINE}'; }}; script=$4; set -- "$6"; eval "$script""#
        );
        NodeExec {
            program: "bash".into(),
            args: vec!["-c".into(), x, "bash".into()],
        }
    }

    #[test]
    fn only_the_pods_own_kills_are_found() {
        let node = node_with_log();
        let found =
            oom_killed_containers(&node, "n1", "9efaa97f-3e97-44ae-867b-2b65873c59a0").unwrap();
        assert_eq!(found, BTreeSet::from(["b43cde85ca0e".to_string()]));
        let other = oom_killed_containers(&node, "n1", "00000000-0000-0000-0000-000000000000");
        assert_eq!(other.unwrap(), BTreeSet::new());
    }

    #[test]
    fn an_unreadable_log_is_an_error_not_an_empty_answer() {
        let node = NodeExec {
            program: "bash".into(),
            args: vec![
                "-c".into(),
                r#"dmesg() { echo "dmesg: read kernel buffer failed: Operation not permitted" >&2; return 1; }; script=$4; set -- "$6"; eval "$script""#.into(),
                "bash".into(),
            ],
        };
        let e = oom_killed_containers(&node, "n1", "u").unwrap_err();
        assert!(e.contains("Operation not permitted"), "{e}");
    }
}
