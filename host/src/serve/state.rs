//! What every request of the server shares: the command line's set-up, the repository, the
//! credentials, the limits, the metrics, the decision log and the decisions answered lately.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::dashboard::view::RecentDecision;
use super::guard::Limits;
use super::metrics::Metrics;
use super::mirror::RepoSource;
use super::{Commands, ServeOptions};
use crate::exit::Failure;
use crate::promotion::workspace::Workspace;
use crate::repo::GitRepo;

/// What every request shares.
pub struct AppState {
    /// The command line's set-up.
    pub commands: Arc<dyn Commands>,
    /// The repository (its mirror for a remote one).
    pub repo: RepoSource,
    /// API tokens.
    pub tokens: Option<Vec<String>>,
    /// Tokens for `/metrics`.
    pub metrics_tokens: Option<Vec<String>>,
    /// The webhook secret.
    pub webhook_secret: Option<Vec<u8>>,
    /// Serve `/v1/promote`.
    pub allow_promote: bool,
    /// Whether it serves TLS (the dashboard's cookie is then `Secure`).
    pub tls: bool,
    /// Where decisions are appended, one JSON line each; one writer at a time.
    pub decision_log: Option<Mutex<PathBuf>>,
    /// The in-flight limit and deadline.
    pub limits: Limits,
    /// The metrics.
    pub metrics: Metrics,
    /// One fetch of the mirror at a time, and none while a promotion commits and pushes.
    pub fetching: tokio::sync::Mutex<()>,
    /// The newest decisions answered, newest last (at most [`RECENT_DECISIONS`]).
    recent: Mutex<VecDeque<RecentDecision>>,
    /// Opened repositories no request is using (at most [`IDLE_REPOSITORIES`]).
    idle_repositories: Mutex<Vec<GitRepo>>,
}

/// How many opened repositories are kept for the next requests. Opening one (libgit2 finding
/// it and reading its configuration files) was a tenth of a `/v1/plan`'s time, and a reused
/// one keeps its object cache; every request still reads the configuration and its lock file
/// from the protected branch's tip, so nothing decided depends on the reuse.
pub const IDLE_REPOSITORIES: usize = 4;

/// A request's workspace; its repository goes back to the server's idle ones when it ends.
pub struct Leased<'a> {
    workspace: Option<Workspace>,
    idle: &'a Mutex<Vec<GitRepo>>,
}

impl std::ops::Deref for Leased<'_> {
    type Target = Workspace;

    fn deref(&self) -> &Workspace {
        self.workspace.as_ref().expect("a leased workspace is present until dropped")
    }
}

impl std::borrow::Borrow<Workspace> for Leased<'_> {
    fn borrow(&self) -> &Workspace {
        self
    }
}

impl Drop for Leased<'_> {
    fn drop(&mut self) {
        let Some(workspace) = self.workspace.take() else { return };
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < IDLE_REPOSITORIES {
            idle.push(workspace.into_repo());
        }
    }
}

/// How many answered decisions the dashboard lists.
pub const RECENT_DECISIONS: usize = 100;

impl AppState {
    /// The state of a server run with `options`.
    pub fn new(options: &ServeOptions, commands: Arc<dyn Commands>) -> AppState {
        AppState {
            commands,
            repo: options.repo.clone(),
            tokens: options.tokens.clone(),
            metrics_tokens: options.metrics_tokens.clone().or_else(|| options.tokens.clone()),
            webhook_secret: options.webhook_secret.clone(),
            allow_promote: options.allow_promote,
            tls: options.tls.is_some(),
            decision_log: options.decision_log.clone().map(Mutex::new),
            limits: Limits::new(options.max_in_flight, options.request_timeout),
            metrics: Metrics::default(),
            fetching: tokio::sync::Mutex::new(()),
            recent: Mutex::new(VecDeque::new()),
            idle_repositories: Mutex::new(Vec::new()),
        }
    }

    /// The workspace of one request: an idle opened repository (else the repository opened
    /// now) with the configuration read now from its protected branch.
    pub fn open(&self) -> Result<Leased<'_>, Failure> {
        let idle = self.idle_repositories.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let repo = match idle {
            Some(repo) => repo,
            None => GitRepo::open(self.repo.path()).map_err(|error| Failure::bad_input(error.0))?,
        };
        let workspace = self.commands.open_in(repo)?;
        Ok(Leased { workspace: Some(workspace), idle: &self.idle_repositories })
    }

    /// Append a call's decisions, `lines`, to the decision log (a log that cannot be written is
    /// a warning, as for the command line); they are written out only when there is a log.
    pub(super) fn log(&self, lines: impl FnOnce() -> String) {
        let Some(path) = &self.decision_log else { return };
        let lines = lines();
        let path = path.lock().expect("decision log lock");
        let appended = std::fs::OpenOptions::new().create(true).append(true).open(&*path).and_then(|mut file| file.write_all(lines.as_bytes()));
        if let Err(error) = appended {
            eprintln!("tollgate: warning: --decision-log {}: cannot append to it ({error})", path.display());
        }
    }

    /// Keep what a call decided for the dashboard.
    pub(super) fn remember(&self, batch: &crate::promotion::pipeline::Batch, call: &'static str, dry_run: bool) {
        let mut recent = self.recent.lock().expect("recent decisions lock");
        for decided in &batch.decided {
            if recent.len() == RECENT_DECISIONS {
                recent.pop_front();
            }
            recent.push_back(RecentDecision::of(decided, call, batch.commit.as_deref(), dry_run));
        }
    }

    /// The newest decisions answered, newest first.
    pub fn recent_decisions(&self) -> Vec<RecentDecision> {
        self.recent.lock().expect("recent decisions lock").iter().rev().cloned().collect()
    }

    /// Fetch the mirror now (nothing to do for a local repository); `true` when fetched.
    pub async fn refresh(&self) -> Result<bool, Failure> {
        let RepoSource::Remote { dir, .. } = &self.repo else { return Ok(false) };
        let _one_at_a_time = self.fetching.lock().await;
        let fetched = super::mirror::fetch(dir).await;
        self.metrics.fetched(fetched.is_ok());
        fetched.map(|()| true)
    }
}
