//! Signed approvals in `refs/tollgate/approvals`: a commit whose tree holds one blob per
//! signed approval, named by the sha256 of its content. Adding one is a compare-and-swap of
//! the ref; publishing is `git push` of the ref, merging (union of the trees) when the remote
//! moved. The storage is not trusted: every approval is verified where it is used.

use std::path::Path;
use std::process::Command;

use git2::{ErrorCode, FileMode, Oid, Repository, Signature};
use sha2::{Digest, Sha256};

use super::statement::SignedApproval;

/// The ref holding signed approvals.
pub const APPROVALS_REF: &str = "refs/tollgate/approvals";

/// One stored blob: its name in the tree and its content (or why it could not be read).
#[derive(Debug, Clone)]
pub struct StoredApproval {
    /// File name in the tree.
    pub name: String,
    /// The approvals in it, or why it is not readable.
    pub content: Result<SignedApproval, String>,
}

/// Every approval stored under [`APPROVALS_REF`] (none when the ref does not exist).
pub fn read_all(git: &Repository) -> Result<Vec<StoredApproval>, String> {
    let commit = match git.find_reference(APPROVALS_REF) {
        Ok(reference) => reference.peel_to_commit().map_err(|error| format!("{APPROVALS_REF}: {}", error.message()))?,
        Err(error) if error.code() == ErrorCode::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("{APPROVALS_REF}: {}", error.message())),
    };
    let tree = commit.tree().map_err(|error| error.message().to_string())?;
    let mut found = Vec::new();
    for entry in tree.iter() {
        // Names come from unprotected storage: keep control characters out of terminals.
        let name = String::from_utf8_lossy(entry.name_bytes()).escape_debug().to_string();
        let content = entry
            .to_object(git)
            .ok()
            .and_then(|object| object.into_blob().ok())
            .ok_or_else(|| "not a file".to_string())
            .and_then(|blob| String::from_utf8(blob.content().to_vec()).map_err(|_| "not UTF-8 text".to_string()))
            .and_then(|text| SignedApproval::parse_all(&text))
            .and_then(|mut all| if all.len() == 1 { Ok(all.remove(0)) } else { Err("not exactly one signed approval".to_string()) });
        found.push(StoredApproval { name, content });
    }
    Ok(found)
}

/// The blob name of `approval`.
pub fn blob_name(approval: &SignedApproval) -> String {
    format!("{}.approval", hex::encode(Sha256::digest(approval.to_file().as_bytes())))
}

/// Add `approval` to [`APPROVALS_REF`] with a compare-and-swap of the ref (retried when
/// another writer moved it). Returns the new commit (the old one when already stored).
pub fn add(git: &Repository, approval: &SignedApproval, who: &Signature<'_>) -> Result<Oid, String> {
    let name = blob_name(approval);
    for _ in 0..5 {
        let current = match git.find_reference(APPROVALS_REF) {
            Ok(reference) => Some(reference.peel_to_commit().map_err(|error| error.message().to_string())?),
            Err(error) if error.code() == ErrorCode::NotFound => None,
            Err(error) => return Err(error.message().to_string()),
        };
        let mut builder = git.treebuilder(current.as_ref().map(|commit| commit.tree()).transpose().map_err(|e| e.message().to_string())?.as_ref())
            .map_err(|error| error.message().to_string())?;
        if builder.get(&name).map_err(|error| error.message().to_string())?.is_some() {
            return Ok(current.expect("an entry implies a commit").id());
        }
        let blob = git.blob(approval.to_file().as_bytes()).map_err(|error| error.message().to_string())?;
        builder.insert(&name, blob, FileMode::Blob.into()).map_err(|error| error.message().to_string())?;
        let tree = git.find_tree(builder.write().map_err(|error| error.message().to_string())?).map_err(|e| e.message().to_string())?;
        let first_line = approval.text.lines().nth(1).unwrap_or_default();
        let message = format!("approval: {}\n", summary(&approval.text).unwrap_or_else(|| first_line.to_string()));
        let parents: Vec<&git2::Commit<'_>> = current.iter().collect();
        let commit = git.commit(None, who, who, &message, &tree, &parents).map_err(|error| error.message().to_string())?;
        let moved = match &current {
            Some(old) => git.reference_matching(APPROVALS_REF, commit, true, old.id(), "tollgate approve"),
            None => git.reference(APPROVALS_REF, commit, false, "tollgate approve"),
        };
        match moved {
            Ok(_) => return Ok(commit),
            Err(error) if matches!(error.code(), ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked) => continue,
            Err(error) => return Err(format!("cannot update {APPROVALS_REF}: {}", error.message())),
        }
    }
    Err(format!("{APPROVALS_REF} kept moving while the approval was being stored; try again"))
}

fn summary(text: &str) -> Option<String> {
    let statement = super::statement::Statement::parse(text).ok()?;
    Some(format!("{} {} to {} by {}", statement.application, statement.version, statement.environment, statement.approver))
}

/// Publish [`APPROVALS_REF`] to `remote` with the user's `git`. When the remote holds
/// approvals this repository lacks, fetch them, merge the two trees (union) and push again.
pub fn push(dir: &Path, git: &Repository, remote: &str, who: &Signature<'_>) -> Result<(), String> {
    let remote_tracking = "refs/tollgate/approvals-remote";
    let mut last = String::new();
    for _ in 0..3 {
        let pushed = run_git(dir, &["push", "--porcelain", remote, &format!("{APPROVALS_REF}:{APPROVALS_REF}")])?;
        if pushed.0 {
            return Ok(());
        }
        last = pushed.1.clone();
        // Rejected: fetch theirs and merge.
        let fetched = run_git(dir, &["fetch", "--no-tags", remote, &format!("+{APPROVALS_REF}:{remote_tracking}")])?;
        if !fetched.0 {
            return Err(format!("git push {remote} {APPROVALS_REF} was rejected and fetching it failed: {}", pushed.1));
        }
        merge_from(git, remote_tracking, who)?;
        let _ = git.find_reference(remote_tracking).and_then(|mut reference| reference.delete());
    }
    Err(format!("{remote} kept rejecting {APPROVALS_REF} (last answer: {last}); the approval is stored locally, push it again later"))
}

/// Merge the approvals under `other_ref` into [`APPROVALS_REF`] (union of the blobs).
fn merge_from(git: &Repository, other_ref: &str, who: &Signature<'_>) -> Result<(), String> {
    let error = |e: git2::Error| e.message().to_string();
    let theirs = git.find_reference(other_ref).and_then(|r| r.peel_to_commit()).map_err(error)?;
    let ours = git.find_reference(APPROVALS_REF).and_then(|r| r.peel_to_commit()).map_err(error)?;
    let mut builder = git.treebuilder(Some(&ours.tree().map_err(error)?)).map_err(error)?;
    for entry in theirs.tree().map_err(error)?.iter() {
        if let Ok(name) = entry.name()
            && builder.get(name).map_err(error)?.is_none()
        {
            builder.insert(name, entry.id(), entry.filemode()).map_err(error)?;
        }
    }
    let tree = git.find_tree(builder.write().map_err(error)?).map_err(error)?;
    let commit = git.commit(None, who, who, "merge approvals\n", &tree, &[&ours, &theirs]).map_err(error)?;
    git.reference_matching(APPROVALS_REF, commit, true, ours.id(), "tollgate approve: merge").map_err(error)?;
    Ok(())
}

fn run_git(dir: &Path, args: &[&str]) -> Result<(bool, String), String> {
    let output = Command::new("git").arg("-C").arg(dir).args(args).output().map_err(|error| format!("cannot run git ({error})"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok((output.status.success(), text.trim().to_string()))
}
