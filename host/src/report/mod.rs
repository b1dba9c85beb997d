//! Rendering results for people (`text`) and machines (`json`).
//!
//! JSON documents carry a `schema_version` so consumers can detect changes.

use std::fmt::Write as _;

use serde::Serialize;

use crate::promotion::history::{ConfigurationChange, Entry, PromotionRecord};
use crate::promotion::verified::Trust;

use crate::decision::PolicyOutcome;
use crate::fixtures::CaseResult;
use crate::runtime::{Capability, Evaluation, Plugin, PluginInfo};

pub mod batch;
pub mod decision;
pub mod escape;
pub mod github;
mod junit;
pub mod matrix;
pub mod proposal;
mod sarif;
pub mod versions;
mod words;

use escape::line;
pub use matrix::{StatusFormat, status};

static COLOUR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Colour text output (set once by the CLI from `--color`, the terminal and `NO_COLOR`).
pub fn set_colour(enabled: bool) {
    COLOUR.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// `text` coloured by what it reports: red when it blocks, yellow for monitor-mode
/// problems, green otherwise (only when colour is on).
pub(crate) fn paint_verdict(text: &str, blocks: bool, label: &str) -> String {
    if !COLOUR.load(std::sync::atomic::Ordering::Relaxed) {
        return text.to_string();
    }
    let colour = if blocks {
        anstyle::AnsiColor::Red
    } else if label.starts_with("monitor-") {
        anstyle::AnsiColor::Yellow
    } else {
        anstyle::AnsiColor::Green
    };
    let style = colour.on_default().bold();
    format!("{style}{text}{style:#}")
}

/// `read-file, http-get`, or `none`.
pub(crate) fn capability_list(capabilities: &[Capability]) -> String {
    if capabilities.is_empty() {
        return "none".to_string();
    }
    let names: Vec<&str> = capabilities
        .iter()
        .map(|capability| match capability {
            Capability::ReadFile => "read-file",
            Capability::HttpGet => "http-get",
        })
        .collect();
    names.join(", ")
}

/// Version of the JSON documents tollgate prints.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Output formats of `plan`, `promote` and `rollback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people: aligned, coloured on a terminal.
    Text,
    /// One JSON document with a schema_version.
    Json,
    /// JUnit XML: one test case per policy (per case for `plugin test`).
    Junit,
    /// GitHub Actions workflow commands (::error/::warning) and a step summary.
    Github,
    /// SARIF 2.1.0, one rule per policy.
    Sarif,
}

/// Output formats of `status`, `history`, `plugin info` and `plugin eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BasicFormat {
    /// For people.
    Text,
    /// One JSON document with a schema_version.
    Json,
}

/// Output formats of `plugin test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// For people, with the closing `N passed, M failed` line.
    Text,
    /// One JSON document with a schema_version.
    Json,
    /// JUnit XML, one test case per case.
    Junit,
    /// GitHub Actions error annotations for failed cases.
    Github,
}

/// Output formats of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyFormat {
    /// For people.
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML, one test case per policy.
    Junit,
}

/// Where a finding points: a file of the repository and, when known, a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Repository-relative path.
    pub file: String,
    /// 1-based line.
    pub line: Option<usize>,
}

/// The location of a finding of a planned transition: its `file#yaml.path` resolved in the
/// proposed content of the changed file, or the changed version line when it has no path.
/// Only the file the transition changes can be a location: a path a plugin names elsewhere
/// (`../../etc/passwd`, another file) gives the finding no location at all.
pub fn finding_location(path: Option<&str>, plan: &crate::promotion::planned::Plan) -> Option<Location> {
    let Some(path) = path else {
        return Some(Location { file: plan.file.clone(), line: Some(plan.line) });
    };
    let (file, yaml_path) = path.split_once('#').map_or((path, None), |(file, yaml_path)| (file, Some(yaml_path)));
    if normalised_repo_path(file)? != plan.file {
        return None;
    }
    let line = yaml_path.and_then(|yaml_path| {
        crate::manifest::yaml::parse_documents(&plan.after)
            .ok()
            .and_then(|documents| documents.iter().find_map(|document| document.at_path(yaml_path).and_then(|node| node.first_line())))
    });
    Some(Location { file: plan.file.clone(), line })
}

/// `envs/./dev/x.yaml` → `envs/dev/x.yaml`; `None` for anything that is not a plain
/// repository-relative path (absolute, `..`, backslashes, control characters, empty).
fn normalised_repo_path(path: &str) -> Option<String> {
    if path.starts_with('/') || path.contains('\\') || path.chars().any(|c| c.is_control() || escape::is_bidi_control(c)) {
        return None;
    }
    let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty() && *part != ".").collect();
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    Some(parts.join("/"))
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
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a serde_json::Value>,
}

/// `tollgate plugin info`: `signature` is the plugin's signature status (`status`: `good`, `bad`, `unchecked` or
/// `unsigned`), when it has a place to carry one.
pub fn plugin_info(plugin: &Plugin, info: &PluginInfo, signature: Option<&serde_json::Value>, format: BasicFormat) -> String {
    match format {
        BasicFormat::Json => to_json(&PluginInfoDocument {
            schema_version: JSON_SCHEMA_VERSION,
            source: plugin.source(),
            info,
            world: plugin.world(),
            sha256: plugin.sha256(),
            size_bytes: plugin.size(),
            signature,
        }),
        BasicFormat::Text => {
            let capabilities = capability_list(&info.capabilities);
            let mut out = String::new();
            let _ = writeln!(out, "name:         {}", line(&info.name));
            let _ = writeln!(out, "version:      {}", line(&info.version));
            let _ = writeln!(out, "description:  {}", line(&info.description));
            let _ = writeln!(out, "capabilities: {capabilities}");
            let _ = writeln!(out, "world:        {}", plugin.world());
            let _ = writeln!(out, "sha256:       {}", plugin.sha256());
            let _ = writeln!(out, "size:         {} bytes", plugin.size());
            let _ = writeln!(out, "source:       {}", line(plugin.source()));
            if let Some(signature) = signature {
                out.push_str(&plugin_signature_line(signature));
            }
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

/// The `signed by:` line of `plugin info` text output.
fn plugin_signature_line(status: &serde_json::Value) -> String {
    let field = |name: &str| status[name].as_str().unwrap_or_default().to_string();
    match status["status"].as_str() {
        Some("good") => format!("signed by:    {} (key {})\n", field("principal"), field("key")),
        Some("bad") => format!("signed by:    INVALID: {}\n", field("reason")),
        Some("unchecked") => format!("signed by:    not checked ({}){}\n", field("reason"), status["key"].as_str().map(|key| format!("; key {key}")).unwrap_or_default()),
        _ => "signed by:    unsigned\n".to_string(),
    }
}

/// `tollgate plugin eval`: the outcome, findings indented under it, then logs and output.
pub fn evaluation(plugin: &Plugin, evaluation: &Evaluation, format: BasicFormat) -> String {
    match format {
        BasicFormat::Json => to_json(&EvaluationDocument {
            schema_version: JSON_SCHEMA_VERSION,
            plugin: plugin.source(),
            sha256: plugin.sha256(),
            evaluation,
        }),
        BasicFormat::Text => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{}: {} ({:.1} ms)",
                line(plugin.source()),
                evaluation.outcome.label(),
                evaluation.elapsed.as_secs_f64() * 1000.0
            );
            match &evaluation.outcome {
                PolicyOutcome::Failed { cause } => {
                    let _ = writeln!(out, "  {}", line(cause));
                }
                PolicyOutcome::Verdict(verdict) => {
                    for finding in &verdict.findings {
                        match &finding.path {
                            Some(path) => _ = writeln!(out, "  - {}: {}", line(path), line(&finding.message)),
                            None => _ = writeln!(out, "  - {}", line(&finding.message)),
                        }
                    }
                }
            }
            for log in &evaluation.logs {
                let _ = writeln!(out, "  log {}: {}", log.level, line(&log.message));
            }
            for (stream, text) in [("stdout", &evaluation.stdout), ("stderr", &evaluation.stderr)] {
                for output in text.lines().filter(|output| !output.is_empty()).take(20) {
                    let _ = writeln!(out, "  {stream}: {}", line(&shorten(output, 200)));
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
pub fn test_results(plugin: &Plugin, results: &[CaseResult], format: TestFormat) -> String {
    let passed = results.iter().filter(|result| result.passed).count();
    let failed = results.len() - passed;
    match format {
        TestFormat::Junit => junit::test_results(plugin.source(), results),
        TestFormat::Github => github::test_results(results),
        TestFormat::Json => to_json(&TestDocument {
            schema_version: JSON_SCHEMA_VERSION,
            plugin: plugin.source(),
            sha256: plugin.sha256(),
            passed,
            failed,
            cases: results,
        }),
        TestFormat::Text => {
            let mut out = String::new();
            let mut current_file = None;
            for result in results {
                if current_file != Some(&result.file) {
                    let _ = writeln!(out, "{}", line(&result.file.display().to_string()));
                    current_file = Some(&result.file);
                }
                let status = if result.passed { "PASS" } else { "FAIL" };
                let _ = writeln!(
                    out,
                    "  {status}  {} ({}, {:.1} ms)",
                    line(&result.name),
                    result.evaluation.outcome.label(),
                    result.evaluation.elapsed.as_secs_f64() * 1000.0
                );
                if let Some(problem) = &result.problem {
                    let _ = writeln!(out, "        {}", line(problem));
                    for output in result.evaluation.stderr.lines().filter(|output| !output.is_empty()).take(10) {
                        let _ = writeln!(out, "        stderr: {}", line(&shorten(output, 200)));
                    }
                }
            }
            let _ = writeln!(out, "{passed} passed, {failed} failed");
            out
        }
    }
}

/// At most `max` characters of `line`, marked when cut.
pub(crate) fn shorten(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_string(),
    }
}

pub(crate) fn to_json<T: Serialize>(document: &T) -> String {
    let mut text = escape::json_document(serde_json::to_string_pretty(document).expect("report documents serialize"));
    text.push('\n');
    text
}

/// When, for people: `2026-01-05 10:00 UTC`.
pub fn format_time(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds).map_or_else(|_| unix_seconds.to_string(), |time| time.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

/// `sha256:3f1c2a9b…` → `sha256:3f1c2a9b` (8 characters of the hash).
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", hex.chars().take(8).collect::<String>()),
        None => digest.chars().take(12).collect(),
    }
}

#[derive(Serialize)]
struct HistoryDocument<'a> {
    schema_version: u32,
    promotions: Vec<&'a PromotionRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    configuration_changes: Vec<&'a ConfigurationChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    health_records: Vec<&'a crate::promotion::health::HealthEntry>,
}

/// `tollgate history`: promotions (verified, unsigned, untrusted), hand edits and claims that
/// do not check out, and configuration changes, newest first.
pub fn history(entries: &[Entry], format: BasicFormat) -> String {
    match format {
        BasicFormat::Json => to_json(&HistoryDocument {
            schema_version: JSON_SCHEMA_VERSION,
            promotions: entries.iter().filter_map(|entry| if let Entry::Promotion(record) = entry { Some(record) } else { None }).collect(),
            configuration_changes: entries.iter().filter_map(|entry| if let Entry::Configuration(change) = entry { Some(change) } else { None }).collect(),
            health_records: entries.iter().filter_map(|entry| if let Entry::Health(health) = entry { Some(health) } else { None }).collect(),
        }),
        BasicFormat::Text => {
            let mut out = String::new();
            if entries.is_empty() {
                let _ = writeln!(out, "no promotions yet");
            }
            // Everything here comes from commits, which anyone who can push may write: each
            // line is escaped so none can be forged.
            for entry in entries {
                for text in history_lines(entry) {
                    let _ = writeln!(out, "{}", line(&text));
                }
            }
            out
        }
    }
}

/// The text lines of one history entry.
fn history_lines(entry: &Entry) -> Vec<String> {
    let record = match entry {
        Entry::Configuration(change) => {
            return vec![format!(
                "{}  {}  configuration change: {} by {} ({})",
                &change.commit[..12],
                format_time(change.time),
                change.files.join(", "),
                change.author,
                change.signature
            )];
        }
        Entry::Health(health) => return health_lines(health),
        Entry::Promotion(record) => record,
    };
    let route = match (&record.from, record.kind) {
        (_, crate::transition::TransitionKind::Rollback) => format!("rollback in {}", line(&record.to)),
        (Some(from), _) => format!("{} → {}", line(from), line(&record.to)),
        (None, _) => format!("→ {}", line(&record.to)),
    };
    let mut lines = vec![format!(
        "{}  {}  {:<12} {:<22} {:<10} by {}{}",
        &record.commit[..12],
        format_time(record.time),
        line(&record.app),
        route,
        record.version,
        record.requested_by,
        bypass_marks(record.requested_at, &record.labels)
    )];
    match &record.trust {
        Trust::Verified { signer, key } => lines.push(format!("    verified: signed by promoter {signer} (key {key})")),
        Trust::Unsigned { .. } => lines.extend(record.trust.reasons().iter().map(|reason| format!("    {reason}"))),
        Trust::Untrusted { reasons } => lines.push(format!("    UNTRUSTED: {}", reasons.join("; "))),
        Trust::Unrecorded { reasons } => lines.push(format!("    UNRECORDED CHANGE: not a verified tollgate promotion: {}", reasons.join("; "))),
    }
    if !record.approved_by.is_empty() {
        lines.push(format!("    approved by {}", record.approved_by.join(", ")));
    }
    if !record.not_counted.is_empty() {
        lines.push(format!("    approvals no policy counted: {}", record.not_counted.join(", ")));
    }
    lines.extend(record.policies.iter().map(|policy| format!("    policy {policy}")));
    lines
}

/// The text lines of a health record: what `watch` found, and what the record is worth.
fn health_lines(health: &crate::promotion::health::HealthEntry) -> Vec<String> {
    let head = format!("{}  {}  ", &health.commit[..12], format_time(health.time));
    let mut lines = match &health.record {
        Some(record) => {
            let found = match &record.reason {
                Some(reason) => format!("failed its health check: {reason}"),
                None => format!("healthy (soaked {} s)", record.soaked_seconds),
            };
            vec![format!(
                "{head}{:<12} health in {:<13} {:<10} {found}, checked by {} (promotion {})",
                line(&record.application),
                line(&record.environment),
                line(&record.version),
                line(&record.checked_by),
                &record.promotion[..12.min(record.promotion.len())]
            )]
        }
        None => vec![format!("{head}health record that cannot be read")],
    };
    match &health.trust {
        Trust::Verified { signer, key } => lines.push(format!("    verified: signed by promoter {signer} (key {key})")),
        Trust::Unsigned { .. } => lines.extend(health.trust.reasons().iter().map(|reason| format!("    {reason}"))),
        Trust::Untrusted { reasons } => lines.push(format!("    UNTRUSTED: {}", reasons.join("; "))),
        Trust::Unrecorded { reasons } => lines.push(format!("    NOT COUNTED: not a health record tollgate made: {}", reasons.join("; "))),
    }
    lines
}

/// What bypassed the ordinary path, for status and history lines: labels (such as a
/// break-glass label) and a decision time the requester chose.
pub(crate) fn bypass_marks(requested_at: Option<i64>, labels: &std::collections::BTreeMap<String, String>) -> String {
    let mut marks = String::new();
    for (key, value) in labels {
        let _ = write!(marks, " [label {key}={value}]");
    }
    if let Some(at) = requested_at {
        let _ = write!(marks, " [decided as of {} (--at)]", format_time(at));
    }
    marks
}

/// `tollgate verify BASE..HEAD`: one line per commit, then the verdict.
pub fn guard(range: &str, judged: &[crate::promotion::guard::Guarded], format: VerifyFormat) -> String {
    let refused = judged.iter().filter(|one| !one.passes()).count();
    match format {
        VerifyFormat::Json | VerifyFormat::Junit => to_json(&serde_json::json!({
            "schema_version": JSON_SCHEMA_VERSION,
            "range": range,
            "passes": refused == 0,
            "commits": judged,
        })),
        VerifyFormat::Text => {
            let mut out = String::new();
            for one in judged {
                let mark = if one.passes() { "ok     " } else { "REFUSED" };
                let _ = writeln!(out, "{}", line(&format!("{mark} {} {:<10} {}", &one.commit[..12], one.verdict, one.subject)));
                for reason in &one.reasons {
                    let _ = writeln!(out, "{}", line(&format!("    {reason}")));
                }
            }
            let _ = match refused {
                0 => writeln!(out, "{} commit{} checked: every one may land", judged.len(), if judged.len() == 1 { "" } else { "s" }),
                _ => writeln!(out, "{refused} of {} commits refused", judged.len()),
            };
            out
        }
    }
}

/// `tollgate verify`.
pub fn verification(verification: &crate::promotion::verify::Verification, format: VerifyFormat) -> String {
    match format {
        VerifyFormat::Junit => junit::verification(verification),
        VerifyFormat::Json => to_json(verification),
        VerifyFormat::Text => {
            let mut out = String::new();
            let _ = writeln!(out, "verify {} (decision {})", &verification.commit[..12], verification.decision);
            for problem in &verification.problems {
                let _ = writeln!(out, "  PROBLEM  {}", line(problem));
            }
            for policy in &verification.policies {
                let mark = match (policy.reproduced, policy.rerun) {
                    (_, crate::promotion::verify::Rerun::NotReplayable) => "NOT REPLAYED",
                    (true, _) => "same",
                    (false, _) => "DIFFERS",
                };
                let live = if policy.rerun == crate::promotion::verify::Rerun::Live { " (re-run live)" } else { "" };
                let _ = writeln!(out, "  {mark:<8} {}{live}", line(&policy.name));
                if let Some(problem) = &policy.problem {
                    let _ = writeln!(out, "      {}", line(problem));
                    let _ = writeln!(out, "      recorded: {}", line(&policy.recorded.to_string()));
                    if let Some(now) = &policy.now {
                        let _ = writeln!(out, "      now:      {}", line(&now.to_string()));
                    }
                }
            }
            if verification.commit_signature != crate::trust::commit_signature::CommitSignature::Missing {
                let _ = writeln!(out, "commit signature: {}", line(&verification.commit_signature.describe()));
            }
            if verification.approvals_verified > 0 {
                let _ = writeln!(out, "signed approvals: {} re-verified", verification.approvals_verified);
            }
            let trust = match &verification.trust {
                Trust::Verified { signer, key } => format!("verified: signed by promoter {signer} (key {key})"),
                // Its problems are listed above.
                Trust::Unrecorded { .. } => String::new(),
                other @ Trust::Unsigned { .. } => other.reasons().join("; "),
                Trust::Untrusted { reasons } => format!("UNTRUSTED: {}", reasons.join("; ")),
            };
            if !trust.is_empty() {
                let _ = writeln!(out, "{}", line(&trust));
            }
            let _ = writeln!(
                out,
                "{}",
                if verification.reproduced { "reproduced: the commit checks out and every verdict is identical" } else { "not reproduced" }
            );
            out
        }
    }
}

#[cfg(test)]
mod proptests;
