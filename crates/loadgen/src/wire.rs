//! What the generator writes, one JSON object per line: a `start` line
//! (its wall clock, so the harness puts every sample on the run's time
//! axis), a `sample` line per request as it ends, and an `end` line. The
//! harness follows these lines from the pod's log while the load runs.

use serde::{Deserialize, Serialize};

/// Why a request got no complete answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// No connection (refused, no route, name not resolved).
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection closed before the answer was complete.
    Reset,
    /// An HTTP status of 400 or more.
    Http,
    /// A 2xx event stream that ended before `data: [DONE]`.
    Stream,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Http => "http",
            ErrorKind::Stream => "stream",
        }
    }
}

/// One request as the client saw it. Times are milliseconds; latencies
/// count from when the request was *due*, so a generator or server that
/// falls behind an open-loop schedule shows as latency, never as fewer
/// requests (no coordinated omission).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// From the load's start to when the request was due (closed loop:
    /// when it was sent).
    pub due_ms: f64,
    /// How late the request left after it was due.
    pub lag_ms: f64,
    /// From due to the last byte of the answer (or the error).
    pub e2e_ms: f64,
    /// From due to the first token (streaming answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Gaps between consecutive tokens (streaming answers only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub itl_ms: Vec<f64>,
    /// Tokens the server generated (its `usage`, else the tokens counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// Why it failed: the error, or the start of the answer's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The `x-inference-version` header of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The `x-inference-pod` header of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    pub request_bytes: u64,
    /// The stage it was due in (staged loads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<u32>,
    /// The mix variant it was drawn from (mixed loads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<u32>,
}

impl Sample {
    /// Time per output token after the first, as vLLM defines it:
    /// (end-to-end - TTFT) / (output tokens - 1).
    pub fn tpot_ms(&self) -> Option<f64> {
        let ttft = self.ttft_ms?;
        let tokens = self.output_tokens?;
        (tokens > 1).then(|| (self.e2e_ms - ttft) / (tokens - 1) as f64)
    }
}

/// One line of the generator's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "line")]
pub enum Line {
    /// The generator is about to send its first request.
    Start {
        /// Its wall clock then, in milliseconds since the Unix epoch.
        unix_ms: i64,
        /// Requests per second it was asked for (open loop).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offered_rps: Option<f64>,
        /// The model the requests name.
        #[serde(default)]
        model: String,
        /// Something a person should know (the model could not be asked).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Sample(Sample),
    /// Every request has ended.
    End {
        /// From the start line to the last answer.
        elapsed_ms: f64,
        sent: u64,
    },
}

impl Line {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A line of the generator's output; `None` for anything else its log
    /// holds (a runtime's panic message, say).
    pub fn parse(text: &str) -> Option<Line> {
        let text = text.trim();
        if !text.starts_with('{') {
            return None;
        }
        serde_json::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_other_text_is_skipped() {
        let s = Line::Sample(Sample {
            due_ms: 1.0,
            lag_ms: 0.1,
            e2e_ms: 30.0,
            ttft_ms: Some(10.0),
            itl_ms: vec![2.0, 3.0],
            output_tokens: Some(3),
            status: Some(200),
            ok: true,
            error_kind: None,
            error: None,
            version: Some("v1".into()),
            pod: None,
            request_bytes: 90,
            stage: Some(1),
            variant: Some(0),
        });
        let json = s.to_json();
        assert!(json.starts_with(r#"{"line":"sample""#), "{json}");
        assert_eq!(Line::parse(&json), Some(s));
        assert_eq!(Line::parse("thread 'main' panicked"), None);
    }

    #[test]
    fn tpot_spreads_the_time_after_the_first_token() {
        let mut s = Sample {
            due_ms: 0.0,
            lag_ms: 0.0,
            e2e_ms: 50.0,
            ttft_ms: Some(20.0),
            itl_ms: vec![],
            output_tokens: Some(4),
            status: Some(200),
            ok: true,
            error_kind: None,
            error: None,
            version: None,
            pod: None,
            request_bytes: 1,
            stage: None,
            variant: None,
        };
        assert_eq!(s.tpot_ms(), Some(10.0));
        s.output_tokens = Some(1);
        assert_eq!(s.tpot_ms(), None);
    }
}
