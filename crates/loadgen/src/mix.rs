//! A request mix: weighted variants (chat, completions, streamed or not,
//! embeddings), each with prompt and output lengths drawn per request,
//! and prompts from a file (JSON lines of `{"prompt"}` or `{"messages"}`),
//! the way inference-perf and GuideLLM describe a workload. Draws come
//! from a seeded generator: the same seed, the same sequence of requests.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::plan::RequestKind;

/// A length drawn per request: a number, `{min, max}` (uniform), or
/// `{mean, stddev}` (normal, at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Lengths {
    Fixed(u32),
    Uniform { min: u32, max: u32 },
    Normal { mean: f64, stddev: f64 },
}

impl Lengths {
    pub fn draw(&self, rng: &mut impl Rng) -> u32 {
        match *self {
            Lengths::Fixed(n) => n.max(1),
            Lengths::Uniform { min, max } => rng.random_range(min.max(1)..=max.max(min.max(1))),
            Lengths::Normal { mean, stddev } => {
                // Box-Muller: two uniforms, one normal.
                let u1: f64 = rng.random_range(f64::EPSILON..1.0);
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean + stddev * z).round().clamp(1.0, f64::from(u32::MAX)) as u32
            }
        }
    }

    /// What is wrong with it, said so a person can fix it.
    pub fn validate(&self, what: &str) -> Result<(), String> {
        match *self {
            Lengths::Fixed(0) => Err(format!("{what}: 0; expected at least 1")),
            Lengths::Uniform { min, max } if min == 0 || min > max => Err(format!(
                "{what}: {{min: {min}, max: {max}}}; expected 1 <= min <= max"
            )),
            Lengths::Normal { mean, stddev }
                if !(mean.is_finite() && mean >= 1.0 && stddev.is_finite() && stddev >= 0.0) =>
            {
                Err(format!(
                    "{what}: {{mean: {mean}, stddev: {stddev}}}; expected mean >= 1 and stddev >= 0"
                ))
            }
            _ => Ok(()),
        }
    }

    /// `64`, `16-256`, `128±32`.
    pub fn words(&self) -> String {
        match *self {
            Lengths::Fixed(n) => n.to_string(),
            Lengths::Uniform { min, max } => format!("{min}-{max}"),
            Lengths::Normal { mean, stddev } => format!("{mean}±{stddev}"),
        }
    }
}

/// One kind of request in the mix, and how often it comes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    pub weight: u32,
    pub request: RequestKind,
    /// Output tokens asked for (`max_tokens`); the plan's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<Lengths>,
    /// Prompt length in words (about one token each); a prompt from the
    /// prompts file, else a short fixed one, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<Lengths>,
}

impl Variant {
    /// `3× chat-stream (out 16-64, prompt 128±32)`.
    pub fn words(&self) -> String {
        let mut lengths = Vec::new();
        if let Some(m) = &self.max_tokens {
            lengths.push(format!("out {}", m.words()));
        }
        if let Some(p) = &self.prompt_tokens {
            lengths.push(format!("prompt {}", p.words()));
        }
        let lengths = if lengths.is_empty() {
            String::new()
        } else {
            format!(" ({})", lengths.join(", "))
        };
        format!("{}× {}{lengths}", self.weight, self.request.name())
    }
}

/// One prompt of a prompts file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PromptEntry {
    Text { prompt: String },
    Chat { messages: Vec<serde_json::Value> },
}

impl PromptEntry {
    /// Parses a prompts file: one JSON object per line, blank lines and
    /// `#` comments skipped; an error names the line.
    pub fn parse_jsonl(text: &str) -> Result<Vec<PromptEntry>, String> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry: PromptEntry = serde_json::from_str(line).map_err(|e| {
                format!(
                    "line {}: {e}; expected {{\"prompt\": \"...\"}} or {{\"messages\": [{{\"role\": \"user\", \"content\": \"...\"}}]}}",
                    i + 1
                )
            })?;
            out.push(entry);
        }
        if out.is_empty() {
            return Err("no prompt in the file".into());
        }
        Ok(out)
    }

    /// The prompt as one text (a chat's contents joined).
    fn text(&self) -> String {
        match self {
            PromptEntry::Text { prompt } => prompt.clone(),
            PromptEntry::Chat { messages } => messages
                .iter()
                .filter_map(|m| m["content"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The prompt as chat messages.
    fn messages(&self) -> serde_json::Value {
        match self {
            PromptEntry::Text { prompt } => {
                serde_json::json!([{"role": "user", "content": prompt}])
            }
            PromptEntry::Chat { messages } => serde_json::Value::Array(messages.clone()),
        }
    }
}

/// One request drawn from the mix.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// Which variant, by its place in the mix.
    pub variant: Option<u32>,
    pub request: RequestKind,
    pub body: Vec<u8>,
}

/// Draws the requests of a load, one after the other.
#[derive(Debug)]
pub struct Mix {
    variants: Vec<Variant>,
    prompts: Vec<PromptEntry>,
    default_max_tokens: u32,
    model: String,
    rng: Mutex<StdRng>,
}

impl Mix {
    pub fn new(
        variants: Vec<Variant>,
        prompts: Vec<PromptEntry>,
        default_max_tokens: u32,
        model: &str,
        seed: u64,
    ) -> Mix {
        Mix {
            variants,
            prompts,
            default_max_tokens,
            model: model.to_string(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// The next request.
    pub fn draw(&self, plain: RequestKind) -> Drawn {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let total: u32 = self.variants.iter().map(|v| v.weight).sum();
        let (index, variant) = if total == 0 {
            (None, None)
        } else {
            let mut pick = rng.random_range(0..total);
            let mut chosen = None;
            for (i, v) in self.variants.iter().enumerate() {
                if pick < v.weight {
                    chosen = Some((i as u32, v));
                    break;
                }
                pick -= v.weight;
            }
            chosen.map_or((None, None), |(i, v)| (Some(i), Some(v)))
        };
        let request = variant.map_or(plain, |v| v.request);
        let max_tokens = variant
            .and_then(|v| v.max_tokens)
            .map_or(self.default_max_tokens, |l| l.draw(&mut *rng));
        let generated = variant
            .and_then(|v| v.prompt_tokens)
            .map(|l| words(l.draw(&mut *rng)));
        let from_file = (generated.is_none() && !self.prompts.is_empty())
            .then(|| &self.prompts[rng.random_range(0..self.prompts.len())]);
        let entry = match (generated, from_file) {
            (Some(text), _) => PromptEntry::Text { prompt: text },
            (None, Some(e)) => e.clone(),
            (None, None) => PromptEntry::Text {
                prompt: "Say something about GPUs.".into(),
            },
        };
        Drawn {
            variant: index,
            request,
            body: body(request, &self.model, max_tokens, &entry),
        }
    }
}

/// `n` words of about one token each.
fn words(n: u32) -> String {
    const WORDS: &[&str] = &["gpu", "node", "pod", "model", "token", "batch", "cache"];
    (0..n as usize)
        .map(|i| WORDS[i % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn body(kind: RequestKind, model: &str, max_tokens: u32, entry: &PromptEntry) -> Vec<u8> {
    let mut body = match kind {
        RequestKind::Completions | RequestKind::CompletionsStream => serde_json::json!({
            "model": model, "prompt": entry.text(), "max_tokens": max_tokens,
            "stream": kind.streams(),
        }),
        RequestKind::Chat | RequestKind::ChatStream => serde_json::json!({
            "model": model, "max_tokens": max_tokens, "stream": kind.streams(),
            "messages": entry.messages(),
        }),
        RequestKind::Embeddings => serde_json::json!({"model": model, "input": entry.text()}),
    };
    if kind.streams() {
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(weight: u32, request: RequestKind) -> Variant {
        Variant {
            weight,
            request,
            max_tokens: Some(Lengths::Uniform { min: 4, max: 8 }),
            prompt_tokens: Some(Lengths::Normal {
                mean: 20.0,
                stddev: 5.0,
            }),
        }
    }

    #[test]
    fn weights_share_the_requests_and_the_seed_repeats_them() {
        let variants = vec![
            variant(3, RequestKind::ChatStream),
            variant(1, RequestKind::Embeddings),
        ];
        let mix = Mix::new(variants.clone(), vec![], 16, "m", 7);
        let drawn: Vec<Drawn> = (0..4000).map(|_| mix.draw(RequestKind::Chat)).collect();
        let embeddings = drawn
            .iter()
            .filter(|d| d.request == RequestKind::Embeddings)
            .count();
        assert!((800..1200).contains(&embeddings), "{embeddings} of 4000");
        let again = Mix::new(variants, vec![], 16, "m", 7);
        assert_eq!(again.draw(RequestKind::Chat), drawn[0]);
    }

    #[test]
    fn lengths_stay_in_their_range() {
        let mix = Mix::new(vec![variant(1, RequestKind::Chat)], vec![], 16, "m", 1);
        for _ in 0..500 {
            let d = mix.draw(RequestKind::Chat);
            let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
            let out = body["max_tokens"].as_u64().unwrap();
            assert!((4..=8).contains(&out), "{out}");
            let words = body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .split(' ')
                .count();
            assert!(words >= 1, "{body}");
        }
        assert!(Lengths::Uniform { min: 9, max: 3 }.validate("x").is_err());
        assert!(Lengths::Fixed(0).validate("x").is_err());
        assert!(
            Lengths::Normal {
                mean: 0.5,
                stddev: 1.0
            }
            .validate("x")
            .is_err()
        );
    }

    #[test]
    fn prompts_file_lines_become_each_request_kind() {
        let entries = PromptEntry::parse_jsonl(
            "# two prompts\n{\"prompt\": \"one two\"}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"three\"}]}\n",
        )
        .unwrap();
        assert_eq!(entries.len(), 2);
        let mix = Mix::new(vec![], entries, 5, "m", 3);
        for kind in [
            RequestKind::Completions,
            RequestKind::ChatStream,
            RequestKind::Embeddings,
        ] {
            let d = mix.draw(kind);
            let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
            assert_eq!(d.variant, None);
            match kind {
                RequestKind::Embeddings => assert!(body["input"].is_string(), "{body}"),
                RequestKind::Completions => assert!(body["prompt"].is_string(), "{body}"),
                _ => assert!(body["messages"].is_array(), "{body}"),
            }
        }
        let err = PromptEntry::parse_jsonl("{\"prompt\": \"a\"}\n{\"text\": 1}\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(PromptEntry::parse_jsonl("\n# nothing\n").is_err());
    }
}
