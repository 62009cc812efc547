//! Lint for negative twins: each twin names a step with a check and the
//! observation it expects (never error text), and every step with a check
//! has a twin or says why none can exist (`noTwin`).

use std::collections::BTreeSet;

use crate::model::{Action, ExpectFailure, Scenario, Step};
use crate::observed::{CHECKS, check_pattern};

/// Whether an operation can come out *not met* (and so be proved by a twin).
fn checks(a: &Action) -> bool {
    matches!(
        a,
        Action::Expect(_) | Action::Assert(_) | Action::Wait(_) | Action::Script(_)
    )
}

/// Whether a step holds a check a twin must prove can fail: `expect` or `assert`.
fn must_have_twin(step: &Step) -> bool {
    step.try_
        .iter()
        .any(|op| matches!(op.action, Action::Expect(_) | Action::Assert(_)))
}

/// The 1-based line of the `n`-th (0-based) line containing `needle`, and
/// the first line from there containing `then`.
fn nth_line_then(text: &str, needle: &str, n: usize, then: &str) -> Option<usize> {
    let start = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .nth(n)?
        .0;
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| l.contains(then))
        .map(|(i, _)| i + 1)
}

/// Twins' problems, and the lines they are on.
pub(crate) fn lint(text: &str, s: &Scenario) -> Vec<(Option<usize>, String)> {
    let mut out = Vec::new();
    let expectations: Vec<(String, &ExpectFailure)> = s.spec.expectations().collect();
    for (n, (at, x)) in expectations.iter().enumerate() {
        let line = |then: &str| nth_line_then(text, "expectFailure", n, then);
        if x.message_contains.is_some() {
            out.push((
                line("messageContains"),
                format!(
                    "{at}.messageContains is no longer read: a negative twin passes only when a check of step {:?} comes out not met with the observation the twin names, never on error text (which any error could contain). Write instead: `expectFailure: {{ step: {}, observed: {{ ... }} }}`, e.g. `observed: {{ failed: {{ gte: 1 }} }}`; the README lists what each check observes",
                    x.step, x.step
                ),
            ));
        }
        match &x.observed {
            None if x.message_contains.is_none() => out.push((
                line("expectFailure"),
                format!(
                    "{at} needs `observed:`, what the check of step {:?} must observe for the twin to pass, e.g. `observed: {{ failed: {{ gte: 1 }} }}`",
                    x.step
                ),
            )),
            None => {}
            Some(p) => {
                if let Err(why) = check_pattern(p) {
                    out.push((line("observed"), format!("{at}: {why}")));
                }
            }
        }
        if let Some(c) = &x.check
            && !CHECKS.contains(&c.as_str())
        {
            out.push((
                line("check"),
                format!("{at}.check {c:?}: expected one of {}", CHECKS.join(", ")),
            ));
        }
        if let Some(step) = s.spec.steps.iter().find(|st| st.name == x.step)
            && !step.try_.iter().any(|op| checks(&op.action))
        {
            out.push((
                line("expectFailure"),
                format!(
                    "{at}: step {:?} checks nothing (no expect, assert, wait or script), so no check of it can come out not met",
                    x.step
                ),
            ));
        }
    }
    let twinned: BTreeSet<&str> = expectations.iter().map(|(_, x)| x.step.as_str()).collect();
    for (i, step) in s.spec.steps.iter().enumerate() {
        let line = nth_line_then(text, &format!("name: {}", step.name), 0, "name:");
        match &step.no_twin {
            Some(why) if why.trim().is_empty() => out.push((
                line,
                format!(
                    "spec.steps[{i}] ({}): noTwin needs the reason no twin can exist",
                    step.name
                ),
            )),
            Some(_) if twinned.contains(step.name.as_str()) => out.push((
                line,
                format!(
                    "spec.steps[{i}] ({}): has a negative twin and says noTwin; drop noTwin",
                    step.name
                ),
            )),
            None if must_have_twin(step) && !twinned.contains(step.name.as_str()) => {
                out.push((
                    line,
                    format!(
                        "spec.steps[{i}] ({}): its checks have no negative twin; add a matrix entry with `expectFailure: {{ step: {}, observed: {{ ... }} }}` proving they can fail, or say why none can exist with `noTwin: \"...\"`",
                        step.name, step.name
                    ),
                ));
            }
            _ => {}
        }
    }
    out
}
