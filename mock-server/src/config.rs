//! The server's behaviour knobs.
//!
//! One [`Config`] is read from flags and `MOCK_*` environment variables at
//! start-up and can be changed at run time through `/admin/config` (a JSON
//! merge patch). Durations are whole milliseconds so that flags, env vars and
//! JSON all spell them the same way.

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod limits;

/// Most inputs of one embeddings request unless configured (OpenAI's limit).
pub const DEFAULT_MAX_EMBEDDING_INPUTS: usize = 2048;

/// Most served model names, and the longest name.
const MAX_MODELS: usize = 64;
const MAX_MODEL_NAME: usize = 256;

/// Everything a scenario can tune about the mock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Model names served; the first is the default (like vLLM's `--served-model-name`).
    #[arg(
        long = "served-model-name",
        env = "MOCK_SERVED_MODEL_NAME",
        value_delimiter = ',',
        default_value = "mock-llm"
    )]
    pub served_model_names: Vec<String>,

    /// Version reported in responses (`system_fingerprint`, `x-inference-version`) and metrics.
    /// (`--version` prints the binary's own version.)
    #[arg(
        id = "server_version",
        long = "server-version",
        env = "MOCK_VERSION",
        default_value = "v1"
    )]
    pub version: String,

    /// Simulated model-load time: readiness is 503 and inference answers 503 until it has passed.
    #[arg(long, env = "MOCK_MODEL_LOAD_MS", default_value_t = 0)]
    pub model_load_ms: u64,

    /// Mean time to first token, in milliseconds.
    #[arg(long, env = "MOCK_TTFT_MS", default_value_t = 20)]
    pub ttft_ms: u64,

    /// Uniform jitter around the time to first token (+/- this many ms).
    #[arg(long, env = "MOCK_TTFT_JITTER_MS", default_value_t = 0)]
    pub ttft_jitter_ms: u64,

    /// Mean time between output tokens, in milliseconds.
    #[arg(long, env = "MOCK_INTER_TOKEN_MS", default_value_t = 5)]
    pub inter_token_ms: u64,

    /// Uniform jitter around the inter-token time (+/- this many ms).
    #[arg(long, env = "MOCK_INTER_TOKEN_JITTER_MS", default_value_t = 0)]
    pub inter_token_jitter_ms: u64,

    /// Prefill time per prompt token, in microseconds, added to the time to
    /// first token (llm-d-inference-sim's `prefill-time-per-token`).
    #[arg(long, env = "MOCK_PREFILL_US_PER_TOKEN", default_value_t = 0)]
    pub prefill_us_per_token: u64,

    /// How much slower a token comes with `max_num_seqs` requests running
    /// than with one: TTFT and inter-token latency grow linearly with the
    /// running requests, as on a GPU whose batch fills (llm-d-inference-sim's
    /// `time-factor-under-load`); 1 keeps them flat.
    #[arg(long, env = "MOCK_TIME_FACTOR_UNDER_LOAD", default_value_t = 1.0)]
    pub time_factor_under_load: f64,

    /// Requests processed at once (vLLM's `--max-num-seqs`); the rest wait in a queue.
    #[arg(long, env = "MOCK_MAX_NUM_SEQS", default_value_t = 8)]
    pub max_num_seqs: usize,

    /// Longest waiting queue; 0 means unbounded. A full queue answers 503.
    #[arg(long, env = "MOCK_MAX_WAITING", default_value_t = 0)]
    pub max_waiting: usize,

    /// Output tokens when a request sets no `max_tokens`.
    #[arg(long, env = "MOCK_DEFAULT_OUTPUT_TOKENS", default_value_t = 16)]
    pub default_output_tokens: u32,

    /// Context length: prompt plus `max_tokens` above this is a 400 error, as in vLLM.
    #[arg(long, env = "MOCK_MAX_MODEL_LEN", default_value_t = 4096)]
    pub max_model_len: u32,

    /// KV-cache capacity in tokens; usage is the tokens held by running requests over this.
    #[arg(long, env = "MOCK_KV_CACHE_TOKENS", default_value_t = 65_536)]
    pub kv_cache_tokens: u64,

    /// CPU busy work per generated token, in microseconds (drives CPU-based autoscaling).
    #[arg(long, env = "MOCK_CPU_US_PER_TOKEN", default_value_t = 0)]
    pub cpu_us_per_token: u64,

    /// Memory allocated and touched for the life of every request, in bytes.
    #[arg(long, env = "MOCK_MEMORY_PER_REQUEST_BYTES", default_value_t = 0)]
    pub memory_per_request_bytes: u64,

    /// Memory allocated per byte of request body (a large payload can then exceed a memory limit).
    #[arg(long, env = "MOCK_MEMORY_PER_PAYLOAD_BYTE", default_value_t = 0.0)]
    pub memory_per_payload_byte: f64,

    /// Largest accepted request body; larger bodies get 413.
    #[arg(long, env = "MOCK_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Fraction (0..=1) of inference requests that fail on purpose.
    #[arg(long, env = "MOCK_FAILURE_RATE", default_value_t = 0.0)]
    pub failure_rate: f64,

    /// Failure kinds drawn from when a request fails on purpose.
    #[arg(
        long,
        env = "MOCK_FAILURE_TYPES",
        value_delimiter = ',',
        value_enum,
        default_value = "server_error"
    )]
    pub failure_types: Vec<FailureKind>,

    /// Readiness answers 503 while set, whatever the model-load state.
    #[arg(long, env = "MOCK_FORCE_UNREADY", default_value_t = false)]
    pub force_unready: bool,

    /// LoRA adapters a batch may hold (vLLM's `--max-loras`), reported as
    /// `max_lora` in `vllm:lora_requests_info`.
    #[arg(long, env = "MOCK_MAX_LORAS", default_value_t = 1)]
    pub max_loras: u64,

    /// Embedding vector length for `/v1/embeddings`.
    #[arg(long, env = "MOCK_EMBEDDING_DIM", default_value_t = 384)]
    pub embedding_dim: usize,

    /// Most inputs one `/v1/embeddings` request may carry; more get 400 (OpenAI allows 2048).
    #[arg(long, env = "MOCK_MAX_EMBEDDING_INPUTS", default_value_t = DEFAULT_MAX_EMBEDDING_INPUTS)]
    pub max_embedding_inputs: usize,

    /// How long in-flight requests may run on after SIGTERM before the process exits.
    #[arg(long, env = "MOCK_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            served_model_names: vec!["mock-llm".to_string()],
            version: "v1".to_string(),
            model_load_ms: 0,
            ttft_ms: 20,
            ttft_jitter_ms: 0,
            inter_token_ms: 5,
            inter_token_jitter_ms: 0,
            prefill_us_per_token: 0,
            time_factor_under_load: 1.0,
            max_num_seqs: 8,
            max_waiting: 0,
            default_output_tokens: 16,
            max_model_len: 4096,
            kv_cache_tokens: 65_536,
            cpu_us_per_token: 0,
            memory_per_request_bytes: 0,
            memory_per_payload_byte: 0.0,
            max_body_bytes: 16 * 1024 * 1024,
            failure_rate: 0.0,
            failure_types: vec![FailureKind::ServerError],
            force_unready: false,
            max_loras: 1,
            embedding_dim: 384,
            max_embedding_inputs: DEFAULT_MAX_EMBEDDING_INPUTS,
            shutdown_grace_ms: 10_000,
        }
    }
}

/// The injected failure kinds, each answered with an OpenAI-style error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum FailureKind {
    /// 429 `rate_limit_exceeded`.
    RateLimit,
    /// 400 `invalid_request_error`.
    InvalidRequest,
    /// 500 `server_error`.
    ServerError,
    /// 503 `service_unavailable` (engine overloaded).
    Unavailable,
    /// 400 `context_length_exceeded`.
    ContextLength,
    /// 404 `model_not_found`.
    ModelNotFound,
}

impl FailureKind {
    /// Every kind, in a stable order.
    pub const ALL: [FailureKind; 6] = [
        FailureKind::RateLimit,
        FailureKind::InvalidRequest,
        FailureKind::ServerError,
        FailureKind::Unavailable,
        FailureKind::ContextLength,
        FailureKind::ModelNotFound,
    ];

    /// The snake_case name used in flags, headers, JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::RateLimit => "rate_limit",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::ServerError => "server_error",
            FailureKind::Unavailable => "unavailable",
            FailureKind::ContextLength => "context_length",
            FailureKind::ModelNotFound => "model_not_found",
        }
    }

    /// Parses a name as written in the `x-mock-fail` header.
    pub fn from_name(name: &str) -> Option<FailureKind> {
        FailureKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name.trim())
    }
}

/// Why a configuration (or a patch to one) was refused.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("the patch must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("invalid configuration: {field} must be {allowed}, got {value}")]
    OutOfRange {
        field: &'static str,
        value: String,
        allowed: String,
    },
    #[error("invalid configuration: unknown field `{field}`; the fields are {known}")]
    UnknownField { field: String, known: String },
    #[error("invalid configuration: field `{field}`: {message}; expected {allowed}")]
    WrongType {
        field: String,
        message: String,
        allowed: String,
    },
}

impl Config {
    /// Checks values that types alone don't rule out.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.served_model_names.is_empty()
            || self.served_model_names.len() > MAX_MODELS
            || self
                .served_model_names
                .iter()
                .any(|m| m.trim().is_empty() || m.len() > MAX_MODEL_NAME)
        {
            return invalid(format!(
                "served_model_names needs 1 to {MAX_MODELS} non-empty names of at most {MAX_MODEL_NAME} bytes"
            ));
        }
        if self.failure_rate > 0.0 && self.failure_types.is_empty() {
            return invalid(
                "failure_types must name at least one kind when failure_rate > 0".into(),
            );
        }
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => limits::check(&map),
            Ok(_) => invalid("the configuration is not a JSON object".into()),
            Err(e) => invalid(e.to_string()),
        }
    }

    /// Applies a JSON merge patch (only the keys present change) and validates the result.
    /// On error the configuration is left as it was.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Config, ConfigError> {
        let patch = match patch {
            serde_json::Value::Object(map) => map,
            other => return Err(ConfigError::NotAnObject(json_kind(other))),
        };
        let serde_json::Value::Object(base) =
            serde_json::to_value(self).map_err(|e| ConfigError::Invalid(e.to_string()))?
        else {
            return Err(ConfigError::Invalid(
                "the configuration is not a JSON object".into(),
            ));
        };
        // Field by field first, so that an error names the field at fault.
        for (key, value) in patch {
            if !base.contains_key(key) {
                let known: Vec<&str> = base.keys().map(String::as_str).collect();
                return Err(ConfigError::UnknownField {
                    field: key.clone(),
                    known: known.join(", "),
                });
            }
            let mut one = base.clone();
            one.insert(key.clone(), value.clone());
            if let Err(e) = serde_json::from_value::<Config>(serde_json::Value::Object(one)) {
                return Err(ConfigError::WrongType {
                    field: key.clone(),
                    message: e.to_string(),
                    allowed: limits::describe(key).unwrap_or_else(|| "a valid value".into()),
                });
            }
        }
        let mut merged = base;
        for (key, value) in patch {
            merged.insert(key.clone(), value.clone());
        }
        let next: Config = serde_json::from_value(serde_json::Value::Object(merged))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        next.validate()?;
        Ok(next)
    }

    /// The model a request gets when it names none.
    pub fn default_model(&self) -> &str {
        self.served_model_names
            .first()
            .map(String::as_str)
            .unwrap_or("mock-llm")
    }

    /// Whether `name` is one of the served models.
    pub fn serves(&self, name: &str) -> bool {
        self.served_model_names.iter().any(|m| m == name)
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn patch_changes_only_named_keys() {
        let base = Config::default();
        let next = base
            .patched(&json!({"ttft_ms": 250, "failure_types": ["rate_limit"]}))
            .unwrap();
        assert_eq!(next.ttft_ms, 250);
        assert_eq!(next.failure_types, vec![FailureKind::RateLimit]);
        assert_eq!(next.inter_token_ms, base.inter_token_ms);
    }

    #[test]
    fn patch_rejects_unknown_keys_and_bad_values() {
        let base = Config::default();
        let err = base.patched(&json!({"ttft": 1})).unwrap_err();
        assert!(err.to_string().contains("unknown field `ttft`"), "{err}");
        let err = base.patched(&json!({"failure_rate": 1.5})).unwrap_err();
        assert!(err.to_string().contains("failure_rate"), "{err}");
        let err = base.patched(&json!({"max_num_seqs": 0})).unwrap_err();
        assert!(err.to_string().contains("max_num_seqs"), "{err}");
        assert_eq!(
            base.patched(&json!([1])).unwrap_err(),
            ConfigError::NotAnObject("an array")
        );
    }

    #[test]
    fn every_numeric_field_has_a_range() {
        let Ok(serde_json::Value::Object(map)) = serde_json::to_value(Config::default()) else {
            panic!("the configuration is a JSON object");
        };
        for (key, value) in &map {
            if value.is_number() || value.is_string() {
                assert!(
                    limits::describe(key).is_some(),
                    "{key} has no range in config/limits.rs"
                );
            }
        }
        for l in limits::INT_LIMITS {
            assert!(map.contains_key(l.key), "{} is not a field", l.key);
        }
    }

    #[test]
    fn out_of_range_values_name_the_field_and_the_range() {
        let base = Config::default();
        for (patch, field, range) in [
            (
                json!({"max_body_bytes": 0}),
                "max_body_bytes",
                "1..=1073741824",
            ),
            (
                json!({"max_body_bytes": u64::MAX}),
                "max_body_bytes",
                "1..=1073741824",
            ),
            (json!({"max_model_len": 0}), "max_model_len", "1..=10000000"),
            (
                json!({"memory_per_request_bytes": u64::MAX}),
                "memory_per_request_bytes",
                "64 GiB",
            ),
            (json!({"ttft_ms": 86_400_000}), "ttft_ms", "0..=600000"),
            (
                json!({"max_embedding_inputs": 0}),
                "max_embedding_inputs",
                "1..=65536",
            ),
            (
                json!({"memory_per_payload_byte": 1e9}),
                "memory_per_payload_byte",
                "0..=1024",
            ),
            (json!({"version": "v\n2"}), "version", "visible ASCII"),
            (json!({"version": "x".repeat(200)}), "version", "1 to 128"),
        ] {
            let err = base.patched(&patch).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains(range), "{patch}: {err}");
        }
    }

    #[test]
    fn wrong_types_and_overflow_name_the_field() {
        let base = Config::default();
        for (patch, field) in [
            (json!({"max_model_len": -1}), "max_model_len"),
            (json!({"max_model_len": 1e30}), "max_model_len"),
            (json!({"max_model_len": 4_294_967_296u64}), "max_model_len"),
            (json!({"ttft_ms": "20"}), "ttft_ms"),
            (json!({"force_unready": 1}), "force_unready"),
            (json!({"failure_types": ["nope"]}), "failure_types"),
        ] {
            let err = base.patched(&patch).unwrap_err();
            assert!(
                matches!(&err, ConfigError::WrongType { field: f, .. } if f == field),
                "{patch}: {err}"
            );
            let text = err.to_string();
            assert!(text.contains("expected"), "{text}");
        }
    }

    #[test]
    fn flags_are_checked_like_patches() {
        let cfg = Config {
            max_body_bytes: 0,
            ..Config::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("max_body_bytes")
        );
        assert_eq!(Config::default().validate(), Ok(()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any patch of any known field, with any JSON number, either
        /// applies and leaves a valid configuration or is refused; never a panic.
        #[test]
        fn any_numeric_patch_is_applied_or_refused(
            field in proptest::sample::select(limits::INT_LIMITS.iter().map(|l| l.key).collect::<Vec<_>>()),
            value in proptest::prop_oneof![
                proptest::num::u64::ANY.prop_map(|v| json!(v)),
                proptest::num::i64::ANY.prop_map(|v| json!(v)),
                proptest::num::f64::ANY.prop_map(|v| json!(v)),
                (0u64..100_000).prop_map(|v| json!(v)),
            ],
        ) {
            let base = Config::default();
            match base.patched(&json!({ field: value })) {
                Ok(next) => prop_assert_eq!(next.validate(), Ok(())),
                Err(e) => prop_assert!(e.to_string().contains(field), "{}", e),
            }
        }
    }

    #[test]
    fn failure_kind_names_round_trip() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(FailureKind::from_name("nope"), None);
    }
}
