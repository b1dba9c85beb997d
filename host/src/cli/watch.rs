//! `tollgate watch APP --env ENV`: wait for the newest promotion to be synced and healthy in
//! Argo CD and to soak without a matching alert, then record the outcome in Git.

use std::time::Duration;

use clap::Args;

use super::request::{PlanArgs, RequestArgs, plan_request};
use super::serve::parse_duration;
use super::setup::open_workspace;
use super::{Cli, print};
use crate::exit::{ExitCode, Failure};
use crate::promotion::judge::GateOutcome;
use crate::promotion::pipeline::Batch;
use crate::promotion::request::RollbackTarget;
use crate::promotion::watch::{WatchEnd, WatchOptions, Watched};
use crate::promotion::workspace::Workspace;
use crate::report::{BasicFormat, OutputFormat};
use crate::report::escape::line;

/// How long `watch` waits: shared by `watch` and `promote --watch`.
#[derive(Debug, Args)]
pub struct WatchTiming {
    /// How long to wait for Argo CD to report the promotion synced and healthy, e.g. 10m.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub deadline: Duration,
    /// How long no matching alert may fire (and the application must stay healthy) afterwards, e.g. 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub soak: Duration,
    /// How long to wait between two looks, e.g. 10s.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub interval: Duration,
}

/// Arguments of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Application.
    pub app: String,
    /// Environment whose newest promotion of APP is watched.
    #[arg(long, value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub timing: WatchTiming,
    /// Who watches: the health record's author, and the requester of a rollback (a login or `Name <email>`) [default: Git's identity].
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// When the check fails, request a rollback (as `tollgate rollback` does), judged by the policies like any promotion.
    #[arg(long)]
    pub rollback_on_failure: bool,
    /// An approval for that rollback: NAME, NAME@VERSION or NAME@VERSION:GROUP (repeatable).
    #[arg(long = "approval", value_name = "NAME[@VERSION[:GROUP]]", requires = "rollback_on_failure")]
    pub approvals: Vec<String>,
    /// Push the health record (and a rollback) to REMOTE [default: origin].
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push: Option<String>,
    /// Output format: text or json.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: BasicFormat,
}

/// What a watch asks of the pipeline when the check fails.
pub(super) struct OnFailure {
    /// Request a rollback.
    pub rollback: bool,
    /// Approvals for it.
    pub approvals: Vec<String>,
}

pub(super) fn run(cli: &Cli, args: &WatchArgs) -> Result<ExitCode, Failure> {
    let workspace = open_workspace(cli)?;
    let on_failure = OnFailure { rollback: args.rollback_on_failure, approvals: args.approvals.clone() };
    watch_and_report(cli, &workspace, (&args.app, &args.env), &args.timing, args.actor.as_deref(), args.push.as_deref(), &on_failure, args.output)
}

/// Watch `app` in `env`, print the outcome, and (when asked) roll back through the pipeline
/// on a failure: the exit code of `watch` (and `promote --watch`).
#[allow(clippy::too_many_arguments)]
pub(super) fn watch_and_report(
    cli: &Cli,
    workspace: &Workspace,
    (app, env): (&str, &str),
    timing: &WatchTiming,
    actor: Option<&str>,
    push: Option<&str>,
    on_failure: &OnFailure,
    output: BasicFormat,
) -> Result<ExitCode, Failure> {
    let parsed_actor = actor.map(|actor| crate::input::Actor::parse("--actor", actor).map_err(|error| Failure::bad_input(error.to_string()))).transpose()?;
    let options = WatchOptions { deadline: timing.deadline, soak: timing.soak, interval: timing.interval, actor: parsed_actor, push: push.map(str::to_string) };
    let text = output == BasicFormat::Text;
    let watched = workspace.watch(app, env, &options, &mut |seen| {
        if text {
            eprintln!("{}", line(seen));
        }
    })?;
    let rollback = match (&watched.end, on_failure.rollback) {
        (WatchEnd::Failed(_), true) => Some(roll_back(cli, workspace, (app, env), actor, push, &on_failure.approvals)),
        _ => None,
    };
    print(&render(&watched, rollback.as_ref(), output));
    Ok(match watched.end {
        WatchEnd::Healthy => ExitCode::Success,
        WatchEnd::Failed(_) => ExitCode::Denied,
        WatchEnd::Unknown(_) => ExitCode::PolicyFailed,
    })
}

/// `promote`, and with `--watch` (`timing`) then `watch` of the commit it made.
pub(super) fn promote(cli: &Cli, plan: &PlanArgs, (branch, push): (Option<&str>, Option<&str>), timing: Option<&WatchTiming>) -> Result<ExitCode, Failure> {
    super::decision::check_decision_log(cli)?;
    if timing.is_some() && (!plan.selection().is_single() || branch.is_some() || plan.request.output != OutputFormat::Text) {
        return Err(Failure::bad_input(
            "promote --watch takes one application into one environment on the configured branch, with text output; \
             for JSON, run `tollgate watch APP --env ENV -o json` after promote",
        ));
    }
    let workspace = open_workspace(cli)?;
    let (requests, skipped, train) = super::request::plan_requests(&workspace, plan)?;
    let mut batch = workspace.promote_batch(&requests, train, branch, push)?;
    batch.skipped.splice(0..0, skipped);
    let code = super::decision::report(cli, &workspace, &batch, plan.selection().is_single(), false, plan.request.output)?;
    match (&batch.commit, batch.decided.first(), timing) {
        (Some(_), Some(decided), Some(timing)) => {
            let t = &decided.plan.transition;
            let on_failure = OnFailure { rollback: false, approvals: Vec::new() };
            let target = (t.application.as_str(), t.to_env.as_str());
            watch_and_report(cli, &workspace, target, timing, plan.request.actor.as_deref(), push, &on_failure, BasicFormat::Text)
        }
        _ => Ok(code),
    }
}

/// A rollback requested by the watcher, through the same pipeline as `tollgate rollback`.
fn roll_back(cli: &Cli, workspace: &Workspace, (app, env): (&str, &str), actor: Option<&str>, push: Option<&str>, approvals: &[String]) -> Result<Batch, Failure> {
    super::decision::check_decision_log(cli)?;
    let mut request = RequestArgs::empty();
    request.actor = actor.map(str::to_string);
    request.approvals = approvals.to_vec();
    let plan_request = plan_request(workspace, &PlanArgs::single(app, env), &request, Some(RollbackTarget::Previous))?;
    let batch = workspace.promote(&plan_request, None, push)?;
    super::decision::append_decision_log(cli, || crate::report::batch::log_lines(&batch, true, false));
    Ok(batch)
}

/// What became of the rollback, for people and machines: (outcome, commit, summary).
fn rollback_summary(rollback: &Result<Batch, Failure>) -> (&'static str, Option<String>, String) {
    match rollback {
        Ok(batch) if batch.commit.is_some() => ("rolled-back", batch.commit.clone(), format!("rolled back: commit {}", batch.commit.as_deref().unwrap_or_default())),
        Ok(batch) => {
            let (word, code) = match batch.outcome() {
                GateOutcome::Denied => ("denied", "denied by the policies"),
                GateOutcome::Failed => ("failed", "a policy failed to run"),
                GateOutcome::Allowed => ("nothing-to-do", "nothing to roll back"),
            };
            let findings: Vec<String> = batch
                .single()
                .map(|decided| {
                    let denied = decided.gate.policies.iter().filter(|run| run.evaluation.outcome.label() != "allow");
                    denied.flat_map(|run| run.evaluation.outcome.findings().iter().map(move |finding| format!("{}: {}", run.name, finding.message))).collect()
                })
                .unwrap_or_default();
            (word, None, format!("the rollback was not made: {code}{}; the failure stays recorded", if findings.is_empty() { String::new() } else { format!(" ({})", findings.join("; ")) }))
        }
        Err(failure) => ("error", None, format!("the rollback could not be requested: {}; the failure stays recorded", failure.message)),
    }
}

/// The closing report: the outcome and the health record made.
fn render(watched: &Watched, rollback: Option<&Result<Batch, Failure>>, format: BasicFormat) -> String {
    let rollback = rollback.map(rollback_summary);
    let (outcome, reason) = match &watched.end {
        WatchEnd::Healthy => ("healthy", None),
        WatchEnd::Failed(reason) => ("failed", Some(reason.as_str())),
        WatchEnd::Unknown(reason) => ("unknown", Some(reason.as_str())),
    };
    match format {
        BasicFormat::Json => {
            let mut text = serde_json::to_string_pretty(&serde_json::json!({
                "schema_version": 1,
                "application": watched.app,
                "environment": watched.env,
                "promotion": watched.promotion,
                "version": watched.version,
                "argocd_application": watched.argocd_application,
                "outcome": outcome,
                "reason": reason,
                "recorded": watched.recorded,
                "pushed": watched.pushed,
                "progress": watched.progress,
                "rollback": rollback.as_ref().map(|(outcome, commit, summary)| serde_json::json!({"outcome": outcome, "commit": commit, "summary": summary})),
            }))
            .expect("a watch report serialises");
            text.push('\n');
            text
        }
        BasicFormat::Text => {
            let what = format!("{} {} in {} (promotion {})", watched.app, watched.version, watched.env, &watched.promotion[..12.min(watched.promotion.len())]);
            let mut out = match &watched.end {
                WatchEnd::Healthy => format!("{what}: healthy\n"),
                WatchEnd::Failed(reason) => format!("{what}: failed its health check: {}\n", line(reason)),
                WatchEnd::Unknown(reason) => format!("{what}: could not tell: {}; nothing recorded\n", line(reason)),
            };
            if let Some(commit) = &watched.recorded {
                out.push_str(&format!("recorded as health record {commit}\n"));
            }
            if let Some(pushed) = &watched.pushed {
                out.push_str(&format!("pushed to {} ({} at {})\n", pushed.remote, pushed.branch, pushed.commit));
            }
            if let Some((_, _, summary)) = &rollback {
                out.push_str(&format!("{}\n", line(summary)));
            }
            out
        }
    }
}
