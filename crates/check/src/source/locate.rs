//! Pointing a rendered object back at its source file: the n-th object of
//! a kind from one file is matched to that file's n-th `kind:` line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::input::{Object, Origin, Renderer};

/// Source files read once, and how many objects of each kind each gave.
#[derive(Default)]
pub(super) struct Locator {
    files: BTreeMap<PathBuf, Vec<String>>,
    seen: BTreeMap<(PathBuf, String), usize>,
}

impl Locator {
    /// The object with its origin in `file` at its `kind:` line (line 1
    /// when the file has no such line), and the file's text from there.
    pub(super) fn object(&mut self, renderer: Renderer, file: PathBuf, value: Value) -> Object {
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let lines = self
            .files
            .entry(file.clone())
            .or_insert_with(|| read_lines(&file));
        let nth = self.seen.entry((file.clone(), kind.clone())).or_insert(0);
        let at = kind_lines(lines, &kind).nth(*nth);
        *nth += 1;
        let (line, from) = match at {
            Some(i) => (i + 1, lines[i..].to_vec()),
            None => (1, Vec::new()),
        };
        let origin = Origin {
            renderer,
            file,
            line,
        };
        Object::with_lines(origin, value, from)
    }
}

fn read_lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default()
}

fn kind_lines<'a>(lines: &'a [String], kind: &'a str) -> impl Iterator<Item = usize> + 'a {
    lines.iter().enumerate().filter_map(move |(i, l)| {
        let v = l
            .trim()
            .strip_prefix("kind:")?
            .trim()
            .trim_matches(['"', '\'']);
        (v == kind).then_some(i)
    })
}
