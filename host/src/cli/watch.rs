//! `tollgate watch APP --env ENV`: wait for the newest promotion to be synced and healthy in
//! Argo CD and to soak without a matching alert, then record the outcome in Git.

use std::time::Duration;

use clap::Args;

use super::serve::parse_duration;
use super::setup::open_workspace;
use super::{Cli, print};
use crate::exit::{ExitCode, Failure};
use crate::promotion::watch::{WatchEnd, WatchOptions, Watched};
use crate::report::BasicFormat;
use crate::report::escape::line;

/// Arguments of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Application.
    pub app: String,
    /// Environment whose newest promotion of APP is watched.
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// How long to wait for Argo CD to report the promotion synced and healthy, e.g. 10m.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub deadline: Duration,
    /// How long no matching alert may fire (and the application must stay healthy) afterwards, e.g. 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub soak: Duration,
    /// How long to wait between two looks, e.g. 10s.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Who watches: the health record's author (a login or `Name <email>`) [default: Git's identity].
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Push the health record to REMOTE [default: origin].
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push: Option<String>,
    /// Output format: text or json.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: BasicFormat,
}

pub(super) fn run(cli: &Cli, args: &WatchArgs) -> Result<ExitCode, Failure> {
    let actor = args
        .actor
        .as_deref()
        .map(|actor| crate::input::Actor::parse("--actor", actor).map_err(|error| Failure::bad_input(error.to_string())))
        .transpose()?;
    let workspace = open_workspace(cli)?;
    let options = WatchOptions { deadline: args.deadline, soak: args.soak, interval: args.interval, actor, push: args.push.clone() };
    let text = args.output == BasicFormat::Text;
    let watched = workspace.watch(&args.app, &args.env, &options, &mut |seen| {
        if text {
            eprintln!("{}", line(seen));
        }
    })?;
    print(&render(&watched, args.output));
    Ok(match watched.end {
        WatchEnd::Healthy => ExitCode::Success,
        WatchEnd::Failed(_) => ExitCode::Denied,
        WatchEnd::Unknown(_) => ExitCode::PolicyFailed,
    })
}

/// The closing report: the outcome and the health record made.
fn render(watched: &Watched, format: BasicFormat) -> String {
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
            out
        }
    }
}
