//! Writing an allowed transition: one commit built in the object database (only the
//! trees along the changed path are rewritten), a compare-and-swap move of the branch,
//! the decision record as a git note, and a clean working tree where the branch is
//! checked out.

use git2::build::TreeUpdateBuilder;
use git2::{ErrorCode, FileMode, Oid, Signature, Status};
use serde::{Deserialize, Serialize};

use crate::gate::GateResult;
use crate::history::trailer;
use crate::plan::Plan;
use crate::repo::GitRepo;
use crate::transition::{Transition, TransitionKind};

/// The notes ref holding decision records.
pub const NOTES_REF: &str = "refs/notes/tollgate";

/// Why a commit was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitError {
    /// The branch moved since planning (compare-and-swap failed): re-plan.
    Conflict(String),
    /// The repository is not in a state to commit (bad input).
    State(String),
}

impl From<git2::Error> for CommitError {
    fn from(error: git2::Error) -> Self {
        CommitError::State(error.message().to_string())
    }
}

/// One policy in the decision record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedPolicy {
    /// Name in reports.
    pub name: String,
    /// Plugin reference as configured.
    pub plugin: String,
    /// sha256 of the component that ran.
    pub sha256: String,
    /// Plugin version.
    pub version: String,
    /// `enforce` or `monitor`.
    pub mode: crate::config::Mode,
    /// Config it ran with.
    pub config: serde_json::Value,
    /// The exact config text the plugin was given.
    pub config_json: String,
    /// Time limit in ms.
    pub timeout_ms: u64,
    /// Memory cap in bytes.
    pub memory_bytes: usize,
    /// HTTP origins granted.
    pub http_origins: Vec<String>,
    /// Credentials the host attached, by origin: where each was read from, never the secret.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub credentials: std::collections::BTreeMap<String, String>,
    /// Its outcome (`{"outcome": "verdict", "decision": …, "findings": …}` or `{"outcome": "failed", "cause": …}`).
    pub outcome: serde_json::Value,
}

/// The full decision, attached to the commit under [`NOTES_REF`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Format version.
    pub schema_version: u32,
    /// tollgate version that decided.
    pub tollgate_version: String,
    /// The branch tip the decision was made on.
    pub base_commit: String,
    /// The transition policies saw.
    pub transition: Transition,
    /// Every policy that ran.
    pub policies: Vec<RecordedPolicy>,
}

impl DecisionRecord {
    /// The record of `plan` decided by `gate`.
    pub fn new(plan: &Plan, gate: &GateResult) -> Self {
        let policies = gate
            .policies
            .iter()
            .map(|run| RecordedPolicy {
                name: run.name.clone(),
                plugin: run.plugin.clone(),
                sha256: run.sha256.clone(),
                version: run.version.clone(),
                mode: run.mode,
                config: run.config.clone(),
                config_json: run.config_json.clone(),
                timeout_ms: run.limits.timeout.as_millis() as u64,
                memory_bytes: run.limits.memory_bytes,
                http_origins: run.http_origins.clone(),
                credentials: run.credentials.clone(),
                outcome: serde_json::to_value(&run.evaluation.outcome).unwrap_or_default(),
            })
            .collect();
        DecisionRecord {
            schema_version: 1,
            tollgate_version: env!("CARGO_PKG_VERSION").to_string(),
            base_commit: plan.base.commit.to_string(),
            transition: plan.transition.clone(),
            policies,
        }
    }
}

/// The commit message: subject, a short body, and the trailers `history` reads back.
pub fn commit_message(plan: &Plan, gate: &GateResult) -> String {
    let t = &plan.transition;
    let subject = match (t.kind, &t.from_env) {
        (TransitionKind::Rollback, _) => format!(
            "rollback {} in {} to {} (was {})",
            t.application,
            t.to_env,
            t.artifact.version,
            t.previous_artifact.as_ref().map_or("unknown", |previous| previous.version.as_str())
        ),
        (TransitionKind::Promote, Some(from)) => format!("promote {} {} to {} (from {from})", t.application, t.artifact.version, t.to_env),
        (TransitionKind::Promote, None) => format!("promote {} {} to {}", t.application, t.artifact.version, t.to_env),
    };
    let approvers: Vec<&str> = t.approvals.iter().map(|approval| approval.approver.as_str()).collect();
    let mut message = format!("{subject}\n\nRequested by {}", t.requested_by);
    if !approvers.is_empty() {
        message.push_str(&format!("; approved by {}", approvers.join(", ")));
    }
    message.push_str(&format!(".\nChanged {}.\n", plan.file));
    if !gate.policies.is_empty() {
        let verdicts: Vec<String> = gate.policies.iter().map(|run| format!("{} {}", run.name, run.verdict_label())).collect();
        message.push_str(&format!("Policies: {}.\n", verdicts.join(", ")));
    }
    message.push('\n');
    let mut trailers = vec![(trailer::APP, t.application.clone())];
    if let Some(from) = &t.from_env {
        trailers.push((trailer::FROM, from.clone()));
    }
    trailers.push((trailer::TO, t.to_env.clone()));
    trailers.push((trailer::VERSION, t.artifact.version.clone()));
    if let Some(digest) = &t.artifact.digest {
        trailers.push((trailer::DIGEST, digest.clone()));
    }
    if let Some(previous) = &t.previous_artifact {
        trailers.push((trailer::PREVIOUS_VERSION, previous.version.clone()));
        if let Some(digest) = &previous.digest {
            trailers.push((trailer::PREVIOUS_DIGEST, digest.clone()));
        }
    }
    trailers.push((trailer::REQUESTED_BY, t.requested_by.clone()));
    for approver in approvers {
        trailers.push((trailer::APPROVED_BY, approver.to_string()));
    }
    for run in &gate.policies {
        trailers.push((trailer::POLICY, format!("{}@{} sha256:{} {}", run.name, run.version, crate::engine::short_hash(&run.sha256), run.verdict_label())));
    }
    if let Some(commit) = &plan.rollback_of {
        trailers.push((trailer::ROLLBACK_OF, commit.clone()));
    }
    trailers.push((trailer::DECISION, t.id.clone()));
    for (key, value) in trailers {
        // A trailer value is one line; keep user-supplied names from breaking the block.
        message.push_str(&format!("{key}: {}\n", value.replace(['\n', '\r'], " ")));
    }
    message
}

/// The author/committer signature: `--actor "Name <email>"`, `--actor name`, or git config.
pub fn signature(repo: &GitRepo, actor: Option<&str>) -> Result<Signature<'static>, CommitError> {
    let signature = match actor {
        Some(actor) => match actor.split_once('<') {
            Some((name, email)) => Signature::now(name.trim(), email.trim_end_matches('>').trim()),
            None => Signature::now(actor, &format!("{actor}@tollgate.local")),
        },
        None => repo.git().signature().or_else(|_| Signature::now("tollgate", "tollgate@tollgate.local")),
    };
    Ok(signature?.to_owned())
}

/// Commit `plan` onto `branch` (or a new branch `new_branch` at the same base) and attach
/// `record`. Returns the new commit.
pub fn commit_plan(
    repo: &GitRepo,
    branch: &str,
    new_branch: Option<&str>,
    plan: &Plan,
    message: &str,
    record: &DecisionRecord,
    author: &Signature<'_>,
) -> Result<Oid, CommitError> {
    let git = repo.git();
    let target_branch = new_branch.unwrap_or(branch);
    let checked_out = checked_out_branch(repo).as_deref() == Some(target_branch);
    if checked_out {
        let status = git.status_file(std::path::Path::new(&plan.file)).unwrap_or(Status::CURRENT);
        if !(status.is_empty() || status == Status::CURRENT || status == Status::IGNORED) {
            return Err(CommitError::State(format!(
                "{} has uncommitted changes in the working tree; commit or stash them first",
                plan.file
            )));
        }
    }

    let base_commit = git.find_commit(plan.base.commit)?;
    let base_tree = base_commit.tree()?;
    // Keep an executable file executable.
    let mode = match base_tree.get_path(std::path::Path::new(&plan.file)).map(|entry| entry.filemode()) {
        Ok(0o100755) => FileMode::BlobExecutable,
        _ => FileMode::Blob,
    };
    let blob = git.blob(plan.after.as_bytes())?;
    let mut update = TreeUpdateBuilder::new();
    update.upsert(plan.file.as_str(), blob, mode);
    let tree = git.find_tree(update.create_updated(git, &base_tree)?)?;
    let commit = git.commit(None, author, author, message, &tree, &[&base_commit])?;

    // The record goes on first, so the branch never shows a promotion without its record;
    // if the branch cannot be moved, the record of the orphaned commit is removed again.
    let record_json = serde_json::to_string_pretty(record).expect("decision records serialize");
    write_note(git, author, commit, &record_json)?;
    let reference = format!("refs/heads/{target_branch}");
    let log = format!("tollgate: {}", message.lines().next().unwrap_or_default());
    let moved = match new_branch {
        Some(name) => git.reference(&reference, commit, false, &log).map(drop).map_err(|error| match error.code() {
            ErrorCode::Exists => CommitError::State(format!("branch {name} already exists; choose another --branch name")),
            _ => error.into(),
        }),
        None => git.reference_matching(&reference, commit, true, plan.base.commit, &log).map(drop).map_err(|error| match error.code() {
            ErrorCode::Modified | ErrorCode::Locked | ErrorCode::Exists | ErrorCode::NotFound => {
                CommitError::Conflict(format!("{branch} moved while the transition was being decided ({})", error.message()))
            }
            _ => error.into(),
        }),
    };
    if let Err(error) = moved {
        let _ = git.note_delete(commit, Some(NOTES_REF), author, author);
        return Err(error);
    }

    if checked_out {
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.force().path(&plan.file);
        git.checkout_tree(tree.as_object(), Some(&mut checkout))?;
    }
    Ok(commit)
}

/// Attach the decision record, retrying when another writer moved the notes ref meanwhile.
fn write_note(git: &git2::Repository, author: &Signature<'_>, commit: Oid, record: &str) -> Result<(), CommitError> {
    let mut attempts = 0;
    loop {
        match git.note(author, author, Some(NOTES_REF), commit, record, true) {
            Ok(_) => return Ok(()),
            Err(error) if attempts < 5 && matches!(error.code(), ErrorCode::Modified | ErrorCode::Locked) => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20 * attempts));
            }
            Err(error) => return Err(CommitError::State(format!("cannot write the decision record ({NOTES_REF}): {}", error.message()))),
        }
    }
}

/// The branch HEAD points at in a non-bare repository.
pub fn checked_out_branch(repo: &GitRepo) -> Option<String> {
    if repo.git().is_bare() {
        return None;
    }
    let head = repo.git().find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok()??;
    target.strip_prefix("refs/heads/").map(str::to_string)
}

/// The decision record attached to `commit`, if any.
pub fn read_record(repo: &GitRepo, commit: Oid) -> Result<Option<DecisionRecord>, String> {
    match repo.git().find_note(Some(NOTES_REF), commit) {
        Ok(note) => {
            let text = note.message().map_err(|_| "the decision record is not UTF-8")?;
            serde_json::from_str(text).map(Some).map_err(|error| format!("the decision record is not valid: {error}"))
        }
        Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
        Err(error) => Err(error.message().to_string()),
    }
}
