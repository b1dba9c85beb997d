//! `tollgate serve`: its flags, and the command line's own set-up (the workspace, the request
//! flags) lent to the server so that a request over HTTP becomes exactly what the same flags
//! would on the command line.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::Args;

use super::request::{PlanArgs, RequestArgs, plan_requests};
use super::setup::{Lifetime, open_workspace_in, runtime_for};
use crate::repo::GitRepo;
use super::Cli;
use crate::exit::{ExitCode, Failure};
use crate::promotion::workspace::{Workspace, default_protected_branch};
use crate::report::OutputFormat;
use crate::runtime::Runtime;
use crate::serve::{Commands, PlanBody, Requests, RepoSource, ServeOptions};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; port 0 picks a free one (the address is printed).
    /// Any address other than loopback needs --tls-cert/--tls-key or --insecure-listen.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// API tokens, one a line (blank lines and `#` comments ignored): requests other than
    /// /healthz must send `Authorization: Bearer TOKEN`. Without it, only loopback may listen.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Tokens for /metrics alone [default: the API tokens].
    #[arg(long, value_name = "FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); re-read when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); re-read when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Listen on a non-loopback address without TLS (behind a TLS-terminating proxy only).
    #[arg(long)]
    pub insecure_listen: bool,
    /// Where a remote --repo URL is mirrored (a bare clone, fetched with your git).
    #[arg(long, value_name = "DIR")]
    pub mirror_dir: Option<PathBuf>,
    /// How often the mirror of a remote --repo is fetched, e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub fetch_interval: Duration,
    /// Secret of the forge's webhook: POST /v1/refresh then also accepts a request signed
    /// with it (GitHub's X-Hub-Signature-256) instead of a bearer token.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Serve POST /v1/promote: commit and push as `tollgate promote --push` does, with this
    /// process's git credentials.
    #[arg(long)]
    pub allow_promote: bool,
    /// Decide a standard plugin's configuration, once it is hot (16 decisions), from a snapshot
    /// pre-initialised for it: about 50 µs less CPU per decision of four standard policies, for
    /// about 9 MiB more memory per snapshot (at most 8 configurations per plugin) and a second
    /// or two of compiling each.
    #[arg(long)]
    pub preinitialise: bool,
    /// Decisions evaluated at once; more are refused with 503 and Retry-After.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_in_flight: u32,
    /// How long a request may take before it is answered 504 (a promotion under way still
    /// finishes, all or nothing), e.g. 30s.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,
}

/// `30s`, `5m`, `1h`, `250ms`, or plain seconds.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, "s"), |at| text.split_at(at));
    let value: u64 = number.parse().map_err(|_| format!("{text:?}: write a duration such as 30s, 5m or 1h"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        _ => return Err(format!("{text:?}: unknown unit {unit:?}; use ms, s, m or h")),
    };
    if duration.is_zero() {
        return Err(format!("{text:?}: must be more than zero"));
    }
    Ok(duration)
}

/// Run the server until SIGTERM or Ctrl-C; exit 0 after a clean shutdown.
pub(super) fn run(cli: &Cli, args: &ServeArgs) -> Result<ExitCode, Failure> {
    crate::serve::without_malloc_thread_caches();
    let repo = RepoSource::parse(&cli.repo.to_string_lossy(), args.mirror_dir.as_deref())?;
    let options = ServeOptions {
        listen: args.listen.clone(),
        tokens: args.token_file.as_deref().map(crate::serve::read_tokens).transpose()?,
        metrics_tokens: args.metrics_token_file.as_deref().map(crate::serve::read_tokens).transpose()?,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        insecure_listen: args.insecure_listen,
        repo,
        fetch_interval: args.fetch_interval,
        webhook_secret: args.webhook_secret_file.as_deref().map(crate::serve::read_secret).transpose()?,
        allow_promote: args.allow_promote,
        decision_log: cli.decision_log.clone(),
        max_in_flight: args.max_in_flight as usize,
        request_timeout: args.request_timeout,
    };
    let commands = CliCommands { runtime: Arc::new(runtime_for(cli, if args.preinitialise { Lifetime::PreinitialisingServer } else { Lifetime::LongLived })?), cli: CliSettings::of(cli), default_branch: OnceLock::new() };
    crate::serve::run(options, Arc::new(commands))?;
    Ok(ExitCode::Success)
}

/// The global flags a request's workspace is opened with.
struct CliSettings {
    config: Option<PathBuf>,
    protected_branch: Option<String>,
}

impl CliSettings {
    fn of(cli: &Cli) -> Self {
        CliSettings { config: cli.config.clone(), protected_branch: super::setup::protected_branch(cli) }
    }
}

/// The command line's set-up, shared with every request.
struct CliCommands {
    runtime: Arc<Runtime>,
    cli: CliSettings,
    /// The protected branch found by [`default_protected_branch`] when neither
    /// `--protected-branch` nor `--config` is given: found for the first request and kept
    /// (each look-up reads several references from disk), so a reference made later (a
    /// branch, or the `origin/HEAD` a fetch may create) never moves it: restart the server to.
    default_branch: OnceLock<String>,
}

impl Commands for CliCommands {
    fn open_in(&self, repo: GitRepo) -> Result<Workspace, Failure> {
        let protected = match (&self.cli.protected_branch, &self.cli.config) {
            (None, None) => Some(match self.default_branch.get() {
                Some(branch) => branch.clone(),
                None => {
                    let branch = default_protected_branch(&repo)?;
                    self.default_branch.get_or_init(|| branch).clone()
                }
            }),
            (given, _) => given.clone(),
        };
        open_workspace_in(repo, self.cli.config.as_deref(), protected, Arc::clone(&self.runtime))
    }

    fn plan_requests(&self, workspace: &Workspace, body: &PlanBody) -> Result<Requests, Failure> {
        let args = plan_args(body)?;
        let (requests, skipped, train) = plan_requests(workspace, &args)?;
        Ok(Requests { requests, skipped, train, single: args.selection().is_single() })
    }
}

/// A request body as the flags of `tollgate plan` (approvals and labels as `--approval` and
/// `--label` take them; no files: the requester names none on the server).
fn plan_args(body: &PlanBody) -> Result<PlanArgs, Failure> {
    let labels = body
        .labels
        .iter()
        .map(|(key, value)| match key.is_empty() || key.contains('=') {
            true => Err(Failure::bad_input(format!("labels: key {key:?}: give a non-empty key without `=`"))),
            false => Ok(format!("{key}={value}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PlanArgs {
        app: None,
        apps: body.app.clone(),
        all: body.all,
        to: body.to.clone(),
        from: body.from.clone(),
        version: body.version.clone(),
        digest: body.digest.iter().cloned().collect(),
        no_digest: body.no_digest,
        latest: body.latest,
        request: RequestArgs { actor: body.actor.clone(), approvals: body.approvals.clone(), labels, at: body.at.clone(), output: OutputFormat::Json, ..RequestArgs::empty() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_refuse_zero_and_unknown_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").unwrap_err().contains("more than zero"));
        assert!(parse_duration("3d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn a_label_key_holding_an_equals_sign_is_refused_rather_than_split_elsewhere() {
        let body: PlanBody = serde_json::from_str(r#"{"app": "shop-api", "to": "prod", "labels": {"a=b": "c"}}"#).unwrap();
        assert!(plan_args(&body).unwrap_err().message.contains("labels: key \"a=b\""));
        let body: PlanBody = serde_json::from_str(r#"{"app": "shop-api", "to": ["prod"], "labels": {"ticket": "INC-1=2"}}"#).unwrap();
        assert_eq!(plan_args(&body).unwrap().request.labels, vec!["ticket=INC-1=2"]);
    }
}
