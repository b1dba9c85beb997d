//! The branch guard: `tollgate verify BASE..HEAD` judges every commit a push would add to a
//! protected branch (merge commits and a new branch, `BASE` all zeros, included), as a
//! required status check or a pre-receive hook would. A commit passes when it is a promotion
//! that counts ([`super::verified`]: verified, or unsigned where the rules in force allow
//! it), or when it changes no configured manifest location (and, where the rules require it,
//! changes the configuration only with a promoter's signature). Everything is judged by the
//! rules in force before the commit (its first parent's), never by what the push brings.

use std::path::Path;

use git2::{Commit, Repository};
use serde::Serialize;

use super::claim::check_commit;
use super::tree_diff::{differing_entries, entry_id};
use super::verified::{Rules, RulesAt, Trust, assess};
use super::workspace::Workspace;
use crate::exit::Failure;
use crate::repo::GitRepo;
use crate::trust::commit_signature::{CommitSignature, verify_commit};

/// How many commits one guard run judges at most.
const MAX_COMMITS: usize = 100_000;

/// What the guard says of one commit.
#[derive(Debug, Clone, Serialize)]
pub struct Guarded {
    /// The commit.
    pub commit: String,
    /// Its subject line (escaped).
    pub subject: String,
    /// `verified`, `unsigned`, `health` (a health record that counts), `unrelated` (touches no
    /// configured location), `merge` or `refused`.
    pub verdict: &'static str,
    /// Why it is refused (or, for an unsigned promotion, what it is).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl Guarded {
    /// Whether the commit may land.
    pub fn passes(&self) -> bool {
        self.verdict != "refused"
    }
}

/// Judge every commit in `range` (`BASE..HEAD`; `BASE` may be all zeros for a new branch:
/// then every commit no other ref reaches), oldest first, each by its parent's rules.
pub fn guard(repo: &GitRepo, range: &str) -> Result<Vec<Guarded>, String> {
    guard_with(repo, range, RulesAt::default())
}

/// [`guard`] with the rules `rules` gives: for a range on an environment branch of its own,
/// the protected branch's ([`RulesAt::on_environment_branch`]).
pub fn guard_with(repo: &GitRepo, range: &str, mut rules: RulesAt) -> Result<Vec<Guarded>, String> {
    let git = repo.git();
    let mut judged = Vec::new();
    for oid in super::range::commits_in_range(repo, range, MAX_COMMITS)? {
        let commit = git.find_commit(oid).map_err(|error| error.message().to_string())?;
        judged.push(judge_commit(git, &commit, &mut rules));
    }
    Ok(judged)
}

/// The branch guard as `verify BASE..HEAD [--branch NAME]` and `GET /v1/verify/BASE..HEAD
/// [?branch=NAME]` run it (one function for both). `branch` is (the flag or field that named
/// it, the branch the range lands on): a branch a configured location lives on, other than the
/// protected branch, is judged by the protected branch's rules ([`Workspace::rules_for`]);
/// without it each commit is judged by its parent's, and no configuration is read.
/// `open_workspace` gives a workspace, owned or lent (the server's leased repository).
pub fn guard_range<W: std::borrow::Borrow<Workspace>>(
    repo_path: &Path,
    range: &str,
    branch: Option<(&str, &str)>,
    open_workspace: impl FnOnce() -> Result<W, Failure>,
) -> Result<Vec<Guarded>, Failure> {
    let Some((field, branch)) = branch else {
        let repo = GitRepo::open(repo_path).map_err(|error| Failure::bad_input(error.0))?;
        return guard(&repo, range).map_err(Failure::bad_input);
    };
    crate::input::branch(field, branch).map_err(|error| Failure::bad_input(error.to_string()))?;
    let opened = open_workspace()?;
    let workspace: &Workspace = std::borrow::Borrow::borrow(&opened);
    let on_environment_branch = (branch != workspace.config.branch && workspace.config.location_branches().contains(&branch)).then_some(branch);
    let rules = workspace.rules_for(on_environment_branch)?;
    guard_with(&workspace.repo, range, rules).map_err(Failure::bad_input)
}

/// The guard's verdict on one commit.
fn judge_commit(git: &Repository, commit: &Commit<'_>, rules: &mut RulesAt) -> Guarded {
    let subject = crate::input::escape_untrusted(String::from_utf8_lossy(commit.message_bytes()).lines().next().unwrap_or_default(), 200);
    let verdict = |verdict: &'static str, reasons: Vec<String>| Guarded { commit: commit.id().to_string(), subject: subject.clone(), verdict, reasons };
    if commit.parent_count() == 0 {
        return verdict("unrelated", vec!["a root commit: no rules were in force before it".into()]);
    }
    let in_force = rules.before(git, commit);
    if commit.parent_count() > 1 {
        return match merge_problems(commit, &in_force) {
            problems if problems.is_empty() => verdict("merge", Vec::new()),
            problems => verdict("refused", problems),
        };
    }
    match check_commit(git, commit) {
        Err(error) => verdict("refused", vec![error.message().to_string()]),
        Ok(Some(checked)) if checked.checks_out() => {
            let mut reasons: Vec<String> = checked.records.iter().flat_map(|record| super::verify::replay_problems(git, commit, record, rules)).collect();
            let trust = assess(git, commit.id(), &checked.records, &in_force);
            reasons.extend(configuration_problems(git, commit, &in_force));
            match trust {
                _ if !reasons.is_empty() => verdict("refused", reasons),
                Trust::Verified { signer, .. } => verdict("verified", vec![format!("signed by promoter {signer}")]),
                trust @ Trust::Unsigned { .. } => verdict("unsigned", trust.reasons()),
                other => verdict("refused", other.reasons()),
            }
        }
        Ok(Some(checked)) => verdict("refused", checked.problems),
        Ok(None) => {
            let mut reasons: Vec<String> = changed(git, commit, in_force.locations.keys())
                .into_iter()
                .map(|path| {
                    let located = &in_force.locations[&path][0];
                    format!("changes {path} ({} in {}) without a decision record", located.app, located.env)
                })
                .collect();
            reasons.extend(configuration_problems(git, commit, &in_force));
            if let Some(problem) = &in_force.problem {
                // An environment branch of its own holds no configuration: its commits are
                // judged by the protected branch's rules when the guard is told the branch.
                let hint = if problem.contains(crate::config::CONFIG_FILE) { " (on an environment branch of its own, pass --branch NAME)" } else { "" };
                reasons.push(format!("the rules in force before it cannot be read: {problem}{hint}"));
            }
            // A health record must count (check out, signed where the rules require it).
            let health = match super::health::check_health_commit(git, commit) {
                Ok(Some(checked)) => Some(super::health::health_trust(git, commit.id(), &checked, &in_force)),
                Ok(None) => None,
                Err(error) => Some(Trust::Unrecorded { reasons: vec![error.message().to_string()] }),
            };
            match health {
                Some(trust) if !trust.counts() => reasons.extend(trust.reasons().into_iter().map(|reason| format!("health record: {reason}"))),
                Some(_) if reasons.is_empty() => return verdict("health", Vec::new()),
                _ => {}
            }
            if reasons.is_empty() { verdict("unrelated", Vec::new()) } else { verdict("refused", reasons) }
        }
    }
}

/// Where the rules in force require it, a change of the configuration must be signed by a
/// promoter.
fn configuration_problems(git: &Repository, commit: &Commit<'_>, rules: &Rules) -> Vec<String> {
    let files = changed(git, commit, rules.configuration_files.iter());
    if files.is_empty() || !rules.trust.signed_configuration {
        return Vec::new();
    }
    let signature = match &rules.signers {
        Some(signers) => verify_commit(git, signers, commit.id()),
        None => CommitSignature::Missing,
    };
    let by_promoter = match &signature {
        CommitSignature::Good { principal, .. } => {
            rules.trust.promoters.is_empty() || rules.trust.promoters.iter().any(|promoter| crate::trust::commit_signature::same_principal(promoter, principal))
        }
        _ => false,
    };
    if by_promoter {
        return Vec::new();
    }
    vec![format!(
        "changes {} without a promoter's signature, which trust.signed_configuration requires ({})",
        files.join(", "),
        signature.describe()
    )]
}

/// A merge commit may only take each configured file from one of its parents: content that
/// none of them has is an edit the merge itself makes, which no record covers.
fn merge_problems(commit: &Commit<'_>, rules: &Rules) -> Vec<String> {
    let Ok(tree) = commit.tree() else { return vec!["its tree cannot be read".into()] };
    let parents: Vec<git2::Tree<'_>> = commit.parents().filter_map(|parent| parent.tree().ok()).collect();
    rules
        .locations
        .keys()
        .chain(rules.configuration_files.iter())
        .filter(|path| {
            let own = entry_id(&tree, path);
            !parents.iter().any(|parent| entry_id(parent, path) == own)
        })
        .map(|path| format!("the merge itself changes {path}: its content is in none of the merged commits"))
        .collect()
}

/// The paths among `paths` that `commit` changes relative to its first parent (for a root
/// commit: that it has).
fn changed<'p>(git: &Repository, commit: &Commit<'_>, paths: impl Iterator<Item = &'p String>) -> Vec<String> {
    let Ok(tree) = commit.tree() else { return Vec::new() };
    let paths: Vec<&String> = paths.collect();
    match commit.parent(0).ok().and_then(|parent| parent.tree().ok()) {
        // The history's comparison (`history::read_ordinary`), reading only the subtrees that differ.
        Some(parent) => {
            let differing = differing_entries(git, &parent, &tree, paths.iter().map(|path| path.as_str()));
            paths.into_iter().filter(|path| differing.contains(path.as_str())).cloned().collect()
        }
        None => paths.into_iter().filter(|path| entry_id(&tree, path).is_some()).cloned().collect(),
    }
}

