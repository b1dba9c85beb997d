//! An opened GitOps repository: its configuration (read from the protected branch, never from
//! what is checked out) and the plugin runtime every command of the pipeline uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::journal::CommitError;
use super::histories::Histories;
use super::history::PromotionRecord;
use super::request::PlanRequest;
use crate::config::{CONFIG_FILE, Config};
use crate::exit::Failure;
use crate::repo::{GitRepo, Tip};
use crate::runtime::Runtime;

/// How many times a promotion re-plans when the branch moves under it.
pub const MAX_ATTEMPTS: usize = 3;
/// How far `--at` may be from now for `promote` and `rollback` unless the configuration
/// sets `allow_requested_at`.
pub const MAX_REQUESTED_AT_SKEW_SECONDS: i64 = 300;

/// An opened GitOps repository with its configuration and a plugin runtime.
pub struct Workspace {
    /// The repository.
    pub repo: GitRepo,
    /// Its configuration (shared with the configuration memo; see [`Config::parse_shared`]).
    pub config: Arc<Config>,
    /// Where relative plugin paths are resolved.
    pub base_dir: PathBuf,
    /// The sandboxed plugin runtime (shared: `tollgate serve` keeps one for every request).
    pub runtime: Arc<Runtime>,
    /// Commits of history the last promotion plan read (see [`Workspace::history_commits_read`]).
    pub(super) history_commits_read: AtomicUsize,
}

impl Workspace {
    /// Open the repository at `repo_path` and read `tollgate.yaml` from the tip of the
    /// protected branch (`protected_branch`, else [`default_protected_branch`]), or from
    /// `config_path` on disk. What is checked out never chooses the configuration that
    /// judges it.
    pub fn open(repo_path: &Path, config_path: Option<&Path>, protected_branch: Option<&str>, runtime: impl Into<Arc<Runtime>>) -> Result<Workspace, Failure> {
        let repo = GitRepo::open(repo_path).map_err(|error| Failure::bad_input(error.0))?;
        Workspace::open_in(repo, config_path, protected_branch, runtime)
    }

    /// [`Workspace::open`] over a repository already open (`tollgate serve` reuses one between
    /// requests): the configuration is read afresh all the same.
    pub fn open_in(repo: GitRepo, config_path: Option<&Path>, protected_branch: Option<&str>, runtime: impl Into<Arc<Runtime>>) -> Result<Workspace, Failure> {
        let (source, text) = read_config(&repo, config_path, protected_branch)?;
        let config = Config::parse_shared(&source, &text).map_err(|error| Failure::bad_input(error.0))?;
        Ok(Workspace::new(repo, config, runtime))
    }

    /// The open repository, for reuse once this workspace is done with.
    pub fn into_repo(self) -> GitRepo {
        self.repo
    }

    /// A workspace over an open repository and an already parsed configuration; relative
    /// plugin paths resolve against the working directory (the current one for a bare repository).
    pub fn new(repo: GitRepo, config: impl Into<Arc<Config>>, runtime: impl Into<Arc<Runtime>>) -> Workspace {
        let base_dir = repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        Workspace { repo, config: config.into(), base_dir, runtime: runtime.into(), history_commits_read: AtomicUsize::new(0) }
    }

    /// The branch tip.
    pub fn tip(&self) -> Result<Tip, Failure> {
        self.repo.tip(&self.config.branch).map_err(|error| Failure::bad_input(error.0))
    }

    /// How many commits of history the last promotion (not rollback) plan read: planning stops
    /// at the newest record it needs (a call shared among threads counts each thread's
    /// reading, so a commit two threads read counts twice). Shown with `--verbose`.
    pub fn history_commits_read(&self) -> usize {
        self.history_commits_read.load(Ordering::Relaxed)
    }

    /// Every environment's history, each read from the branch its location is on.
    pub fn histories(&self) -> Result<Histories<'_>, Failure> {
        Ok(Histories::new(&self.repo, &self.config, self.tip()?.commit))
    }

    /// The whole log of every branch that holds a location, newest first: promotions, hand
    /// edits, claims that do not check out, and configuration changes.
    pub fn log(&self) -> Result<Vec<super::history::Entry>, Failure> {
        self.histories()?.page(|_| true, |_| true, true, None).map_err(Failure::bad_input)
    }

    /// What `history` shows: the newest `limit` entries (0: all), only promotions of `app` and
    /// into `env` when given (configuration changes only when neither is), read only as far
    /// as they go.
    pub fn history_page(&self, app: Option<&str>, env: Option<&str>, limit: usize) -> Result<Vec<super::history::Entry>, Failure> {
        let wanted = |record: &PromotionRecord| app.is_none_or(|app| record.app == app) && env.is_none_or(|env| record.to == env);
        self.histories()?
            .page(wanted, |health| health.is_about(app, env), app.is_none() && env.is_none(), (limit > 0).then_some(limit))
            .map_err(Failure::bad_input)
    }

    /// The promotion history of every branch that holds a location, newest first.
    pub fn history(&self) -> Result<Vec<PromotionRecord>, Failure> {
        let entries = self.histories()?.page(|_| true, |_| false, false, None).map_err(Failure::bad_input)?;
        Ok(entries.into_iter().filter_map(|entry| match entry {
            super::history::Entry::Promotion(record) => Some(record),
            _ => None,
        }).collect())
    }

    /// A requester-chosen decision time is for `plan`; `promote` and `rollback` decide as of
    /// now unless the configuration allows it.
    pub(crate) fn check_requested_at(&self, request: &PlanRequest) -> Result<(), Failure> {
        let skew = (request.at - jiff::Timestamp::now().as_second()).abs();
        if request.at_given && !self.config.allow_requested_at && skew > MAX_REQUESTED_AT_SKEW_SECONDS {
            return Err(Failure::bad_input(format!(
                "--at is {skew} s from now; promote and rollback decide as of now (within {MAX_REQUESTED_AT_SKEW_SECONDS} s) unless \
                 tollgate.yaml on the protected branch sets allow_requested_at: true. plan takes any --at"
            )));
        }
        Ok(())
    }
}

/// The branch whose `tollgate.yaml` judges promotions when none is given: a bare
/// repository's HEAD (its default branch), else the `origin` remote's default branch
/// (`refs/remotes/origin/HEAD`), else `main`, else `master`. Never the checked-out branch,
/// which a pull request chooses.
pub fn default_protected_branch(repo: &GitRepo) -> Result<String, Failure> {
    let git = repo.git();
    let symbolic = |name: &str, prefix: &str| {
        git.find_reference(name).ok().and_then(|reference| reference.symbolic_target().ok().flatten().map(str::to_string)).and_then(|target| target.strip_prefix(prefix).map(str::to_string))
    };
    if git.is_bare()
        && let Some(branch) = symbolic("HEAD", "refs/heads/") {
            return Ok(branch);
        }
    if let Some(branch) = symbolic("refs/remotes/origin/HEAD", "refs/remotes/origin/") {
        return Ok(branch);
    }
    for candidate in ["main", "master"] {
        if git.find_reference(&format!("refs/heads/{candidate}")).is_ok() || git.find_reference(&format!("refs/remotes/origin/{candidate}")).is_ok() {
            return Ok(candidate.to_string());
        }
    }
    Err(Failure::bad_input(format!(
        "{}: cannot tell the protected branch whose {CONFIG_FILE} applies; pass --protected-branch NAME (or set TOLLGATE_PROTECTED_BRANCH)",
        repo.path().display()
    )))
}

/// The configuration's name for messages and its text: `config_path` on disk, else
/// `tollgate.yaml` at the tip of the protected branch (see [`Workspace::open`]), read from
/// the local branch or, when there is none, `origin`'s.
pub fn read_config(repo: &GitRepo, config_path: Option<&Path>, protected_branch: Option<&str>) -> Result<(String, String), Failure> {
    if let Some(path) = config_path {
        let text = std::fs::read_to_string(path).map_err(|error| Failure::bad_input(format!("{}: cannot read it ({error})", path.display())))?;
        return Ok((path.display().to_string(), text));
    }
    let branch = match protected_branch {
        Some(branch) => branch.to_string(),
        None => default_protected_branch(repo)?,
    };
    let git = repo.git();
    let tree = [format!("refs/heads/{branch}"), format!("refs/remotes/origin/{branch}")]
        .iter()
        .find_map(|name| git.find_reference(name).and_then(|reference| reference.peel_to_tree()).ok())
        .ok_or_else(|| {
            Failure::bad_input(format!(
                "{}: the protected branch {branch} does not exist (locally or on origin); pass --protected-branch NAME or --config FILE",
                repo.path().display()
            ))
        })?;
    let text = repo.read_file(tree.id(), CONFIG_FILE).map_err(|error| Failure::bad_input(error.0))?.ok_or_else(|| {
        Failure::bad_input(format!("{CONFIG_FILE} not found at the root of branch {branch} in {}; add one or pass --config", repo.path().display()))
    })?;
    Ok((CONFIG_FILE.to_string(), text))
}

pub(super) fn commit_failure(error: CommitError) -> Failure {
    match error {
        CommitError::Conflict(message) => Failure::conflict(message),
        CommitError::State(message) => Failure::bad_input(message),
    }
}

