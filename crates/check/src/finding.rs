//! Findings, severities and the report of one check.

use std::path::PathBuf;

use serde::Serialize;

use crate::input::Object;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One thing a rule found about one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable id, kebab-case.
    pub rule: &'static str,
    pub severity: Severity,
    /// `Kind/name`.
    pub object: String,
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
    pub fix: String,
}

impl Finding {
    /// A finding about `obj` at `line` (see [`Object::line_of`]).
    pub fn at(
        rule: &'static str,
        severity: Severity,
        obj: &Object,
        line: usize,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            rule,
            severity,
            object: obj.display(),
            file: obj.origin.file.clone(),
            line,
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// Findings in report order: by file, line, rule and object.
pub(crate) fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.rule, &a.object).cmp(&(&b.file, b.line, b.rule, &b.object))
    });
}

/// An object that was looked at, by name and place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub object: String,
    pub file: PathBuf,
    pub line: usize,
}

impl ObjectRef {
    pub fn of(obj: &Object) -> Self {
        Self {
            object: obj.display(),
            file: obj.origin.file.clone(),
            line: obj.origin.line,
        }
    }
}

/// The result of one check: what was checked, what serves, what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checked: Vec<ObjectRef>,
    pub serving: Vec<ObjectRef>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Adds another report's objects and findings (one chart rendered with
    /// several values files), keeping each finding once: the same rule on
    /// the same object at the same place is one thing to fix.
    /// Adds findings from outside the rules (`helm lint`'s), in report order.
    pub fn add(&mut self, found: Vec<Finding>) {
        for f in found {
            if !self.findings.contains(&f) {
                self.findings.push(f);
            }
        }
        sort(&mut self.findings);
    }

    pub fn merge(&mut self, other: Report) {
        for o in other.checked {
            if !self.checked.contains(&o) {
                self.checked.push(o);
            }
        }
        for o in other.serving {
            if !self.serving.contains(&o) {
                self.serving.push(o);
            }
        }
        for f in other.findings {
            if !self.findings.contains(&f) {
                self.findings.push(f);
            }
        }
        sort(&mut self.findings);
    }

    /// True when any finding is an error (the CLI then exits non-zero).
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }
}
