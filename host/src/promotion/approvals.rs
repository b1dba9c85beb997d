//! Which approvals a request brings: those typed on the command line, or, where the trust
//! configuration requires it, only signed approval statements that verify against exactly what
//! the promotion would take (see [`crate::trust::approvals`]).

use std::path::PathBuf;

use super::request::PlanRequest;
use super::workspace::Workspace;
use crate::exit::Failure;
use crate::transition::Approval;
use crate::trust::approvals::{CheckedApproval, Target, check_all};

/// The approvals of a plan request into `request.to_env`. Where the trust configuration
/// requires signed approvals, approvals typed on the command line are refused and only
/// verified signed approvals count; elsewhere, signed approvals from `files` are verified and
/// added to the typed ones. Signed approvals that do not count are reported on stderr.
pub fn request_approvals(workspace: &Workspace, request: &PlanRequest, files: &[PathBuf]) -> Result<Vec<Approval>, Failure> {
    let required = crate::trust::required(&workspace.config, &request.to_env).signed_approvals;
    if !required && files.is_empty() {
        return Ok(request.approvals.clone());
    }
    let env = &request.to_env;
    if required && !request.approvals.is_empty() {
        return Err(Failure::bad_input(format!(
            "{env} requires signed approvals (trust.environments.{env}.signed_approvals): approvals typed with --approval or \
             --approvals-file do not count there. Each approver signs with their SSH key: \
             `tollgate approve {app} --to {env} --push` (then fetch them: git fetch origin {store}:{store}), or \
             `tollgate approve {app} --to {env} --approval-file FILE` and you pass --signed-approvals FILE",
            app = request.app,
            store = crate::trust::store::APPROVALS_REF,
        )));
    }
    let mut history = workspace.histories()?;
    let plan = super::plan::plan_with(&workspace.repo, &workspace.config, request, &mut history).map_err(Failure::bad_input)?;
    if plan.no_op {
        return Ok(request.approvals.clone());
    }
    let target = Target { application: request.app.clone(), environment: env.clone(), artifact: plan.transition.artifact };
    let checked = check_all(&workspace.repo, &workspace.config, &request.app, env, Some(&target), request.at, files).map_err(Failure::bad_input)?;
    for one in checked.iter().filter(|one| !one.counts()) {
        let who = one.statement.as_ref().map_or_else(|| "?".to_string(), |statement| statement.approver.clone());
        eprintln!("tollgate: signed approval by {who} does not count: {} [{}]", one.problem.as_deref().unwrap_or("not verified"), one.source);
    }
    let mut approvals = request.approvals.clone();
    approvals.extend(checked.iter().filter_map(CheckedApproval::approval));
    Ok(approvals)
}
