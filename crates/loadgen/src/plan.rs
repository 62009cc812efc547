//! What a generator is told to do ([`GenPlan`]): where to send, which
//! request, in what shape (closed-loop users or an open-loop rate) and for
//! how long. The harness writes it as JSON into the generator pod's
//! arguments; the same type runs the generator in-process in tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mix::{PromptEntry, Variant};

/// The request every send carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    Completions,
    CompletionsStream,
    Chat,
    ChatStream,
    Embeddings,
}

impl RequestKind {
    /// The scenario's spelling: `completions`, `completions-stream`, `chat`, `chat-stream`.
    pub fn parse(s: &str) -> Option<RequestKind> {
        match s {
            "completions" => Some(RequestKind::Completions),
            "completions-stream" => Some(RequestKind::CompletionsStream),
            "chat" => Some(RequestKind::Chat),
            "chat-stream" => Some(RequestKind::ChatStream),
            "embeddings" => Some(RequestKind::Embeddings),
            _ => None,
        }
    }

    pub const NAMES: &'static [&'static str] = &[
        "completions",
        "completions-stream",
        "chat",
        "chat-stream",
        "embeddings",
    ];

    /// The scenario's spelling.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Completions => "completions",
            RequestKind::CompletionsStream => "completions-stream",
            RequestKind::Chat => "chat",
            RequestKind::ChatStream => "chat-stream",
            RequestKind::Embeddings => "embeddings",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            RequestKind::Completions | RequestKind::CompletionsStream => "/v1/completions",
            RequestKind::Chat | RequestKind::ChatStream => "/v1/chat/completions",
            RequestKind::Embeddings => "/v1/embeddings",
        }
    }

    pub fn streams(self) -> bool {
        matches!(
            self,
            RequestKind::CompletionsStream | RequestKind::ChatStream
        )
    }
}

/// How arrivals are spaced at an open-loop rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// Exponential gaps (a Poisson process), as `vllm bench serve` and
    /// inference-perf send by default.
    #[default]
    Poisson,
    /// Even gaps of 1/rate.
    Constant,
}

/// Closed loop (each user sends its next request when the last one
/// answered) or open loop (requests are due on a schedule, answered or
/// not, so a slow server cannot slow the arrivals down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Shape {
    Users {
        users: u32,
        /// Users started per second (all at once when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ramp: Option<f64>,
    },
    Rate {
        /// Requests per second.
        rps: f64,
        #[serde(default)]
        arrival: Arrival,
        /// Seed of the Poisson gaps (the same seed, the same schedule).
        #[serde(default)]
        seed: u64,
    },
    /// Open-loop rates one after the other (a ramp, or a sweep that finds
    /// where the server saturates); each sample names its stage.
    Stages {
        stages: Vec<RateStage>,
        #[serde(default)]
        arrival: Arrival,
        #[serde(default)]
        seed: u64,
    },
}

/// One stage of a staged load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateStage {
    /// Requests per second.
    pub rps: f64,
    pub duration_ms: u64,
}

/// One load, complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenPlan {
    /// `http://HOST:PORT` (a Service's cluster DNS name in the cluster).
    pub base_url: String,
    pub request: RequestKind,
    /// The model requests name; absent: the first the server lists at
    /// `/v1/models`, asked before the first request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The model requests name when the server cannot be asked (a Service
    /// without endpoints): they go out and fail as the server's would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_model: Option<String>,
    pub max_tokens: u32,
    /// Pad the prompt so the body has at least this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    pub shape: Shape,
    /// Stop sending after this long (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Stop after this many requests; wins over `duration_ms` when it comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// How long one request may take (milliseconds).
    pub request_timeout_ms: u64,
    /// Reuse connections between requests (a fresh connection per request
    /// otherwise, so a Service spreads every request anew).
    #[serde(default)]
    pub keep_alive: bool,
    /// Weighted request variants drawn per request (`request`,
    /// `max_tokens` and `prompt_bytes` then only fill what a variant leaves out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mix: Vec<Variant>,
    /// Prompts drawn per request (from a JSON-lines file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<PromptEntry>,
    /// Seed of the mix and prompt draws.
    #[serde(default)]
    pub mix_seed: u64,
    /// Generators sharing this load (pods of one indexed Job); each runs
    /// [`GenPlan::share`] of it for its index.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub generators: u32,
    /// When to send the first request (Unix milliseconds), so that the
    /// generators of one load start together; at once when absent or past.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_unix_ms: Option<i64>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// `total` split into `of` parts as even as can be: part `index`.
fn part(total: u64, index: u32, of: u32) -> u64 {
    let of = u64::from(of.max(1));
    let index = u64::from(index);
    total / of + u64::from(index < total % of)
}

impl GenPlan {
    /// The JSON body every request carries, naming `model`.
    pub fn body(&self, model: &str) -> Vec<u8> {
        request_body(self.request, model, self.max_tokens, self.prompt_bytes)
    }

    /// Generator `index`'s share of a load split over [`GenPlan::generators`]:
    /// its users (the remainder to the first), its rate (a Poisson rate split
    /// in N is N Poisson processes whose sum is the whole), its requests,
    /// and seeds of its own; the rest is the same.
    pub fn share(&self, index: u32) -> GenPlan {
        let of = self.generators.max(1);
        let mut p = self.clone();
        p.generators = 1;
        if of == 1 {
            return p;
        }
        let seed = |s: u64| s.wrapping_add(u64::from(index).wrapping_mul(0x9E37_79B9));
        p.shape = match &self.shape {
            Shape::Users { users, ramp } => Shape::Users {
                users: part(u64::from(*users), index, of) as u32,
                ramp: ramp.map(|r| r / f64::from(of)),
            },
            Shape::Rate {
                rps,
                arrival,
                seed: s,
            } => Shape::Rate {
                rps: rps / f64::from(of),
                arrival: *arrival,
                seed: seed(*s),
            },
            Shape::Stages {
                stages,
                arrival,
                seed: s,
            } => Shape::Stages {
                stages: stages
                    .iter()
                    .map(|st| RateStage {
                        rps: st.rps / f64::from(of),
                        duration_ms: st.duration_ms,
                    })
                    .collect(),
                arrival: *arrival,
                seed: seed(*s),
            },
        };
        p.requests = self.requests.map(|n| part(n, index, of));
        p.mix_seed = seed(self.mix_seed);
        p
    }

    /// Whether requests differ from one to the next (a mix or a prompts file).
    pub fn varies(&self) -> bool {
        !self.mix.is_empty() || !self.prompts.is_empty()
    }

    /// What is wrong with the plan, said so a person can fix it.
    pub fn validate(&self) -> Result<(), String> {
        if !self.base_url.starts_with("http://") {
            return Err(format!(
                "base URL {:?}: expected http://HOST:PORT (the generator speaks plain HTTP)",
                self.base_url
            ));
        }
        match &self.shape {
            Shape::Users { users: 0, .. } => return Err("users must be at least 1".into()),
            Shape::Rate { rps, .. } if !(rps.is_finite() && *rps > 0.0) => {
                return Err(format!("rate {rps}: expected requests per second above 0"));
            }
            _ => {}
        }
        if let Shape::Stages { stages, .. } = &self.shape {
            if stages.is_empty() {
                return Err("a staged load needs at least one stage".into());
            }
            if let Some(s) = stages
                .iter()
                .find(|s| !(s.rps.is_finite() && s.rps > 0.0) || s.duration_ms == 0)
            {
                return Err(format!(
                    "stage of {} requests/s for {} ms: expected a rate above 0 and a duration",
                    s.rps, s.duration_ms
                ));
            }
        }
        for (i, v) in self.mix.iter().enumerate() {
            if v.weight == 0 {
                return Err(format!(
                    "mix entry {}: weight 0; expected at least 1",
                    i + 1
                ));
            }
            for (what, l) in [
                ("maxTokens", v.max_tokens),
                ("promptTokens", v.prompt_tokens),
            ] {
                if let Some(l) = l {
                    l.validate(&format!("mix entry {} {what}", i + 1))?;
                }
            }
        }
        if self.varies() && self.prompt_bytes.is_some() {
            return Err(
                "promptBytes pads one fixed prompt; a mix or a prompts file sets prompts per request"
                    .into(),
            );
        }
        if let Shape::Users { users, .. } = &self.shape
            && *users < self.generators
        {
            return Err(format!(
                "{users} users over {} generators: give each generator at least one user",
                self.generators
            ));
        }
        if self.duration_ms.is_none()
            && self.requests.is_none()
            && matches!(self.shape, Shape::Rate { .. })
        {
            return Err("an open-loop rate needs a duration or a request count".into());
        }
        Ok(())
    }
}

/// The body of one request: a short prompt, or one padded to `prompt_bytes`.
pub fn request_body(
    kind: RequestKind,
    model: &str,
    max_tokens: u32,
    prompt_bytes: Option<u64>,
) -> Vec<u8> {
    let with_prompt = |prompt: &str| {
        let body = match kind {
            RequestKind::Completions | RequestKind::CompletionsStream => serde_json::json!({
                "model": model, "prompt": prompt, "max_tokens": max_tokens,
                "stream": kind.streams(),
            }),
            RequestKind::Chat | RequestKind::ChatStream => serde_json::json!({
                "model": model, "max_tokens": max_tokens,
                "stream": kind.streams(),
                "messages": [{"role": "user", "content": prompt}],
            }),
            RequestKind::Embeddings => serde_json::json!({"model": model, "input": prompt}),
        };
        let mut body = body;
        if kind.streams() {
            // The token count in the last chunk, as vLLM sends it when asked.
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        serde_json::to_vec(&body).unwrap_or_default()
    };
    let plain = with_prompt("Say something about GPUs.");
    match prompt_bytes {
        Some(want) if want as usize > plain.len() => {
            let envelope = with_prompt("").len();
            with_prompt(&"x".repeat(want as usize - envelope))
        }
        _ => plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(shape: Shape, requests: Option<u64>) -> GenPlan {
        GenPlan {
            base_url: "http://s:80".into(),
            request: RequestKind::Chat,
            model: None,
            fallback_model: None,
            max_tokens: 8,
            prompt_bytes: None,
            headers: BTreeMap::new(),
            shape,
            duration_ms: Some(1000),
            requests,
            request_timeout_ms: 1000,
            keep_alive: false,
            mix: Vec::new(),
            prompts: Vec::new(),
            mix_seed: 5,
            generators: 3,
            start_at_unix_ms: None,
        }
    }

    #[test]
    fn shares_add_up_to_the_whole_load() {
        let users = shared(
            Shape::Users {
                users: 7,
                ramp: None,
            },
            Some(10),
        );
        let parts: Vec<GenPlan> = (0..3).map(|i| users.share(i)).collect();
        let total_users: u32 = parts
            .iter()
            .map(|p| match p.shape {
                Shape::Users { users, .. } => users,
                _ => 0,
            })
            .sum();
        assert_eq!(total_users, 7);
        assert_eq!(parts.iter().filter_map(|p| p.requests).sum::<u64>(), 10);
        assert!(parts.iter().all(|p| p.generators == 1));
        assert_ne!(parts[0].mix_seed, parts[1].mix_seed);

        let rate = shared(
            Shape::Rate {
                rps: 9.0,
                arrival: Arrival::Poisson,
                seed: 1,
            },
            None,
        );
        let rps: Vec<(f64, u64)> = (0..3)
            .map(|i| match rate.share(i).shape {
                Shape::Rate { rps, seed, .. } => (rps, seed),
                _ => (0.0, 0),
            })
            .collect();
        assert_eq!(rps.iter().map(|r| r.0).sum::<f64>(), 9.0);
        assert_ne!(rps[0].1, rps[1].1, "each generator draws its own arrivals");

        let too_few = shared(
            Shape::Users {
                users: 2,
                ramp: None,
            },
            None,
        );
        assert!(
            too_few
                .validate()
                .unwrap_err()
                .contains("2 users over 3 generators")
        );
    }

    #[test]
    fn bodies_are_padded_to_the_requested_size() {
        let big = request_body(RequestKind::Completions, "m", 8, Some(100_000));
        assert_eq!(big.len(), 100_000);
        let chat: serde_json::Value =
            serde_json::from_slice(&request_body(RequestKind::ChatStream, "m", 8, None))
                .expect("json");
        assert_eq!(chat["stream"], true);
        assert_eq!(chat["stream_options"]["include_usage"], true);
        assert_eq!(chat["messages"][0]["role"], "user");
    }

    #[test]
    fn request_kinds_parse() {
        for name in RequestKind::NAMES {
            assert!(RequestKind::parse(name).is_some(), "{name}");
        }
        assert_eq!(RequestKind::parse("stream"), None);
    }

    #[test]
    fn a_rate_without_an_end_is_refused() {
        let plan = GenPlan {
            base_url: "http://llm:8000".into(),
            request: RequestKind::Chat,
            model: Some("m".into()),
            fallback_model: None,
            max_tokens: 4,
            prompt_bytes: None,
            headers: BTreeMap::new(),
            shape: Shape::Rate {
                rps: 2.0,
                arrival: Arrival::Poisson,
                seed: 1,
            },
            duration_ms: None,
            requests: None,
            request_timeout_ms: 1000,
            keep_alive: false,
            mix: Vec::new(),
            prompts: Vec::new(),
            mix_seed: 0,
            generators: 1,
            start_at_unix_ms: None,
        };
        assert!(plan.validate().unwrap_err().contains("duration"));
        let json = serde_json::to_string(&plan).expect("json");
        let back: GenPlan = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, plan);
    }
}
