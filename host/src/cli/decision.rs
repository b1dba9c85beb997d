//! How `plan`, `promote` and `rollback` end: the report, the GitHub step summary, the
//! decision log, and the exit code.

use std::io::Write;
use std::path::Path;

use super::{Cli, print};
use crate::exit::{ExitCode, Failure};
use crate::promotion::pipeline::{Batch, Decided};
use crate::promotion::workspace::Workspace;
use crate::report::{self, OutputFormat};

/// Print what a call decided, add it to the GitHub step summary and the decision log, and
/// map it to the exit code. A call that names one application and one environment is
/// reported as one decision; several as the transitions of one call (all or nothing).
pub(super) fn report(cli: &Cli, workspace: &Workspace, batch: &Batch, single: bool, dry_run: bool, format: OutputFormat) -> Result<ExitCode, Failure> {
    print(&report::batch::render_call(batch, single, dry_run, format));
    match batch.single().filter(|_| single) {
        Some(decided) => append_step_summary(format, || report::github::summary_markdown(decided, pipeline(workspace, decided).as_deref())),
        None => append_step_summary(format, || report::batch::summary_markdown(batch, dry_run)),
    }
    append_decision_log(cli, || report::batch::log_lines(batch, single, dry_run));
    Ok(batch.exit_code())
}

/// The pipeline picture for the step summary: the environment graph with every application's
/// version, the transition's edge drawn thick. `None` when the status cannot be read (the
/// summary then goes without it).
fn pipeline(workspace: &Workspace, decided: &Decided) -> Option<String> {
    let t = &decided.plan.transition;
    let apps = workspace.status().ok()?;
    Some(report::matrix::mermaid(workspace.config.graph(), &apps, Some((t.from_env.as_deref(), &t.to_env, &t.artifact.version))))
}

/// With `-o github`, add `markdown` to the GitHub step summary. The decision stands (and may
/// be committed): a summary that cannot be written is a warning.
pub(super) fn append_step_summary(format: OutputFormat, markdown: impl FnOnce() -> String) {
    if format == OutputFormat::Github
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|path| !path.is_empty())
        && let Err(failure) = append(Path::new(&path), &markdown())
    {
        eprintln!("tollgate: warning: GITHUB_STEP_SUMMARY: {}", failure.message);
    }
}

/// With `--decision-log`, append `lines` to it (a log that cannot be written is a warning).
pub(super) fn append_decision_log(cli: &Cli, lines: impl FnOnce() -> String) {
    if let Some(path) = &cli.decision_log
        && let Err(failure) = append(path, &lines())
    {
        eprintln!("tollgate: warning: --decision-log: {}", failure.message);
    }
}

/// Append `text` to the file at `path`, creating it if needed. Checked before deciding, so a
/// path that cannot be written is bad input before anything is committed.
pub(super) fn append(path: &Path, text: &str) -> Result<(), Failure> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|error| Failure::bad_input(format!("{}: cannot append to it ({error})", path.display())))?;
    file.write_all(text.as_bytes()).map_err(|error| Failure::bad_input(format!("{}: cannot write to it ({error})", path.display())))
}

/// Refuse a `--decision-log` that cannot be appended to before deciding anything.
pub(super) fn check_decision_log(cli: &Cli) -> Result<(), Failure> {
    match &cli.decision_log {
        Some(path) => append(path, ""),
        None => Ok(()),
    }
}
