//! `check-proposal` and `POST /v1/check`: the transitions a proposal contains, each with its
//! decision, and the verdict on the whole.

use std::fmt::Write as _;

use serde::Serialize;

use super::escape::line;
use super::{BasicFormat, JSON_SCHEMA_VERSION, OutputFormat, to_json};
use crate::promotion::judge::GateOutcome;
use crate::promotion::proposal::ProposedTransition;

#[derive(Serialize)]
struct ProposalDocument<'a> {
    schema_version: u32,
    /// `allow` when every transition passes, `error` when a policy failed to run, else `deny`.
    decision: &'static str,
    summary: String,
    transitions: Vec<TransitionEntry<'a>>,
}

#[derive(Serialize)]
struct TransitionEntry<'a> {
    commit: &'a str,
    application: &'a str,
    environment: &'a str,
    version: &'a str,
    requester_verified: bool,
    matches_promotion: bool,
    decision: &'static str,
    summary: String,
    /// The decision document `plan -o json` prints, when the change could be planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<serde_json::Value>,
}

/// `allow`, `deny` or `error` for one transition.
fn word(transition: &ProposedTransition) -> &'static str {
    match &transition.decided {
        Ok(decided) if decided.gate.outcome == GateOutcome::Failed => "error",
        Ok(_) if transition.passes() => "allow",
        _ => "deny",
    }
}

fn transition_summary(transition: &ProposedTransition) -> String {
    match &transition.decided {
        Err(failure) => format!("not a promotion tollgate would make: {}", failure.message),
        Ok(decided) if !transition.matches_promotion && decided.gate.outcome == GateOutcome::Allowed => {
            format!("allowed, but the commit's edit of {} is not what the promotion writes", decided.plan.file)
        }
        Ok(decided) => super::decision::summary(decided, None, true),
    }
}

/// The word for the whole: `error` when a policy failed to run, `deny` when any transition
/// does not pass, else `allow` (also when the proposal changes no configured version).
pub fn decision_word(transitions: &[ProposedTransition]) -> &'static str {
    let words: Vec<&str> = transitions.iter().map(word).collect();
    if words.contains(&"error") {
        "error"
    } else if words.contains(&"deny") {
        "deny"
    } else {
        "allow"
    }
}

fn summary(transitions: &[ProposedTransition]) -> String {
    let failing = transitions.iter().filter(|transition| !transition.passes()).count();
    match (transitions.len(), failing) {
        (0, _) => "changes no configured version: nothing to judge".to_string(),
        (count, 0) => format!("allowed: all {count} transition{} pass", if count == 1 { "" } else { "s" }),
        (count, failing) => format!("{failing} of {count} transition{} do not pass", if count == 1 { "" } else { "s" }),
    }
}

/// The report.
pub fn render(transitions: &[ProposedTransition], format: BasicFormat) -> String {
    match format {
        BasicFormat::Json => to_json(&ProposalDocument {
            schema_version: JSON_SCHEMA_VERSION,
            decision: decision_word(transitions),
            summary: summary(transitions),
            transitions: transitions
                .iter()
                .map(|transition| TransitionEntry {
                    commit: &transition.commit,
                    application: &transition.app,
                    environment: &transition.env,
                    version: &transition.version,
                    requester_verified: transition.requester_verified,
                    matches_promotion: transition.matches_promotion,
                    decision: word(transition),
                    summary: transition_summary(transition),
                    document: transition.decided.as_ref().ok().map(|decided| {
                        serde_json::from_str(&super::decision::render(decided, None, true, OutputFormat::Json)).expect("decision JSON")
                    }),
                })
                .collect(),
        }),
        BasicFormat::Text => {
            let mut out = String::new();
            for transition in transitions {
                let requester = if transition.requester_verified { "" } else { " (requester: the commit's author, unverified)" };
                let _ = writeln!(
                    out,
                    "{} {} {} to {}: {}{requester}",
                    &transition.commit[..12.min(transition.commit.len())],
                    line(&transition.app),
                    line(&transition.version),
                    line(&transition.env),
                    line(&transition_summary(transition))
                );
            }
            let _ = writeln!(out, "{}", summary(transitions));
            out
        }
    }
}
