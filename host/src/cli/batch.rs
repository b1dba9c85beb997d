//! `plan` and `promote` of several transitions: several `--to`, globs, `--app`, `--all`.
//! All or nothing: see [`crate::promotion::batch`].


use super::request::{PlanArgs, plan_request_for};
use super::{Cli, print};
use crate::exit::{ExitCode, Failure};
use crate::promotion::batch::{Batch, Skipped};
use crate::promotion::engine::Workspace;
use crate::promotion::gate::GateOutcome;
use crate::promotion::plan::PlanRequest;
use crate::report::{self, OutputFormat};

/// `plan` of several transitions: each judged, nothing committed.
pub(super) fn plan(cli: &Cli, workspace: &Workspace, args: &PlanArgs) -> Result<ExitCode, Failure> {
    let (requests, skipped, train) = requests(workspace, args)?;
    let mut batch = workspace.decide_batch(&requests, train)?;
    batch.skipped.splice(0..0, skipped);
    finish(cli, &batch, true, args.request.output)
}

/// `promote` of several transitions: one commit when every one is allowed, else nothing.
pub(super) fn promote(cli: &Cli, workspace: &Workspace, args: &PlanArgs, branch: Option<&str>, push: Option<&str>) -> Result<ExitCode, Failure> {
    let (requests, skipped, train) = requests(workspace, args)?;
    let mut batch = match push {
        Some(remote) => workspace.promote_batch_and_push(&requests, train, branch, remote)?,
        None => workspace.promote_batch(&requests, train, branch)?,
    };
    batch.skipped.splice(0..0, skipped);
    finish(cli, &batch, false, args.request.output)
}

/// One request per (application, target) the arguments select, the pairs skipped because
/// the application is not configured there, and whether it is a release train.
fn requests(workspace: &Workspace, args: &PlanArgs) -> Result<(Vec<PlanRequest>, Vec<Skipped>, bool), Failure> {
    let selection = args.selection();
    let (pairs, skipped) = selection.resolve(&workspace.config).map_err(Failure::bad_input)?;
    let requests = pairs
        .iter()
        .map(|pair| plan_request_for(workspace, &pair.app, &pair.env, args, &args.request, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((requests, skipped, selection.is_train()))
}

/// Print the report, add it to the GitHub step summary and one decision-log line per
/// transition; the exit code of the whole.
fn finish(cli: &Cli, batch: &Batch, dry_run: bool, format: OutputFormat) -> Result<ExitCode, Failure> {
    print(&report::batch::render(batch, dry_run, format));
    super::decision::append_step_summary(format, || report::batch::summary_markdown(batch, dry_run));
    super::decision::append_decision_log(cli, || {
        batch.decided.iter().map(|decided| report::decision::log_line(decided, batch.commit.as_deref(), dry_run)).collect()
    });
    Ok(match batch.outcome() {
        GateOutcome::Allowed => ExitCode::Success,
        GateOutcome::Denied => ExitCode::Denied,
        GateOutcome::Failed => ExitCode::PolicyFailed,
    })
}
