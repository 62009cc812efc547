//! The mock's tokenizer: the same pieces [`crate::openai::count_tokens`]
//! counts (a run of letters and digits, or one other visible character,
//! each carrying the whitespace before it as one space), so `/tokenize`
//! and the `usage` of a completion agree on every prompt.
//!
//! A piece's id is a stable hash of its text, the same in every replica.
//! `/detokenize` turns ids back into text through the pieces this process
//! has tokenized (at most [`REMEMBERED_PIECES`] of them); an id it has not
//! seen becomes `<id>`, the way a token-id prompt is shown in an echo.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most distinct pieces remembered for `/detokenize`.
pub const REMEMBERED_PIECES: usize = 65_536;

/// Ids stay below this (a vocabulary's size, as a real tokenizer's do).
pub const VOCAB_SIZE: u32 = 1 << 20;

/// One chat message as the chat template sees it.
pub struct TemplateMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
}

/// Splits text into pieces: `"Hello, world"` is `["Hello", ",", " world"]`.
pub fn pieces(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut space = false;
    let mut word: Option<String> = None;
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            match &mut word {
                Some(w) => w.push(ch),
                None => {
                    let mut w = String::new();
                    if space && !out.is_empty() {
                        w.push(' ');
                    }
                    w.push(ch);
                    word = Some(w);
                    space = false;
                }
            }
            continue;
        }
        if let Some(w) = word.take() {
            out.push(w);
        }
        if ch.is_whitespace() {
            space = true;
        } else {
            let mut p = String::new();
            if space && !out.is_empty() {
                p.push(' ');
            }
            p.push(ch);
            out.push(p);
            space = false;
        }
    }
    if let Some(w) = word {
        out.push(w);
    }
    out
}

/// The pieces of a chat under a ChatML-style template: per message
/// `<|im_start|>`, the role, a newline, the content's pieces and
/// `<|im_end|>` (four more than the content, as the completions count).
pub fn chat_pieces(messages: &[TemplateMessage<'_>]) -> Vec<String> {
    let mut out = Vec::new();
    for m in messages {
        out.push("<|im_start|>".to_string());
        out.push(m.role.to_string());
        out.push("\n".to_string());
        out.extend(pieces(m.content));
        out.push("<|im_end|>".to_string());
    }
    out
}

/// A piece's id: FNV-1a of its bytes, folded into the vocabulary.
pub fn piece_id(piece: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in piece.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % VOCAB_SIZE
}

/// Ids for pieces, and text for the ids this process has handed out.
#[derive(Debug, Default)]
pub struct Tokenizer {
    seen: Mutex<HashMap<u32, String>>,
}

impl Tokenizer {
    /// The ids of `pieces`, remembering them for [`Tokenizer::detokenize`].
    pub fn encode(&self, pieces: &[String]) -> Vec<u32> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        pieces
            .iter()
            .map(|p| {
                let id = piece_id(p);
                if seen.len() < REMEMBERED_PIECES || seen.contains_key(&id) {
                    seen.entry(id).or_insert_with(|| p.clone());
                }
                id
            })
            .collect()
    }

    /// The text of `ids`; an id never handed out reads `<id>`.
    pub fn detokenize(&self, ids: &[u32]) -> String {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for id in ids {
            match seen.get(id) {
                Some(p) => out.push_str(p),
                None => {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(&format!("<{id}>"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::count_tokens;
    use proptest::prelude::*;

    #[test]
    fn pieces_carry_the_space_before_them() {
        assert_eq!(pieces("Hello, world"), ["Hello", ",", " world"]);
        assert_eq!(pieces("  a  b! "), ["a", " b", "!"]);
        assert!(pieces("   ").is_empty());
    }

    #[test]
    fn the_chat_template_adds_four_pieces_per_message() {
        let m = [
            TemplateMessage {
                role: "system",
                content: "Be brief.",
            },
            TemplateMessage {
                role: "user",
                content: "Hi",
            },
        ];
        assert_eq!(chat_pieces(&m).len(), 3 + 4 + 1 + 4);
    }

    #[test]
    fn ids_round_trip_and_unknown_ids_are_marked() {
        let t = Tokenizer::default();
        let ids = t.encode(&pieces("The model, loaded."));
        assert_eq!(t.detokenize(&ids), "The model, loaded.");
        assert!(ids.iter().all(|id| *id < VOCAB_SIZE));
        assert_eq!(
            t.detokenize(&[VOCAB_SIZE + 1]),
            format!("<{}>", VOCAB_SIZE + 1)
        );
    }

    proptest! {
        #[test]
        fn as_many_pieces_as_the_usage_counts(text in "\\PC{0,64}") {
            prop_assert_eq!(pieces(&text).len() as u32, count_tokens(&text));
        }

        #[test]
        fn normalized_text_round_trips(words in proptest::collection::vec("[a-z]{1,6}|[,.!?]", 0..12)) {
            let text = words.join(" ");
            let t = Tokenizer::default();
            let once = t.detokenize(&t.encode(&pieces(&text)));
            let twice = t.detokenize(&t.encode(&pieces(&once)));
            prop_assert_eq!(once, twice);
        }
    }
}
