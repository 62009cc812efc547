//! A GPU limit comes with a toleration for the GPU taint and a selector for the GPU pool.

use serde_json::Value;

use super::{Context, Rule};
use crate::finding::{Finding, Severity};
use crate::workload::{GPU, Workload};

pub const TOLERATION: Rule = Rule {
    id: "gpu-taint-toleration",
    severity: Severity::Error,
    summary: "A pod asking for GPUs tolerates the nvidia.com/gpu taint",
    help: "GPU node pools are tainted `nvidia.com/gpu:NoSchedule` (GKE, AKS, EKS and the NVIDIA GPU operator's defaults) so that other pods stay off them. A pod with an `nvidia.com/gpu` limit but no matching toleration stays Pending with `FailedScheduling ... untolerated taint`.",
    run: run_toleration,
};

pub const POOL: Rule = Rule {
    id: "gpu-pool-selector",
    severity: Severity::Warning,
    summary: "A pod asking for GPUs selects the GPU pool",
    help: "A nodeSelector or required node affinity on a GPU-pool label (`nvidia.com/gpu.present: \"true\"` from GPU feature discovery, or the cloud's accelerator label) places the pod on the right pool and makes scheduling failures say why, instead of leaving it to the GPU extended resource alone.",
    run: run_pool,
};

fn gpu_workloads<'c>(ctx: &'c Context<'_>) -> impl Iterator<Item = &'c Workload<'c>> {
    ctx.workloads
        .iter()
        .filter(|w| w.containers().iter().any(|c| c.gpu_limit().is_some()))
}

fn tolerates_gpu(t: &Value) -> bool {
    let key = t.get("key").and_then(Value::as_str);
    let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
    let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
    let effect_ok = effect.is_empty() || effect == "NoSchedule";
    match key {
        None | Some("") => op == "Exists" && effect_ok,
        Some(k) => k == GPU && effect_ok,
    }
}

fn run_toleration(ctx: &Context<'_>) -> Vec<Finding> {
    gpu_workloads(ctx)
        .filter(|w| {
            !w.pod_spec
                .get("tolerations")
                .and_then(Value::as_array)
                .is_some_and(|ts| ts.iter().any(tolerates_gpu))
        })
        .map(|w| {
            Finding::at(
                TOLERATION.id,
                Severity::Error,
                w.obj,
                w.obj.line_of(&["template:", "spec:"]),
                "asks for nvidia.com/gpu but has no toleration for the nvidia.com/gpu taint: it stays Pending on tainted GPU nodes",
                "add to the pod spec: tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]",
            )
        })
        .collect()
}

fn gpu_pool_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("gpu") || k.contains("accelerator") || k == "node.kubernetes.io/instance-type"
}

fn run_pool(ctx: &Context<'_>) -> Vec<Finding> {
    gpu_workloads(ctx)
        .filter(|w| {
            let selector = w
                .pod_spec
                .get("nodeSelector")
                .and_then(Value::as_object)
                .is_some_and(|m| m.keys().any(|k| gpu_pool_key(k)));
            let affinity = w
                .pod_spec
                .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
                .and_then(Value::as_array)
                .is_some_and(|terms| {
                    terms.iter().any(|t| {
                        t.get("matchExpressions")
                            .and_then(Value::as_array)
                            .is_some_and(|es| {
                                es.iter().any(|e| {
                                    e.get("key").and_then(Value::as_str).is_some_and(gpu_pool_key)
                                })
                            })
                    })
                });
            !selector && !affinity
        })
        .map(|w| {
            Finding::at(
                POOL.id,
                Severity::Warning,
                w.obj,
                w.obj.line_of(&["template:", "spec:"]),
                "asks for nvidia.com/gpu but neither a nodeSelector nor a required node affinity names the GPU pool",
                "add to the pod spec: nodeSelector: {nvidia.com/gpu.present: \"true\"} (or your cloud's accelerator label)",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    const GPU1: &str = "          resources: {limits: {nvidia.com/gpu: 1}}";
    const TOL: &str =
        "      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]";
    const SEL: &str = "      nodeSelector: {nvidia.com/gpu.present: \"true\"}";

    #[test]
    fn passes_with_toleration_and_selector() {
        let y = deployment(1, &format!("{TOL}\n{SEL}"), GPU1);
        assert!(run(&TOLERATION, &y).is_empty());
        assert!(run(&POOL, &y).is_empty());
    }

    #[test]
    fn passes_with_node_affinity() {
        let aff = "      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: cloud.google.com/gke-accelerator, operator: Exists}]}]}}}";
        assert!(run(&POOL, &deployment(1, aff, GPU1)).is_empty());
    }

    #[test]
    fn fails_without_toleration() {
        let f = run(&TOLERATION, &deployment(1, SEL, GPU1));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
    }

    #[test]
    fn fails_without_selector() {
        let f = run(&POOL, &deployment(1, TOL, GPU1));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn ignores_pods_without_gpus() {
        assert!(run(&TOLERATION, &deployment(1, "", "")).is_empty());
    }
}
