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

/// A stored approval larger than this is not read (a real one is under 2 KiB).
pub const MAX_APPROVAL_BYTES: usize = 64 * 1024;
/// The approvals ref's commit and tree objects are not read beyond this (a tree entry is
/// about 80 bytes: some 100,000 approvals).
pub const MAX_APPROVALS_OBJECT_BYTES: usize = 8 * 1024 * 1024;

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
    let Some((_, tree)) = approvals_at(git, APPROVALS_REF)? else { return Ok(Vec::new()) };
    let mut found = Vec::new();
    for entry in tree.iter() {
        // Names come from unprotected storage: keep control characters out of terminals.
        let name = String::from_utf8_lossy(entry.name_bytes()).escape_debug().to_string();
        let content = bounded_object(git, entry.id(), git2::ObjectType::Blob, MAX_APPROVAL_BYTES, "a signed approval")
            .and_then(|()| git.find_blob(entry.id()).map_err(|error| error.message().to_string()))
            .and_then(|blob| String::from_utf8(blob.content().to_vec()).map_err(|_| "not UTF-8 text".to_string()))
            .and_then(|text| SignedApproval::parse_all(&text))
            .and_then(|mut all| if all.len() == 1 { Ok(all.remove(0)) } else { Err("not exactly one signed approval".to_string()) });
        found.push(StoredApproval { name, content });
    }
    Ok(found)
}

/// The commit and tree `reference` points at (`None` when it does not exist), each checked
/// from its object header before it is read: the ref is unprotected storage, and git
/// would inflate an object whole.
fn approvals_at<'r>(git: &'r Repository, reference: &str) -> Result<Option<(git2::Commit<'r>, git2::Tree<'r>)>, String> {
    let target = match git.find_reference(reference) {
        Ok(found) => found.resolve().ok().and_then(|found| found.target()).ok_or_else(|| format!("{reference}: not a direct reference"))?,
        Err(error) if error.code() == ErrorCode::NotFound => return Ok(None),
        Err(error) => return Err(format!("{reference}: {}", error.message())),
    };
    let fail = |error: String| format!("{reference}: {error}");
    bounded_object(git, target, git2::ObjectType::Commit, MAX_APPROVALS_OBJECT_BYTES, "the approvals commit").map_err(fail)?;
    let commit = git.find_commit(target).map_err(|error| fail(error.message().to_string()))?;
    bounded_object(git, commit.tree_id(), git2::ObjectType::Tree, MAX_APPROVALS_OBJECT_BYTES, "the approvals tree").map_err(fail)?;
    let tree = commit.tree().map_err(|error| fail(error.message().to_string()))?;
    Ok(Some((commit, tree)))
}

/// `Ok` when object `id` is a `kind` of at most `limit` bytes, from its header alone.
fn bounded_object(git: &Repository, id: Oid, kind: git2::ObjectType, limit: usize, what: &str) -> Result<(), String> {
    let (size, actual) = git.odb().and_then(|odb| odb.read_header(id)).map_err(|error| error.message().to_string())?;
    if actual != kind {
        return Err(format!("not {what} (a {actual})"));
    }
    if size > limit {
        return Err(format!("{size} bytes, over the {} limit for {what}; not read", crate::runtime::describe_bytes(limit)));
    }
    Ok(())
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
        let found = approvals_at(git, APPROVALS_REF)?;
        let (current, tree) = found.map_or((None, None), |(commit, tree)| (Some(commit), Some(tree)));
        let mut builder = git.treebuilder(tree.as_ref()).map_err(|error| error.message().to_string())?;
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
    let missing = |reference: &str| format!("{reference} does not exist");
    let (theirs, their_tree) = approvals_at(git, other_ref)?.ok_or_else(|| missing(other_ref))?;
    let (ours, our_tree) = approvals_at(git, APPROVALS_REF)?.ok_or_else(|| missing(APPROVALS_REF))?;
    let mut builder = git.treebuilder(Some(&our_tree)).map_err(error)?;
    for entry in their_tree.iter() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_approval_blob_is_refused_from_its_header_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init_bare(dir.path()).unwrap();
        let big = git.blob(&vec![b'a'; MAX_APPROVAL_BYTES + 1]).unwrap();
        let mut builder = git.treebuilder(None).unwrap();
        builder.insert("big.approval", big, FileMode::Blob.into()).unwrap();
        let tree = git.find_tree(builder.write().unwrap()).unwrap();
        let who = Signature::now("t", "t@example.com").unwrap();
        let commit = git.commit(None, &who, &who, "x", &tree, &[]).unwrap();
        git.reference(APPROVALS_REF, commit, false, "test").unwrap();
        let stored = read_all(&git).unwrap();
        assert_eq!(stored.len(), 1);
        let error = stored[0].content.as_ref().unwrap_err();
        assert!(error.contains("65537 bytes, over the 64 KiB limit for a signed approval; not read"), "{error}");
    }

    #[test]
    fn an_approvals_ref_at_something_other_than_a_commit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init_bare(dir.path()).unwrap();
        let blob = git.blob(b"not a commit").unwrap();
        git.reference(APPROVALS_REF, blob, false, "test").unwrap();
        assert!(read_all(&git).unwrap_err().contains("not the approvals commit (a blob)"));
    }
}
