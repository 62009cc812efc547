//! `report.json`: the model itself, pretty-printed, versioned by
//! [`SCHEMA_VERSION`]; and the JSON Schema of that model.

use std::path::{Path, PathBuf};

use super::{REPORT_JSON, ReportError, RunReport, SCHEMA_VERSION, write_file};

/// The report as pretty JSON (with a final newline).
pub fn to_string(report: &RunReport) -> Result<String, ReportError> {
    let mut text = serde_json::to_string_pretty(report).map_err(ReportError::Serialize)?;
    text.push('\n');
    Ok(text)
}

/// Writes the report as pretty JSON to `path`.
pub fn write(path: &Path, report: &RunReport) -> Result<(), ReportError> {
    write_file(path, &to_string(report)?)
}

/// Reads a report from a `report.json` file, or from a report folder
/// holding one.
pub fn read(path: &Path) -> Result<RunReport, ReportError> {
    let file = report_file(path);
    let text = std::fs::read_to_string(&file).map_err(ReportError::io("reading", &file))?;
    from_str(&text, &file)
}

/// `path` itself, or `path/report.json` when `path` is a folder.
pub fn report_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(REPORT_JSON)
    } else {
        path.to_path_buf()
    }
}

/// Parses a report; `origin` names it in errors. The `schema` field is
/// checked before anything else, so a report of another version says so
/// instead of failing on the first field that changed.
pub fn from_str(text: &str, origin: &Path) -> Result<RunReport, ReportError> {
    let parse_error = |source| ReportError::Parse {
        path: origin.to_path_buf(),
        source,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(parse_error)?;
    let found = value.get("schema").and_then(serde_json::Value::as_str);
    if found != Some(SCHEMA_VERSION) {
        return Err(ReportError::SchemaMismatch {
            path: origin.to_path_buf(),
            found: found.unwrap_or("(none)").to_string(),
            expected: SCHEMA_VERSION,
        });
    }
    serde_json::from_value(value).map_err(parse_error)
}

/// The JSON Schema of `report.json` (draft 2020-12).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RunReport)).unwrap_or_default()
}
