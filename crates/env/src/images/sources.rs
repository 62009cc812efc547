//! What an image's binary is built from, as one digest: a clean clone
//! gives every source file a new modification time, so cargo rebuilds the
//! package from scratch (minutes of optimised compiling on 2 cores) though
//! not a byte changed. Equal digests build the same binary, so the image
//! built from them last time is reused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The inputs of `cargo build --profile PROFILE -p PACKAGE --target TRIPLE`:
/// every file of the package and of the workspace crates it builds on
/// ([`path_dependencies`]), but their integration tests, which the binary
/// does not contain; the workspace's `Cargo.toml`, `Cargo.lock` and
/// `.cargo/config.toml`; the compiler's version; the target, profile and
/// flags.
#[derive(Debug, Clone)]
pub struct BuildInputs<'a> {
    pub workspace: &'a Path,
    pub package_dir: &'a Path,
    pub target: &'a str,
    pub profile: &'a str,
    /// `rustc -vV`: the compiler (and its LLVM) that builds the binary.
    pub rustc: &'a str,
    /// RUSTFLAGS and the like, as `NAME=value`.
    pub flags: Vec<String>,
}

impl BuildInputs<'_> {
    /// A hex SHA-256 over the inputs, file names included, in a fixed order.
    pub fn digest(&self) -> std::io::Result<String> {
        let mut h = Sha256::new();
        let mut field = |name: &str, bytes: &[u8]| {
            h.update(name.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field("target", self.target.as_bytes());
        field("profile", self.profile.as_bytes());
        field("rustc", self.rustc.as_bytes());
        for f in &self.flags {
            field("flag", f.as_bytes());
        }
        for name in ["Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
            let path = self.workspace.join(name);
            if path.is_file() {
                field(name, &std::fs::read(&path)?);
            }
        }
        for rel in package_files(self.package_dir)? {
            let bytes = std::fs::read(self.package_dir.join(&rel))?;
            field(&format!("package/{}", rel.to_string_lossy()), &bytes);
        }
        let workspace = std::fs::canonicalize(self.workspace)?;
        for dep in path_dependencies(self.workspace, self.package_dir)? {
            // Relative to the workspace, so that a clone elsewhere digests
            // the same.
            let name = dep.strip_prefix(&workspace).unwrap_or(&dep);
            for rel in package_files(&dep)? {
                let bytes = std::fs::read(dep.join(&rel))?;
                let key = format!("dep/{}/{}", name.display(), rel.to_string_lossy());
                field(&key, &bytes);
            }
        }
        Ok(format!("{:x}", h.finalize()))
    }
}

/// The folders of the workspace crates a package's binary builds on: the
/// `path` dependencies its `[dependencies]` and `[build-dependencies]` name
/// (inline, or `NAME.workspace = true` for a `[workspace.dependencies]`
/// entry with a `path`), and theirs, sorted. Dev-dependencies are left out.
pub fn path_dependencies(workspace: &Path, package_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let root = std::fs::read_to_string(workspace.join("Cargo.toml"))?;
    let shared: Vec<(String, PathBuf)> = section_entries(&root, |s| s == "workspace.dependencies")
        .into_iter()
        .filter_map(|(name, value)| Some((name, workspace.join(path_in(&value)?))))
        .collect();
    let mut found: Vec<PathBuf> = Vec::new();
    let mut todo = vec![package_dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
        let built_on = |s: &str| {
            let s = s.rsplit('.').next().unwrap_or(s);
            s == "dependencies" || s == "build-dependencies"
        };
        for (name, value) in section_entries(&manifest, built_on) {
            let dep = match path_in(&value) {
                Some(p) => Some(dir.join(p)),
                None if value.contains("workspace") => shared
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, p)| p.clone()),
                None => None,
            };
            let dep = dep.map(|d| std::fs::canonicalize(&d).unwrap_or(d));
            if let Some(dep) = dep.filter(|d| !found.contains(d)) {
                found.push(dep.clone());
                todo.push(dep);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `(name, value)` of each `name = value` or `name.workspace = true` line
/// in the sections `wanted` accepts (`[dependencies]`, ...).
fn section_entries(manifest: &str, wanted: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            inside = wanted(header.trim_end_matches(']').trim());
            continue;
        }
        if !inside || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let key = key.trim();
            let (name, value) = match key.strip_suffix(".workspace") {
                Some(name) => (name, "workspace".to_string()),
                None => (
                    key.split('.').next().unwrap_or(key),
                    value.trim().to_string(),
                ),
            };
            out.push((name.trim_matches('"').to_string(), value));
        }
    }
    out
}

/// The `path = "..."` of an inline dependency table.
fn path_in(value: &str) -> Option<&str> {
    let after = value.split("path").nth(1)?.trim_start().strip_prefix('=')?;
    after.trim_start().strip_prefix('"')?.split('"').next()
}

/// The package's files, relative and sorted: everything but `tests/`,
/// `target/` and hidden entries.
fn package_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let name = entry.file_name();
            let skipped = name.to_string_lossy().starts_with('.')
                || (rel.as_os_str().is_empty() && (name == "tests" || name == "target"));
            if skipped {
                continue;
            }
            let path = rel.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What the last build of an image left in the cache: the digest of its
/// inputs and the ID Docker gave the image. The image is reused only while
/// both still hold (a `docker rmi` or another build under the same tag
/// changes the ID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltStamp {
    pub sources: String,
    pub image_id: String,
}

impl BuiltStamp {
    /// The stamp at `path`, if there is a readable one.
    pub fn read(path: &Path) -> Option<BuiltStamp> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Writes the stamp through a temporary file, so a reader never sees
    /// half of it.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        std::fs::write(p.join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::write(p.join("Cargo.lock"), "# lock\n").unwrap();
        std::fs::create_dir_all(p.join("pkg/src/nested")).unwrap();
        std::fs::create_dir_all(p.join("pkg/tests")).unwrap();
        std::fs::write(p.join("pkg/Cargo.toml"), "[package]\n").unwrap();
        std::fs::write(p.join("pkg/src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(p.join("pkg/src/nested/a.rs"), "// a\n").unwrap();
        std::fs::write(p.join("pkg/tests/it.rs"), "// test\n").unwrap();
        dir
    }

    fn digest(root: &Path, rustc: &str) -> String {
        BuildInputs {
            workspace: root,
            package_dir: &root.join("pkg"),
            target: "x86_64-unknown-linux-musl",
            profile: "image",
            rustc,
            flags: vec![],
        }
        .digest()
        .expect("digest")
    }

    #[test]
    fn a_copy_elsewhere_with_new_times_has_the_same_digest() {
        let (a, b) = (package(), package());
        assert_eq!(digest(a.path(), "rustc 1"), digest(b.path(), "rustc 1"));
    }

    #[test]
    fn a_changed_source_lock_or_compiler_changes_the_digest() {
        let dir = package();
        let root = dir.path();
        let before = digest(root, "rustc 1");
        assert_ne!(before, digest(root, "rustc 2"), "compiler");
        std::fs::write(root.join("pkg/src/nested/a.rs"), "// b\n").unwrap();
        let source = digest(root, "rustc 1");
        assert_ne!(before, source, "a nested source file");
        std::fs::write(root.join("Cargo.lock"), "# other\n").unwrap();
        assert_ne!(source, digest(root, "rustc 1"), "Cargo.lock");
    }

    #[test]
    fn a_renamed_file_changes_the_digest_and_tests_do_not() {
        let dir = package();
        let root = dir.path();
        let before = digest(root, "rustc 1");
        std::fs::write(root.join("pkg/tests/it.rs"), "// other test\n").unwrap();
        assert_eq!(before, digest(root, "rustc 1"), "integration tests");
        std::fs::rename(root.join("pkg/src/nested/a.rs"), root.join("pkg/src/b.rs")).unwrap();
        assert_ne!(before, digest(root, "rustc 1"), "a moved file");
    }

    #[test]
    fn a_workspace_crate_the_binary_builds_on_is_part_of_its_sources() {
        let dir = package();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\n[workspace.dependencies]\nlib-a = { path = \"crates/a\" }\nlib-t = { path = \"crates/t\" }\nserde = \"1\"\n",
        )
        .unwrap();
        std::fs::write(
            root.join("pkg/Cargo.toml"),
            "[package]\n[dependencies]\nlib-a.workspace = true\nserde.workspace = true\n[dev-dependencies]\nlib-t = { workspace = true }\n",
        )
        .unwrap();
        for (name, manifest) in [
            (
                "a",
                "[package]\n[dependencies]\nlib-b = { path = \"../b\" }\n",
            ),
            ("b", "[package]\n"),
            ("t", "[package]\n"),
        ] {
            std::fs::create_dir_all(root.join(format!("crates/{name}/src"))).unwrap();
            std::fs::write(root.join(format!("crates/{name}/Cargo.toml")), manifest).unwrap();
            std::fs::write(root.join(format!("crates/{name}/src/lib.rs")), "// v1\n").unwrap();
        }
        let deps = path_dependencies(root, &root.join("pkg")).expect("deps");
        assert_eq!(
            deps,
            vec![
                std::fs::canonicalize(root.join("crates/a")).unwrap(),
                std::fs::canonicalize(root.join("crates/b")).unwrap()
            ],
            "lib-a and what it builds on; not the dev-dependency"
        );
        let before = digest(root, "rustc 1");
        std::fs::write(root.join("crates/t/src/lib.rs"), "// v2\n").unwrap();
        assert_eq!(before, digest(root, "rustc 1"), "a dev-dependency");
        std::fs::write(root.join("crates/b/src/lib.rs"), "// v2\n").unwrap();
        assert_ne!(before, digest(root, "rustc 1"), "a crate two steps down");
    }

    #[test]
    fn a_stamp_round_trips_and_a_broken_one_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.built");
        let stamp = BuiltStamp {
            sources: "abc".into(),
            image_id: "sha256:1".into(),
        };
        stamp.write(&path).unwrap();
        assert_eq!(BuiltStamp::read(&path), Some(stamp));
        std::fs::write(&path, "{").unwrap();
        assert_eq!(BuiltStamp::read(&path), None);
    }
}
