//! When each planned instance may start, so that a suite runs as many
//! scenarios at a time as it may and no two that must not meet.
//!
//! The shared instances (no `spec.exclusive`) run first, up to the
//! concurrency limit. The exclusive ones start once every shared one has
//! finished, each as soon as no running instance needs the same share of
//! the cluster (`[cpu]` beside `[gpus]`; `true` beside nothing; a
//! scenario's matrix entries beside each other, apart from those of a
//! scenario that needs the nodes). An instance waits only for the
//! instances it conflicts with, not for a whole group: a short `[gpus]`
//! scenario and then another run in the time a long `[cpu]` one takes.
//! Shared instances with an `expectedDuration` start longest first (a long
//! one started last would hold every exclusive one up); the order is
//! otherwise the plan's wherever a choice is left.

use std::path::Path;

use crate::model::Exclusive;
use crate::plan::Instance;

/// The start order of a suite's instances (indices into the plan).
#[derive(Debug)]
pub struct Schedule<'p> {
    needs: Vec<(&'p Path, &'p Exclusive)>,
    pending: Vec<usize>,
    running: Vec<usize>,
    slots: usize,
}

impl<'p> Schedule<'p> {
    /// At most `slots` instances at a time (at least one).
    pub fn new(insts: &[Instance<'p>], slots: usize) -> Schedule<'p> {
        let mut pending: Vec<usize> = (0..insts.len()).collect();
        // Stable: equal durations (most give none) keep the plan's order.
        pending.sort_by_key(|&i| std::cmp::Reverse(insts[i].expected_duration()));
        Schedule {
            needs: insts.iter().map(|i| (i.file, i.exclusive())).collect(),
            pending,
            running: Vec::new(),
            slots: slots.max(1),
        }
    }

    /// The instances that may start now, in plan order; each is counted
    /// as running until [`Schedule::finished`].
    pub fn start(&mut self) -> Vec<usize> {
        let mut started = Vec::new();
        let mut k = 0;
        while k < self.pending.len() && self.running.len() < self.slots {
            let i = self.pending[k];
            if self.may_start(i) {
                self.pending.remove(k);
                self.running.push(i);
                started.push(i);
            } else {
                k += 1;
            }
        }
        started
    }

    /// Instance `i` has ended (passed, failed or skipped).
    pub fn finished(&mut self, i: usize) {
        self.running.retain(|&r| r != i);
    }

    /// Nothing left to start or waiting to end.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.running.is_empty()
    }

    fn may_start(&self, i: usize) -> bool {
        let (file, needs) = self.needs[i];
        if !needs.any() {
            // Shared instances come first: no exclusive one runs yet.
            return self.running.iter().all(|&r| !self.needs[r].1.any());
        }
        let shared_left = self
            .pending
            .iter()
            .chain(&self.running)
            .any(|&o| !self.needs[o].1.any());
        if shared_left {
            return false;
        }
        self.running.iter().all(|&r| {
            let (other_file, other) = self.needs[r];
            if other_file == file {
                !needs.apart_from_siblings()
            } else {
                !other.conflicts_with(needs)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::Scenario;
    use crate::bindings::Bindings;
    use crate::plan::instances;

    fn plan(list: &[(&str, &str, &str)]) -> Vec<(PathBuf, Scenario)> {
        let text = |name: &str, exclusive: &str, entries: &str| {
            format!(
                "apiVersion: inferbench.dev/v1alpha1\nkind: Scenario\nmetadata: {{ name: {name} }}\nspec:\n  exclusive: {exclusive}\n{entries}  steps:\n    - name: x\n      try: [ {{ sleep: {{ duration: 1s }} }} ]\n"
            )
        };
        list.iter()
            .map(|(n, x, entries)| {
                let file = PathBuf::from(format!("{n}.yaml"));
                let s = crate::parse(&file, &text(n, x, entries)).expect("valid");
                (file, s)
            })
            .collect()
    }

    const TWO: &str = "  matrix:\n    - name: one\n    - name: two\n";

    #[test]
    fn exclusive_instances_start_after_the_shared_ones_as_their_shares_free_up() {
        let list = plan(&[
            ("a", "false", ""),
            ("b", "true", TWO),
            ("c", "false", TWO),
            ("d", "true", ""),
            ("e", "[cpu]", TWO),
            ("f", "[gpus]", ""),
            ("g", "[cpu, nodes]", ""),
            ("h", "[]", ""),
            ("i", "[nodes]", TWO),
        ]);
        let insts = instances(&list, &Bindings::new(), &Bindings::new()).expect("instances");
        let names: Vec<String> = insts.iter().map(Instance::name).collect();
        assert_eq!(
            names,
            [
                "a", "b[one]", "b[two]", "c[one]", "c[two]", "d", "e[one]", "e[two]", "f", "g",
                "h", "i[one]", "i[two]"
            ]
        );
        let mut s = Schedule::new(&insts, 16);
        // The shared ones (h's empty list is nothing exclusive).
        assert_eq!(s.start(), [0, 3, 4, 10]);
        for i in [0, 3, 4] {
            s.finished(i);
            assert_eq!(s.start(), [] as [usize; 0], "h still runs");
        }
        s.finished(10);
        // b needs the whole cluster; its entries run beside each other.
        assert_eq!(s.start(), [1, 2]);
        s.finished(1);
        assert_eq!(s.start(), [] as [usize; 0]);
        s.finished(2);
        assert_eq!(s.start(), [5]);
        s.finished(5);
        // e (CPU), f (GPUs) and i's first entry (nodes) need different
        // shares; g needs the CPU and the nodes; i's entries run apart.
        assert_eq!(s.start(), [6, 7, 8, 11]);
        s.finished(11);
        // i[one] is done: i[two] may have the nodes (g still waits for e).
        assert_eq!(s.start(), [12]);
        s.finished(6);
        s.finished(7);
        assert_eq!(s.start(), [] as [usize; 0], "g waits for i[two]'s nodes");
        s.finished(12);
        assert_eq!(s.start(), [9]);
        s.finished(8);
        s.finished(9);
        assert!(s.is_done());
    }

    #[test]
    fn a_short_exclusive_scenario_runs_beside_a_long_one_needing_another_share() {
        let list = plan(&[
            ("long", "[cpu]", ""),
            ("g1", "[gpus]", ""),
            ("g2", "[gpus]", ""),
        ]);
        let insts = instances(&list, &Bindings::new(), &Bindings::new()).expect("instances");
        let mut s = Schedule::new(&insts, 4);
        assert_eq!(s.start(), [0, 1]);
        s.finished(1);
        // g2 does not wait for the CPU scenario.
        assert_eq!(s.start(), [2]);
    }

    #[test]
    fn long_shared_scenarios_start_first() {
        let list = plan(&[
            ("a", "false", ""),
            ("b", "false", "  expectedDuration: 30s\n"),
            ("c", "false", "  expectedDuration: 2m\n"),
            ("d", "false", ""),
        ]);
        let insts = instances(&list, &Bindings::new(), &Bindings::new()).expect("instances");
        let mut s = Schedule::new(&insts, 2);
        assert_eq!(s.start(), [2, 1], "the longest first");
        s.finished(1);
        assert_eq!(s.start(), [0], "then the plan's order");
        s.finished(0);
        assert_eq!(s.start(), [3]);
    }

    #[test]
    fn the_concurrency_limit_holds_and_the_plan_order_is_kept() {
        let list = plan(&[("a", "false", TWO), ("b", "false", TWO)]);
        let insts = instances(&list, &Bindings::new(), &Bindings::new()).expect("instances");
        let mut s = Schedule::new(&insts, 1);
        let mut order: Vec<usize> = Vec::new();
        while !s.is_done() {
            let started = s.start();
            assert_eq!(started.len(), 1);
            order.extend(&started);
            s.finished(started[0]);
        }
        assert_eq!(order, [0, 1, 2, 3]);
        assert!(Schedule::new(&[], 2).start().is_empty());
    }
}
