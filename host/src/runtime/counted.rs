//! `report-counted-approvals` (WIT 0.1.2): which of the transition's approvals a policy
//! counted. Plugin output, so checked before the host keeps it: only the transition's own
//! approvers, no more names over all calls than the transition has approvals, each kept once,
//! in the order of the transition's approvals.

use std::collections::HashSet;

/// What a plugin reported so far in one evaluation.
#[derive(Debug, Default)]
pub struct CountedApprovals {
    /// The transition's approvers, in its order (with repeats, as the approvals have them).
    approvers: Vec<String>,
    /// The same, for lookups.
    known: HashSet<String>,
    /// Names received over all calls.
    received: usize,
    /// The names reported, once each; `None` while the plugin has not reported.
    reported: Option<HashSet<String>>,
    /// The first thing wrong with a report.
    malformed: Option<String>,
}

impl CountedApprovals {
    /// Reports about a transition approved by `approvers`.
    pub fn for_approvers(approvers: Vec<String>) -> Self {
        let known = approvers.iter().cloned().collect();
        CountedApprovals { approvers, known, ..CountedApprovals::default() }
    }

    /// One `report-counted-approvals` call.
    pub fn report(&mut self, names: Vec<String>) {
        if self.malformed.is_some() {
            return;
        }
        self.received = self.received.saturating_add(names.len());
        if self.received > self.approvers.len() {
            self.malformed = Some(format!(
                "it reported {} counted approvals, more than the {} the transition has",
                self.received,
                self.approvers.len()
            ));
            return;
        }
        let reported = self.reported.get_or_insert_with(HashSet::new);
        for name in names {
            if !self.known.contains(&name) {
                // Quoted with escapes, and cut: plugin text.
                let name: String = name.chars().take(100).collect();
                self.malformed = Some(format!("it reported {name:?} as a counted approval, but no approval of this transition is by {name:?}"));
                return;
            }
            reported.insert(name);
        }
    }

    /// The counted approvers in the transition's order (`None`: never reported), or why the
    /// report is malformed output.
    pub fn finish(&mut self) -> Result<Option<Vec<String>>, String> {
        if let Some(problem) = self.malformed.take() {
            return Err(format!("returned malformed output: {problem}"));
        }
        let Some(reported) = self.reported.take() else { return Ok(None) };
        let mut seen = HashSet::new();
        Ok(Some(self.approvers.iter().filter(|name| reported.contains(*name) && seen.insert(*name)).cloned().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn reports_add_up_once_each_in_the_transitions_order() {
        let mut counted = CountedApprovals::for_approvers(names(&["bob", "alice", "carol", "bob"]));
        assert_eq!(counted.finish(), Ok(None), "never reported");
        counted.report(names(&["carol"]));
        counted.report(names(&["bob", "bob"]));
        assert_eq!(counted.finish(), Ok(Some(names(&["bob", "carol"]))));
        let mut none = CountedApprovals::for_approvers(names(&["bob"]));
        none.report(Vec::new());
        assert_eq!(none.finish(), Ok(Some(Vec::new())), "reported, none counted");
    }

    #[test]
    fn a_name_that_did_not_approve_or_too_many_names_are_malformed_output() {
        let mut counted = CountedApprovals::for_approvers(names(&["bob", "carol"]));
        counted.report(names(&["bob", "mallory\u{1b}[2J"]));
        let problem = counted.finish().unwrap_err();
        assert!(problem.starts_with("returned malformed output: it reported \"mallory\\u{1b}[2J\" as a counted approval"), "{problem}");
        let mut flood = CountedApprovals::for_approvers(names(&["bob", "carol"]));
        flood.report(names(&["bob", "carol"]));
        flood.report(names(&["bob"]));
        assert_eq!(flood.finish().unwrap_err(), "returned malformed output: it reported 3 counted approvals, more than the 2 the transition has");
        let mut unapproved = CountedApprovals::for_approvers(Vec::new());
        unapproved.report(names(&["bob"]));
        assert!(unapproved.finish().is_err());
    }
}
