//! `cargo xtask scenarios lint`: parse and check scenario files, and with
//! `--profile`, render every scenario instance against serving profiles and
//! report each binding they lack, all before any cluster exists.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use scenario::profile;

/// Parse and check scenario files (default: scenarios/); nothing runs.
#[derive(Debug, Clone, Args)]
pub struct LintArgs {
    /// Files or folders of *.yaml scenarios.
    pub paths: Vec<PathBuf>,
    /// Also render every scenario against this serving profile (a built-in
    /// name or a profile file) and report the bindings it lacks, with the
    /// file and line of each placeholder (repeatable; `all` for every built-in).
    #[arg(long)]
    pub profile: Vec<String>,
    /// Override a binding, as `run` and `e2e` do (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

pub fn run(args: &LintArgs) -> anyhow::Result<()> {
    let root = environment::workspace::repo_root();
    let paths = if args.paths.is_empty() {
        vec![root.join("scenarios")]
    } else {
        args.paths.clone()
    };
    let loaded = scenario::load_all(&paths)?;
    for (file, s) in &loaded {
        println!(
            "ok  {}  {} ({} steps)",
            file.display(),
            s.metadata.name,
            s.spec.steps.len()
        );
    }
    println!("{} scenario file(s) valid", loaded.len());
    let set = scenario::bindings::parse_set(&args.set)?;
    let names: Vec<String> = if args.profile.iter().any(|p| p == "all") {
        profile::builtin_names()
    } else {
        args.profile.clone()
    };
    let mut problems = Vec::new();
    for name in &names {
        let p = profile::load(name)?;
        if p.spec.template.is_some() {
            bail!(
                "profile {name}: it names a team's own template (`spec.template`), which `cargo xtask check --profile {name}` checks; scenarios are linted against profiles that bind `servingTemplate`"
            );
        }
        let known = scenario::usage::known_names(&loaded, &p.spec.bindings, &root);
        for u in scenario::usage::unknown_set(&set, &known) {
            eprintln!("warning: {u}");
        }
        let found = scenario::usage::lint_against_profile(&loaded, &p, &set, &root);
        if found.is_empty() {
            println!("ok  profile {}: every scenario renders", p.metadata.name);
        }
        problems.extend(found.iter().map(ToString::to_string));
    }
    if !problems.is_empty() {
        bail!(
            "{}\n{} problem(s) rendering the scenarios against profile(s) {}",
            problems.join("\n"),
            problems.len(),
            names.join(", ")
        );
    }
    Ok(())
}
