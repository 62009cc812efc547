//! What a `load` operation may say: one shape, a known request, a mix
//! and prompts that can run, an SLO its answers can be judged against.

use crate::model::{Load, LoadLengths};

/// The request kinds a load may send.
pub const REQUESTS: [&str; 5] = [
    "completions",
    "completions-stream",
    "chat",
    "chat-stream",
    "embeddings",
];

fn lengths(what: &str, l: Option<LoadLengths>) -> Result<(), String> {
    match l {
        Some(LoadLengths::Fixed(0)) => Err(format!("{what}: 0; expected at least 1")),
        Some(LoadLengths::Uniform { min, max }) if min == 0 || min > max => Err(format!(
            "{what}: {{ min: {min}, max: {max} }}; expected 1 <= min <= max"
        )),
        Some(LoadLengths::Normal { mean, stddev })
            if !(mean.is_finite() && mean >= 1.0 && stddev.is_finite() && stddev >= 0.0) =>
        {
            Err(format!(
                "{what}: {{ mean: {mean}, stddev: {stddev} }}; expected mean >= 1 and stddev >= 0"
            ))
        }
        _ => Ok(()),
    }
}

fn known_request(request: &str) -> Result<(), String> {
    if REQUESTS.contains(&request) {
        return Ok(());
    }
    Err(format!(
        "request {request:?}: expected one of {}",
        REQUESTS.join(", ")
    ))
}

/// The first problem of a load, in words.
pub fn check(x: &Load) -> Result<(), String> {
    if x.duration.is_none() && x.requests.is_none() && x.stages.is_empty() && x.sweep.is_none() {
        return Err("needs duration or requests (or stages, or a sweep)".into());
    }
    known_request(&x.request)?;
    let shapes = [
        x.users > 0,
        x.rate.is_some(),
        !x.stages.is_empty(),
        x.sweep.is_some(),
    ];
    if shapes.iter().filter(|b| **b).count() > 1 {
        return Err("give one of users (closed loop), rate, stages or sweep (open loops)".into());
    }
    let staged = !x.stages.is_empty() || x.sweep.is_some();
    if staged && (x.duration.is_some() || x.requests.is_some()) {
        return Err("stages and sweep end on their own: leave out duration and requests".into());
    }
    if let Some(s) = &x.sweep
        && s.rates.len() < 2
    {
        return Err(
            "sweep: give at least two rates, lowest first, e.g. `rates: [2, 4, 8, 16]`".into(),
        );
    }
    for r in x.rate_stages() {
        if !(r.rate.is_finite() && r.rate > 0.0) || r.duration.is_zero() {
            return Err(format!(
                "stage of {} requests/s for {:?}: expected a rate above 0 and a duration above 0",
                r.rate, r.duration
            ));
        }
    }
    if x.ramp.is_some() && x.open_loop() {
        return Err("ramp starts users; an open loop has none (use stages to ramp a rate)".into());
    }
    if let Some(slo) = &x.slo {
        if slo.is_empty() {
            return Err("slo: give ttft, tpot, itl or e2e, e.g. `slo: { ttft: 500ms }`".into());
        }
        let streams = x.request.ends_with("-stream");
        if x.mix.is_empty()
            && !streams
            && (slo.ttft.is_some() || slo.tpot.is_some() || slo.itl.is_some())
        {
            return Err(format!(
                "slo: ttft, tpot and itl need streamed answers; request {:?} is not streamed (use chat-stream or completions-stream, or judge e2e only)",
                x.request
            ));
        }
    }
    mix(x)?;
    generators(x)
}

/// Most generator pods one load may use.
pub const MAX_GENERATORS: u32 = 32;

fn generators(x: &Load) -> Result<(), String> {
    if !(1..=MAX_GENERATORS).contains(&x.generators) {
        return Err(format!(
            "generators: {}; expected 1 to {MAX_GENERATORS}",
            x.generators
        ));
    }
    if x.generators > 1 && x.via == Some(crate::model::LoadVia::PortForward) {
        return Err(
            "generators are pods in the cluster; leave out via: port-forward (or generators)"
                .into(),
        );
    }
    if x.generators > 1 && !x.open_loop() && x.users < x.generators {
        return Err(format!(
            "{} users over {} generators: give each generator at least one user",
            x.users, x.generators
        ));
    }
    Ok(())
}

fn mix(x: &Load) -> Result<(), String> {
    for (i, m) in x.mix.iter().enumerate() {
        let at = format!("mix entry {}", i + 1);
        known_request(&m.request).map_err(|e| format!("{at}: {e}"))?;
        if m.weight == 0 {
            return Err(format!("{at}: weight 0; expected at least 1"));
        }
        lengths(&format!("{at} maxTokens"), m.max_tokens)?;
        lengths(&format!("{at} promptTokens"), m.prompt_tokens)?;
    }
    let varies = !x.mix.is_empty() || x.prompts.is_some();
    if varies && x.prompt_bytes.is_some() {
        return Err(
            "promptBytes pads one fixed prompt; with a mix or prompts, give promptTokens per entry"
                .into(),
        );
    }
    if varies && x.via == Some(crate::model::LoadVia::PortForward) {
        return Err(
            "a mix and prompts are drawn by the generator in the cluster; leave out via: port-forward"
                .into(),
        );
    }
    if let Some(slo) = &x.slo
        && (slo.ttft.is_some() || slo.tpot.is_some() || slo.itl.is_some())
        && let Some(m) = x.mix.iter().find(|m| !m.request.ends_with("-stream"))
    {
        return Err(format!(
            "slo: ttft, tpot and itl need streamed answers; mix entry {:?} is not streamed (judge e2e only, or stream every entry)",
            m.request
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Load {
        yaml_serde::from_str(yaml).expect("a load")
    }

    fn problem(yaml: &str) -> String {
        check(&load(yaml)).expect_err("a problem")
    }

    const BASE: &str = "target: service/s:80\nrate: 2\nduration: 5s\n";

    #[test]
    fn a_mix_that_can_run_passes() {
        let ok = format!(
            "{BASE}mix:\n  - {{ weight: 3, request: chat-stream, maxTokens: {{ min: 8, max: 32 }}, promptTokens: {{ mean: 64, stddev: 16 }} }}\n  - {{ request: embeddings }}\nprompts: p.jsonl\nslo: {{ e2e: 1s }}\n"
        );
        assert_eq!(check(&load(&ok)), Ok(()));
    }

    #[test]
    fn a_mix_that_cannot_run_says_why() {
        let cases = [
            (
                "mix: [{ request: chat-streaming }]",
                "mix entry 1: request \"chat-streaming\"",
            ),
            (
                "mix: [{ weight: 0, request: chat }]",
                "mix entry 1: weight 0",
            ),
            (
                "mix: [{ request: chat, maxTokens: { min: 9, max: 3 } }]",
                "mix entry 1 maxTokens: { min: 9, max: 3 }",
            ),
            (
                "mix: [{ request: chat, promptTokens: 0 }]",
                "mix entry 1 promptTokens: 0",
            ),
            (
                "mix: [{ request: chat }]\npromptBytes: 4096",
                "promptBytes pads one fixed prompt",
            ),
            (
                "prompts: p.jsonl\nvia: port-forward",
                "leave out via: port-forward",
            ),
            (
                "mix: [{ request: chat-stream }, { request: embeddings }]\nslo: { ttft: 500ms }",
                "mix entry \"embeddings\" is not streamed",
            ),
        ];
        for (extra, want) in cases {
            let text = problem(&format!("{BASE}{extra}\n"));
            assert!(text.contains(want), "{extra}: {text}");
        }
    }
}
