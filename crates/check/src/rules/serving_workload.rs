//! There is a serving workload to check.

use super::{Context, Rule};
use crate::finding::{Finding, Severity};

pub const RULE: Rule = Rule {
    id: "serving-workload-found",
    severity: Severity::Error,
    summary: "A Deployment or StatefulSet serves inference",
    help: "The serving workload is a Deployment or StatefulSet whose container has an `nvidia.com/gpu` limit or runs an OpenAI-compatible server (`vllm serve`, a vLLM image, or inferbench's mock server). Without one, the serving rules have nothing to check.",
    run,
};

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    if ctx.serving().next().is_some() {
        return Vec::new();
    }
    let Some(first) = ctx.workloads.first().map(|w| w.obj).or(ctx.objects.first()) else {
        return Vec::new();
    };
    vec![Finding::at(
        RULE.id,
        Severity::Error,
        first,
        first.origin.line,
        "no serving workload: no Deployment or StatefulSet has a container with an nvidia.com/gpu limit or an OpenAI-compatible server (vllm serve)",
        "give the serving container its `nvidia.com/gpu` limit, or check the folder that holds the serving Deployment",
    )]
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    #[test]
    fn passes_with_a_vllm_deployment() {
        assert!(run(&RULE, &deployment(1, "", "")).is_empty());
    }

    #[test]
    fn fails_without_one() {
        let f = run(
            &RULE,
            "kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: nginx, image: nginx:1.27}]\n",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object, "Deployment/web");
    }
}
