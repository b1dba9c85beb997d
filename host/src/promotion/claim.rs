//! A commit that claims to be a promotion, checked against the records it adds: it counts
//! only when it checks out ([`check_commit`]): it has one parent, it adds its records (and
//! changes no other record), each record's base is the parent or an ancestor of it, the commit
//! changes exactly the recorded files from exactly the recorded content to exactly the
//! recorded content, the records' enforce-mode policies allowed, and its `Tollgate-*`
//! trailers, when present, agree with the records. What one that checks out is worth is
//! `verified`'s to say.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::{Commit, Delta, ObjectType, Oid, Repository, Tree};

use super::record::{DecisionRecord, MAX_RECORD_BYTES, RECORD_DIR};
use super::trailers::Trailers;
use super::tree_diff::changed_files;

/// A commit that claims to be a promotion, and what checking it found.
#[derive(Debug, Clone)]
pub struct CheckedCommit {
    /// The records the commit adds (parsed), in path order.
    pub records: Vec<DecisionRecord>,
    /// Its `Tollgate-*` trailers, when it has any.
    pub trailers: Option<Trailers>,
    /// Why it does not count as a tollgate promotion; empty when it does.
    pub problems: Vec<String>,
}

impl CheckedCommit {
    /// Whether the commit is a verified tollgate promotion.
    pub fn checks_out(&self) -> bool {
        self.problems.is_empty() && !self.records.is_empty()
    }
}

/// Check `commit` as a promotion. `None` for a commit that neither adds a decision record
/// nor carries `Tollgate-*` trailers (an ordinary commit), and for merge commits (the
/// promotion is the merged commit itself, checked on its own).
pub fn check_commit(repo: &Repository, commit: &Commit<'_>) -> Result<Option<CheckedCommit>, git2::Error> {
    if commit.parent_count() > 1 {
        return Ok(None);
    }
    let message = commit.message_bytes();
    let trailers = Trailers::parse(&String::from_utf8_lossy(message));
    let tree = commit.tree()?;
    let parent = if commit.parent_count() == 1 { Some(commit.parent(0)?) } else { None };
    let parent_tree = parent.as_ref().map(Commit::tree).transpose()?;
    let records_changed = subtree_id(&tree, RECORD_DIR) != parent_tree.as_ref().and_then(|tree| subtree_id(tree, RECORD_DIR));
    if !records_changed && trailers.is_none() {
        return Ok(None);
    }
    let mut checked = CheckedCommit { records: Vec::new(), trailers, problems: Vec::new() };
    let Some(parent) = parent else {
        checked.problems.push(if is_shallow_boundary(repo, commit.id()) {
            "its parent commit is not in this repository (a shallow clone): fetch more history (git fetch --unshallow) to check it".into()
        } else {
            "a root commit cannot be a promotion".into()
        });
        return Ok(Some(checked));
    };
    let parent_tree = parent_tree.expect("the parent has a tree");
    let changes = changed_files(repo, &parent_tree, &tree)?;

    let mut recorded_paths = BTreeMap::new();
    for (path, delta) in changes.iter().filter(|(path, _)| path.starts_with(&format!("{RECORD_DIR}/"))) {
        if *delta != Delta::Added {
            checked.problems.push(format!("it changes the existing decision record {path}"));
            continue;
        }
        match read_blob_text(repo, &tree, path).and_then(|text| DecisionRecord::parse(&text)) {
            Ok(record) if record.path() == *path => {
                for change in &record.transition.changes {
                    recorded_paths.insert(change.path.clone(), (change.before.clone(), change.after.clone()));
                }
                checked.records.push(record);
            }
            Ok(record) => checked.problems.push(format!("the record {path} belongs at {}", record.path())),
            Err(problem) => checked.problems.push(format!("{path}: {problem}")),
        }
    }
    if checked.records.is_empty() {
        if checked.problems.is_empty() {
            checked.problems.push("it has Tollgate trailers but no decision record".into());
        }
        return Ok(Some(checked));
    }

    for record in &checked.records {
        check_base(repo, record, parent.id(), &mut checked.problems);
    }
    // The commit's diff is exactly the recorded change.
    for (path, _) in changes.iter().filter(|(path, _)| !path.starts_with(&format!("{RECORD_DIR}/"))) {
        if !recorded_paths.contains_key(path) {
            checked.problems.push(format!("it changes {path}, which no decision record covers"));
        }
    }
    for (path, (before, after)) in &recorded_paths {
        let parent_content = read_optional_text(repo, &parent_tree, path);
        let content = read_optional_text(repo, &tree, path);
        if parent_content.as_ref() != Ok(before) {
            checked.problems.push(format!("{path} in the parent commit is not what the decision was made on"));
        }
        if content.as_ref() != Ok(after) {
            checked.problems.push(format!("{path} in the commit is not the change the decision allowed"));
        }
    }
    if let Some(trailers) = checked.trailers.as_ref().filter(|trailers| checked.records.len() > 1 || trailers.decisions.len() > 1) {
        checked.problems.extend(trailers.batch_disagreements(&checked.records));
    } else if let Some(trailers) = &checked.trailers {
        match checked.records.iter().find(|record| Some(&record.transition.id) == trailers.decision.as_ref()) {
            Some(record) => checked.problems.extend(trailers.disagreements(record)),
            None => checked.problems.push("its Tollgate-Decision trailer names no record the commit adds".into()),
        }
    }
    Ok(Some(checked))
}

/// How many commits' checks a process remembers: a server reads the same few commits near the
/// branch tip for every request.
const REMEMBERED_CHECKS: usize = 256;

/// [`check_commit`], remembered per repository and commit: the answer for a commit with one
/// parent that checks out (or is no promotion) is a function of its objects alone. A root
/// commit's depends on whether the clone is shallow, and a problem may come from an object not
/// (yet) in the repository (a record's base beyond a shallow boundary, a read that failed), which
/// a fetch changes: those are checked every time, as are failures.
pub fn check_commit_remembered(repo: &Repository, commit: &Commit<'_>) -> Result<Option<Arc<CheckedCommit>>, git2::Error> {
    static CHECKED: crate::repo::memo::Memo<(Oid, PathBuf), Option<Arc<CheckedCommit>>> = crate::repo::memo::Memo::new(REMEMBERED_CHECKS);
    if commit.parent_count() != 1 {
        return Ok(check_commit(repo, commit)?.map(Arc::new));
    }
    let key = (commit.id(), repo.path().to_path_buf());
    if let Some(checked) = CHECKED.get(&key) {
        return Ok(checked);
    }
    let checked = check_commit(repo, commit)?.map(Arc::new);
    if checked.as_ref().is_none_or(|checked| checked.problems.is_empty()) {
        CHECKED.put(key, checked.clone());
    }
    Ok(checked)
}

/// Whether `id` is a boundary commit of a shallow clone: Git lists it in `shallow`, and its
/// parents, though it has some, are not in the repository (libgit2 then reports none).
fn is_shallow_boundary(repo: &Repository, id: Oid) -> bool {
    repo.is_shallow()
        && std::fs::read_to_string(repo.commondir().join("shallow"))
            .map(|text| text.lines().any(|line| line.trim() == id.to_string()))
            .unwrap_or(false)
}

/// The record's base must be the parent, or an ancestor of it (a rebased or squash-merged
/// promotion), and the decision must have been allowed.
fn check_base(repo: &Repository, record: &DecisionRecord, parent: Oid, problems: &mut Vec<String>) {
    let id = &record.transition.id;
    match record.base_commit.parse::<Oid>() {
        Ok(base) if base == parent => {}
        Ok(base) => match repo.graph_descendant_of(parent, base) {
            Ok(true) => {}
            Ok(false) => problems.push(format!("decision {id} was made on {base}, which is not an ancestor of this commit")),
            Err(_) => problems.push(format!("decision {id} was made on {base}, which is not in this repository")),
        },
        Err(_) => problems.push(format!("decision {id} has an invalid base commit")),
    }
    let blocked = record.policies.iter().any(|policy| {
        policy.mode == crate::config::Mode::Enforce
            && !(policy.outcome.get("outcome").and_then(|v| v.as_str()) == Some("verdict")
                && policy.outcome.get("decision").and_then(|v| v.as_str()) == Some("allow"))
    });
    if blocked {
        problems.push(format!("decision {id} records an enforce-mode policy that did not allow it"));
    }
}

/// The id of the tree at `path` inside `tree`, if there is one.
fn subtree_id(tree: &Tree<'_>, path: &str) -> Option<Oid> {
    tree.get_path(Path::new(path)).ok().filter(|entry| entry.kind() == Some(ObjectType::Tree)).map(|entry| entry.id())
}

/// A file's text in `tree`; `Ok(None)` when absent.
fn read_optional_text(repo: &Repository, tree: &Tree<'_>, path: &str) -> Result<Option<String>, String> {
    let entry = match tree.get_path(Path::new(path)) {
        Ok(entry) => entry,
        Err(_) => return Ok(None),
    };
    if entry.kind() != Some(ObjectType::Blob) {
        return Ok(None);
    }
    let blob = repo.find_blob(entry.id()).map_err(|error| error.message().to_string())?;
    String::from_utf8(blob.content().to_vec()).map(Some).map_err(|_| format!("{path} is not UTF-8 text"))
}

/// A record file's text, refusing one that is too large before reading it.
fn read_blob_text(repo: &Repository, tree: &Tree<'_>, path: &str) -> Result<String, String> {
    let entry = tree.get_path(Path::new(path)).map_err(|error| error.message().to_string())?;
    let size = crate::repo::blob_size(repo, entry.id()).map_err(|error| error.message().to_string())?;
    if size > MAX_RECORD_BYTES {
        return Err(format!("the record is {size} bytes, more than {MAX_RECORD_BYTES}"));
    }
    read_optional_text(repo, tree, path)?.ok_or_else(|| "the record is not a file".to_string())
}

/// The first decision record `commit` adds, whether or not the commit checks out (`verify`
/// reports that separately); `None` when it adds none.
pub fn read_record(repo: &crate::repo::GitRepo, commit: Oid) -> Result<Option<DecisionRecord>, String> {
    let git = repo.git();
    let commit = git.find_commit(commit).map_err(|error| error.message().to_string())?;
    let checked = check_commit(git, &commit).map_err(|error| error.message().to_string())?;
    Ok(checked.and_then(|checked| checked.records.into_iter().next()))
}
