//! Promotions take turns, and survive being killed: `.git/tollgate-promotion` is locked
//! (`flock`, released by the kernel when the holder dies) for the whole of a promotion, and
//! holds what a promotion is changing from just before its branch moves until the change is
//! complete. A promotion that finds such an intent left by a killed run finishes or undoes
//! it first, so no kill leaves the next promotion facing a half-changed branch, index or
//! working tree.
//!
//! - An interrupted local promotion is finished: the branch already holds a checked commit,
//!   so the working tree and index are brought to it.
//! - An interrupted `--push` promotion is undone locally: it was never reported published,
//!   and the sync that follows brings it back if the push had in fact reached the remote.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::worktree::{TouchedPaths, checked_out_branch};
use crate::repo::GitRepo;


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

/// How long a promotion waits for another one in the same repository.
const LOCK_WAIT: Duration = Duration::from_secs(20);
/// The journal's name in the git directory.
const JOURNAL_FILE: &str = "tollgate-promotion";

/// What a promotion is changing, written before its branch moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The branch being moved.
    pub branch: String,
    /// The branch is created by this promotion (`--branch`).
    pub new_branch: bool,
    /// The commit the branch is moved from.
    pub base: String,
    /// The promotion commit the branch is moved to.
    pub commit: String,
    /// The files the promotion changes (the manifest and the decision record).
    pub paths: Vec<String>,
    /// The promotion is published with `--push`; complete only once pushed.
    pub publish: bool,
}

/// The held journal: one promotion at a time per repository.
pub struct PromotionLock {
    file: File,
    path: PathBuf,
}

impl PromotionLock {
    /// Wait for the journal (at most [`LOCK_WAIT`]), then finish or undo whatever a killed
    /// promotion left in it.
    pub fn acquire(repo: &GitRepo) -> Result<PromotionLock, CommitError> {
        let path = repo.git().path().join(JOURNAL_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| CommitError::State(format!("cannot open {}: {error}", path.display())))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => std::thread::sleep(Duration::from_millis(20)),
                Err(TryLockError::WouldBlock) => {
                    return Err(CommitError::Conflict(format!(
                        "another tollgate process is promoting in this repository (it holds {}); try again when it is done",
                        path.display()
                    )));
                }
                Err(TryLockError::Error(error)) => return Err(CommitError::State(format!("cannot lock {}: {error}", path.display()))),
            }
        }
        let mut lock = PromotionLock { file, path };
        if let Some(intent) = lock.read_intent()? {
            // The file is in `.git`, which anyone with write access there can edit: nothing
            // is done on its word until the whole of it is checked.
            validate(repo, &intent).map_err(|problem| {
                CommitError::State(format!(
                    "{} does not describe an interrupted promotion of this repository: {problem}; nothing was changed. \
                     If no promotion is running, remove that file",
                    lock.path.display()
                ))
            })?;
            recover(repo, &intent).map_err(|problem| {
                let explained = |problem: String| {
                    format!(
                        "an earlier promotion was interrupted ({} of {} to {}), and it cannot be completed: {problem}. \
                         Fix that, then run the promotion again (the record of what was interrupted is in {})",
                        intent.branch,
                        intent.base,
                        intent.commit,
                        lock.path.display()
                    )
                };
                // The index held by another git is a conflict here as in any promotion.
                match problem {
                    CommitError::Conflict(problem) => CommitError::Conflict(explained(problem)),
                    CommitError::State(problem) => CommitError::State(explained(problem)),
                }
            })?;
            lock.clear()?;
        }
        Ok(lock)
    }

    fn read_intent(&mut self) -> Result<Option<Intent>, CommitError> {
        let mut text = String::new();
        self.file.seek(SeekFrom::Start(0)).and_then(|_| self.file.read_to_string(&mut text)).map_err(|error| self.io_error(error))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        // Only ever written whole by a promotion (then synced), so anything else is not ours.
        serde_json::from_str(&text).map(Some).map_err(|error| {
            CommitError::State(format!("{} is not a promotion journal ({error}); if no promotion is running, remove it", self.path.display()))
        })
    }

    /// Write `intent` durably before the branch moves.
    pub fn record(&mut self, intent: &Intent) -> Result<(), CommitError> {
        let text = serde_json::to_string(intent).expect("an intent serializes");
        self.rewrite(text.as_bytes())
    }

    /// The promotion is complete (or undone): nothing to recover.
    pub fn clear(&mut self) -> Result<(), CommitError> {
        self.rewrite(b"")
    }

    fn rewrite(&mut self, bytes: &[u8]) -> Result<(), CommitError> {
        let written = self
            .file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(bytes))
            .and_then(|()| self.file.sync_data());
        written.map_err(|error| self.io_error(error))
    }

    fn io_error(&self, error: std::io::Error) -> CommitError {
        CommitError::State(format!("cannot use {}: {error}", self.path.display()))
    }
}

/// Check everything an intent says before any of it is acted on: the branch name is valid
/// and the branch is at `base` or `commit` (or, for a new branch, not created yet); both are
/// commits and `commit`'s only parent is `base`; every path is a normalised relative path
/// that `commit` changes, reached in the working tree through no symlink.
fn validate(repo: &GitRepo, intent: &Intent) -> Result<(), String> {
    let git = repo.git();
    let reference = format!("refs/heads/{}", intent.branch);
    if intent.branch.is_empty() || !git2::Reference::is_valid_name(&reference) {
        return Err(format!("{:?} is not a branch name", crate::input::escape_untrusted(&intent.branch, 200)));
    }
    let commit_at = |what: &str, text: &str| {
        Oid::from_str(text)
            .ok()
            .filter(|_| text.len() == 40)
            .and_then(|id| git.find_commit(id).ok())
            .ok_or_else(|| format!("its {what} {:?} is not a commit of this repository", crate::input::escape_untrusted(text, 100)))
    };
    let base = commit_at("base", &intent.base)?;
    let commit = commit_at("commit", &intent.commit)?;
    if commit.parent_ids().collect::<Vec<_>>() != [base.id()] {
        return Err(format!("its commit {} is not a child of its base {}", commit.id(), base.id()));
    }
    let tip = git.refname_to_id(&reference).ok();
    let tip_fits = match tip {
        Some(tip) => tip == base.id() || tip == commit.id(),
        None => intent.new_branch,
    };
    if !tip_fits {
        return Err(format!("{} is at neither its base nor its commit", intent.branch));
    }
    let changed = changed_paths(git, &base, &commit)?;
    let workdir = git.workdir();
    for path in &intent.paths {
        let shown = crate::input::escape_untrusted(path, 200);
        let normalised = !path.is_empty()
            && !path.starts_with('/')
            && !path.contains(['\\', '\0'])
            && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        if !normalised {
            return Err(format!("the path {shown:?} is not a normalised path inside the repository"));
        }
        if !changed.iter().any(|changed| changed == path) {
            return Err(format!("the path {shown:?} is not a file its commit changes"));
        }
        if let Some(workdir) = workdir {
            let mut reached = workdir.to_path_buf();
            for part in path.split('/') {
                reached.push(part);
                if std::fs::symlink_metadata(&reached).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
                    return Err(format!("the path {shown:?} goes through the symlink {}", reached.display()));
                }
            }
        }
    }
    Ok(())
}

/// The paths that differ between two commits' trees.
fn changed_paths(git: &Repository, base: &git2::Commit<'_>, commit: &git2::Commit<'_>) -> Result<Vec<String>, String> {
    let failed = |error: git2::Error| format!("cannot compare its base and commit: {}", error.message());
    let diff = git.diff_tree_to_tree(Some(&base.tree().map_err(failed)?), Some(&commit.tree().map_err(failed)?), None).map_err(failed)?;
    Ok(diff
        .deltas()
        .flat_map(|delta| [delta.old_file().path(), delta.new_file().path()])
        .flatten()
        .filter_map(|path| path.to_str().map(str::to_string))
        .collect())
}

/// Bring the branch and, where it is checked out, the files of an interrupted promotion to
/// a consistent state.
fn recover(repo: &GitRepo, intent: &Intent) -> Result<(), CommitError> {
    let git = repo.git();
    let parse = |text: &str| Oid::from_str(text).map_err(|error| CommitError::State(format!("bad commit id {text}: {error}")));
    let (base, commit) = (parse(&intent.base)?, parse(&intent.commit)?);
    let reference = format!("refs/heads/{}", intent.branch);
    let tip = git.refname_to_id(&reference).ok();
    let settled = if tip == Some(commit) && intent.publish {
        let log = "tollgate: undo a promotion interrupted before it was published";
        let undone = if intent.new_branch {
            git.find_reference(&reference).and_then(|mut branch| branch.delete())
        } else {
            git.reference_matching(&reference, base, true, commit, log).map(drop)
        };
        undone.map_err(|error| CommitError::State(format!("cannot move {} back to {base}: {}", intent.branch, error.message())))?;
        base
    } else if tip == Some(commit) || tip == Some(base) {
        tip.expect("checked above")
    } else {
        // The branch moved on since: the files are no longer this promotion's to touch.
        return Ok(());
    };
    if checked_out_branch(repo).as_deref() == Some(intent.branch.as_str()) {
        let paths: Vec<&str> = intent.paths.iter().map(String::as_str).collect();
        for path in &paths {
            check_untouched(git, path, base, commit).map_err(CommitError::State)?;
        }
        let updated = TouchedPaths::open(git).and_then(|mut worktree| {
            worktree.remove_leftovers(&paths);
            update_worktree(git, &mut worktree, settled, &paths)
        });
        updated.map_err(|error| {
            let problem = format!("cannot update the working tree: {}", worktree_error(git, &error));
            match error.code() {
                git2::ErrorCode::Locked => CommitError::Conflict(problem),
                _ => CommitError::State(problem),
            }
        })?;
    }
    Ok(())
}

/// A file the promotion changes still holds its content before or after the promotion, or
/// the start of one of them (a kill while the file was being written): nobody edited it since.
fn check_untouched(git: &Repository, path: &str, base: Oid, commit: Oid) -> Result<(), String> {
    let workdir = git.workdir().ok_or("a checked-out branch without a working tree")?;
    let current = std::fs::read(workdir.join(path)).ok();
    let content_in = |id: Oid| -> Option<Vec<u8>> {
        let tree = git.find_commit(id).ok()?.tree().ok()?;
        let entry = tree.get_path(Path::new(path)).ok()?;
        Some(git.find_blob(entry.id()).ok()?.content().to_vec())
    };
    let untouched = |expected: Option<Vec<u8>>| match (&current, expected) {
        (None, None) => true,
        (Some(current), Some(expected)) => expected.starts_with(current),
        _ => false,
    };
    if untouched(content_in(base)) || untouched(content_in(commit)) {
        Ok(())
    } else {
        Err(format!("{path} was changed after the interruption; commit, stash or remove that change"))
    }
}

/// git2's message, naming the lock file a crashed git process left (as git does), since
/// only the user can tell whether another git is running.
pub fn worktree_error(git: &Repository, error: &git2::Error) -> String {
    let index_lock = git.path().join("index.lock");
    if error.code() == git2::ErrorCode::Locked || index_lock.exists() {
        format!("{} ({} exists; if no git process is running, remove that file)", error.message(), index_lock.display())
    } else {
        error.message().to_string()
    }
}

/// Make the working tree and index hold `commit`'s version of `paths` (a path absent from
/// it is removed).
pub fn update_worktree(git: &Repository, worktree: &mut TouchedPaths<'_>, commit: Oid, paths: &[&str]) -> Result<(), git2::Error> {
    let tree = git.find_commit(commit)?.tree()?;
    worktree.update(&tree, paths)
}
