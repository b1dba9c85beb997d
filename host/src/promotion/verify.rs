//! `tollgate verify`: check a promotion commit and re-run its decision. verify checks, it
//! does not obey: the commit must check out as a promotion (see
//! [`super::claim::check_commit`]), and the policies re-run are those the `tollgate.yaml`
//! of the record's base commit configures, with that configuration's plugins, limits and
//! HTTP origins; whatever the record names is only compared, never loaded or granted.

use std::sync::Arc;

use serde::Serialize;

use super::workspace::Workspace;
use super::judge::{Judge, PolicyRun};
use super::observe::Observation;
use super::claim::check_commit;
use super::record::{DecisionRecord, RecordedPolicy};
use super::verified::{RulesAt, Trust, assess};
use crate::trust::commit_signature::CommitSignature;
use super::trailers::short_hash;
use crate::config::{CONFIG_FILE, Config};
use crate::exit::Failure;
use crate::runtime::FileSource;

/// How far a record's `requested_at` may be from its commit's author time (which rebases keep)
/// when the requester did not choose the time: a decision is committed within seconds.
pub const REQUESTED_AT_TOLERANCE_SECONDS: i64 = 600;

/// The result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The commit verified.
    pub commit: String,
    /// Its decision ids (from its trailers when its records cannot be read).
    pub decision: String,
    /// Whether the commit checks out, every record is consistent with the history it claims,
    /// and every policy reproduced its verdict.
    pub reproduced: bool,
    /// What the commit is worth under the rules in force when it landed (see
    /// [`super::verified`]).
    pub trust: Trust,
    /// Its signature, checked against the allowed signers of those rules.
    pub commit_signature: CommitSignature,
    /// Recorded signed approvals that verified again.
    pub approvals_verified: usize,
    /// What does not check out about the commit, its record or the configuration it names.
    pub problems: Vec<String>,
    /// Per policy.
    pub policies: Vec<VerifiedPolicy>,
}

/// How a policy was re-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rerun {
    /// With the answers its record kept, offline.
    Offline,
    /// Asking the systems again (`--live`, or a schema-2 record, which kept no answers).
    Live,
    /// Offline, but an answer it got was not kept (too large, or from a credentialed origin):
    /// neither reproduced nor differing; `verify --live` asks again.
    NotReplayable,
}

/// One policy's re-run.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedPolicy {
    /// Policy name.
    pub name: String,
    /// How it was re-run.
    pub rerun: Rerun,
    /// Recorded outcome.
    pub recorded: serde_json::Value,
    /// Outcome now.
    pub now: Option<serde_json::Value>,
    /// Identical?
    pub reproduced: bool,
    /// What went wrong.
    pub problem: Option<String>,
}

impl Workspace {
    /// Check the promotion commit at `revision` (any revision Git accepts) and re-run its
    /// decision with the configuration of its base commit.
    pub fn verify(&self, revision: &str, live: bool) -> Result<Verification, Failure> {
        let git = self.repo.git();
        let commit = git
            .revparse_single(revision)
            .and_then(|object| object.peel_to_commit())
            .map_err(|_| Failure::bad_input(format!("{revision} is not a commit in {}", self.repo.path().display())))?;
        let checked = check_commit(git, &commit).map_err(|error| Failure::bad_input(error.message().to_string()))?.ok_or_else(|| {
            Failure::bad_input(format!(
                "commit {} is not a tollgate promotion: it adds no decision record under {}",
                commit.id(),
                super::record::RECORD_DIR
            ))
        })?;
        let mut ids: Vec<String> = checked.records.iter().map(|record| record.transition.id.clone()).collect();
        if ids.is_empty()
            && let Some(trailers) = &checked.trailers
        {
            ids = trailers.decision.iter().chain(&trailers.decisions).map(|id| crate::input::escape_untrusted(id, 100)).collect();
            ids.sort();
            ids.dedup();
        }
        let claimed: Vec<(&str, &str)> = checked.records.iter().map(|record| (record.transition.application.as_str(), record.transition.to_env.as_str())).collect();
        let environment_branch = self.environment_branch_of(&claimed);
        let mut rules = self.rules_for(environment_branch)?;
        let in_force = rules.before(git, &commit);
        let trust = if checked.checks_out() {
            assess(git, commit.id(), &checked.records, &in_force)
        } else {
            Trust::Unrecorded { reasons: checked.problems.clone() }
        };
        let commit_signature = match &in_force.signers {
            Some(signers) => crate::trust::commit_signature::verify_commit(git, signers, commit.id()),
            None => CommitSignature::Missing,
        };
        let mut verification = Verification {
            commit: commit.id().to_string(),
            decision: if ids.is_empty() { "unknown: no record or trailer names it".to_string() } else { ids.join(", ") },
            reproduced: false,
            trust,
            commit_signature,
            approvals_verified: checked.records.iter().flat_map(|record| &record.transition.approvals).filter(|approval| approval.signed.is_some()).count(),
            problems: checked.problems.clone(),
            policies: Vec::new(),
        };
        if matches!(verification.trust, Trust::Untrusted { .. }) {
            verification.approvals_verified = 0;
        }
        for record in &checked.records {
            verification.problems.extend(replay_problems(git, &commit, record, &mut rules));
            self.rerun(record, live, environment_branch.is_some(), &mut verification);
        }
        verification.reproduced = verification.problems.is_empty() && verification.policies.iter().all(|policy| policy.reproduced);
        Ok(verification)
    }

    /// The environment branch of its own that holds every (application, environment) of
    /// `claimed` as the protected branch configures them; `None` when that is the protected
    /// branch, or they are not all on one branch.
    pub(crate) fn environment_branch_of(&self, claimed: &[(&str, &str)]) -> Option<&str> {
        let branch_of = |(app, env): &(&str, &str)| self.config.applications.get(*app)?.environments.get(*env).map(|location| location.branch.as_str());
        let first = branch_of(claimed.first()?)?;
        (first != self.config.branch && claimed.iter().all(|pair| branch_of(pair) == Some(first))).then_some(first)
    }

    /// The rules that judge the commits of `environment_branch` (the protected branch's tip's,
    /// see [`RulesAt::on_environment_branch`]), or, for `None`, each commit's parent's.
    pub(crate) fn rules_for(&self, environment_branch: Option<&str>) -> Result<RulesAt, Failure> {
        Ok(match environment_branch {
            Some(branch) => RulesAt::on_environment_branch(branch, self.tip()?.commit),
            None => RulesAt::default(),
        })
    }

    /// Re-run `record`'s decision with the configuration of its base commit (for a record on
    /// an environment branch of its own, `on_environment_branch`, of the protected branch's
    /// tip, which that branch's commits never carry): offline with the answers it kept
    /// (schema 3), unless `live` or the record kept none.
    fn rerun(&self, record: &DecisionRecord, live: bool, on_environment_branch: bool, verification: &mut Verification) {
        let git = self.repo.git();
        let id = &record.transition.id;
        let base = match record.base_commit.parse().ok().and_then(|oid| git.find_commit(oid).ok()) {
            Some(base) => base,
            None => {
                verification.problems.push(format!("decision {id}: its base commit {} is not in this repository; nothing was re-run", record.base_commit));
                return;
            }
        };
        let (config_tree, config_commit) = match on_environment_branch {
            true => match self.tip() {
                Ok(tip) => (tip.tree, tip.commit.to_string()),
                Err(failure) => {
                    verification.problems.push(format!("decision {id}: {}; nothing was re-run", failure.message));
                    return;
                }
            },
            false => (base.tree_id(), record.base_commit.clone()),
        };
        let config = match self.repo.read_file(config_tree, CONFIG_FILE) {
            Ok(Some(text)) => Config::parse(&format!("{CONFIG_FILE} (commit {})", short_hash(&config_commit)), &text),
            Ok(None) => Err(crate::config::ConfigError(format!("the base commit has no {CONFIG_FILE}"))),
            Err(error) => Err(crate::config::ConfigError(error.0)),
        };
        let config = match config {
            Ok(config) => config,
            Err(error) => {
                verification.problems.push(format!("decision {id}: {error}; nothing was re-run"));
                return;
            }
        };
        let overlay = record.transition.changes.iter().map(|change| (change.path.clone(), change.after.clone())).collect();
        let files: Arc<dyn FileSource> = match self.repo.proposed_tree(base.tree_id(), overlay) {
            Ok(files) => Arc::new(files),
            Err(error) => {
                verification.problems.push(format!("decision {id}: {error}"));
                return;
            }
        };
        // Registry plugins resolve through the tollgate.lock beside that configuration.
        match crate::registry::Lockfile::in_tree(&self.repo, config_tree, &format!("{} (commit {})", crate::registry::LOCK_FILE, short_hash(&config_commit))) {
            Ok(lock) => self.runtime.registry().set_lockfile(lock),
            Err(error) => {
                verification.problems.push(format!("decision {id}: {error}; nothing was re-run"));
                return;
            }
        }
        let offline = !live && record.schema_version >= 3;
        let answers: Vec<Vec<Observation>> = record.policies.iter().map(|policy| policy.observations.clone()).collect();
        let mut judge = Judge::new(&self.runtime, &config, &self.base_dir);
        let judged = if offline { judge.replay(&record.transition, files, &answers) } else { judge.run(&record.transition, files) };
        let runs = match judged {
            Ok(gate) => gate.policies,
            Err(error) => {
                verification.problems.push(format!("decision {id}: a plugin the configuration at the base commit names cannot be loaded: {error}"));
                return;
            }
        };
        for (index, run) in runs.iter().enumerate() {
            let recorded = record.policies.get(index);
            let rerun = match recorded {
                _ if !offline => Rerun::Live,
                Some(recorded) if !recorded.observations.iter().all(Observation::replayable) => Rerun::NotReplayable,
                _ => Rerun::Offline,
            };
            verification.policies.push(compare(run, recorded, rerun));
        }
        for extra in record.policies.iter().skip(runs.len()) {
            verification.policies.push(VerifiedPolicy {
                name: extra.name.clone(),
                rerun: if offline { Rerun::Offline } else { Rerun::Live },
                recorded: extra.outcome.clone(),
                now: None,
                reproduced: false,
                problem: Some(format!(
                    "the record names {} ({}), which the configuration at the base commit does not run for {}; not run",
                    extra.name, extra.plugin, record.transition.to_env
                )),
            });
        }
    }
}

/// A re-run compared with what the record says ran at the same place.
fn compare(run: &PolicyRun, recorded: Option<&RecordedPolicy>, rerun: Rerun) -> VerifiedPolicy {
    let now = serde_json::to_value(&run.evaluation.outcome).unwrap_or_default();
    let Some(recorded) = recorded else {
        return VerifiedPolicy {
            name: run.name.clone(),
            rerun,
            recorded: serde_json::Value::Null,
            now: Some(now),
            reproduced: false,
            problem: Some(format!("the configuration at the base commit runs {} ({}), which the record lacks", run.name, run.plugin)),
        };
    };
    let mut differences = Vec::new();
    if recorded.plugin != run.plugin {
        differences.push(format!("the record names the plugin {}, the configuration {}", recorded.plugin, run.plugin));
    }
    if recorded.sha256 != run.sha256 {
        differences.push(format!("the plugin's digest changed: recorded sha256:{}, now sha256:{}", short_hash(&recorded.sha256), short_hash(&run.sha256)));
    }
    if recorded.manifest_digest != run.manifest_digest {
        differences.push(format!(
            "the registry plugin's manifest changed: recorded {}, now {}",
            recorded.manifest_digest.as_deref().unwrap_or("none"),
            run.manifest_digest.as_deref().unwrap_or("none")
        ));
    }
    if recorded.config_json != run.config_json {
        differences.push("the record's plugin configuration differs from the configuration's".to_string());
    }
    if recorded.timeout_ms != run.limits.timeout.as_millis() as u64 || recorded.memory_bytes != run.limits.memory_bytes {
        differences.push(format!(
            "the record's limits ({} ms, {} bytes) differ from the configuration's ({} ms, {} bytes)",
            recorded.timeout_ms,
            recorded.memory_bytes,
            run.limits.timeout.as_millis(),
            run.limits.memory_bytes
        ));
    }
    if recorded.http_origins != run.http_origins {
        differences.push(format!(
            "the record's HTTP origins [{}] differ from the configuration's [{}]",
            recorded.http_origins.join(", "),
            run.http_origins.join(", ")
        ));
    }
    if recorded.credentials != run.credentials {
        differences.push("the record's credential sources differ from the configuration's".to_string());
    }
    if recorded.mode != run.mode {
        differences.push("the record's mode differs from the configuration's".to_string());
    }
    if rerun == Rerun::NotReplayable {
        // Its verdict now rests on errors where the record kept no answer: it says nothing.
        let why = recorded.observations.iter().find_map(|observation| match observation {
            Observation::HttpGet { url, not_kept: Some(why), .. } => Some(format!("{url}: {why}")),
            _ => None,
        });
        differences.push(format!("not replayable offline: an answer it got was not kept ({}); verify --live asks again", why.unwrap_or_default()));
        return VerifiedPolicy { name: run.name.clone(), rerun, recorded: recorded.outcome.clone(), now: None, reproduced: false, problem: Some(differences.join("; ")) };
    }
    if recorded.outcome != now {
        differences.push("the verdict differs from the recorded one".to_string());
    }
    VerifiedPolicy {
        name: run.name.clone(),
        rerun,
        recorded: recorded.outcome.clone(),
        now: Some(now),
        reproduced: differences.is_empty(),
        problem: (!differences.is_empty()).then(|| differences.join("; ")),
    }
}

/// What makes `record` (in `commit`) inconsistent with the history it claims, as a replayed or
/// forged record would be: a decision time far from the commit's author time (when the
/// requester did not choose it), a source environment that did not hold the recorded artifact
/// at the base commit, approvals of another version or dated after the decision.
pub(super) fn replay_problems(git: &git2::Repository, commit: &git2::Commit<'_>, record: &DecisionRecord, rules: &mut RulesAt) -> Vec<String> {
    let t = &record.transition;
    let id = &t.id;
    let mut problems = Vec::new();
    let authored = commit.author().when().seconds();
    if !record.time_overridden && (authored - t.requested_at).abs() > REQUESTED_AT_TOLERANCE_SECONDS {
        problems.push(format!(
            "decision {id} was requested at {}, but its commit was authored at {} (more than {REQUESTED_AT_TOLERANCE_SECONDS} s apart): \
             a record carried over from another commit",
            show_time(t.requested_at),
            show_time(authored)
        ));
    }
    for approval in &t.approvals {
        if approval.version != t.artifact.version {
            problems.push(format!("decision {id}: the approval by {} names version {}, not {}", approval.approver, approval.version, t.artifact.version));
        }
        if approval.at.is_some_and(|at| at > t.requested_at) {
            problems.push(format!("decision {id}: the approval by {} is dated after the decision", approval.approver));
        }
    }
    if let Some(from) = &t.from_env {
        let base = record.base_commit.parse().ok().and_then(|oid| git.find_commit(oid).ok());
        if let Some(base) = base {
            let at_base = rules.at(git, &base);
            let held = match at_base.elsewhere.get(&(t.application.clone(), from.clone())) {
                // The source's files are on another branch: what each held at some commit of
                // that branch not after the decision.
                Some(locations) => locations
                    .iter()
                    .flat_map(|location| {
                        held_on_branch(git, &location.branch, &location.file, &location.layout, t.requested_at + REQUESTED_AT_TOLERANCE_SECONDS)
                            .into_iter()
                            .map(|(_, version, digest)| (location.artifact.clone(), version, digest))
                    })
                    .collect(),
                None => held_at(git, &base, &at_base, &t.application, from),
            };
            let claimed: Vec<(Option<String>, &str, Option<&str>)> = match t.artifacts.is_empty() {
                true => vec![(None, t.artifact.version.as_str(), t.artifact.digest.as_deref())],
                false => t.artifacts.iter().map(|artifact| (Some(artifact.name.clone()), artifact.version.as_str(), artifact.digest.as_deref())).collect(),
            };
            let holds = |(name, version, digest): &(Option<String>, &str, Option<&str>)| {
                held.iter().any(|(held_name, held_version, held_digest)| held_name == name && held_version == version && (digest.is_none() || held_digest.as_deref() == *digest))
            };
            if !claimed.iter().all(holds) {
                let held: Vec<String> = held.iter().map(|(_, version, _)| version.clone()).collect();
                problems.push(format!(
                    "decision {id} takes {} from {from}, but at its base commit {from} held {}",
                    t.artifact.version,
                    if held.is_empty() { "nothing readable".to_string() } else { held.join(", ") }
                ));
            }
        }
    }
    problems
}

/// What `app`'s files in `env` hold at `commit`, as the rules there locate them: per location,
/// the artifact (for a multi-artifact application), version and digest.
fn held_at(git: &git2::Repository, commit: &git2::Commit<'_>, rules: &super::verified::Rules, app: &str, env: &str) -> Vec<(Option<String>, String, Option<String>)> {
    let Ok(tree) = commit.tree() else { return Vec::new() };
    let mut held = Vec::new();
    for (path, all) in &rules.locations {
        for located in all.iter().filter(|located| located.app == app && located.env == env) {
            let Some(text) = super::verified::read_text(git, &tree, path).ok().flatten() else { continue };
            if let Ok(deployed) = crate::manifest::read_deployed(path, &text, &located.layout) {
                held.push((located.artifact.clone(), deployed.version, deployed.digest));
            }
        }
    }
    held
}

/// How many commits of a source's environment branch [`held_on_branch`] reads at most.
const MAX_SOURCE_COMMITS: usize = 10_000;

/// What `path` (located by `layout`) held in the commits of `branch` (local, else `origin`'s)
/// made no later than `not_after`, newest first, distinct versions once: where a promotion
/// took its artifact from when the source environment is on a branch of its own.
fn held_on_branch(git: &git2::Repository, branch: &str, path: &str, layout: &crate::manifest::Layout, not_after: i64) -> Vec<(Option<String>, String, Option<String>)> {
    let tip = [format!("refs/heads/{branch}"), format!("refs/remotes/origin/{branch}")]
        .iter()
        .find_map(|name| git.find_reference(name).and_then(|reference| reference.peel_to_commit()).ok());
    let Some(tip) = tip else { return Vec::new() };
    let Ok(mut walk) = git.revwalk() else { return Vec::new() };
    if walk.push(tip.id()).is_err() {
        return Vec::new();
    }
    let mut held: Vec<(Option<String>, String, Option<String>)> = Vec::new();
    for oid in walk.take(MAX_SOURCE_COMMITS).filter_map(Result::ok) {
        let Ok(commit) = git.find_commit(oid) else { continue };
        let Ok(tree) = commit.tree() else { continue };
        if commit.time().seconds() > not_after {
            continue;
        }
        let Some(text) = super::verified::read_text(git, &tree, path).ok().flatten() else { continue };
        if let Ok(deployed) = crate::manifest::read_deployed(path, &text, layout) {
            let entry = (None, deployed.version, deployed.digest);
            if !held.contains(&entry) {
                held.push(entry);
            }
        }
    }
    held
}

/// Unix seconds as an RFC 3339 time (UTC).
fn show_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |time| time.to_string())
}
