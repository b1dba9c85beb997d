//! The commits of a range, as the branch guard and a proposal check read them: `BASE..HEAD`
//! oldest first, bounded, with an all-zeros `BASE` (a new branch) meaning what no branch,
//! tag or remote-tracking ref reaches yet.

use git2::{Oid, Sort};

use crate::repo::GitRepo;

/// The commit `revision` names; the error names the revision and the repository.
pub fn resolve_commit(repo: &GitRepo, revision: &str) -> Result<Oid, String> {
    repo.git()
        .revparse_single(revision)
        .and_then(|object| object.peel_to_commit())
        .map(|commit| commit.id())
        .map_err(|_| format!("{revision} is not a commit in {}", repo.path().display()))
}

/// The commits `range` (`BASE..HEAD`) adds, oldest first (topological order); an error when
/// there are more than `max`.
pub fn commits_in_range(repo: &GitRepo, range: &str, max: usize) -> Result<Vec<Oid>, String> {
    let git = repo.git();
    let message = |error: git2::Error| error.message().to_string();
    let (base, head) = range.split_once("..").filter(|(_, head)| !head.is_empty()).ok_or_else(|| format!("{range:?}: write the range as BASE..HEAD"))?;
    let mut walk = git.revwalk().map_err(message)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).map_err(message)?;
    walk.push(resolve_commit(repo, head)?).map_err(message)?;
    if !base.is_empty() && base.chars().all(|c| c == '0') {
        for reference in git.references().map_err(message)?.flatten() {
            if let Some(target) = reference.target().filter(|_| reference.is_branch() || reference.is_tag() || reference.is_remote()) {
                let _ = walk.hide(target);
            }
        }
    } else {
        walk.hide(resolve_commit(repo, base)?).map_err(message)?;
    }
    let commits: Vec<Oid> = walk.take(max + 1).collect::<Result<_, _>>().map_err(message)?;
    if commits.len() > max {
        return Err(format!("{range} holds more than {max} commits; check it in parts"));
    }
    Ok(commits)
}
