//! Which binding names scenarios use, before any cluster exists: the
//! `--set` names nothing uses (a typo, most likely), and
//! `scenarios lint --profile P`, which renders every scenario instance
//! against a profile and reports each placeholder it leaves unfilled.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::bindings::{self, Bindings, TemplateError};
use crate::model::{Action, Operation, Scenario, Step};
use crate::plan;
use crate::profile::Profile;
use crate::render::render_action;
use crate::{Problem, limits};

/// A `--set` name that no scenario, template or profile uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownBinding {
    pub name: String,
    /// The closest known name, when one is close.
    pub suggestion: Option<String>,
    pub known: Vec<String>,
}

impl fmt::Display for UnknownBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--set {}: no scenario, template or profile uses a binding named `{}`",
            self.name, self.name
        )?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean `{s}`?")?;
        }
        write!(f, " Known bindings: {}", self.known.join(", "))
    }
}

/// The `--set` names in `set` that nothing uses.
pub fn unknown_set(set: &Bindings, known: &BTreeSet<String>) -> Vec<UnknownBinding> {
    set.keys()
        .filter(|k| !known.contains(*k))
        .map(|name| UnknownBinding {
            name: name.clone(),
            suggestion: closest(name, known),
            known: known.iter().cloned().collect(),
        })
        .collect()
}

/// Every binding name the scenarios, their templates and the profile
/// declare or use. `root` is where relative template paths are also looked
/// up (the repository).
pub fn known_names(
    scenarios: &[(PathBuf, Scenario)],
    profile: &Bindings,
    root: &Path,
) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = profile.keys().cloned().collect();
    let mut templates = BTreeSet::new();
    for (file, s) in scenarios {
        names.extend(s.spec.bindings.keys().cloned());
        for m in &s.spec.matrix {
            names.extend(m.values.keys().cloned());
        }
        if let Ok(text) = std::fs::read_to_string(file) {
            names.extend(bindings::placeholders(&text).into_iter().map(|p| p.2));
        }
        let mut b = profile.clone();
        b.extend(s.spec.bindings.clone());
        for op in s.spec.steps.iter().flat_map(operations) {
            let action = render_action(&op.action, &b).unwrap_or_else(|_| op.action.clone());
            if let Some((path, extra)) = template_of(&action) {
                names.extend(extra.keys().cloned());
                templates.insert(resolve(file, root, path));
            }
        }
    }
    for t in templates {
        if let Ok(text) = std::fs::read_to_string(&t) {
            names.extend(bindings::placeholders(&text).into_iter().map(|p| p.2));
        }
        if let Some(values) = values_beside(&t) {
            names.extend(values.into_keys());
        }
    }
    names
}

/// Renders every instance of `scenarios` against `profile` (and `set`),
/// without a cluster: each placeholder no binding fills (in the scenario or
/// in a template it applies), and each number that is out of range once
/// filled, with file and line.
pub fn lint_against_profile(
    scenarios: &[(PathBuf, Scenario)],
    profile: &Profile,
    set: &Bindings,
    root: &Path,
) -> Vec<Problem> {
    let pname = &profile.metadata.name;
    // (file, line, column, name) -> the instances that lack it.
    let mut missing: BTreeMap<(PathBuf, usize, usize, String), Vec<String>> = BTreeMap::new();
    let mut other: BTreeSet<(PathBuf, Option<usize>, String)> = BTreeSet::new();
    for one in scenarios.chunks(1) {
        let (file, s) = &one[0];
        let instances = match plan::instances(one, &profile.spec.bindings, set) {
            Ok(i) => i,
            Err(e) => {
                let (f, line, m) = template_problem(file, &e);
                other.insert((f, line, format!("under profile {pname}: {m}")));
                continue;
            }
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for inst in &instances {
            for (line, col, name) in bindings::placeholders(&text) {
                if !inst.bindings.contains_key(&name) {
                    missing
                        .entry((file.clone(), line, col, name))
                        .or_default()
                        .push(inst.name());
                }
            }
            for (step, op) in s
                .spec
                .steps
                .iter()
                .flat_map(|st| operations(st).map(move |op| (st, op)))
            {
                let Ok(action) = render_action(&op.action, &inst.bindings) else {
                    continue; // its placeholders are reported above
                };
                let step_line = crate::line_of(&text, &format!("name: {}", step.name));
                for (_, m) in limits::check(&action) {
                    other.insert((
                        file.clone(),
                        step_line,
                        format!(
                            "step {} under profile {pname} ({}): {m}",
                            step.name,
                            inst.name()
                        ),
                    ));
                }
                let Some((path, extra)) = template_of(&action) else {
                    continue;
                };
                let template = resolve(file, root, path);
                let mut b = values_beside(&template).unwrap_or_default();
                b.extend(inst.bindings.clone());
                b.extend(extra.clone());
                if let Err(e) = bindings::render_file(&template, &b, &Bindings::new()) {
                    let (f, line, m) = template_problem(&template, &e);
                    other.insert((
                        f,
                        line,
                        format!(
                            "{m} (applied by {}, step {}, under profile {pname} as {})",
                            file.display(),
                            step.name,
                            inst.name()
                        ),
                    ));
                }
            }
        }
    }
    let mut out: Vec<Problem> = missing
        .into_iter()
        .map(|((file, line, col, name), insts)| Problem {
            file,
            line: Some(line),
            column: Some(col),
            message: format!(
                "`{{{{ {name} }}}}`: profile {pname} binds no `{name}`, nor does the scenario (in {}); bind it in the profile, the scenario's bindings, or with --set {name}=VALUE",
                insts.join(", ")
            ),
        })
        .collect();
    out.extend(other.into_iter().map(|(file, line, message)| Problem {
        file,
        line,
        column: None,
        message,
    }));
    out
}

fn operations(st: &Step) -> impl Iterator<Item = &Operation> {
    st.try_.iter().chain(&st.catch).chain(&st.finally)
}

/// The template file an apply or assert reads, and the apply's own bindings.
fn template_of(a: &Action) -> Option<(&str, &Bindings)> {
    static NONE: std::sync::OnceLock<Bindings> = std::sync::OnceLock::new();
    match a {
        Action::Apply(x) => x.file.as_deref().map(|f| (f, &x.bindings)),
        Action::Assert(x) => x
            .file
            .as_deref()
            .map(|f| (f, NONE.get_or_init(Bindings::new))),
        _ => None,
    }
}

/// A path as the runner resolves it: beside the scenario, else under `root`.
fn resolve(scenario: &Path, root: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let beside = scenario.parent().unwrap_or(Path::new(".")).join(p);
    if beside.exists() {
        beside
    } else {
        root.join(p)
    }
}

/// The `values.yaml` beside a template, as the runner reads it.
fn values_beside(template: &Path) -> Option<Bindings> {
    let values = template.parent()?.join("values.yaml");
    (values.is_file() && values != template)
        .then(|| bindings::load_values(&values).ok())
        .flatten()
}

fn template_problem(default: &Path, e: &TemplateError) -> (PathBuf, Option<usize>, String) {
    match e {
        TemplateError::At {
            file,
            line,
            message,
            ..
        } => (file.clone(), Some(*line), message.clone()),
        other => (default.to_path_buf(), None, other.to_string()),
    }
}

/// The known name closest to `name` (edit distance at most a third of its
/// length, at least 2), if any.
fn closest(name: &str, known: &BTreeSet<String>) -> Option<String> {
    let limit = (name.chars().count() / 3).max(2);
    known
        .iter()
        .map(|k| (distance(&name.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
