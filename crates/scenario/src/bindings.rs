//! Manifest templates: `{{ name }}` placeholders filled from bindings.
//!
//! Deliberately small: a placeholder is a binding name (letters, digits,
//! `_`, `-`, `.`), replaced by the binding's scalar value. An unknown name,
//! a non-scalar value or an unclosed placeholder is an error naming the
//! file, line and column, so nothing half-rendered reaches a cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Bindings: names to YAML/JSON values.
pub type Bindings = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Error, PartialEq)]
pub enum TemplateError {
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("cannot read {file}: {message}")]
    Read { file: PathBuf, message: String },
    #[error("{file}: the values file must be a YAML mapping of names to values: {message}")]
    Values { file: PathBuf, message: String },
}

/// Why a `--set NAME=VALUE` was refused.
#[derive(Debug, Error, PartialEq)]
pub enum SetError {
    #[error("--set {0:?}: expected NAME=VALUE, e.g. --set image=my/server:tag")]
    NoEquals(String),
    #[error("--set {0:?}: the name is empty; expected NAME=VALUE")]
    EmptyName(String),
}

/// Parses `--set NAME=VALUE` arguments into bindings (see [`parse_value`]).
pub fn parse_set(items: &[String]) -> Result<Bindings, SetError> {
    let mut out = Bindings::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| SetError::NoEquals(item.clone()))?;
        if k.trim().is_empty() {
            return Err(SetError::EmptyName(item.clone()));
        }
        out.insert(k.trim().to_string(), parse_value(v));
    }
    Ok(out)
}

/// A value typed on the command line: a number, boolean, list or mapping
/// when YAML reads it as one *and* writing that back gives the same text;
/// otherwise the text exactly as typed. So `3` and `true` are typed, while
/// `1.10` (YAML's 1.1), `1e3`, `007` or `0x10` stay the strings the user wrote.
pub fn parse_value(text: &str) -> serde_json::Value {
    let as_text = || serde_json::Value::String(text.to_string());
    let Ok(value) = yaml_serde::from_str::<serde_json::Value>(text) else {
        return as_text();
    };
    let same = match &value {
        serde_json::Value::Number(n) => n.to_string() == text,
        serde_json::Value::Bool(b) => b.to_string() == text,
        serde_json::Value::String(s) => s == text,
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => true,
        serde_json::Value::Null => false,
    };
    if same { value } else { as_text() }
}

/// Every `{{ name }}` in `text`: 1-based line and column, and the name
/// (lines that are YAML comments are skipped).
pub fn placeholders(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut rest = line;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = after[..end].trim();
            if !name.is_empty() {
                let column = line[..offset + start].chars().count() + 1;
                out.push((i + 1, column, name.to_string()));
            }
            offset += start + 2 + end + 2;
            rest = &line[offset..];
        }
    }
    out
}

/// Renders `text` (from `file`, used in messages) with `bindings`.
pub fn render(file: &Path, text: &str, bindings: &Bindings) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let at = offset + start;
        let err = |message: String| {
            let (line, column) = line_col(text, at);
            TemplateError::At {
                file: file.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| err("`{{` is never closed by `}}`".into()))?;
        let name = after[..end].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(err(format!(
                "`{{{{{}}}}}` is not a binding name",
                &after[..end]
            )));
        }
        let value = bindings.get(name).ok_or_else(|| {
            let known: Vec<&str> = bindings.keys().map(String::as_str).collect();
            err(format!(
                "no binding named `{name}`; bindings are: {}",
                known.join(", ")
            ))
        })?;
        match value {
            serde_json::Value::String(s) => out.push_str(s),
            serde_json::Value::Number(n) => out.push_str(&n.to_string()),
            serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            other => {
                return Err(err(format!(
                    "binding `{name}` is {other}, but only strings, numbers and booleans can be placed"
                )));
            }
        }
        let consumed = start + 2 + end + 2;
        rest = &rest[consumed..];
        offset += consumed;
    }
    out.push_str(rest);
    Ok(out)
}

fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Reads a values file (a YAML mapping).
pub fn load_values(file: &Path) -> Result<Bindings, TemplateError> {
    let text = std::fs::read_to_string(file).map_err(|e| TemplateError::Read {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    yaml_serde::from_str(&text).map_err(|e| TemplateError::Values {
        file: file.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads and renders a template file; `overrides` win over `defaults`.
pub fn render_file(
    file: &Path,
    defaults: &Bindings,
    overrides: &Bindings,
) -> Result<String, TemplateError> {
    let text = std::fs::read_to_string(file).map_err(|e| TemplateError::Read {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut b = defaults.clone();
    b.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    render(file, &text, &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(pairs: &[(&str, serde_json::Value)]) -> Bindings {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn fills_scalars() {
        let out = render(
            Path::new("t"),
            "a: {{ x }}\nb: {{y}}\nc: {{ z }}",
            &b(&[("x", json!("s")), ("y", json!(3)), ("z", json!(true))]),
        );
        assert_eq!(out.unwrap(), "a: s\nb: 3\nc: true");
    }

    #[test]
    fn errors_say_where() {
        let e = render(
            Path::new("t.yaml"),
            "a: 1\nb: {{ nope }}",
            &b(&[("x", json!(1))]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.yaml:2:4: no binding named `nope`; bindings are: x"
        );
        let e = render(Path::new("t.yaml"), "a: {{ x", &b(&[])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.yaml:1:4: `{{` is never closed"),
            "{e}"
        );
        let e = render(Path::new("t.yaml"), "a: {{ x }}", &b(&[("x", json!([1]))])).unwrap_err();
        assert!(
            e.to_string().contains("only strings, numbers and booleans"),
            "{e}"
        );
    }

    #[test]
    fn set_keeps_the_text_the_user_typed_where_typing_would_change_it() {
        let set = parse_set(&[
            "version=1.10".into(),
            "replicas=3".into(),
            "flag=true".into(),
            "ratio=0.5".into(),
            "big=1e3".into(),
            "octal=007".into(),
            "image=my/server:tag".into(),
            "empty=".into(),
            "list=[1, 2]".into(),
            "eq=a=b".into(),
        ])
        .expect("parses");
        assert_eq!(set["version"], json!("1.10"));
        assert_eq!(set["replicas"], json!(3));
        assert_eq!(set["flag"], json!(true));
        assert_eq!(set["ratio"], json!(0.5));
        assert_eq!(set["big"], json!("1e3"));
        assert_eq!(set["octal"], json!("007"));
        assert_eq!(set["image"], json!("my/server:tag"));
        assert_eq!(set["empty"], json!(""));
        assert_eq!(set["list"], json!([1, 2]));
        assert_eq!(set["eq"], json!("a=b"));
        let out = render(Path::new("t"), "v: \"{{ version }}\"", &set).expect("renders");
        assert_eq!(out, "v: \"1.10\"");
        assert_eq!(
            parse_set(&["version".into()]).unwrap_err().to_string(),
            "--set \"version\": expected NAME=VALUE, e.g. --set image=my/server:tag"
        );
        assert!(matches!(
            parse_set(&["=1".into()]),
            Err(SetError::EmptyName(_))
        ));
    }

    #[test]
    fn placeholders_are_found_with_their_place() {
        let found = placeholders("a: {{ x }}\n# {{ c }}\nb: \"{{y}}-{{ z }}\"");
        assert_eq!(
            found,
            vec![
                (1, 4, "x".to_string()),
                (3, 5, "y".to_string()),
                (3, 11, "z".to_string())
            ]
        );
    }

    #[test]
    fn mock_server_fixture_renders_with_its_defaults() {
        let root = crate::repo_root().join("fixtures").join("mock-server");
        let defaults = load_values(&root.join("values.yaml")).expect("values load");
        let out = render_file(&root.join("deployment.yaml"), &defaults, &Bindings::new())
            .expect("renders");
        // The result is valid YAML documents.
        for doc in out.split("\n---\n") {
            let _: serde_json::Value = yaml_serde::from_str(doc).expect("valid YAML");
        }
        insta::assert_snapshot!("mock_server_deployment", out);
    }

    #[test]
    fn vllm_fixture_renders_with_its_defaults() {
        let root = crate::repo_root().join("fixtures").join("vllm");
        let defaults = load_values(&root.join("values.yaml")).expect("values load");
        let out = render_file(&root.join("deployment.yaml"), &defaults, &Bindings::new())
            .expect("renders");
        let docs: Vec<serde_json::Value> = out
            .split("\n---\n")
            .map(|d| yaml_serde::from_str(d).expect("valid YAML"))
            .collect();
        let pod = &docs[0]["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["command"], serde_json::json!(["vllm", "serve"]));
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(c["startupProbe"]["httpGet"]["path"], "/v1/models");
        assert_eq!(pod["runtimeClassName"], "nvidia");
        assert_eq!(
            docs[1]["spec"]["selector"]["app.kubernetes.io/name"],
            "vllm"
        );
        insta::assert_snapshot!("vllm_deployment", out);
    }
}
