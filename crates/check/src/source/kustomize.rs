//! A kustomization rendered with `kubectl kustomize` (kustomize is built
//! into kubectl), each object pointed back at the resource file it came
//! from.
//!
//! The team's folder is built through a one-line wrapper kustomization in
//! a temporary folder that adds `buildMetadata: [originAnnotations]`, so
//! kustomize records each object's source in `config.kubernetes.io/origin`
//! without the team's files being touched; the annotation is removed again
//! before any rule sees the object.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::locate::Locator;
use super::process;
use crate::error::CheckError;
use crate::input::{Object, Renderer, parse_documents};

const ORIGIN: &str = "config.kubernetes.io/origin";
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The folder's kustomization file.
pub(super) fn kustomization_file(dir: &Path) -> Result<PathBuf, CheckError> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|f| f.is_file())
        .ok_or_else(|| CheckError::NotAKustomization(dir.to_path_buf()))
}

pub(super) fn render(dir: &Path, kubectl: &Path) -> Result<Vec<Object>, CheckError> {
    let file = kustomization_file(dir)?;
    let abs = std::path::absolute(dir).map_err(|source| CheckError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let wrapper = Wrapper::new(&abs)?;
    let out = process::run(
        kubectl,
        &[OsStr::new("kustomize"), wrapper.dir.as_os_str()],
        &format!("rendering kustomization {}", dir.display()),
    )?;
    // Documents of the rendered stream; their lines mean nothing to a
    // person, so each object is re-pointed at its source file below.
    let rendered = parse_documents(&file, &out)?;
    if rendered.is_empty() {
        return Err(CheckError::NoManifests(dir.to_path_buf()));
    }
    let mut locator = Locator::default();
    let mut objects = Vec::new();
    for o in rendered {
        let mut value = o.value;
        let source = take_origin(&mut value)
            .map(|p| normalize(&wrapper.dir.join(p)))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| file.clone());
        objects.push(locator.object(Renderer::Kustomize, source, value));
    }
    Ok(objects)
}

/// Removes kustomize's origin annotation and returns its `path` (a
/// resource file), or `configuredIn` (the kustomization whose generator
/// made the object).
fn take_origin(value: &mut Value) -> Option<String> {
    let annotations = value
        .pointer_mut("/metadata/annotations")?
        .as_object_mut()?;
    let origin = annotations.remove(ORIGIN)?;
    let empty = annotations.is_empty();
    if empty
        && let Some(meta) = value
            .pointer_mut("/metadata")
            .and_then(Value::as_object_mut)
    {
        meta.remove("annotations");
    }
    let text = origin.as_str()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|p| p.trim().trim_matches(['"', '\'']).to_string())
    };
    field("path:").or_else(|| field("configuredIn:"))
}

/// `a/b/../c` -> `a/c`, without touching the disk.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `to` as a path relative to `from` (both absolute): `../../work/x`.
fn relative_to(from: &Path, to: &Path) -> PathBuf {
    let (from, to) = (normalize(from), normalize(to));
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

/// The temporary wrapper kustomization, removed when dropped.
struct Wrapper {
    dir: PathBuf,
}

impl Wrapper {
    fn new(target: &Path) -> Result<Wrapper, CheckError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "inferbench-kustomize-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            // kustomize refuses an absolute root: name the folder from here.
            let target = serde_json::to_string(&relative_to(&dir, target).to_string_lossy())
                .unwrap_or_default();
            std::fs::write(
                dir.join("kustomization.yaml"),
                format!(
                    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {target}\nbuildMetadata: [originAnnotations]\n"
                ),
            )
        };
        write().map_err(|source| CheckError::Read {
            path: dir.clone(),
            source,
        })?;
        Ok(Wrapper { dir })
    }
}

impl Drop for Wrapper {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_annotation_is_read_and_removed() {
        let mut v: Value = serde_json::json!({
            "kind": "Service",
            "metadata": {"name": "a", "annotations": {ORIGIN: "path: ../base/service.yaml\n"}}
        });
        assert_eq!(take_origin(&mut v).as_deref(), Some("../base/service.yaml"));
        assert_eq!(v["metadata"], serde_json::json!({"name": "a"}));
        let mut kept: Value = serde_json::json!({
            "metadata": {"annotations": {ORIGIN: "path: x.yaml", "team": "llm"}}
        });
        assert_eq!(take_origin(&mut kept).as_deref(), Some("x.yaml"));
        let mut generated: Value = serde_json::json!({
            "metadata": {"annotations": {ORIGIN: "configuredIn: ../base/kustomization.yaml\nconfiguredBy:\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"}}
        });
        assert_eq!(
            take_origin(&mut generated).as_deref(),
            Some("../base/kustomization.yaml")
        );
        assert_eq!(
            kept["metadata"]["annotations"],
            serde_json::json!({"team": "llm"})
        );
    }

    #[test]
    fn the_target_is_named_relative_to_the_wrapper() {
        assert_eq!(
            relative_to(
                Path::new("/tmp/w-1"),
                Path::new("/work/main/overlays/staging")
            ),
            PathBuf::from("../../work/main/overlays/staging")
        );
        assert_eq!(
            relative_to(Path::new("/work/tmp"), Path::new("/work/main")),
            PathBuf::from("../main")
        );
    }

    #[test]
    fn paths_are_normalized_lexically() {
        assert_eq!(
            normalize(Path::new("/tmp/w/../../work/base/./d.yaml")),
            PathBuf::from("/work/base/d.yaml")
        );
    }
}
