//! `plan` and `promote` of several transitions (targets, globs, release trains) in every
//! format: each transition's report as for one, then what had nothing to do, then the
//! verdict on the whole (all or nothing).

use std::fmt::Write as _;

use serde::Serialize;

use super::escape::line;
use super::{JSON_SCHEMA_VERSION, OutputFormat, to_json};
use crate::promotion::pipeline::Batch;
use crate::promotion::request::Skipped;
use crate::promotion::publish::Pushed;
use crate::promotion::judge::GateOutcome;

#[derive(Serialize)]
struct BatchDocument<'a> {
    schema_version: u32,
    /// `allow`, `deny` or `error`, for the whole (all or nothing).
    decision: &'static str,
    /// `allowed`, `denied`, `failed`, or `no-op` when nothing had anything to do.
    outcome: &'static str,
    /// The closing line of the text report.
    summary: String,
    committed: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pushed: Option<&'a Pushed>,
    /// Each transition's decision document, as `plan -o json` prints for one.
    transitions: Vec<super::decision::DecisionDocument<'a>>,
    nothing_to_do: &'a [Skipped],
}

/// The outcome word of the whole: `allowed`, `denied`, `failed`, or `no-op`.
pub fn outcome_word(batch: &Batch) -> &'static str {
    if batch.decided.is_empty() {
        return "no-op";
    }
    match batch.outcome() {
        GateOutcome::Allowed => "allowed",
        GateOutcome::Denied => "denied",
        GateOutcome::Failed => "failed",
    }
}

/// The closing line: what happened to the whole and why.
pub fn summary(batch: &Batch, dry_run: bool) -> String {
    let count = batch.decided.len();
    let blocked = |outcome: GateOutcome| -> String {
        batch
            .decided
            .iter()
            .filter(|decided| decided.gate.outcome == outcome)
            .map(|decided| format!("{} to {}", line(&decided.plan.transition.application), line(&decided.plan.transition.to_env)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if count == 0 {
        return "nothing to do: every selected application is current".to_string();
    }
    match (batch.outcome(), &batch.commit, dry_run) {
        (GateOutcome::Allowed, Some(commit), _) => {
            let branch = batch.decided.first().map(|decided| line(&decided.plan.branch)).unwrap_or_default();
            format!("allowed: {count} transition{} committed together in {} on {branch}", plural(count), &commit[..12.min(commit.len())])
        }
        (GateOutcome::Allowed, None, true) => format!("allowed: all {count} transition{} would commit together (dry run: plan only)", plural(count)),
        (GateOutcome::Allowed, None, false) => "allowed".to_string(),
        (GateOutcome::Denied, ..) => {
            format!("denied: {} (all or nothing: nothing committed, none of the {count} transitions)", blocked(GateOutcome::Denied))
        }
        (GateOutcome::Failed, ..) => format!(
            "failed closed: a policy could not decide {} (all or nothing: nothing committed, none of the {count} transitions)",
            blocked(GateOutcome::Failed)
        ),
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Render a call of several transitions.
pub fn render(batch: &Batch, dry_run: bool, format: OutputFormat) -> String {
    let committed = batch.commit.as_deref();
    match format {
        OutputFormat::Json => to_json(&BatchDocument {
            schema_version: JSON_SCHEMA_VERSION,
            decision: super::decision::decision_word(batch.outcome()),
            outcome: outcome_word(batch),
            summary: summary(batch, dry_run),
            committed,
            pushed: batch.pushed.as_ref(),
            transitions: batch.decided.iter().map(|decided| super::decision::document(decided, committed, None, dry_run)).collect(),
            nothing_to_do: &batch.skipped,
        }),
        OutputFormat::Junit => super::junit::decisions(&batch.decided),
        OutputFormat::Sarif => to_json(&super::sarif::log(&batch.decided.iter().collect::<Vec<_>>())),
        OutputFormat::Github => {
            let mut out = String::new();
            for decided in &batch.decided {
                out.push_str(&super::github::decision(decided, None, dry_run));
            }
            for skipped in &batch.skipped {
                let _ = writeln!(out, "{}", super::github::escape_message(&format!("{} to {}: {}", skipped.app, skipped.env, skipped.reason)));
            }
            let _ = writeln!(out, "{}", super::github::escape_message(&summary(batch, dry_run)));
            out
        }
        OutputFormat::Text => {
            let mut out = String::new();
            for decided in &batch.decided {
                out.push_str(&super::decision::render(decided, None, dry_run, OutputFormat::Text));
                out.push('\n');
            }
            if !batch.skipped.is_empty() {
                let _ = writeln!(out, "nothing to do:");
                for skipped in &batch.skipped {
                    let _ = writeln!(out, "  {} to {}: {}", line(&skipped.app), line(&skipped.env), line(&skipped.reason));
                }
            }
            let summary = summary(batch, dry_run);
            let blocks = !batch.decided.is_empty() && batch.outcome() != GateOutcome::Allowed;
            let _ = writeln!(out, "{}", super::paint_verdict(&summary, blocks, ""));
            if let Some(pushed) = &batch.pushed {
                let _ = writeln!(out, "pushed to {} ({} at {})", pushed.remote, pushed.branch, &pushed.commit[..12.min(pushed.commit.len())]);
            }
            out
        }
    }
}

/// The report of a call: one decision's when it named one application and one target
/// (`single`), else the whole batch's.
pub fn render_call(batch: &Batch, single: bool, dry_run: bool, format: OutputFormat) -> String {
    match batch.single().filter(|_| single) {
        Some(decided) => super::decision::render_pushed(decided, batch.commit.as_deref(), batch.pushed.as_ref(), dry_run, format),
        None => render(batch, dry_run, format),
    }
}

/// The `--decision-log` lines of a call: one per transition decided (the one decision of a
/// `single` call even when it has nothing to do).
pub fn log_lines(batch: &Batch, single: bool, dry_run: bool) -> String {
    let committed = batch.commit.as_deref();
    match batch.single().filter(|_| single) {
        Some(decided) => super::decision::log_line(decided, committed, dry_run),
        None => batch.decided.iter().map(|decided| super::decision::log_line(decided, committed, dry_run)).collect(),
    }
}

/// The Markdown step summary of a call of several transitions: each transition's, then the verdict.
pub fn summary_markdown(batch: &Batch, dry_run: bool) -> String {
    let mut out = String::new();
    for decided in &batch.decided {
        out.push_str(&super::github::summary_markdown(decided, None));
    }
    for skipped in &batch.skipped {
        let _ = writeln!(out, "- {} to {}: {}", super::escape::markdown(&skipped.app), super::escape::markdown(&skipped.env), super::escape::markdown(&skipped.reason));
    }
    let _ = writeln!(out, "\n**{}**\n", super::escape::markdown(&summary(batch, dry_run)));
    out
}
