//! A Helm chart rendered with `helm template`, each object pointed back at
//! the template it came from (Helm writes `# Source: <chart>/templates/...`
//! above every document).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::locate::Locator;
use super::process;
use crate::error::CheckError;
use crate::input::{Object, Renderer, split_documents};

/// A chart folder, the values files layered over its `values.yaml` (in
/// order, as `helm -f` takes them), and the release it is rendered as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmChart {
    pub dir: PathBuf,
    pub values: Vec<PathBuf>,
    pub release: String,
    pub namespace: String,
}

impl HelmChart {
    /// A chart rendered as release `inferbench` in namespace `default`
    /// (what `check` uses; a run renders into its scenario namespace).
    pub fn new(dir: impl Into<PathBuf>, values: Vec<PathBuf>) -> HelmChart {
        HelmChart {
            dir: dir.into(),
            values,
            release: "inferbench".into(),
            namespace: "default".into(),
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!("chart {}", self.dir.display());
        for v in &self.values {
            s.push_str(&format!(" -f {}", v.display()));
        }
        s
    }
}

/// chart-testing's convention: every `ci/*-values.yaml` of a chart is one
/// install to test, sorted by name. Empty when the chart has none.
pub fn values_files_of(chart: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(chart.join("ci"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n.ends_with("-values.yaml"))
        })
        .collect();
    out.sort();
    out
}

/// The chart has a `Chart.yaml` and every values file exists.
pub(super) fn validate(chart: &HelmChart) -> Result<(), CheckError> {
    if !chart.dir.join("Chart.yaml").is_file() {
        return Err(CheckError::NotAChart(chart.dir.clone()));
    }
    match chart.values.iter().find(|v| !v.is_file()) {
        Some(v) => Err(CheckError::ValuesNotFound(v.clone())),
        None => Ok(()),
    }
}

pub(super) fn render(chart: &HelmChart, helm: &Path) -> Result<Vec<Object>, CheckError> {
    validate(chart)?;
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("template"),
        OsStr::new(&chart.release),
        chart.dir.as_os_str(),
        OsStr::new("--namespace"),
        OsStr::new(&chart.namespace),
        // The chart's test hooks are not what it serves with.
        OsStr::new("--skip-tests"),
    ];
    for v in &chart.values {
        args.push(OsStr::new("--values"));
        args.push(v.as_os_str());
    }
    let out = process::run(helm, &args, &format!("rendering {}", chart.describe()))?;
    let objects = parse_rendered(&chart.dir, &out)?;
    if objects.is_empty() {
        return Err(CheckError::NoManifests(chart.dir.clone()));
    }
    Ok(objects)
}

/// `helm lint` of the chart with its values files: Helm's findings (it
/// exits non-zero on an `[ERROR]`, which is a finding here, not a failure).
pub(super) fn lint(chart: &HelmChart, helm: &Path) -> Result<Vec<crate::Finding>, CheckError> {
    validate(chart)?;
    let mut cmd = environment::tools::exec::Cmd::new(helm)
        .arg("lint")
        .arg(&chart.dir)
        .timeout(std::time::Duration::from_secs(120));
    for v in &chart.values {
        cmd = cmd.arg("--values").arg(v);
    }
    let out = cmd.run_unchecked().map_err(|e| CheckError::Tool {
        what: format!("linting {}", chart.describe()),
        command: cmd.display(),
        message: e.to_string(),
    })?;
    let name = chart
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let found = crate::rules::helm_lint::parse(&chart.dir, &name, &out.stdout);
    if !out.status.success() && found.is_empty() {
        return Err(CheckError::Tool {
            what: format!("linting {}", chart.describe()),
            command: cmd.display(),
            message: out.stderr.trim().to_string(),
        });
    }
    Ok(found)
}

/// Splits `helm template` output into objects, each with the template it
/// came from and the line of its `kind:` there (the n-th object of a kind
/// from one template is matched to that template's n-th `kind:` line).
pub(crate) fn parse_rendered(chart_dir: &Path, text: &str) -> Result<Vec<Object>, CheckError> {
    let mut objects = Vec::new();
    let mut locator = Locator::default();
    for (_, doc) in split_documents(text) {
        let source = doc
            .iter()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(|s| template_path(chart_dir, s.trim()));
        let body = doc.join("\n");
        let value: Value =
            yaml_serde::from_str(&body).map_err(|e| CheckError::RenderedInvalid {
                template: source.clone().unwrap_or_else(|| chart_dir.to_path_buf()),
                message: e.to_string(),
            })?;
        if value.is_null() {
            continue;
        }
        let template = source.unwrap_or_else(|| chart_dir.join("Chart.yaml"));
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() || !value.is_object() {
            return Err(CheckError::RenderedInvalid {
                template,
                message: "a rendered document is not a Kubernetes object (no `kind`)".into(),
            });
        }
        objects.push(locator.object(Renderer::Helm, template, value));
    }
    Ok(objects)
}

/// `llm/templates/deployment.yaml` -> `<chart_dir>/templates/deployment.yaml`
/// (the first component is the chart's name; subcharts keep `charts/<sub>/`).
fn template_path(chart_dir: &Path, source: &str) -> PathBuf {
    match source.split_once('/') {
        Some((_, rest)) => chart_dir.join(rest),
        None => chart_dir.join(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_point_at_their_template_and_kind_line() {
        let dir =
            std::env::temp_dir().join(format!("inferbench-helm-parse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
        std::fs::write(
            dir.join("templates/serving.yaml"),
            "{{- if .Values.enabled }}\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n{{- end }}\n",
        )
        .expect("write");
        let rendered = "---\n# Source: llm/templates/serving.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n# Source: llm/templates/serving.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n";
        let objects = parse_rendered(&dir, rendered).expect("parses");
        let at: Vec<(String, usize)> = objects
            .iter()
            .map(|o| (o.name().to_string(), o.origin.line))
            .collect();
        assert_eq!(at, [("a".to_string(), 3), ("b".to_string(), 8)]);
        assert_eq!(objects[1].origin.file, dir.join("templates/serving.yaml"));
        assert_eq!(objects[1].origin.renderer, Renderer::Helm);
        assert_eq!(objects[1].line_of(&["name: b"]), 10);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_document_that_is_not_an_object_names_its_template() {
        let err = parse_rendered(
            Path::new("/c"),
            "---\n# Source: llm/templates/x.yaml\n- 1\n- 2\n",
        )
        .expect_err("a list is not an object");
        assert!(err.to_string().contains("/c/templates/x.yaml"), "{err}");
    }

    #[test]
    fn ci_values_files_follow_chart_testing() {
        let dir = std::env::temp_dir().join(format!("inferbench-helm-ci-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ci")).expect("mkdir");
        for f in [
            "prod-values.yaml",
            "dev-values.yaml",
            "notes.md",
            "values.yaml",
        ] {
            std::fs::write(dir.join("ci").join(f), "").expect("write");
        }
        let names: Vec<String> = values_files_of(&dir)
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(String::from))
            .collect();
        assert_eq!(names, ["dev-values.yaml", "prod-values.yaml"]);
        assert!(values_files_of(&dir.join("nope")).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
