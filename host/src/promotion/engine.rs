//! The promotion engine: ties configuration, repository, planning, the policy gate and
//! committing together into the operations the CLI offers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use git2::Signature;
use serde::Serialize;

use super::commit::{CommitError, checked_out_branch, commit_plan, signature};
use super::gate::{GateOutcome, GateResult, run_policies};
use super::history::{HistoryReader, PromotionRecord, read_history, verified_in};
use super::journal::PromotionLock;
use super::plan::{Plan, PlanRequest, plan, plan_with};
use super::push::{MAX_PUSH_ATTEMPTS, PushOutcome, backoff, discard_local_commit, push, sync_from_remote};
use super::record::DecisionRecord;
use crate::config::{CONFIG_FILE, Config};
use crate::exit::Failure;
use crate::manifest::read_deployed;
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
    /// Its configuration.
    pub config: Config,
    /// Where relative plugin paths are resolved.
    pub base_dir: PathBuf,
    /// The sandboxed plugin runtime.
    pub runtime: Runtime,
    /// Commits of history the last promotion plan read (see [`Workspace::history_commits_read`]).
    history_commits_read: AtomicUsize,
}

impl Workspace {
    /// Open the repository at `repo_path` and read `tollgate.yaml` from the tip of the
    /// protected branch (`protected_branch`, else [`default_protected_branch`]), or from
    /// `config_path` on disk. What is checked out never chooses the configuration that
    /// judges it.
    pub fn open(repo_path: &Path, config_path: Option<&Path>, protected_branch: Option<&str>, runtime: Runtime) -> Result<Workspace, Failure> {
        let repo = GitRepo::open(repo_path).map_err(|error| Failure::bad_input(error.0))?;
        let (source, text) = read_config(&repo, config_path, protected_branch)?;
        let config = Config::parse(&source, &text).map_err(|error| Failure::bad_input(error.0))?;
        Ok(Workspace::new(repo, config, runtime))
    }

    /// A workspace over an open repository and an already parsed configuration; relative
    /// plugin paths resolve against the working directory (the current one for a bare repository).
    pub fn new(repo: GitRepo, config: Config, runtime: Runtime) -> Workspace {
        let base_dir = repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        Workspace { repo, config, base_dir, runtime, history_commits_read: AtomicUsize::new(0) }
    }

    /// The branch tip.
    pub fn tip(&self) -> Result<Tip, Failure> {
        self.repo.tip(&self.config.branch).map_err(|error| Failure::bad_input(error.0))
    }

    /// How many commits of history the last promotion (not rollback) plan read: planning stops
    /// at the newest record it needs. Shown with `--verbose`.
    pub fn history_commits_read(&self) -> usize {
        self.history_commits_read.load(Ordering::Relaxed)
    }

    /// A lazy reader of the branch's promotion history, newest first.
    pub fn history_reader(&self) -> Result<HistoryReader<'_>, Failure> {
        HistoryReader::new(self.repo.git(), self.tip()?.commit).map_err(|error| Failure::bad_input(error.message().to_string()))
    }

    /// The promotion history of the branch, newest first.
    pub fn history(&self) -> Result<Vec<PromotionRecord>, Failure> {
        let tip = self.tip()?;
        read_history(self.repo.git(), tip.commit).map_err(|error| Failure::bad_input(error.message().to_string()))
    }

    /// What is deployed where.
    pub fn status(&self) -> Result<Vec<AppStatus>, Failure> {
        let tip = self.tip()?;
        let history = self.history()?;
        let mut apps = Vec::new();
        for (name, application) in &self.config.applications {
            let mut environments = BTreeMap::new();
            for env in &self.config.environments {
                let Some(location) = application.environments.get(env) else { continue };
                let text = self.repo.read_file(tip.tree, &location.file).map_err(|error| Failure::bad_input(error.0))?;
                let cell = match text {
                    None => EnvStatus::error(format!("{} does not exist", location.file)),
                    Some(text) => match read_deployed(&location.file, &text, &location.layout(&application.image)) {
                        Ok(deployed) => {
                            let newest = verified_in(&history, name, env).next();
                            // The file is as the newest verified promotion left it, or it was changed
                            // another way since (or only ever by commits that do not check out).
                            let tip_blob = self.blob_at(&tip.commit.to_string(), &location.file);
                            let attributed = newest.filter(|record| self.blob_at(&record.commit, &location.file) == tip_blob);
                            let unrecorded = attributed.is_none()
                                && (newest.is_some()
                                    || history.iter().any(|record| !record.verified && self.touches(&record.commit, &location.file)));
                            EnvStatus::of(attributed, unrecorded, deployed.version, deployed.digest)
                        }
                        Err(_) if location.inserts_missing() && crate::manifest::insert::lacks_target(&text, &location.layout(&application.image)) => {
                            EnvStatus::error(format!("not set in {} yet; the first promotion adds it (insert: true)", location.file))
                        }
                        Err(error) => EnvStatus::error(error.0),
                    },
                };
                environments.insert(env.clone(), cell);
            }
            apps.push(AppStatus { app: name.clone(), environments });
        }
        Ok(apps)
    }

    /// The blob of `path` in `commit`, if any.
    fn blob_at(&self, commit: &str, path: &str) -> Option<git2::Oid> {
        let commit = self.repo.git().find_commit(commit.parse().ok()?).ok()?;
        commit.tree().ok()?.get_path(Path::new(path)).ok().map(|entry| entry.id())
    }

    /// Whether `commit` changed `path` relative to its first parent.
    fn touches(&self, commit: &str, path: &str) -> bool {
        let parent = commit.parse().ok().and_then(|oid| self.repo.git().find_commit(oid).ok()).and_then(|commit| commit.parent_id(0).ok());
        parent.is_some_and(|parent| self.blob_at(commit, path) != self.blob_at(&parent.to_string(), path))
    }

    /// Plan a transition and run the policies on it.
    pub fn decide(&self, request: &PlanRequest) -> Result<Decided, Failure> {
        if request.rollback.is_some() {
            return self.decide_in(request, self.history()?);
        }
        // A promotion needs only the newest arrival in the source environment: read no further.
        let mut reader = self.history_reader()?;
        let planned = plan_with(&self.repo, &self.config, request, &mut reader).map_err(Failure::bad_input);
        self.history_commits_read.store(reader.commits_read(), Ordering::Relaxed);
        self.judge(planned?)
    }

    /// [`Workspace::decide`] with the branch's history already read (several transitions
    /// planned on one tip read it once).
    pub fn decide_in(&self, request: &PlanRequest, mut history: Vec<PromotionRecord>) -> Result<Decided, Failure> {
        if request.rollback.is_some() {
            // A promotion whose required commit signature is missing or invalid is no rollback target.
            crate::trust::commit_signature::drop_untrusted(&self.repo, &self.config, &mut history);
        }
        self.judge(plan(&self.repo, &self.config, request, &history).map_err(Failure::bad_input)?)
    }

    /// Run the policies on a plan.
    fn judge(&self, plan: Plan) -> Result<Decided, Failure> {
        if plan.no_op {
            return Ok(Decided { plan, gate: GateResult { outcome: GateOutcome::Allowed, policies: Vec::new() } });
        }
        let overlay: BTreeMap<String, Option<String>> = plan.edits().map(|(path, after)| (path.to_string(), Some(after.to_string()))).collect();
        let files = self.repo.proposed_tree(plan.base.tree, overlay).map_err(|error| Failure::bad_input(error.0))?;
        let gate = run_policies(&self.runtime, &self.config, &self.base_dir, &plan.transition, Arc::new(files))
            .map_err(Failure::bad_input)?;
        Ok(Decided { plan, gate })
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

    /// Decide and, when allowed, commit; re-plan on the new tip if the branch moved
    /// (at most [`MAX_ATTEMPTS`] times).
    pub fn promote(&self, request: &PlanRequest, new_branch: Option<&str>) -> Result<Promoted, Failure> {
        let author = self.check_promotion(request, new_branch)?;
        let mut lock = PromotionLock::acquire(&self.repo).map_err(commit_failure)?;
        self.decide_and_commit(&mut lock, request, new_branch, &author, false)
    }

    /// What every promotion checks before it takes the repository's promotion lock; returns
    /// the commit's author.
    fn check_promotion(&self, request: &PlanRequest, new_branch: Option<&str>) -> Result<Signature<'static>, Failure> {
        self.check_requested_at(request)?;
        if let Some(name) = new_branch {
            crate::input::branch("--branch", name).map_err(|error| Failure::bad_input(error.to_string()))?;
        }
        // Before the actor reaches a signature; planning checks the rest again for `plan`.
        request.validate().map_err(|error| Failure::bad_input(error.to_string()))?;
        let author = signature(&self.repo, request.actor_given.then_some(&request.actor)).map_err(commit_failure)?;
        crate::trust::commit_signature::require_signing(&self.repo, &self.config, &request.to_env, request.actor.identity()).map_err(Failure::bad_input)?;
        Ok(author)
    }

    /// The promotion loop, holding the promotion lock.
    fn decide_and_commit(
        &self,
        lock: &mut PromotionLock,
        request: &PlanRequest,
        new_branch: Option<&str>,
        author: &Signature<'_>,
        publish: bool,
    ) -> Result<Promoted, Failure> {
        let mut last_conflict = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let decided = self.decide(request)?;
            if decided.plan.no_op || decided.gate.outcome != GateOutcome::Allowed {
                return Ok(Promoted { decided, commit: None, pushed: None });
            }
            let record = DecisionRecord::new(&decided.plan, &decided.gate);
            match commit_plan(&self.repo, lock, publish, &self.config.branch, new_branch, &decided.plan, &record, author) {
                Ok(commit) => return Ok(Promoted { decided, commit: Some(commit.to_string()), pushed: None }),
                Err(CommitError::Conflict(message)) => last_conflict = message,
                Err(error) => return Err(commit_failure(error)),
            }
        }
        Err(Failure::conflict(format!(
            "{last_conflict}; gave up after {MAX_ATTEMPTS} attempts (re-planned and re-ran the policies each time). Try again."
        )))
    }

    /// [`Workspace::promote`] based on `remote`'s tip, then push the branch (the decision
    /// record is in the commit). A push rejected because the branch moved discards the
    /// local commit, fetches, re-plans, re-runs the policies and tries again (bounded, with
    /// jitter; exit 4 after). Any other refusal discards the local commit too (exit 2), so
    /// nothing unpublished is left for a later promotion to build on; if this process is
    /// killed before that, the next promotion discards it (see [`super::journal`]).
    pub fn promote_and_push(&self, request: &PlanRequest, new_branch: Option<&str>, remote: &str) -> Result<Promoted, Failure> {
        let author = self.check_promotion(request, new_branch)?;
        self.publish(new_branch, remote, |lock| {
            let promoted = self.decide_and_commit(lock, request, new_branch, &author, true)?;
            let made = promoted.commit.clone().map(|commit| (commit, promoted.decided.plan.base.commit.to_string()));
            Ok((promoted, made))
        })
        .map(|(mut promoted, pushed)| {
            promoted.pushed = pushed;
            promoted
        })
    }

    /// Push what `attempt` commits holding the promotion lock (it returns its result and,
    /// when it made a commit, the commit and its base), fetching and re-running `attempt`
    /// when the remote moved; see [`Workspace::promote_and_push`].
    pub(crate) fn publish<T>(
        &self,
        new_branch: Option<&str>,
        remote: &str,
        attempt: impl Fn(&mut PromotionLock) -> Result<(T, Option<(String, String)>), Failure>,
    ) -> Result<(T, Option<Pushed>), Failure> {
        let mut lock = PromotionLock::acquire(&self.repo).map_err(commit_failure)?;
        let dir = self.repo.path();
        let branch = new_branch.unwrap_or(&self.config.branch);
        let checked_out = checked_out_branch(&self.repo).as_deref() == Some(self.config.branch.as_str());
        let mut last_rejection = String::new();
        for attempt_number in 1..=MAX_PUSH_ATTEMPTS {
            sync_from_remote(dir, remote, &self.config.branch, checked_out)?;
            let (result, made) = attempt(&mut lock)?;
            let Some((commit, base)) = made else { return Ok((result, None)) };
            let outcome = push(dir, remote, branch).unwrap_or_else(|failure| PushOutcome::Refused(failure.message));
            if outcome == PushOutcome::Pushed {
                lock.clear().map_err(commit_failure)?;
                return Ok((result, Some(Pushed { remote: remote.to_string(), branch: branch.to_string(), commit })));
            }
            // Should this fail, the intent stays in the journal and the next promotion undoes it.
            discard_local_commit(dir, branch, &commit, &base, new_branch.is_some(), checked_out && new_branch.is_none())?;
            lock.clear().map_err(commit_failure)?;
            match outcome {
                PushOutcome::Moved(message) if new_branch.is_none() => {
                    last_rejection = message;
                    std::thread::sleep(backoff(attempt_number));
                }
                PushOutcome::Moved(message) => {
                    return Err(Failure::conflict(format!("{remote} already has a branch {branch}: {message}. Nothing was published")));
                }
                PushOutcome::Refused(message) => {
                    return Err(Failure::bad_input(format!("{remote} refused the push of {branch}; the local commit was discarded. {message}")));
                }
                PushOutcome::Pushed => unreachable!("handled above"),
            }
        }
        Err(Failure::conflict(format!(
            "{remote} rejected the push of {branch} {MAX_PUSH_ATTEMPTS} times (the branch keeps moving): {last_rejection}. \
             Nothing was published; try again."
        )))
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

fn commit_failure(error: CommitError) -> Failure {
    match error {
        CommitError::Conflict(message) => Failure::conflict(message),
        CommitError::State(message) => Failure::bad_input(message),
    }
}

/// A planned transition and the gate's verdict on it.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The plan.
    pub plan: Plan,
    /// The policies' verdicts.
    pub gate: GateResult,
}

/// The result of `promote`: the decision and, when it was committed, the commit.
#[derive(Debug, Clone)]
pub struct Promoted {
    /// What was decided.
    pub decided: Decided,
    /// The new commit, when one was made.
    pub commit: Option<String>,
    /// Where it was published, with `--push`.
    pub pushed: Option<Pushed>,
}

/// A promotion commit published to a remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    /// The remote.
    pub remote: String,
    /// The branch pushed.
    pub branch: String,
    /// The commit pushed.
    pub commit: String,
}

/// One application's state across environments.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    /// Application.
    pub app: String,
    /// Per environment.
    pub environments: BTreeMap<String, EnvStatus>,
}

/// What is in one environment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvStatus {
    /// Version.
    pub version: Option<String>,
    /// Digest.
    pub digest: Option<String>,
    /// When it got there (Unix seconds), from the verified promotion history.
    pub since: Option<i64>,
    /// Who promoted it.
    pub by: Option<String>,
    /// The promotion commit.
    pub commit: Option<String>,
    /// The decision time, when the requester chose it (`--at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<i64>,
    /// The promotion's labels (a break-glass label shows here).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Whether the version in the file did not arrive by a verified tollgate promotion
    /// although tollgate promotions (or claims of them) exist for this environment: a hand
    /// edit, a forged trailer block or a transplanted record.
    pub unrecorded_change: bool,
    /// Why the version could not be read.
    pub error: Option<String>,
}

impl EnvStatus {
    fn error(message: String) -> Self {
        EnvStatus { error: Some(message), ..EnvStatus::default() }
    }

    /// The cell for `version`: attributed to the verified promotion that left the file as it
    /// is, or marked as an unrecorded change.
    fn of(attributed: Option<&PromotionRecord>, unrecorded_change: bool, version: String, digest: Option<String>) -> Self {
        EnvStatus {
            since: attributed.map(|record| record.time),
            by: attributed.map(|record| record.requested_by.clone()),
            commit: attributed.map(|record| record.commit.clone()),
            requested_at: attributed.and_then(|record| record.requested_at),
            labels: attributed.map(|record| record.labels.clone()).unwrap_or_default(),
            unrecorded_change,
            version: Some(version),
            digest,
            error: None,
        }
    }
}
