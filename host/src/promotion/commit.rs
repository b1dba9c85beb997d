//! Writing an allowed transition: one commit holding the manifest edit and its decision
//! record, built in the object database and checked like any promotion before the branch
//! moves by compare-and-swap; then the working tree and index, where the branch is checked
//! out. Any failure after the branch moved puts the branch back, so no error path leaves a
//! ref, the index or the working tree half-changed.

use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{ErrorCode, FileMode, Oid, Repository, Signature};

use super::journal::{CommitError, Intent, PromotionLock, update_worktree, worktree_error};
use super::planned::Plan;
use super::claim::check_commit;
use super::record::DecisionRecord;
use super::trailers::{batch_commit_message, commit_message};
use super::worktree::{TouchedPaths, checked_out_branch};
use crate::input::Actor;
use crate::repo::GitRepo;

/// The author/committer: the requester given with `--actor` (an e-mail address is the
/// author's address as it is; a login gets the address `LOGIN@tollgate.local`), else Git's
/// configured identity.
pub fn signature(repo: &GitRepo, actor: Option<&Actor>) -> Result<Signature<'static>, CommitError> {
    let signature = match actor {
        Some(actor) => {
            let is_address = |name: &str| name.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !name.contains(char::is_whitespace));
            let email = match &actor.email {
                Some(email) => email.clone(),
                None if is_address(&actor.name) => actor.name.clone(),
                None => format!("{}@tollgate.local", actor.name.replace(' ', "-")),
            };
            Signature::now(&actor.name, &email)
        }
        None => repo.git().signature().or_else(|_| Signature::now("tollgate", "tollgate@tollgate.local")),
    };
    Ok(signature?.to_owned())
}

/// Commit `plan` and its `record` onto `branch` (or a new branch `new_branch` at the same
/// base), holding `lock`. Returns the new commit. The intent stays in the journal when
/// `publish` is set, until the caller has pushed or undone the commit.
#[allow(clippy::too_many_arguments)]
pub fn commit_plan(
    repo: &GitRepo,
    lock: &mut PromotionLock,
    publish: bool,
    branch: &str,
    new_branch: Option<&str>,
    plan: &Plan,
    record: &DecisionRecord,
    author: &Signature<'_>,
) -> Result<Oid, CommitError> {
    commit_plans(repo, lock, publish, branch, new_branch, &[(plan, record)], author)
}

/// Commit several plans, all made on the same base, each with its record, as one commit
/// (all or nothing); see [`commit_plan`].
#[allow(clippy::too_many_arguments)]
pub fn commit_plans(
    repo: &GitRepo,
    lock: &mut PromotionLock,
    publish: bool,
    branch: &str,
    new_branch: Option<&str>,
    plans: &[(&Plan, &DecisionRecord)],
    author: &Signature<'_>,
) -> Result<Oid, CommitError> {
    let git = repo.git();
    let Some((first, _)) = plans.first() else { return Err(CommitError::State("nothing to commit".into())) };
    let base = first.base.commit;
    if plans.iter().any(|(plan, _)| plan.base.commit != base) {
        return Err(CommitError::Conflict(format!("{branch} moved while the transitions were being planned")));
    }
    let target_branch = new_branch.unwrap_or(branch);
    let checked_out = checked_out_branch(repo).as_deref() == Some(target_branch);
    let record_paths: Vec<String> = plans.iter().map(|(_, record)| record.path()).collect();
    let mut paths: Vec<&str> = plans.iter().flat_map(|(plan, _)| plan.files()).collect();
    paths.extend(record_paths.iter().map(String::as_str));
    // The index is read once, and only the touched entries are checked and updated.
    let mut worktree = if checked_out { Some(TouchedPaths::open(git)?) } else { None };
    if let Some(worktree) = &mut worktree {
        if repo.tip(target_branch).map(|tip| tip.commit).ok() != Some(base) {
            return Err(CommitError::Conflict(format!("{target_branch} moved while the transition was being decided")));
        }
        let base_tree = git.find_commit(base)?.tree()?;
        if let Some(path) = worktree.first_changed(&base_tree, &paths)? {
            return Err(CommitError::State(format!("{path} has uncommitted changes in the working tree; commit or stash them first")));
        }
    }

    let records: Vec<&DecisionRecord> = plans.iter().map(|(_, record)| *record).collect();
    let message = if records.len() == 1 { commit_message(records[0]) } else { batch_commit_message(&records) };
    let commit = build_commit(git, base, plans, &message, author)?;
    land_commit(repo, lock, Landing { publish, branch, new_branch, base, commit, paths: &paths }, worktree.as_mut())
}

/// Where a built commit lands: see [`land_commit`].
pub(super) struct Landing<'a> {
    /// Keep the intent in the journal until the caller has pushed or undone the commit.
    pub publish: bool,
    /// The configured branch.
    pub branch: &'a str,
    /// A new branch to create at the commit instead (`--branch`).
    pub new_branch: Option<&'a str>,
    /// The commit's parent, the tip the branch must still be at.
    pub base: Oid,
    /// The commit, already built and checked.
    pub commit: Oid,
    /// The files it changes (the working tree and index follow them).
    pub paths: &'a [&'a str],
}

/// Move the branch to a built and checked commit by compare-and-swap, with the intent in the
/// journal, and update the working tree and index (`worktree`, when the branch is checked
/// out); any failure after the branch moved puts it back. Every commit tollgate makes (a
/// promotion, a health record) lands through here.
pub(super) fn land_commit(repo: &GitRepo, lock: &mut PromotionLock, landing: Landing<'_>, worktree: Option<&mut TouchedPaths<'_>>) -> Result<Oid, CommitError> {
    let git = repo.git();
    let Landing { publish, branch, new_branch, base, commit, paths } = landing;
    let target_branch = new_branch.unwrap_or(branch);
    let message = git.find_commit(commit)?.summary().ok().flatten().unwrap_or_default().to_string();
    let reference = format!("refs/heads/{target_branch}");
    let log = format!("tollgate: {message}");
    // No local branch (an environment branch of a fresh clone, planned on origin's tip): the
    // commit starts it, and the journal knows it as a new branch (undone by deleting it).
    let starts_branch = new_branch.is_none() && git.find_reference(&reference).is_err();
    lock.record(&Intent {
        branch: target_branch.to_string(),
        new_branch: new_branch.is_some() || starts_branch,
        base: base.to_string(),
        commit: commit.to_string(),
        paths: paths.iter().map(|path| path.to_string()).collect(),
        publish,
    })?;
    let moved = match new_branch {
        Some(name) => git.reference(&reference, commit, false, &log).map(drop).map_err(|error| match error.code() {
            ErrorCode::Exists => CommitError::State(format!("branch {name} already exists; choose another --branch name")),
            _ => error.into(),
        }),
        // Creating it fails if one appeared meanwhile.
        None if starts_branch => git.reference(&reference, commit, false, &log).map(drop).map_err(|error| {
            CommitError::Conflict(format!("{branch} appeared while the transition was being decided ({})", error.message()))
        }),
        None => git.reference_matching(&reference, commit, true, base, &log).map(drop).map_err(|error| match error.code() {
            ErrorCode::Modified | ErrorCode::Locked | ErrorCode::Exists | ErrorCode::NotFound => {
                CommitError::Conflict(format!("{branch} moved while the transition was being decided ({})", error.message()))
            }
            _ => error.into(),
        }),
    };
    if let Err(error) = moved {
        lock.clear()?;
        return Err(error);
    }

    if let Some(worktree) = worktree
        && let Err(error) = update_worktree(git, worktree, commit, paths) {
            // Another git process holds the index and nothing was written: only the branch
            // goes back, and the promotion is a conflict to retry.
            if worktree.locked_out()
                && git.reference_matching(&reference, base, true, commit, "tollgate: undo a promotion the index lock held off").is_ok()
            {
                lock.clear()?;
                return Err(CommitError::Conflict(format!("cannot update the working tree ({}); nothing was committed", worktree_error(git, &error))));
            }
            // Put everything back: the branch to its base, the files to the base's content.
            let restored = git
                .reference_matching(&reference, base, true, commit, "tollgate: undo a promotion the working tree could not take")
                .map(drop)
                .and_then(|()| update_worktree(git, worktree, base, paths));
            if restored.is_ok() {
                lock.clear()?;
            }
            // Otherwise the intent stays: the next promotion finishes the undo.
            return Err(CommitError::State(match restored {
                Ok(()) => format!("cannot update the working tree ({}); nothing was committed", worktree_error(git, &error)),
                Err(undo) => format!(
                    "cannot update the working tree ({}), and undoing the commit failed too ({}): {target_branch} is at {commit}; \
                     the next promotion in this repository puts it back, or run `git reset --keep {base}`",
                    worktree_error(git, &error),
                    worktree_error(git, &undo),
                ),
            }));
        }
    if !publish {
        lock.clear()?;
    }
    Ok(commit)
}

/// Build the promotion commit object (nothing references it yet) and check it as history
/// will: a commit that would not count as a promotion is never published.
fn build_commit(git: &Repository, base: Oid, plans: &[(&Plan, &DecisionRecord)], message: &str, author: &Signature<'_>) -> Result<Oid, CommitError> {
    let base_commit = git.find_commit(base)?;
    let base_tree = base_commit.tree()?;
    let mut update = TreeUpdateBuilder::new();
    for (plan, record) in plans {
        for (file, after) in plan.edits() {
            // Keep an executable file executable.
            let mode = match base_tree.get_path(Path::new(file)).map(|entry| entry.filemode()) {
                Ok(0o100755) => FileMode::BlobExecutable,
                _ => FileMode::Blob,
            };
            update.upsert(file, git.blob(after.as_bytes())?, mode);
        }
        update.upsert(record.path(), git.blob(record.to_text().as_bytes())?, FileMode::Blob);
    }
    let tree = git.find_tree(update.create_updated(git, &base_tree)?)?;
    // Signed in Git's format when Git is set up to sign commits with an SSH key.
    let commit = crate::trust::commit_signature::create_commit(git, author, message, &tree, &[&base_commit]).map_err(CommitError::State)?;

    let built = git.find_commit(commit)?;
    let identity_kept = built.author().name_bytes() == author.name_bytes()
        && built.author().email_bytes() == author.email_bytes()
        && built.message_bytes() == message.as_bytes();
    let checked = check_commit(git, &built)?;
    match checked {
        Some(checked) if checked.checks_out() && identity_kept && checked.records.len() == plans.len() => Ok(commit),
        Some(checked) => Err(CommitError::State(format!(
            "the promotion commit did not pass its own checks ({}); nothing was committed",
            if identity_kept { checked.problems.join("; ") } else { "its author or message did not read back as written".into() }
        ))),
        None => Err(CommitError::State("the promotion commit did not read back as a promotion; nothing was committed".into())),
    }
}
