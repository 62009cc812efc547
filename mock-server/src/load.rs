//! `mock-server load`: inferbench's load generator, in the mock's image so
//! the cluster already holds it. It runs the JSON [`GenPlan`] it is given
//! and writes one JSON line per event on stdout (`start`, a `sample` per
//! request, `end`), which the harness follows from the pod's log.

use std::io::Write;
use std::sync::Arc;

use loadgen::GenPlan;

/// What `mock-server load` is told.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mock-server load",
    about = "Send an OpenAI-style load (closed-loop users or an open-loop rate) and write one JSON line per request on stdout: inferbench's in-cluster load generator."
)]
pub struct LoadArgs {
    /// The load plan, as JSON (inferbench writes it).
    #[arg(long, env = "MOCK_LOAD_PLAN")]
    pub plan: String,
}

/// Parses the plan and runs it to its end.
pub async fn run(args: &LoadArgs) -> Result<u64, String> {
    let plan: GenPlan =
        serde_json::from_str(&args.plan).map_err(|e| format!("the load plan is not valid: {e}"))?;
    plan.validate()?;
    // One of an indexed Job's generators: this pod's share of the load.
    let index = std::env::var("JOB_COMPLETION_INDEX")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if index >= plan.generators.max(1) {
        return Err(format!(
            "generator index {index} (JOB_COMPLETION_INDEX) is not below the plan's {} generators",
            plan.generators
        ));
    }
    let plan = plan.share(index);
    let sink: loadgen::Sink = Arc::new(|line| {
        let mut out = std::io::stdout().lock();
        // A closed stdout (the harness stopped reading) is no reason to
        // stop sending the load it asked for.
        let _ = writeln!(out, "{}", line.to_json());
        let _ = out.flush();
    });
    loadgen::run(&plan, sink).await.map_err(|e| e.to_string())
}
