//! Tokens in an OpenAI event stream: each `data:` event whose choice
//! carries text (`choices[0].delta.content` for chat, `choices[0].text`
//! for completions) is one token, timed when the bytes that completed it
//! arrived; `data: [DONE]` ends the stream; a chunk's `usage` says how many
//! tokens the server generated. Events may be split across reads.

use std::time::Instant;

#[derive(Debug, Default)]
pub struct TokenStream {
    pending: Vec<u8>,
    times: Vec<Instant>,
    usage: Option<u64>,
    done: bool,
}

impl TokenStream {
    /// Bytes as they arrived at `at`.
    pub fn feed(&mut self, bytes: &[u8], at: Instant) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = find_event_end(&self.pending) {
            let event: Vec<u8> = self.pending.drain(..end.0 + end.1).collect();
            self.event(&event[..end.0], at);
        }
    }

    fn event(&mut self, event: &[u8], at: Instant) {
        let text = String::from_utf8_lossy(event);
        for line in text.lines() {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                self.done = true;
                continue;
            }
            let Ok(chunk) = serde_json::from_str::<serde_json::Value>(data) else {
                continue;
            };
            if let Some(n) = chunk["usage"]["completion_tokens"].as_u64() {
                self.usage = Some(n);
            }
            let choice = &chunk["choices"][0];
            let text = choice["delta"]["content"]
                .as_str()
                .or_else(|| choice["text"].as_str());
            if text.is_some_and(|t| !t.is_empty()) {
                self.times.push(at);
            }
        }
    }

    /// When each token arrived.
    pub fn token_times(&self) -> &[Instant] {
        &self.times
    }

    pub fn usage_tokens(&self) -> Option<u64> {
        self.usage
    }

    /// Whether `data: [DONE]` came.
    pub fn done(&self) -> bool {
        self.done
    }
}

/// The end of the first complete event: (its length, the separator's).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// `usage.completion_tokens` of a whole (not streamed) answer.
pub fn usage_of_body(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("usage")?
        .get("completion_tokens")?
        .as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn chat(content: &str) -> String {
        format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{content:?}}}}}]}}\n\n")
    }

    #[test]
    fn tokens_are_timed_when_their_event_completes() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(5);
        let t2 = t0 + Duration::from_millis(9);
        let mut s = TokenStream::default();
        // The role-only first chunk carries no token.
        s.feed(
            b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            t0,
        );
        let first = chat("Hel");
        let (a, b) = first.split_at(10);
        s.feed(a.as_bytes(), t0);
        s.feed(b.as_bytes(), t1);
        s.feed(format!("{}{}", chat("lo"), chat("!")).as_bytes(), t2);
        s.feed(
            b"data: {\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\ndata: [DONE]\n\n",
            t2,
        );
        assert_eq!(s.token_times(), &[t1, t2, t2]);
        assert_eq!(s.usage_tokens(), Some(3));
        assert!(s.done());
    }

    #[test]
    fn completion_text_counts_and_empty_text_does_not() {
        let mut s = TokenStream::default();
        let now = Instant::now();
        s.feed(
            b"data: {\"choices\":[{\"text\":\"a\"}]}\r\n\r\ndata: {\"choices\":[{\"text\":\"\"}]}\r\n\r\n",
            now,
        );
        assert_eq!(s.token_times().len(), 1);
        assert!(!s.done());
    }

    #[test]
    fn a_whole_answer_gives_its_usage() {
        assert_eq!(
            usage_of_body(br#"{"choices":[],"usage":{"completion_tokens":16}}"#),
            Some(16)
        );
        assert_eq!(usage_of_body(b"not json"), None);
    }
}
