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
