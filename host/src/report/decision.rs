//! `plan`, `promote` and `rollback` reports in every format.

use std::fmt::Write as _;

use serde::Serialize;

use super::escape::line;
use super::{JSON_SCHEMA_VERSION, OutputFormat, to_json};
use crate::decision::PolicyOutcome;
use crate::promotion::pipeline::Decided;
use crate::promotion::publish::Pushed;
use crate::promotion::judge::{GateOutcome, PolicyRun};
pub use super::words::{decision_word, outcome_word, summary, verb};
use crate::promotion::planned::unified_diff;
use crate::transition::{Transition, TransitionKind};

/// The JSON document of one decision (`plan -o json`; each transition of a call of several).
#[derive(Serialize)]
pub(super) struct DecisionDocument<'a> {
    schema_version: u32,
    /// `allow`, `deny` or `error` (a policy failed to run): what a caller branches on.
    decision: &'static str,
    /// The transition's decision id (also the record's name).
    decision_id: &'a str,
    outcome: &'a str,
    /// The closing line of the text report.
    summary: String,
    no_op: bool,
    committed: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pushed: Option<&'a Pushed>,
    transition: &'a Transition,
    /// Which upstream a promotion takes its artifact from, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    policies: &'a [PolicyRun],
    file: &'a str,
    diff: String,
}

/// The JSON document of `decided`.
pub(super) fn document<'a>(decided: &'a Decided, committed: Option<&'a str>, pushed: Option<&'a Pushed>, dry_run: bool) -> DecisionDocument<'a> {
    let plan = &decided.plan;
    let t = &plan.transition;
    DecisionDocument {
        schema_version: JSON_SCHEMA_VERSION,
        decision: decision_word(decided.gate.outcome),
        decision_id: &t.id,
        outcome: outcome_word(decided),
        summary: summary(decided, committed, dry_run),
        no_op: plan.no_op,
        committed,
        pushed,
        transition: t,
        source: plan.source_reason.as_deref(),
        policies: &decided.gate.policies,
        file: &plan.file,
        diff: unified_diff(plan),
    }
}

/// Render a decision; `committed` is the new commit when one was made, `dry_run` says
/// the command only plans.
pub fn render(decided: &Decided, committed: Option<&str>, dry_run: bool, format: OutputFormat) -> String {
    render_pushed(decided, committed, None, dry_run, format)
}

/// [`render`] for a promotion that may have been published with `--push`: the text report
/// ends with `pushed to REMOTE`, the JSON document names the remote, branch and commit.
pub fn render_pushed(decided: &Decided, committed: Option<&str>, pushed: Option<&Pushed>, dry_run: bool, format: OutputFormat) -> String {
    let plan = &decided.plan;
    let t = &plan.transition;
    match format {
        OutputFormat::Junit => super::junit::decision(decided),
        OutputFormat::Github => super::github::decision(decided, committed, dry_run),
        OutputFormat::Sarif => to_json(&super::sarif::log(&[decided])),
        OutputFormat::Json => to_json(&document(decided, committed, pushed, dry_run)),
        OutputFormat::Text => {
            let mut out = String::new();
            let (app, version, to_env) = (line(&t.application), line(&t.artifact.version), line(&t.to_env));
            let what = match (t.kind, &t.from_env) {
                (TransitionKind::Rollback, _) => format!("rollback {app} in {to_env} to {version}"),
                (TransitionKind::Promote, Some(from)) => format!("promote {app} {version} from {} to {to_env}", line(from)),
                (TransitionKind::Promote, None) => format!("promote {app} {version} to {to_env}"),
            };
            let _ = writeln!(out, "{what} (decision {})", line(&t.id));
            if let Some(reason) = &plan.source_reason {
                let _ = writeln!(out, "  source: {}", line(reason));
            }
            if plan.no_op {
                let _ = writeln!(out, "{app} already runs {version} in {to_env}; nothing to do");
                return out;
            }
            if let Some(previous) = &t.previous_artifact {
                let _ = writeln!(out, "  {to_env} now runs {}", line(&previous.version));
            }
            for artifact in &t.artifacts {
                let was = artifact.previous_version.as_deref().map(|version| format!(" (was {})", line(version))).unwrap_or_default();
                match artifact.kind.is_image() {
                    true => writeln!(out, "  artifact {} {}:{}{was}", line(&artifact.name), line(&artifact.image), line(&artifact.version)),
                    false => writeln!(out, "  artifact {} {} {} {}{was}", line(&artifact.name), artifact.kind.word(), line(&artifact.image), line(&artifact.version)),
                }
                .ok();
            }
            let label = |run: &PolicyRun| format!("{}@{}", line(&run.name), line(&run.version));
            let width = decided.gate.policies.iter().map(|run| label(run).len()).max().unwrap_or(0);
            for run in &decided.gate.policies {
                let label = label(run);
                let verdict = super::paint_verdict(&format!("{:<13}", run.verdict_label()), run.blocks(), &run.verdict_label());
                let _ = writeln!(out, "  {verdict} {label:<width$} ({:.0} ms)", run.evaluation.elapsed.as_secs_f64() * 1000.0);
                if let Some(counted) = &run.evaluation.counted_approvals {
                    let counted = if counted.is_empty() { "none".to_string() } else { counted.join(", ") };
                    let _ = writeln!(out, "      counted approvals: {}", line(&counted));
                }
                match &run.evaluation.outcome {
                    PolicyOutcome::Failed { cause } => _ = writeln!(out, "      failed: {}", line(cause)),
                    PolicyOutcome::Verdict(verdict) => {
                        for finding in &verdict.findings {
                            match &finding.path {
                                Some(path) => _ = writeln!(out, "      {}: {}", line(path), line(&finding.message)),
                                None => _ = writeln!(out, "      {}", line(&finding.message)),
                            }
                        }
                    }
                }
            }
            if decided.gate.policies.is_empty() {
                let _ = writeln!(out, "  (no policies apply to {to_env})");
            }
            let diff = unified_diff(plan);
            if !diff.is_empty() {
                let _ = writeln!(out);
                // Line by line: the repository's content may carry carriage returns or
                // terminal escapes of its own.
                for diff_line in diff.lines() {
                    let _ = writeln!(out, "{}", line(diff_line));
                }
                let _ = writeln!(out);
            }
            let summary = summary(decided, committed, dry_run);
            let _ = writeln!(out, "{}", super::paint_verdict(&summary, decided.gate.outcome != GateOutcome::Allowed, ""));
            if let Some(pushed) = pushed {
                let _ = writeln!(out, "pushed to {} ({} at {})", pushed.remote, pushed.branch, &pushed.commit[..12.min(pushed.commit.len())]);
            }
            out
        }
    }
}

#[derive(Serialize)]
struct LogPolicy<'a> {
    name: &'a str,
    version: &'a str,
    sha256: &'a str,
    mode: crate::config::Mode,
    verdict: String,
    findings: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'a str>,
}

#[derive(Serialize)]
struct LogLine<'a> {
    schema_version: u32,
    time: String,
    decision: &'a str,
    kind: &'static str,
    dry_run: bool,
    application: &'a str,
    from_env: Option<&'a str>,
    to_env: &'a str,
    version: &'a str,
    digest: Option<&'a str>,
    requested_by: &'a str,
    requested_at: i64,
    approvals: Vec<&'a str>,
    outcome: &'static str,
    committed: Option<&'a str>,
    base_commit: String,
    policies: Vec<LogPolicy<'a>>,
}

/// One JSON line for `--decision-log` (like OPA's decision logs), newline included.
pub fn log_line(decided: &Decided, committed: Option<&str>, dry_run: bool) -> String {
    let t = &decided.plan.transition;
    let line = LogLine {
        schema_version: JSON_SCHEMA_VERSION,
        time: jiff::Timestamp::now().to_string(),
        decision: &t.id,
        kind: verb(t),
        dry_run,
        application: &t.application,
        from_env: t.from_env.as_deref(),
        to_env: &t.to_env,
        version: &t.artifact.version,
        digest: t.artifact.digest.as_deref(),
        requested_by: &t.requested_by,
        requested_at: t.requested_at,
        approvals: t.approvals.iter().map(|approval| approval.approver.as_str()).collect(),
        outcome: outcome_word(decided),
        committed,
        base_commit: decided.plan.base.commit.to_string(),
        policies: decided
            .gate
            .policies
            .iter()
            .map(|run| LogPolicy {
                name: &run.name,
                version: &run.version,
                sha256: &run.sha256,
                mode: run.mode,
                verdict: run.verdict_label(),
                findings: run.evaluation.outcome.findings().iter().map(|finding| finding.message.as_str()).collect(),
                cause: match &run.evaluation.outcome {
                    PolicyOutcome::Failed { cause } => Some(cause),
                    PolicyOutcome::Verdict(_) => None,
                },
            })
            .collect(),
    };
    let mut text = serde_json::to_string(&line).expect("decision log lines serialize");
    text.push('\n');
    text
}
