//! `cargo xtask check`: static checks of a team's own manifests, no cluster.
//! Thin: read the objects, call `check::check`, print or write the rendering.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Plain Kubernetes manifests: a file, or a folder searched recursively for *.yaml/*.yml.
    #[arg(long, value_name = "PATH")]
    pub manifests: PathBuf,
    /// How to print the findings (sarif: SARIF 2.1.0 for GitHub code scanning).
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Write the findings here instead of stdout (a one-line summary still goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Sarif,
}

impl From<FormatArg> for check::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => check::Format::Text,
            FormatArg::Json => check::Format::Json,
            FormatArg::Sarif => check::Format::Sarif,
        }
    }
}

/// Where the objects come from. Helm charts and kustomize overlays will be
/// more variants whose renderers produce the same `check::Object`s.
enum Source {
    Manifests(PathBuf),
}

fn objects(source: &Source) -> anyhow::Result<Vec<check::Object>> {
    match source {
        Source::Manifests(path) => Ok(check::load_manifests(path)?),
    }
}

pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let objects = objects(&Source::Manifests(args.manifests.clone()))?;
    let report = check::check(&objects);
    let base = std::env::current_dir().unwrap_or_default();
    let rendered = check::render::render(&report, args.format.into(), &base)?;
    let summary = format!(
        "{} error(s), {} warning(s), {} info in {} object(s)",
        report.count(check::Severity::Error),
        report.count(check::Severity::Warning),
        report.count(check::Severity::Info),
        report.checked.len()
    );
    match &args.output {
        Some(file) => {
            std::fs::write(file, &rendered)
                .with_context(|| format!("writing {}", file.display()))?;
            eprintln!("{summary}; findings written to {}", file.display());
        }
        None => print!("{rendered}"),
    }
    if report.has_errors() {
        bail!(
            "check failed: {} error-severity finding(s) in {}",
            report.count(check::Severity::Error),
            args.manifests.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(path: &str, format: FormatArg, output: Option<PathBuf>) -> CheckArgs {
        CheckArgs {
            manifests: environment::workspace::repo_root().join(path),
            format,
            output,
        }
    }

    #[test]
    fn the_plain_example_passes_and_the_broken_one_fails() {
        run(&args("examples/plain", FormatArg::Text, None)).expect("examples/plain passes");
        let err = run(&args("examples/plain-broken", FormatArg::Text, None))
            .expect_err("examples/plain-broken fails");
        assert!(err.to_string().contains("3 error-severity"), "{err}");
    }

    #[test]
    fn sarif_goes_to_the_output_file() {
        let out =
            std::env::temp_dir().join(format!("inferbench-check-{}.sarif", std::process::id()));
        let _ = run(&args(
            "examples/plain-broken",
            FormatArg::Sarif,
            Some(out.clone()),
        ));
        let text = std::fs::read_to_string(&out).expect("written");
        let _ = std::fs::remove_file(&out);
        let sarif: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(sarif["version"], "2.1.0");
        let ids: Vec<_> = sarif["runs"][0]["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|r| r["ruleId"].as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "rolling-update-keeps-capacity",
                "gpu-taint-toleration",
                "readiness-gated-on-model-load"
            ]
        );
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let err = run(&args("no/such/folder", FormatArg::Text, None)).expect_err("missing");
        assert!(err.to_string().contains("no such file or folder"), "{err}");
        let bad =
            std::env::temp_dir().join(format!("inferbench-check-bad-{}.yaml", std::process::id()));
        std::fs::write(&bad, "kind: Service\nmetadata:\n  name: [a\n").expect("temp file");
        let err = run(&CheckArgs {
            manifests: bad.clone(),
            format: FormatArg::Text,
            output: None,
        })
        .expect_err("bad YAML");
        let _ = std::fs::remove_file(&bad);
        assert!(err.to_string().contains(".yaml:"), "{err}");
        assert!(err.to_string().contains("not valid YAML"), "{err}");
    }
}
