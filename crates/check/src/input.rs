//! Rendered objects and where each came from.
//!
//! Every renderer (today plain manifests; later Helm and kustomize) produces
//! the same [`Object`]s: a parsed Kubernetes object plus an [`Origin`] that
//! names the file and line a finding should point at. The rules never look
//! at how an object was rendered.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::CheckError;

/// How the objects were produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Renderer {
    /// Plain YAML files, read as they are.
    Manifests,
    /// `helm template`; the origin is the chart's template.
    Helm,
    /// `kubectl kustomize`; the origin is the resource file.
    Kustomize,
}

/// Where an object was written: the file (for Helm, the template) and the
/// 1-based line where its document starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub renderer: Renderer,
    pub file: PathBuf,
    pub line: usize,
}

/// One rendered Kubernetes object with its origin and its document's text
/// (kept to point findings at the line of the field they are about).
#[derive(Debug, Clone)]
pub struct Object {
    pub origin: Origin,
    pub value: Value,
    lines: Vec<String>,
}

impl Object {
    /// An object whose source text starts at `origin.line` (the needles of
    /// [`Object::line_of`] are looked for in it).
    pub(crate) fn with_lines(origin: Origin, value: Value, lines: Vec<String>) -> Self {
        Self {
            origin,
            value,
            lines,
        }
    }

    /// An object without source text (findings point at `origin.line`).
    pub fn new(origin: Origin, value: Value) -> Self {
        Self {
            origin,
            value,
            lines: Vec::new(),
        }
    }

    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `Kind/name`, as findings name objects.
    pub fn display(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }

    /// The line of a field: each needle (a trimmed line prefix such as
    /// `readinessProbe:` or `name: server`) is looked for after the previous
    /// one. Falls back to the last needle found, then to the document start.
    pub fn line_of(&self, needles: &[&str]) -> usize {
        let mut line = self.origin.line;
        let mut from = 0;
        for needle in needles {
            let hit = self.lines.iter().enumerate().skip(from).find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.starts_with(needle)
            });
            match hit {
                Some((i, _)) => {
                    line = self.origin.line + i;
                    from = i + 1;
                }
                None => break,
            }
        }
        line
    }
}

/// Reads plain manifests: a `*.yaml`/`*.yml` file, or a folder searched
/// recursively (sorted, so findings come in a stable order).
pub fn load_manifests(path: &Path) -> Result<Vec<Object>, CheckError> {
    if !path.exists() {
        return Err(CheckError::NotFound(path.to_path_buf()));
    }
    let files = if path.is_dir() {
        let mut files = Vec::new();
        collect_yaml(path, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(CheckError::NoManifests(path.to_path_buf()));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut objects = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| CheckError::Read {
            path: file.clone(),
            source,
        })?;
        objects.extend(parse_documents(&file, &text)?);
    }
    if objects.is_empty() {
        return Err(CheckError::NoManifests(path.to_path_buf()));
    }
    Ok(objects)
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CheckError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CheckError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| CheckError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// A multi-document YAML text split on its `---` lines: each document's
/// lines with the 1-based line it starts at (empty documents included).
pub(crate) fn split_documents(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut docs: Vec<(usize, Vec<&str>)> = vec![(1, Vec::new())];
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") || line.starts_with("---\t") {
            docs.push((i + 2, Vec::new()));
        } else if let Some((_, lines)) = docs.last_mut() {
            lines.push(line);
        }
    }
    docs
}

/// Splits a multi-document YAML text on `---` lines and parses each
/// document; empty documents and `List` items are handled. Each object's
/// line is its document's first line that is neither blank nor a comment.
pub fn parse_documents(file: &Path, text: &str) -> Result<Vec<Object>, CheckError> {
    let mut objects = Vec::new();
    for (start, lines) in split_documents(text) {
        let body = lines.join("\n");
        let value: Value = yaml_serde::from_str(&body).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (start + l.line().saturating_sub(1), l.column()))
                .unwrap_or((start, 0));
            CheckError::Parse {
                path: file.to_path_buf(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        if value.is_null() {
            continue;
        }
        let first = lines
            .iter()
            .position(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
            .unwrap_or(0);
        let origin = Origin {
            renderer: Renderer::Manifests,
            file: file.to_path_buf(),
            line: start + first,
        };
        if !value.is_object() {
            return Err(CheckError::NotAnObject {
                path: file.to_path_buf(),
                line: origin.line,
            });
        }
        if value.get("kind").and_then(Value::as_str) == Some("List") {
            let items = value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            objects.extend(items.into_iter().map(|v| Object::new(origin.clone(), v)));
            continue;
        }
        if value.get("kind").and_then(Value::as_str).is_none() {
            return Err(CheckError::NotAnObject {
                path: file.to_path_buf(),
                line: origin.line,
            });
        }
        objects.push(Object {
            origin,
            value,
            lines: lines[first..].iter().map(|l| l.to_string()).collect(),
        });
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_start_lines() {
        let text = "# head\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\n# c\nkind: Service\nmetadata:\n  name: b\n---\n";
        let objs = parse_documents(Path::new("m.yaml"), text).expect("parses");
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].origin.line, 2);
        assert_eq!(objs[1].origin.line, 8);
        assert_eq!(objs[1].display(), "Service/b");
        assert_eq!(objs[1].line_of(&["metadata:", "name:"]), 10);
    }

    #[test]
    fn parse_errors_name_the_file_and_line() {
        let text = "kind: ConfigMap\n---\nkind: Service\nmetadata: [a\n";
        let err = parse_documents(Path::new("m.yaml"), text).expect_err("bad YAML");
        match err {
            CheckError::Parse { line, .. } => assert!(line >= 4, "line {line}"),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_document_without_kind_is_refused() {
        let err = parse_documents(Path::new("m.yaml"), "a: 1\n").expect_err("no kind");
        assert!(err.to_string().contains("m.yaml:1"), "{err}");
    }
}
