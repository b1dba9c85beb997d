//! The words of a decision every format shares: its outcome, its verb and its closing line.

use super::escape::line;
use crate::decision::PolicyOutcome;
use crate::promotion::judge::GateOutcome;
use crate::promotion::pipeline::Decided;
use crate::transition::{Transition, TransitionKind};

/// The outcome word: `allowed`, `denied`, `failed` or `no-op`.
pub fn outcome_word(decided: &Decided) -> &'static str {
    if decided.plan.no_op {
        return "no-op";
    }
    match decided.gate.outcome {
        GateOutcome::Allowed => "allowed",
        GateOutcome::Denied => "denied",
        GateOutcome::Failed => "failed",
    }
}

/// What a caller branches on: `allow` (also when there is nothing to do), `deny`, or `error`
/// when an enforce-mode policy failed to run.
pub fn decision_word(outcome: GateOutcome) -> &'static str {
    match outcome {
        GateOutcome::Allowed => "allow",
        GateOutcome::Denied => "deny",
        GateOutcome::Failed => "error",
    }
}

/// `promote`, or `rollback`.
pub fn verb(t: &Transition) -> &'static str {
    match t.kind {
        TransitionKind::Promote => "promote",
        TransitionKind::Rollback => "rollback",
    }
}

/// The closing line: what happened and why.
pub fn summary(decided: &Decided, committed: Option<&str>, dry_run: bool) -> String {
    let t = &decided.plan.transition;
    if decided.plan.no_op {
        return format!("no-op: {} already runs {} in {}", line(&t.application), line(&t.artifact.version), line(&t.to_env));
    }
    let names = |failed: bool| -> String {
        decided
            .gate
            .policies
            .iter()
            .filter(|run| run.blocks() && matches!(run.evaluation.outcome, PolicyOutcome::Failed { .. }) == failed)
            .map(|run| line(&run.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (decided.gate.outcome, committed, dry_run) {
        // The branch says where: the configured one, or an environment branch of its own.
        (GateOutcome::Allowed, Some(commit), _) => format!("allowed: committed {} on {}", &commit[..12.min(commit.len())], line(&decided.plan.branch)),
        (GateOutcome::Allowed, None, true) => "allowed: would commit (dry run: plan only)".to_string(),
        (GateOutcome::Allowed, None, false) => "allowed".to_string(),
        (GateOutcome::Denied, ..) => format!("denied by {}; nothing committed", names(false)),
        (GateOutcome::Failed, ..) => format!("failed closed: {} could not decide; nothing committed", names(true)),
    }
}

