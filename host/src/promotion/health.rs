//! Health records: what `tollgate watch` found after a promotion landed (synced and healthy in
//! Argo CD, no matching alert for the soak period; or why not), committed as a file of its
//! own, `.tollgate/health/APP/ENV/PROMOTION-FINISHED.health`, in a small commit touching only
//! that file, with `Tollgate-Health` and `Tollgate-Health-Of` trailers.
//!
//! A health record in a commit is a claim, like a decision record: [`check_health_commit`]
//! says whether a commit is one that checks out (one parent, adds exactly its record and
//! changes nothing else, trailers that agree, and names a promotion that checks out, is the
//! parent or an ancestor of it, and promoted what the record says), and
//! [`super::verified::assess_claims`] what it is worth under the rules in force when it landed
//! (the watcher must sign where the environment requires signed commits). The `.health`
//! extension keeps GitOps controllers from reading it as a manifest.

use std::path::Path;

use git2::{Commit, Delta, Oid, Repository};
use serde::{Deserialize, Serialize};

use super::claim::check_commit;
use super::tree_diff::changed_files;
use super::verified::{Claimed, Rules, Trust, assess_claims};

/// The folder of the repository holding health records.
pub const HEALTH_DIR: &str = ".tollgate/health";
/// The health record format written now.
pub const HEALTH_SCHEMA_VERSION: u32 = 1;
use super::trailers::key::{HEALTH as TRAILER_HEALTH, HEALTH_OF as TRAILER_HEALTH_OF};
/// A health record larger than this is not read.
const MAX_HEALTH_BYTES: usize = 64 << 10;

/// What the health check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthOutcome {
    /// Synced at the promotion, healthy, running what it promoted, and no matching alert
    /// fired for the soak period.
    Healthy,
    /// Degraded, running another image, or a matching alert fired.
    Failed,
}

impl HealthOutcome {
    /// `healthy` or `failed`.
    pub fn word(self) -> &'static str {
        match self {
            HealthOutcome::Healthy => "healthy",
            HealthOutcome::Failed => "failed",
        }
    }
}

/// One health record, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthRecord {
    /// Format version ([`HEALTH_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// tollgate version that watched.
    pub tollgate_version: String,
    /// Application.
    pub application: String,
    /// Environment.
    pub environment: String,
    /// The promotion commit watched.
    pub promotion: String,
    /// The version it promoted.
    pub version: String,
    /// The digest it promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// What the check found.
    pub outcome: HealthOutcome,
    /// Why it failed (escaped where it entered: it quotes Argo CD and Alertmanager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who watched (`--actor`, else the Git identity).
    pub checked_by: String,
    /// When Argo CD was first seen synced at the promotion and healthy (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<i64>,
    /// How long no matching alert fired, in seconds.
    pub soaked_seconds: u64,
    /// When the check ended (Unix seconds).
    pub finished_at: i64,
    /// The Argo CD application asked.
    pub argocd_application: String,
}

impl HealthRecord {
    /// Where the record lives in the tree.
    pub fn path(&self) -> String {
        format!("{HEALTH_DIR}/{}/{}/{}-{}.health", self.application, self.environment, self.promotion, self.finished_at)
    }

    /// The record as stored: pretty JSON with a final newline.
    pub fn to_text(&self) -> String {
        super::record::stored_json(self)
    }

    /// Parse a stored record.
    pub fn parse(text: &str) -> Result<HealthRecord, String> {
        let record: HealthRecord = serde_json::from_str(text).map_err(|error| format!("the health record is not valid: {error}"))?;
        if record.schema_version != HEALTH_SCHEMA_VERSION {
            return Err(format!("the health record has schema version {}, this tollgate reads {HEALTH_SCHEMA_VERSION}", record.schema_version));
        }
        Ok(record)
    }

    /// The commit message: a subject, the reason, and the two trailers.
    pub fn commit_message(&self) -> String {
        let mut message = format!("health of {} {} in {}: {}\n\n", self.application, self.version, self.environment, self.outcome.word());
        if let Some(reason) = &self.reason {
            message.push_str(&format!("{}\n\n", reason.replace(['\n', '\r'], " ")));
        }
        message.push_str(&format!("{TRAILER_HEALTH}: {}\n{TRAILER_HEALTH_OF}: {}\n", self.outcome.word(), self.promotion));
        message
    }
}

/// A commit that claims to be a health record, and what checking it found.
#[derive(Debug, Clone)]
pub struct CheckedHealth {
    /// The record it adds, when it could be read.
    pub record: Option<HealthRecord>,
    /// Why it does not check out; empty when it does.
    pub problems: Vec<String>,
}

/// Check `commit` as a health record. `None` for a commit that neither changes
/// [`HEALTH_DIR`] nor carries a `Tollgate-Health` trailer.
pub fn check_health_commit(repo: &Repository, commit: &Commit<'_>) -> Result<Option<CheckedHealth>, git2::Error> {
    let message = String::from_utf8_lossy(commit.message_bytes()).to_string();
    let trailers = git2::message_trailers_strs(&message).ok();
    let trailer = |name: &str| trailers.as_ref().and_then(|parsed| parsed.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string()));
    let (outcome, of) = (trailer(TRAILER_HEALTH), trailer(TRAILER_HEALTH_OF));
    let tree = commit.tree()?;
    let subtree = |tree: &git2::Tree<'_>| tree.get_path(Path::new(HEALTH_DIR)).ok().map(|entry| entry.id());
    let Ok(parent) = commit.parent(0) else {
        return Ok((subtree(&tree).is_some() || outcome.is_some()).then(|| CheckedHealth { record: None, problems: vec!["it has no parent here".into()] }));
    };
    let parent_tree = parent.tree()?;
    if subtree(&tree) == subtree(&parent_tree) && outcome.is_none() && of.is_none() {
        return Ok(None);
    }
    let mut checked = CheckedHealth { record: None, problems: Vec::new() };
    if commit.parent_count() != 1 {
        checked.problems.push("a health record is a commit with one parent".into());
    }
    let changes = changed_files(repo, &parent_tree, &tree)?;
    let prefix = format!("{HEALTH_DIR}/");
    let added: Vec<&String> = changes.iter().filter(|(path, delta)| path.starts_with(&prefix) && *delta == Delta::Added).map(|(path, _)| path).collect();
    for (path, _) in changes.iter().filter(|(path, delta)| !(path.starts_with(&prefix) && *delta == Delta::Added)) {
        checked.problems.push(format!("it changes {path}; a health record commit only adds its record"));
    }
    let [path] = added.as_slice() else {
        checked.problems.push(format!("it adds {} health records; a health record commit adds exactly one", added.len()));
        return Ok(Some(checked));
    };
    let record = match super::verified::read_text(repo, &tree, path) {
        Ok(Some(text)) if text.len() <= MAX_HEALTH_BYTES => HealthRecord::parse(&text),
        Ok(Some(text)) => Err(format!("the record is {} bytes, more than {MAX_HEALTH_BYTES}", text.len())),
        Ok(None) => Err("the record is not a file".into()),
        Err(problem) => Err(problem),
    };
    let record = match record {
        Ok(record) => record,
        Err(problem) => {
            checked.problems.push(format!("{path}: {problem}"));
            return Ok(Some(checked));
        }
    };
    if record.path() != **path {
        checked.problems.push(format!("the record {path} belongs at {}", record.path()));
    }
    if outcome.as_deref() != Some(record.outcome.word()) || of.as_deref() != Some(record.promotion.as_str()) {
        checked.problems.push(format!("its {TRAILER_HEALTH} and {TRAILER_HEALTH_OF} trailers do not agree with the record"));
    }
    checked.problems.extend(promotion_problems(repo, &record, parent.id()));
    checked.record = Some(record);
    Ok(Some(checked))
}

/// The promotion a record names must be the parent or an ancestor of it, check out, and
/// have promoted what the record says.
fn promotion_problems(repo: &Repository, record: &HealthRecord, parent: Oid) -> Vec<String> {
    let Ok(promotion) = record.promotion.parse::<Oid>() else { return vec!["it names no promotion commit".into()] };
    let reachable = promotion == parent || repo.graph_descendant_of(parent, promotion).unwrap_or(false);
    if !reachable {
        return vec![format!("the promotion {promotion} it reports on is not an ancestor of it")];
    }
    let checked = repo.find_commit(promotion).ok().and_then(|commit| check_commit(repo, &commit).ok().flatten());
    let promoted = checked.filter(|checked| checked.checks_out()).is_some_and(|checked| {
        checked.records.iter().any(|decision| {
            let t = &decision.transition;
            t.application == record.application && t.to_env == record.environment && t.artifact.version == record.version && t.artifact.digest == record.digest
        })
    });
    match promoted {
        true => Vec::new(),
        false => vec![format!("{promotion} is not a promotion of {} {} into {} that checks out", record.application, record.version, record.environment)],
    }
}

/// What a health record commit is worth: unrecorded when it does not check out, else as the
/// rules in force when it landed say of a commit by its watcher.
pub fn health_trust(repo: &Repository, commit: Oid, checked: &CheckedHealth, rules: &Rules) -> Trust {
    match (&checked.record, checked.problems.is_empty()) {
        (Some(record), true) => {
            let claim = Claimed { env: &record.environment, requested_by: &record.checked_by, problems: Vec::new() };
            assess_claims(repo, commit, &[claim], rules)
        }
        _ => Trust::Unrecorded { reasons: checked.problems.clone() },
    }
}

/// One health record in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthEntry {
    /// The health record's commit.
    pub commit: String,
    /// Its commit time, Unix seconds.
    pub time: i64,
    /// What the record is worth (a record in a commit is a claim).
    pub trust: Trust,
    /// Whether it counts for `status`.
    pub counts: bool,
    /// The record (what the commit claims, escaped where shown), when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<HealthRecord>,
}

impl HealthEntry {
    /// The entry of a checked health commit.
    pub fn new(commit: &Commit<'_>, checked: CheckedHealth, trust: Trust) -> HealthEntry {
        HealthEntry { commit: commit.id().to_string(), time: commit.time().seconds(), counts: trust.counts(), trust, record: checked.record }
    }

    /// Whether it is about `app` in `env`.
    pub fn is_about(&self, app: Option<&str>, env: Option<&str>) -> bool {
        let record = self.record.as_ref();
        app.is_none_or(|app| record.is_some_and(|record| record.application == app)) && env.is_none_or(|env| record.is_some_and(|record| record.environment == env))
    }
}
