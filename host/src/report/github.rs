//! GitHub Actions workflow commands (`::error file=…,line=…::…`) so findings show up as
//! annotations on the pull request, plus a Markdown summary for `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write as _;

use super::{Location, finding_location};
use crate::decision::PolicyOutcome;
use crate::promotion::pipeline::Decided;
use crate::fixtures::CaseResult;
use crate::promotion::judge::PolicyRun;

/// A workflow command's message, escaped as the runner expects.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Text for a plain output line, escaped so it cannot start a workflow command of its own.
pub(crate) fn escape_message(text: &str) -> String {
    escape_data(text)
}

/// A workflow command's property value, escaped as the runner expects.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn command(level: &str, location: Option<&Location>, title: &str, message: &str) -> String {
    let (title, message) = (super::escape::bidi(title), super::escape::bidi(message));
    let mut properties = Vec::new();
    if let Some(location) = location {
        properties.push(format!("file={}", escape_property(&location.file)));
        if let Some(line) = location.line {
            properties.push(format!("line={line}"));
        }
    }
    properties.push(format!("title={}", escape_property(&title)));
    format!("::{level} {}::{}\n", properties.join(","), escape_data(&message))
}

fn level(run: &PolicyRun) -> &'static str {
    match (&run.evaluation.outcome, run.blocks()) {
        (_, true) => "error",
        (PolicyOutcome::Verdict(verdict), false) if verdict.decision == crate::decision::Decision::Allow => "notice",
        _ => "warning",
    }
}

/// Annotations for every finding and failure, then the summary line.
pub fn decision(decided: &Decided, committed: Option<&str>, dry_run: bool) -> String {
    let plan = &decided.plan;
    let mut out = String::new();
    for run in &decided.gate.policies {
        let title = format!("tollgate {} ({})", run.name, run.verdict_label());
        match &run.evaluation.outcome {
            PolicyOutcome::Failed { cause } => {
                let location = finding_location(None, plan);
                out.push_str(&command(level(run), location.as_ref(), &title, &format!("{} failed to run: {cause}", run.name)));
            }
            PolicyOutcome::Verdict(verdict) => {
                for finding in &verdict.findings {
                    let location = finding_location(finding.path.as_deref(), plan);
                    out.push_str(&command(level(run), location.as_ref(), &title, &finding.message));
                }
            }
        }
    }
    // Escaped like a message, so no plugin-chosen name can start a workflow command.
    let _ = writeln!(out, "{}", escape_data(&super::words::summary(decided, committed, dry_run)));
    out
}

/// The Markdown summary of a decision for `$GITHUB_STEP_SUMMARY`, with `pipeline` (a
/// Mermaid flowchart from [`super::matrix::mermaid`], whose labels are escaped) drawn in a
/// `mermaid` code block.
pub fn summary_markdown(decided: &Decided, pipeline: Option<&str>) -> String {
    let t = &decided.plan.transition;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### tollgate: {} {} {} to {} — {}\n",
        super::words::verb(t),
        markdown_text(&t.application),
        markdown_text(&t.artifact.version),
        markdown_text(&t.to_env),
        super::words::outcome_word(decided)
    );
    if !decided.gate.policies.is_empty() {
        out.push_str("| policy | verdict | findings |\n| --- | --- | --- |\n");
        for run in &decided.gate.policies {
            let details = match &run.evaluation.outcome {
                PolicyOutcome::Failed { cause } => markdown_text(&format!("failed: {cause}")),
                PolicyOutcome::Verdict(verdict) => {
                    verdict.findings.iter().map(|finding| markdown_text(&finding.message)).collect::<Vec<_>>().join("<br>")
                }
            };
            let _ = writeln!(
                out,
                "| {}@{} | {} | {details} |",
                markdown_text(&run.name),
                markdown_text(&run.version),
                run.verdict_label()
            );
        }
    }
    if let Some(source) = &decided.plan.source_reason {
        let _ = writeln!(out, "\nSource: {}", markdown_text(source));
    }
    if let Some(pipeline) = pipeline {
        // The labels are Mermaid-escaped: no backtick can reach the fence.
        let _ = writeln!(out, "\n```mermaid\n{pipeline}```");
    }
    let diff = crate::promotion::planned::unified_diff(&decided.plan);
    if !diff.is_empty() {
        // A fence longer than any run of backticks in the diff, so its content cannot close it.
        let longest = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        let diff: String = diff.lines().map(|diff_line| format!("{}\n", super::escape::bidi(&super::escape::line(diff_line)))).collect();
        let _ = writeln!(
            out,
            "\n<details><summary>{}</summary>\n\n{fence}diff\n{diff}{fence}\n</details>",
            markdown_text(&decided.plan.file)
        );
    }
    out.push('\n');
    out
}

/// Untrusted text for the summary (a heading, a table cell): no HTML, no Markdown syntax,
/// no cell breaks, one line.
fn markdown_text(text: &str) -> String {
    super::escape::markdown(text)
}

/// `plugin test`: an error annotation per failed case, on its cases file.
pub fn test_results(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for result in results.iter().filter(|result| !result.passed) {
        let location = Location { file: result.file.display().to_string(), line: None };
        out.push_str(&command("error", Some(&location), &format!("tollgate case: {}", result.name), result.problem.as_deref().unwrap_or("failed")));
    }
    let passed = results.iter().filter(|result| result.passed).count();
    let _ = writeln!(out, "{passed} passed, {} failed", results.len() - passed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_escape_as_the_runner_expects() {
        let location = Location { file: "envs/a,b:c.yaml".into(), line: Some(7) };
        assert_eq!(
            command("error", Some(&location), "tollgate x", "50% done\nnext"),
            "::error file=envs/a%2Cb%3Ac.yaml,line=7,title=tollgate x::50%25 done%0Anext\n"
        );
    }
}
