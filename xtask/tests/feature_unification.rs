//! `cargo build -p xtask` must resolve every shared dependency with the
//! features `cargo test --workspace` gives it, or CI compiles the crates
//! above each differing one twice (see the feature-unification block in
//! xtask's Cargo.toml). Both sets come from `cargo tree`, offline, from the
//! lock file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Package (`name version`) to its enabled features, from `cargo tree`
/// output formatted as `{p} [{f}]`, one package per line.
fn features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(["--format", "{p} [{f}]"])
        .args(args)
        .current_dir(root)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((package, rest)) = line.split_once(" [") else {
            continue;
        };
        // `name v1.2.3 (proc-macro)` or `name v0.1.0 (/path)`: name and version.
        let key: Vec<&str> = package.split_whitespace().take(2).collect();
        let list = rest.split(']').next().unwrap_or_default();
        map.entry(key.join(" "))
            .or_default()
            .extend(list.split(',').filter(|f| !f.is_empty()).map(String::from));
    }
    map
}

#[test]
fn xtask_alone_builds_dependencies_with_the_test_builds_features() {
    let xtask = features(&["-p", "xtask", "--edges", "normal,build"]);
    let workspace = features(&["--workspace", "--edges", "normal,build,dev"]);
    assert!(
        xtask.len() > 100,
        "cargo tree listed {} packages for xtask",
        xtask.len()
    );
    let drift: Vec<String> = xtask
        .iter()
        .filter_map(|(package, ours)| {
            let theirs = workspace.get(package)?;
            let missing: Vec<&str> = theirs.difference(ours).map(String::as_str).collect();
            (!missing.is_empty()).then(|| format!("{package}: add features {missing:?}"))
        })
        .collect();
    assert!(
        drift.is_empty(),
        "`cargo build -p xtask` resolves these dependencies with fewer features than \
         `cargo test --workspace`, so CI would compile them and every crate above them twice; \
         name the features in xtask/Cargo.toml's feature-unification block:\n{}",
        drift.join("\n")
    );
}
