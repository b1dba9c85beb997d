//! Rendering results for people (`text`) and machines (`json`).
//!
//! JSON documents carry a `schema_version` so consumers can detect changes.

use std::fmt::Write as _;

use serde::Serialize;

use crate::decision::PolicyOutcome;
use crate::fixtures::CaseResult;
use crate::runtime::{Capability, Evaluation, Plugin, PluginInfo};

/// Version of the JSON documents tollgate prints.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

#[derive(Serialize)]
struct PluginInfoDocument<'a> {
    schema_version: u32,
    source: &'a str,
    #[serde(flatten)]
    info: &'a PluginInfo,
    world: &'a str,
    sha256: &'a str,
    size_bytes: usize,
}

/// `tollgate plugin info`.
pub fn plugin_info(plugin: &Plugin, info: &PluginInfo, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => to_json(&PluginInfoDocument {
            schema_version: JSON_SCHEMA_VERSION,
            source: plugin.source(),
            info,
            world: plugin.world(),
            sha256: plugin.sha256(),
            size_bytes: plugin.size(),
        }),
        OutputFormat::Text => {
            let capabilities = if info.capabilities.is_empty() {
                "none".to_string()
            } else {
                info.capabilities
                    .iter()
                    .map(|capability| match capability {
                        Capability::ReadFile => "read-file",
                        Capability::HttpGet => "http-get",
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut out = String::new();
            let _ = writeln!(out, "name:         {}", info.name);
            let _ = writeln!(out, "version:      {}", info.version);
            let _ = writeln!(out, "description:  {}", info.description);
            let _ = writeln!(out, "capabilities: {capabilities}");
            let _ = writeln!(out, "world:        {}", plugin.world());
            let _ = writeln!(out, "sha256:       {}", plugin.sha256());
            let _ = writeln!(out, "size:         {} bytes", plugin.size());
            let _ = writeln!(out, "source:       {}", plugin.source());
            out
        }
    }
}

#[derive(Serialize)]
struct EvaluationDocument<'a> {
    schema_version: u32,
    plugin: &'a str,
    sha256: &'a str,
    #[serde(flatten)]
    evaluation: &'a Evaluation,
}

/// `tollgate plugin eval`: the outcome, findings indented under it, then logs and output.
pub fn evaluation(plugin: &Plugin, evaluation: &Evaluation, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => to_json(&EvaluationDocument {
            schema_version: JSON_SCHEMA_VERSION,
            plugin: plugin.source(),
            sha256: plugin.sha256(),
            evaluation,
        }),
        OutputFormat::Text => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{}: {} ({:.1} ms)",
                plugin.source(),
                evaluation.outcome.label(),
                evaluation.elapsed.as_secs_f64() * 1000.0
            );
            match &evaluation.outcome {
                PolicyOutcome::Failed { cause } => {
                    let _ = writeln!(out, "  {cause}");
                }
                PolicyOutcome::Verdict(verdict) => {
                    for finding in &verdict.findings {
                        match &finding.path {
                            Some(path) => _ = writeln!(out, "  - {path}: {}", finding.message),
                            None => _ = writeln!(out, "  - {}", finding.message),
                        }
                    }
                }
            }
            for line in &evaluation.logs {
                let _ = writeln!(out, "  log {}: {}", line.level, line.message);
            }
            for (stream, text) in [("stdout", &evaluation.stdout), ("stderr", &evaluation.stderr)] {
                for line in text.lines().filter(|line| !line.is_empty()).take(20) {
                    let _ = writeln!(out, "  {stream}: {}", shorten(line, 200));
                }
            }
            out
        }
    }
}

#[derive(Serialize)]
struct TestDocument<'a> {
    schema_version: u32,
    plugin: &'a str,
    sha256: &'a str,
    passed: usize,
    failed: usize,
    cases: &'a [CaseResult],
}

/// `tollgate plugin test`: a line per case, details under failures, and the closing
/// `N passed, M failed` line.
pub fn test_results(plugin: &Plugin, results: &[CaseResult], format: OutputFormat) -> String {
    let passed = results.iter().filter(|result| result.passed).count();
    let failed = results.len() - passed;
    match format {
        OutputFormat::Json => to_json(&TestDocument {
            schema_version: JSON_SCHEMA_VERSION,
            plugin: plugin.source(),
            sha256: plugin.sha256(),
            passed,
            failed,
            cases: results,
        }),
        OutputFormat::Text => {
            let mut out = String::new();
            let mut current_file = None;
            for result in results {
                if current_file != Some(&result.file) {
                    let _ = writeln!(out, "{}", result.file.display());
                    current_file = Some(&result.file);
                }
                let status = if result.passed { "PASS" } else { "FAIL" };
                let _ = writeln!(
                    out,
                    "  {status}  {} ({}, {:.1} ms)",
                    result.name,
                    result.evaluation.outcome.label(),
                    result.evaluation.elapsed.as_secs_f64() * 1000.0
                );
                if let Some(problem) = &result.problem {
                    let _ = writeln!(out, "        {problem}");
                    for line in result.evaluation.stderr.lines().filter(|line| !line.is_empty()).take(10) {
                        let _ = writeln!(out, "        stderr: {}", shorten(line, 200));
                    }
                }
            }
            let _ = writeln!(out, "{passed} passed, {failed} failed");
            out
        }
    }
}

/// At most `max` characters of `line`, marked when cut.
fn shorten(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_string(),
    }
}

fn to_json<T: Serialize>(document: &T) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("report documents serialize");
    text.push('\n');
    text
}

/// Text and JSON for `plan`, `promote` and `rollback`.
pub mod decision {
    use std::fmt::Write as _;

    use serde::Serialize;

    use super::{JSON_SCHEMA_VERSION, OutputFormat, to_json};
    use crate::decision::PolicyOutcome;
    use crate::engine::Decided;
    use crate::gate::{GateOutcome, PolicyRun};
    use crate::plan::unified_diff;
    use crate::transition::{Transition, TransitionKind};

    #[derive(Serialize)]
    struct DecisionDocument<'a> {
        schema_version: u32,
        decision: &'a str,
        outcome: &'a str,
        no_op: bool,
        committed: Option<&'a str>,
        transition: &'a Transition,
        policies: &'a [PolicyRun],
        file: &'a str,
        diff: String,
    }

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

    /// Render a decision; `committed` is the new commit when one was made, `dry_run` says
    /// the command only plans.
    pub fn render(decided: &Decided, committed: Option<&str>, dry_run: bool, format: OutputFormat) -> String {
        let plan = &decided.plan;
        let t = &plan.transition;
        match format {
            OutputFormat::Json => to_json(&DecisionDocument {
                schema_version: JSON_SCHEMA_VERSION,
                decision: &t.id,
                outcome: outcome_word(decided),
                no_op: plan.no_op,
                committed,
                transition: t,
                policies: &decided.gate.policies,
                file: &plan.file,
                diff: unified_diff(plan),
            }),
            OutputFormat::Text => {
                let mut out = String::new();
                let what = match (t.kind, &t.from_env) {
                    (TransitionKind::Rollback, _) => format!("rollback {} in {} to {}", t.application, t.to_env, t.artifact.version),
                    (TransitionKind::Promote, Some(from)) => format!("promote {} {} from {from} to {}", t.application, t.artifact.version, t.to_env),
                    (TransitionKind::Promote, None) => format!("promote {} {} to {}", t.application, t.artifact.version, t.to_env),
                };
                let _ = writeln!(out, "{what} (decision {})", t.id);
                if plan.no_op {
                    let _ = writeln!(out, "{} already runs {} in {}; nothing to do", t.application, t.artifact.version, t.to_env);
                    return out;
                }
                if let Some(previous) = &t.previous_artifact {
                    let _ = writeln!(out, "  {} now runs {}", t.to_env, previous.version);
                }
                let width = decided.gate.policies.iter().map(|run| run.name.len() + run.version.len() + 1).max().unwrap_or(0);
                for run in &decided.gate.policies {
                    let label = format!("{}@{}", run.name, run.version);
                    let _ = writeln!(out, "  {:<13} {label:<width$} ({:.0} ms)", run.verdict_label(), run.evaluation.elapsed.as_secs_f64() * 1000.0);
                    match &run.evaluation.outcome {
                        PolicyOutcome::Failed { cause } => _ = writeln!(out, "      failed: {cause}"),
                        PolicyOutcome::Verdict(verdict) => {
                            for finding in &verdict.findings {
                                match &finding.path {
                                    Some(path) => _ = writeln!(out, "      {path}: {}", finding.message),
                                    None => _ = writeln!(out, "      {}", finding.message),
                                }
                            }
                        }
                    }
                }
                if decided.gate.policies.is_empty() {
                    let _ = writeln!(out, "  (no policies apply to {})", t.to_env);
                }
                let diff = unified_diff(plan);
                if !diff.is_empty() {
                    let _ = writeln!(out);
                    out.push_str(&diff);
                    if !diff.ends_with('\n') {
                        out.push('\n');
                    }
                    let _ = writeln!(out);
                }
                let blocking: Vec<&str> =
                    decided.gate.policies.iter().filter(|run| run.blocks()).map(|run| run.name.as_str()).collect();
                let summary = match (decided.gate.outcome, committed, dry_run) {
                    (GateOutcome::Allowed, Some(commit), _) => format!("allowed: committed {}", &commit[..12.min(commit.len())]),
                    (GateOutcome::Allowed, None, true) => "allowed: would commit (dry run: plan only)".to_string(),
                    (GateOutcome::Allowed, None, false) => "allowed".to_string(),
                    (GateOutcome::Denied, ..) => format!("denied by {}; nothing committed", blocking.join(", ")),
                    (GateOutcome::Failed, ..) => format!("failed closed: {} could not decide; nothing committed", blocking.join(", ")),
                };
                let _ = writeln!(out, "{summary}");
                out
            }
        }
    }
}

/// When, for people: `2026-01-05 10:00 UTC`.
pub fn format_time(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds).map_or_else(|_| unix_seconds.to_string(), |time| time.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

#[derive(Serialize)]
struct StatusDocument<'a> {
    schema_version: u32,
    environments: &'a [String],
    applications: &'a [crate::engine::AppStatus],
}

/// `tollgate status`: an application × environment matrix.
pub fn status(environments: &[String], apps: &[crate::engine::AppStatus], format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => to_json(&StatusDocument { schema_version: JSON_SCHEMA_VERSION, environments, applications: apps }),
        OutputFormat::Text => {
            let mut out = String::new();
            for app in apps {
                let _ = writeln!(out, "{}", app.app);
                for env in environments {
                    let Some(cell) = app.environments.get(env) else {
                        let _ = writeln!(out, "  {env:<10} (not configured)");
                        continue;
                    };
                    if let Some(error) = &cell.error {
                        let _ = writeln!(out, "  {env:<10} error: {error}");
                        continue;
                    }
                    let digest = cell.digest.as_deref().map(short_digest).unwrap_or_else(|| "-".to_string());
                    let when = match (cell.since, &cell.by) {
                        (Some(since), Some(by)) => format!("since {} by {by}", format_time(since)),
                        _ => "(not promoted by tollgate)".to_string(),
                    };
                    let _ = writeln!(out, "  {env:<10} {:<12} {digest:<14} {when}", cell.version.as_deref().unwrap_or("-"));
                }
            }
            out
        }
    }
}

/// `sha256:3f1c2a9b…` → `sha256:3f1c2a9b` (12 characters of hex).
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", &hex[..hex.len().min(8)]),
        None => digest.chars().take(12).collect(),
    }
}

#[derive(Serialize)]
struct HistoryDocument<'a> {
    schema_version: u32,
    promotions: &'a [crate::history::PromotionRecord],
}

/// `tollgate history`.
pub fn history(records: &[crate::history::PromotionRecord], format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => to_json(&HistoryDocument { schema_version: JSON_SCHEMA_VERSION, promotions: records }),
        OutputFormat::Text => {
            let mut out = String::new();
            if records.is_empty() {
                let _ = writeln!(out, "no promotions yet");
            }
            for record in records {
                let route = match (&record.from, record.kind) {
                    (_, crate::transition::TransitionKind::Rollback) => format!("rollback in {}", record.to),
                    (Some(from), _) => format!("{from} → {}", record.to),
                    (None, _) => format!("→ {}", record.to),
                };
                let _ = writeln!(
                    out,
                    "{}  {}  {:<12} {:<22} {:<10} by {}",
                    &record.commit[..12],
                    format_time(record.time),
                    record.app,
                    route,
                    record.version,
                    record.requested_by
                );
                if !record.approved_by.is_empty() {
                    let _ = writeln!(out, "    approved by {}", record.approved_by.join(", "));
                }
                for policy in &record.policies {
                    let _ = writeln!(out, "    policy {policy}");
                }
            }
            out
        }
    }
}

/// `tollgate verify`.
pub fn verification(verification: &crate::engine::Verification, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => to_json(verification),
        OutputFormat::Text => {
            let mut out = String::new();
            let _ = writeln!(out, "verify {} (decision {})", &verification.commit[..12], verification.decision);
            for policy in &verification.policies {
                let mark = if policy.reproduced { "same" } else { "DIFFERS" };
                let _ = writeln!(out, "  {mark:<8} {}", policy.name);
                if let Some(problem) = &policy.problem {
                    let _ = writeln!(out, "      {problem}");
                    let _ = writeln!(out, "      recorded: {}", policy.recorded);
                    if let Some(now) = &policy.now {
                        let _ = writeln!(out, "      now:      {now}");
                    }
                }
            }
            let _ = writeln!(
                out,
                "{}",
                if verification.reproduced { "reproduced: every verdict is identical" } else { "not reproduced" }
            );
            out
        }
    }
}
