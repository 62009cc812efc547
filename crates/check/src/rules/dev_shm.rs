//! /dev/shm for vLLM.

use serde_json::Value;

use super::{Context, Rule};
use crate::finding::{Finding, Severity};

pub const RULE: Rule = Rule {
    id: "vllm-dev-shm",
    severity: Severity::Warning,
    summary: "vLLM gets a memory-backed /dev/shm",
    help: "Container runtimes give /dev/shm 64 MiB. vLLM (PyTorch, NCCL for tensor parallelism) needs more and fails or crawls with `Bus error` / NCCL shared-memory errors. Mount an `emptyDir` with `medium: Memory` (and a `sizeLimit`) at /dev/shm.",
    run,
};

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in ctx.serving() {
        let memory_volumes: Vec<&str> = w
            .pod_spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| v.pointer("/emptyDir/medium").and_then(Value::as_str) == Some("Memory"))
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .collect();
        for c in w.serving_containers().into_iter().filter(|c| c.is_vllm()) {
            let mounted = c
                .get("/volumeMounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|m| {
                    m.get("mountPath").and_then(Value::as_str) == Some("/dev/shm")
                        && m.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| memory_volumes.contains(&n))
                });
            if !mounted {
                out.push(Finding::at(
                    RULE.id,
                    Severity::Warning,
                    w.obj,
                    w.line_in(&c, "name:"),
                    format!("vLLM container `{}` has no memory-backed /dev/shm (the runtime's default is 64 MiB)", c.name),
                    "add a volume {name: dshm, emptyDir: {medium: Memory, sizeLimit: 2Gi}} mounted at /dev/shm",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    #[test]
    fn passes_with_a_memory_emptydir() {
        let y = deployment(
            1,
            "      volumes: [{name: dshm, emptyDir: {medium: Memory}}]",
            "          volumeMounts: [{name: dshm, mountPath: /dev/shm}]",
        );
        assert!(run(&RULE, &y).is_empty());
    }

    #[test]
    fn fails_on_a_disk_emptydir_or_none() {
        let y = deployment(
            1,
            "      volumes: [{name: dshm, emptyDir: {}}]",
            "          volumeMounts: [{name: dshm, mountPath: /dev/shm}]",
        );
        assert_eq!(run(&RULE, &y).len(), 1);
        assert_eq!(run(&RULE, &deployment(1, "", "")).len(), 1);
    }
}
