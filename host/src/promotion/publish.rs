//! Publishing a promotion: push the branch to a remote with the user's own `git` (so https
//! and ssh credentials, helpers and agents work as they do for them). The decision record is
//! inside the commit, so the branch is all there is to push. A push refused because the
//! remote moved is retried by the engine after re-planning; any refusal leaves nothing
//! behind locally.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use super::worktree::checked_out_branch;
use super::journal::PromotionLock;
use super::workspace::{Workspace, commit_failure};
use crate::exit::Failure;

/// How many times a rejected push is retried.
pub const MAX_PUSH_ATTEMPTS: usize = 4;

/// Run `git` in `dir`; `Err` carries git's stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = git_command(dir)
        .args(args)
        .output()
        .map_err(|error| format!("cannot run git ({error}); install git to use --push"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        // Porcelain status words are stable; keep git's messages in English for the reasons.
        .env("LC_ALL", "C");
    command
}

/// The remote-tracking ref of `branch`.
fn tracking_ref(remote: &str, branch: &str) -> String {
    format!("refs/remotes/{remote}/{branch}")
}

/// Fetch `branch` from `remote`, then bring the local branch up to the remote tip when it is
/// behind. A local branch that has diverged is a conflict; one that is ahead (commits the
/// remote never had) is refused, so nothing unpublished is built on.
pub fn sync_from_remote(dir: &Path, remote: &str, branch: &str, checked_out: bool) -> Result<(), Failure> {
    let tracking = tracking_ref(remote, branch);
    git(dir, &["fetch", "--quiet", remote, &format!("+refs/heads/{branch}:{tracking}")])
        .map_err(|error| Failure::bad_input(format!("git fetch {remote} {branch} failed: {error}")))?;
    let upstream = git(dir, &["rev-parse", &tracking]).map_err(Failure::bad_input)?;
    let Ok(local) = git(dir, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")]) else {
        // No local branch yet (an environment branch in a fresh clone): start it at the
        // remote's tip; the empty old value makes this fail if one appeared meanwhile.
        return git(dir, &["update-ref", &format!("refs/heads/{branch}"), upstream.trim(), ""]).map(drop).map_err(Failure::conflict);
    };
    let (local, upstream) = (local.trim(), upstream.trim());
    if local == upstream {
        return Ok(());
    }
    if git(dir, &["merge-base", "--is-ancestor", upstream, local]).is_ok() {
        // Building on commits the remote never had would publish them under this promotion,
        // and the next environment could receive a version the remote never ran.
        return Err(Failure::bad_input(format!(
            "local {branch} has commits that {remote}/{branch} does not (made without --push?); \
             publish them with `git push {remote} {branch}` or drop them with `git reset --keep {remote}/{branch}`, then try again"
        )));
    }
    if git(dir, &["merge-base", "--is-ancestor", local, upstream]).is_err() {
        return Err(Failure::conflict(format!(
            "local {branch} and {remote}/{branch} have diverged; reconcile them (e.g. git pull --rebase) and try again"
        )));
    }
    if checked_out {
        git(dir, &["merge", "--ff-only", "--quiet", &tracking])
            .map_err(|error| Failure::bad_input(format!("cannot fast-forward {branch} to {remote}/{branch}: {error}")))?;
    } else {
        git(dir, &["update-ref", &format!("refs/heads/{branch}"), upstream, local]).map_err(Failure::conflict)?;
    }
    Ok(())
}

/// The result of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Published.
    Pushed,
    /// The branch on the remote moved: re-plan and try again.
    Moved(String),
    /// Refused for another reason (a hook, branch protection, authentication, the network):
    /// git's reason and the remote's own `remote:` lines.
    Refused(String),
}

/// Push `branch` (and with it the decision record in its tip commit).
pub fn push(dir: &Path, remote: &str, branch: &str) -> Result<PushOutcome, Failure> {
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let output = git_command(dir)
        .args(["push", "--porcelain", remote, &refspec])
        .output()
        .map_err(|error| Failure::bad_input(format!("cannot run git ({error}); install git to use --push")))?;
    if output.status.success() {
        return Ok(PushOutcome::Pushed);
    }
    Ok(classify_refusal(&String::from_utf8_lossy(&output.stdout), &String::from_utf8_lossy(&output.stderr)))
}

/// Tell a remote that moved from one that refused, from `git push --porcelain`'s output.
fn classify_refusal(stdout: &str, stderr: &str) -> PushOutcome {
    // Porcelain lines: `!<TAB>from:to<TAB>[rejected] (fetch first)` and the like.
    let refused: Vec<&str> = stdout.lines().filter(|line| line.starts_with('!')).collect();
    let moved = |line: &&str| {
        ["(fetch first)", "(non-fast-forward)", "cannot lock ref", "failed to update ref", "(stale info)"].iter().any(|sign| line.contains(sign))
    };
    // A lock file a killed git left on the remote is not the branch moving: retrying cannot
    // help, and git's message names the file to remove.
    let stale_lock = stderr.contains(".lock': File exists");
    if !refused.is_empty() && refused.iter().all(moved) && !stale_lock {
        return PushOutcome::Moved(refused.join("; "));
    }
    let remote_lines: Vec<&str> = stderr.lines().filter(|line| line.starts_with("remote:")).collect();
    let mut reason = if refused.is_empty() {
        stderr.lines().filter(|line| !line.starts_with("remote:")).collect::<Vec<_>>().join("; ").trim().to_string()
    } else {
        refused.join("; ")
    };
    if !remote_lines.is_empty() {
        reason.push_str(&format!("\n{}", remote_lines.join("\n")));
    }
    PushOutcome::Refused(reason)
}

/// Undo an unpublished local promotion commit: the branch goes back to `base` (a new branch
/// is deleted), and where it is checked out, the index and working tree follow.
pub fn discard_local_commit(dir: &Path, branch: &str, commit: &str, base: &str, new_branch: bool, checked_out: bool) -> Result<(), Failure> {
    let reference = format!("refs/heads/{branch}");
    let undone = if new_branch {
        git(dir, &["update-ref", "-d", &reference, commit])
    } else if checked_out {
        git(dir, &["reset", "--keep", "--quiet", base])
    } else {
        git(dir, &["update-ref", &reference, base, commit])
    };
    undone.map(drop).map_err(|error| {
        Failure::bad_input(format!("cannot discard the unpublished commit {commit} on {branch} ({error}); run `git reset --keep {base}`"))
    })
}

/// A short random-ish pause before retrying, growing with the attempt.
pub fn backoff(attempt: usize) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let jitter = u64::from(nanos % 200);
    Duration::from_millis(100 * attempt as u64 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_remote_is_told_from_a_refusal() {
        let moved = classify_refusal("To ../remote\n!\trefs/heads/main:refs/heads/main\t[rejected] (fetch first)\nDone\n", "error: failed to push");
        assert!(matches!(moved, PushOutcome::Moved(reason) if reason.contains("(fetch first)")));
        let hook = classify_refusal(
            "To ../remote\n!\trefs/heads/main:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\n",
            "remote: prod is frozen until Monday\nTo ../remote\nerror: failed to push some refs",
        );
        assert_eq!(
            hook,
            PushOutcome::Refused("!\trefs/heads/main:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nremote: prod is frozen until Monday".into())
        );
        let stale = classify_refusal(
            "To ../remote\n!\trefs/heads/main:refs/heads/main\t[remote rejected] (failed to update ref)\nDone\n",
            "remote: error: cannot lock ref 'refs/heads/main': Unable to create '/r/remote.git/refs/heads/main.lock': File exists.\nerror: failed to push some refs",
        );
        assert!(matches!(stale, PushOutcome::Refused(reason) if reason.contains("/r/remote.git/refs/heads/main.lock")), "a stale lock is named, not retried");
        let network = classify_refusal("", "fatal: unable to access 'https://x/': Could not resolve host: x");
        assert!(matches!(network, PushOutcome::Refused(reason) if reason.contains("Could not resolve host")));
    }
}

impl Workspace {
    /// Push what `attempt` commits on `base_branch` (or `new_branch`) holding the promotion
    /// lock (it returns its result and,
    /// when it made a commit, the commit and its base), fetching and re-running `attempt`
    /// when the remote moved. A push rejected because the branch moved discards the local commit,
    /// fetches, re-plans, re-runs the policies and tries again (bounded, with jitter; exit 4
    /// after). Any other refusal discards the local commit too (exit 2), so nothing unpublished
    /// is left for a later promotion to build on; if this process is killed before that, the
    /// next promotion discards it (see [`super::journal`]).
    pub(crate) fn publish<T>(
        &self,
        base_branch: &str,
        new_branch: Option<&str>,
        remote: &str,
        attempt: impl Fn(&mut PromotionLock) -> Result<(T, Option<(String, String)>), Failure>,
    ) -> Result<(T, Option<Pushed>), Failure> {
        let mut lock = PromotionLock::acquire(&self.repo).map_err(commit_failure)?;
        let dir = self.repo.path();
        let branch = new_branch.unwrap_or(base_branch);
        let checked_out = checked_out_branch(&self.repo).as_deref() == Some(base_branch);
        let mut last_rejection = String::new();
        for attempt_number in 1..=MAX_PUSH_ATTEMPTS {
            sync_from_remote(dir, remote, base_branch, checked_out)?;
            let (result, made) = attempt(&mut lock)?;
            let Some((commit, base)) = made else { return Ok((result, None)) };
            let outcome = push(dir, remote, branch).unwrap_or_else(|failure| PushOutcome::Refused(failure.message));
            if outcome == PushOutcome::Pushed {
                lock.clear().map_err(commit_failure)?;
                return Ok((result, Some(Pushed { remote: remote.to_string(), branch: branch.to_string(), commit })));
            }
            // Should this fail, the intent stays in the journal and the next promotion undoes it.
            discard_local_commit(dir, branch, &commit, &base, new_branch.is_some(), checked_out && new_branch.is_none())?;
            lock.clear().map_err(commit_failure)?;
            match outcome {
                PushOutcome::Moved(message) if new_branch.is_none() => {
                    last_rejection = message;
                    std::thread::sleep(backoff(attempt_number));
                }
                PushOutcome::Moved(message) => {
                    return Err(Failure::conflict(format!("{remote} already has a branch {branch}: {message}. Nothing was published")));
                }
                PushOutcome::Refused(message) => {
                    return Err(Failure::bad_input(format!("{remote} refused the push of {branch}; the local commit was discarded. {message}")));
                }
                PushOutcome::Pushed => unreachable!("handled above"),
            }
        }
        Err(Failure::conflict(format!(
            "{remote} rejected the push of {branch} {MAX_PUSH_ATTEMPTS} times (the branch keeps moving): {last_rejection}. \
             Nothing was published; try again."
        )))
    }
}


/// A promotion commit published to a remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    /// The remote.
    pub remote: String,
    /// The branch pushed.
    pub branch: String,
    /// The commit pushed.
    pub commit: String,
}

