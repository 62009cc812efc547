//! A load's request mix and prompts file, turned into what the generator
//! draws from: the scenario's variants as the generator's, the prompts
//! file read (beside the scenario) and checked line by line.

use loadgen::{Lengths, PromptEntry, RequestKind, Variant};
use scenario::model::{Load, LoadLengths};

use crate::context::Ctx;
use crate::outcome::OpError;

/// Most bytes of prompts one load carries: the plan travels in the
/// generator pod's arguments, and one argument may hold at most 128 KiB.
pub const MAX_PROMPTS_BYTES: usize = 96 * 1024;

fn lengths(l: LoadLengths) -> Lengths {
    match l {
        LoadLengths::Fixed(n) => Lengths::Fixed(n),
        LoadLengths::Uniform { min, max } => Lengths::Uniform { min, max },
        LoadLengths::Normal { mean, stddev } => Lengths::Normal { mean, stddev },
    }
}

/// The mix as the generator's variants.
pub fn variants(l: &Load) -> Result<Vec<Variant>, OpError> {
    l.mix
        .iter()
        .map(|m| {
            let request = RequestKind::parse(&m.request).ok_or_else(|| {
                OpError::BadInput(format!("mix: unknown request kind {:?}", m.request))
            })?;
            Ok(Variant {
                weight: m.weight,
                request,
                max_tokens: m.max_tokens.map(lengths),
                prompt_tokens: m.prompt_tokens.map(lengths),
            })
        })
        .collect()
}

/// The prompts file's entries, or none.
pub fn prompts(ctx: &Ctx, l: &Load) -> Result<Vec<PromptEntry>, OpError> {
    let Some(path) = &l.prompts else {
        return Ok(Vec::new());
    };
    let file = ctx.resolve(path);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        OpError::BadInput(format!(
            "load {}: prompts file {}: {e}",
            l.name,
            file.display()
        ))
    })?;
    let entries = PromptEntry::parse_jsonl(&text).map_err(|e| {
        OpError::BadInput(format!(
            "load {}: prompts file {}: {e}",
            l.name,
            file.display()
        ))
    })?;
    let size = serde_json::to_vec(&entries).map_or(0, |v| v.len());
    if size > MAX_PROMPTS_BYTES {
        return Err(OpError::BadInput(format!(
            "load {}: prompts file {} holds {} KiB of prompts; a load carries at most {} KiB to its generator pod (use fewer or shorter prompts, or promptTokens lengths)",
            l.name,
            file.display(),
            size / 1024,
            MAX_PROMPTS_BYTES / 1024
        )));
    }
    Ok(entries)
}

/// How the report names what the load sent: its request, or its mix.
pub fn describe(l: &Load) -> String {
    if l.mix.is_empty() {
        return match &l.prompts {
            Some(p) => format!("{} (prompts from {p})", l.request),
            None => l.request.clone(),
        };
    }
    let entries: Vec<String> = variants(l)
        .map(|v| v.iter().map(Variant::words).collect())
        .unwrap_or_default();
    let prompts = l
        .prompts
        .as_ref()
        .map(|p| format!(", prompts from {p}"))
        .unwrap_or_default();
    format!("mix: {}{prompts}", entries.join(", "))
}

/// Each variant's words, in mix order, for the report's per-variant rows.
pub fn variant_names(l: &Load) -> Vec<String> {
    variants(l)
        .map(|v| v.iter().map(Variant::words).collect())
        .unwrap_or_default()
}
