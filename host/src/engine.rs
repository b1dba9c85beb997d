//! The promotion engine: ties configuration, repository, planning, the policy gate and
//! committing together into the operations the CLI offers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::commit::{CommitError, DecisionRecord, checked_out_branch, commit_message, commit_plan, read_record, signature};
use crate::push::{MAX_PUSH_ATTEMPTS, PushOutcome, backoff, discard_local_commit, push, sync_from_remote};
use crate::config::{CONFIG_FILE, Config};
use crate::exit::Failure;
use crate::gate::{GateOutcome, GateResult, resolve_plugin, run_policies};
use crate::history::{PromotionRecord, last_arrival, read_history};
use crate::manifest::read_deployed;
use crate::plan::{Plan, PlanRequest, plan};
use crate::repo::{GitRepo, Tip};
use crate::runtime::{Capability, HostAccess, NetworkFetcher, Runtime};

/// How many times a promotion re-plans when the branch moves under it.
pub const MAX_ATTEMPTS: usize = 3;

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
}

impl Workspace {
    /// Open the repository at `repo_path` and read `tollgate.yaml`: from HEAD to learn the
    /// branch holding desired state, then from that branch's tip, which wins (or from
    /// `config_path` on disk).
    pub fn open(repo_path: &Path, config_path: Option<&Path>, runtime: Runtime) -> Result<Workspace, Failure> {
        let repo = GitRepo::open(repo_path).map_err(|error| Failure::bad_input(error.0))?;
        let (source, text) = read_config(&repo, config_path)?;
        let mut config = Config::parse(&source, &text).map_err(|error| Failure::bad_input(error.0))?;
        if config_path.is_none() {
            // The branch holding desired state is authoritative for its own rules: a checkout
            // of a pull request must not bring a looser tollgate.yaml to judge itself.
            let tip = repo.tip(&config.branch).map_err(|error| Failure::bad_input(error.0))?;
            if let Some(protected) = repo.read_file(tip.tree, CONFIG_FILE).map_err(|error| Failure::bad_input(error.0))? {
                if protected != text {
                    let source = format!("{CONFIG_FILE} (branch {})", config.branch);
                    config = Config::parse(&source, &protected).map_err(|error| Failure::bad_input(error.0))?;
                }
            }
        }
        Ok(Workspace::new(repo, config, runtime))
    }

    /// A workspace over an open repository and an already parsed configuration; relative
    /// plugin paths resolve against the working directory (the current one for a bare repository).
    pub fn new(repo: GitRepo, config: Config, runtime: Runtime) -> Workspace {
        let base_dir = repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        Workspace { repo, config, base_dir, runtime }
    }

    /// The branch tip.
    pub fn tip(&self) -> Result<Tip, Failure> {
        self.repo.tip(&self.config.branch).map_err(|error| Failure::bad_input(error.0))
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
                            let arrival = last_arrival(&history, name, env, Some(&deployed.version));
                            EnvStatus {
                                version: Some(deployed.version),
                                digest: deployed.digest,
                                since: arrival.map(|record| record.time),
                                by: arrival.map(|record| record.requested_by.clone()),
                                commit: arrival.map(|record| record.commit.clone()),
                                error: None,
                            }
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

    /// Plan a transition and run the policies on it.
    pub fn decide(&self, request: &PlanRequest) -> Result<Decided, Failure> {
        let mut history = self.history()?;
        if request.rollback.is_some() {
            // A promotion whose required commit signature is missing or invalid is no rollback target.
            crate::trust::commit_signature::drop_untrusted(&self.repo, &self.config, &mut history);
        }
        let plan = plan(&self.repo, &self.config, request, &history).map_err(Failure::bad_input)?;
        if plan.no_op {
            return Ok(Decided { plan, gate: GateResult { outcome: GateOutcome::Allowed, policies: Vec::new() } });
        }
        let overlay = BTreeMap::from([(plan.file.clone(), Some(plan.after.clone()))]);
        let files = self.repo.proposed_tree(plan.base.tree, overlay).map_err(|error| Failure::bad_input(error.0))?;
        let gate = run_policies(&self.runtime, &self.config, &self.base_dir, &plan.transition, Arc::new(files))
            .map_err(Failure::bad_input)?;
        Ok(Decided { plan, gate })
    }

    /// Decide and, when allowed, commit; re-plan on the new tip if the branch moved
    /// (at most [`MAX_ATTEMPTS`] times).
    pub fn promote(&self, request: &PlanRequest, new_branch: Option<&str>) -> Result<Promoted, Failure> {
        let author = signature(&self.repo, Some(&request.actor).filter(|actor| request.actor_given && !actor.is_empty()).map(String::as_str))
            .map_err(commit_failure)?;
        crate::trust::commit_signature::require_signing(&self.repo, &self.config, &request.to_env, &request.actor).map_err(Failure::bad_input)?;
        let mut last_conflict = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let decided = self.decide(request)?;
            if decided.plan.no_op || decided.gate.outcome != GateOutcome::Allowed {
                return Ok(Promoted { decided, commit: None });
            }
            let message = commit_message(&decided.plan, &decided.gate);
            let record = DecisionRecord::new(&decided.plan, &decided.gate);
            match commit_plan(&self.repo, &self.config.branch, new_branch, &decided.plan, &message, &record, &author) {
                Ok(commit) => return Ok(Promoted { decided, commit: Some(commit.to_string()) }),
                Err(CommitError::Conflict(message)) => last_conflict = message,
                Err(error) => return Err(commit_failure(error)),
            }
        }
        Err(Failure::conflict(format!(
            "{last_conflict}; gave up after {MAX_ATTEMPTS} attempts (re-planned and re-ran the policies each time). Try again."
        )))
    }

    /// [`Workspace::promote`] based on `remote`'s tip, then push the branch and the decision
    /// notes. A push rejected because the branch moved discards the local commit, fetches,
    /// re-plans, re-runs the policies and tries again (bounded, with jitter); exit 4 after.
    pub fn promote_and_push(&self, request: &PlanRequest, new_branch: Option<&str>, remote: &str) -> Result<Promoted, Failure> {
        let dir = self.repo.path();
        let branch = new_branch.unwrap_or(&self.config.branch);
        let checked_out = checked_out_branch(&self.repo).as_deref() == Some(self.config.branch.as_str());
        let mut last_rejection = String::new();
        for attempt in 1..=MAX_PUSH_ATTEMPTS {
            sync_from_remote(dir, remote, &self.config.branch, checked_out)?;
            let promoted = self.promote(request, new_branch)?;
            let Some(commit) = &promoted.commit else { return Ok(promoted) };
            match push(dir, remote, branch)? {
                PushOutcome::Pushed => return Ok(promoted),
                PushOutcome::Rejected(message) if new_branch.is_some() => {
                    return Err(Failure::conflict(format!("{remote} refused the new branch {branch}: {message}")));
                }
                PushOutcome::Rejected(message) => {
                    let base = promoted.decided.plan.base.commit.to_string();
                    discard_local_commit(dir, branch, commit, &base, checked_out)?;
                    last_rejection = message;
                    std::thread::sleep(backoff(attempt));
                }
            }
        }
        Err(Failure::conflict(format!(
            "{remote} rejected the push of {branch} {MAX_PUSH_ATTEMPTS} times (the branch keeps moving): {last_rejection}. \
             Nothing was published; try again."
        )))
    }

    /// Re-run the recorded policies of a promotion commit on the recorded transition and
    /// compare verdicts.
    pub fn verify(&self, commit: &str) -> Result<Verification, Failure> {
        let object = self
            .repo
            .git()
            .revparse_single(commit)
            .and_then(|object| object.peel_to_commit())
            .map_err(|_| Failure::bad_input(format!("{commit} is not a commit in {}", self.repo.path().display())))?;
        let record = read_record(&self.repo, object.id()).map_err(Failure::bad_input)?.ok_or_else(|| {
            Failure::bad_input(format!("commit {} has no tollgate decision record (refs/notes/tollgate)", object.id()))
        })?;
        let base: git2::Oid = record.base_commit.parse().map_err(|_| Failure::bad_input("the decision record's base commit is invalid"))?;
        let base_tree = self.repo.git().find_commit(base).map(|commit| commit.tree_id()).map_err(|error| {
            Failure::bad_input(format!("the base commit {base} of the decision is not in this repository ({})", error.message()))
        })?;
        let overlay = record.transition.changes.iter().map(|change| (change.path.clone(), change.after.clone())).collect();
        let files: Arc<dyn crate::runtime::FileSource> =
            Arc::new(self.repo.proposed_tree(base_tree, overlay).map_err(|error| Failure::bad_input(error.0))?);
        let mut policies = Vec::new();
        for recorded in &record.policies {
            let mut reference = resolve_plugin(&recorded.plugin, &self.base_dir).map_err(Failure::bad_input)?;
            // Load whatever is there now; a changed digest is reported below, not refused.
            reference.sha256 = None;
            let plugin = match self.runtime.load(&reference) {
                Ok(plugin) => plugin,
                Err(error) => {
                    policies.push(VerifiedPolicy::problem(recorded, format!("cannot load the plugin: {}", error.message)));
                    continue;
                }
            };
            if plugin.sha256() != recorded.sha256 {
                policies.push(VerifiedPolicy::problem(
                    recorded,
                    format!("the plugin's digest changed: recorded sha256:{}, now sha256:{}", short_hash(&recorded.sha256), short_hash(plugin.sha256())),
                ));
                continue;
            }
            let limits = crate::runtime::Limits {
                timeout: std::time::Duration::from_millis(recorded.timeout_ms),
                memory_bytes: recorded.memory_bytes,
            };
            let asks_for_files = plugin.info(limits).is_ok_and(|info| info.capabilities.contains(&Capability::ReadFile));
            let access = HostAccess {
                files: asks_for_files.then(|| files.clone()),
                http_origins: recorded.http_origins.clone(),
                http: Arc::new(NetworkFetcher),
            };
            let evaluation = plugin.evaluate(&recorded.config_json, &record.transition, limits, access);
            let now = serde_json::to_value(&evaluation.outcome).unwrap_or_default();
            let reproduced = now == recorded.outcome;
            policies.push(VerifiedPolicy {
                name: recorded.name.clone(),
                recorded: recorded.outcome.clone(),
                now: Some(now),
                reproduced,
                problem: (!reproduced).then(|| "the verdict differs from the recorded one".to_string()),
            });
        }
        let reproduced = policies.iter().all(|policy| policy.reproduced);
        Ok(Verification { commit: object.id().to_string(), decision: record.transition.id.clone(), reproduced, policies })
    }
}

/// The configuration's name for messages and its text: `config_path` on disk, else
/// `tollgate.yaml` at the root of the commit HEAD points to.
pub fn read_config(repo: &GitRepo, config_path: Option<&Path>) -> Result<(String, String), Failure> {
    match config_path {
        Some(path) => Ok((
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|error| Failure::bad_input(format!("{}: cannot read it ({error})", path.display())))?,
        )),
        None => {
            let head = repo.git().head().and_then(|head| head.peel_to_tree()).map_err(|_| {
                Failure::bad_input(format!("{}: HEAD has no commit to read {CONFIG_FILE} from; use --config", repo.path().display()))
            })?;
            let text = repo.read_file(head.id(), CONFIG_FILE).map_err(|error| Failure::bad_input(error.0))?.ok_or_else(|| {
                Failure::bad_input(format!("{CONFIG_FILE} not found at the root of {} (HEAD); add one or pass --config", repo.path().display()))
            })?;
            Ok((CONFIG_FILE.to_string(), text))
        }
    }
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
#[derive(Debug, Clone, Serialize)]
pub struct EnvStatus {
    /// Version.
    pub version: Option<String>,
    /// Digest.
    pub digest: Option<String>,
    /// When it got there (Unix seconds), from the promotion history.
    pub since: Option<i64>,
    /// Who promoted it.
    pub by: Option<String>,
    /// The promotion commit.
    pub commit: Option<String>,
    /// Why the version could not be read.
    pub error: Option<String>,
}

impl EnvStatus {
    fn error(message: String) -> Self {
        EnvStatus { version: None, digest: None, since: None, by: None, commit: None, error: Some(message) }
    }
}

/// The result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The commit verified.
    pub commit: String,
    /// Its decision id.
    pub decision: String,
    /// Whether every policy reproduced its verdict.
    pub reproduced: bool,
    /// Per policy.
    pub policies: Vec<VerifiedPolicy>,
}

/// One policy's re-run.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedPolicy {
    /// Policy name.
    pub name: String,
    /// Recorded outcome.
    pub recorded: serde_json::Value,
    /// Outcome now.
    pub now: Option<serde_json::Value>,
    /// Identical?
    pub reproduced: bool,
    /// What went wrong.
    pub problem: Option<String>,
}

impl VerifiedPolicy {
    fn problem(recorded: &crate::commit::RecordedPolicy, problem: String) -> Self {
        VerifiedPolicy { name: recorded.name.clone(), recorded: recorded.outcome.clone(), now: None, reproduced: false, problem: Some(problem) }
    }
}

/// The first 12 characters of a hash, for messages and trailers (never panics on short input).
pub fn short_hash(hash: &str) -> String {
    hash.chars().take(12).collect()
}
