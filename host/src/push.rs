//! Publishing a promotion: push the branch and the decision notes to a remote with the
//! user's own `git` (so https and ssh credentials, helpers and agents work as they do for
//! them), and when the push is rejected because the branch moved, fetch, re-plan on the
//! new tip, re-run the policies and try again.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::commit::NOTES_REF;
use crate::exit::Failure;

/// How many times a rejected push is retried.
pub const MAX_PUSH_ATTEMPTS: usize = 4;

/// Run `git` in `dir`; `Err` carries git's stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|error| format!("cannot run git ({error}); install git to use --push"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// The remote-tracking ref of `branch`.
fn tracking_ref(remote: &str, branch: &str) -> String {
    format!("refs/remotes/{remote}/{branch}")
}

/// The remote's notes, fetched beside ours.
fn remote_notes_ref(remote: &str) -> String {
    format!("refs/notes/remotes/{remote}/tollgate")
}

/// Fetch `branch` and the notes from `remote`, then bring the local branch up to the
/// remote tip when it is behind. A local branch that has diverged is a conflict.
pub fn sync_from_remote(dir: &Path, remote: &str, branch: &str, checked_out: bool) -> Result<(), Failure> {
    let tracking = tracking_ref(remote, branch);
    git(dir, &["fetch", "--quiet", remote, &format!("+refs/heads/{branch}:{tracking}")])
        .map_err(|error| Failure::bad_input(format!("git fetch {remote} {branch} failed: {error}")))?;
    // The remote may have no notes yet.
    let _ = git(dir, &["fetch", "--quiet", remote, &format!("+{NOTES_REF}:{}", remote_notes_ref(remote))]);
    merge_remote_notes(dir, remote)?;

    let local = git(dir, &["rev-parse", &format!("refs/heads/{branch}")]).map_err(Failure::bad_input)?;
    let upstream = git(dir, &["rev-parse", &tracking]).map_err(Failure::bad_input)?;
    let (local, upstream) = (local.trim(), upstream.trim());
    if local == upstream || git(dir, &["merge-base", "--is-ancestor", upstream, local]).is_ok() {
        return Ok(());
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

/// Union the remote's decision notes into ours (records of different commits never clash).
fn merge_remote_notes(dir: &Path, remote: &str) -> Result<(), Failure> {
    let theirs = remote_notes_ref(remote);
    if git(dir, &["rev-parse", "--verify", "--quiet", &theirs]).is_err() {
        return Ok(());
    }
    if git(dir, &["rev-parse", "--verify", "--quiet", NOTES_REF]).is_err() {
        let tip = git(dir, &["rev-parse", &theirs]).map_err(Failure::bad_input)?;
        return git(dir, &["update-ref", NOTES_REF, tip.trim()]).map(drop).map_err(Failure::bad_input);
    }
    git(dir, &["notes", "--ref", NOTES_REF, "merge", "--quiet", "-s", "cat_sort_uniq", &theirs])
        .map(drop)
        .map_err(|error| Failure::bad_input(format!("cannot merge the decision notes of {remote}: {error}")))
}

/// The result of one push.
pub enum PushOutcome {
    /// Published.
    Pushed,
    /// The branch (or the notes) on the remote moved: re-plan.
    Rejected(String),
}

/// Push `branch` and the decision notes atomically: both are published or neither is. A
/// remote that moved is [`PushOutcome::Rejected`]; any other refusal (a hook, branch
/// protection, authentication, the network) is an error.
pub fn push(dir: &Path, remote: &str, branch: &str) -> Result<PushOutcome, Failure> {
    let refspecs = [format!("refs/heads/{branch}:refs/heads/{branch}"), format!("{NOTES_REF}:{NOTES_REF}")];
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["push", "--porcelain", "--atomic", remote])
        .args(&refspecs)
        .env("GIT_TERMINAL_PROMPT", "0")
        // Porcelain status words are stable; keep git's messages in English for the reasons.
        .env("LC_ALL", "C")
        .output()
        .map_err(|error| Failure::bad_input(format!("cannot run git ({error}); install git to use --push")))?;
    if output.status.success() {
        return Ok(PushOutcome::Pushed);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Porcelain lines: `!<TAB>from:to<TAB>[rejected] (fetch first)` and the like.
    let refused: Vec<&str> = stdout.lines().filter(|line| line.starts_with('!')).collect();
    let moved = |line: &&str| {
        ["(fetch first)", "(non-fast-forward)", "(atomic push failed)", "(atomic transaction failed)", "cannot lock ref", "failed to update ref", "(stale info)"]
            .iter()
            .any(|sign| line.contains(sign))
    };
    if !refused.is_empty() && refused.iter().all(moved) {
        return Ok(PushOutcome::Rejected(refused.join("; ")));
    }
    let reason = if refused.is_empty() { stderr.trim().to_string() } else { refused.join("; ") };
    Err(Failure::bad_input(format!("git push {remote} {branch} failed: {reason}")))
}

/// Undo an unpublished local promotion commit so the next attempt starts from the
/// remote tip: the branch goes back to `base` and the commit's note is removed.
pub fn discard_local_commit(dir: &Path, branch: &str, commit: &str, base: &str, checked_out: bool) -> Result<(), Failure> {
    let _ = git(dir, &["notes", "--ref", NOTES_REF, "remove", "--ignore-missing", commit]);
    if checked_out {
        git(dir, &["reset", "--keep", "--quiet", base]).map(drop).map_err(Failure::bad_input)
    } else {
        git(dir, &["update-ref", &format!("refs/heads/{branch}"), base, commit]).map(drop).map_err(Failure::conflict)
    }
}

/// A short random-ish pause before retrying, growing with the attempt.
pub fn backoff(attempt: usize) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let jitter = u64::from(nanos % 200);
    Duration::from_millis(100 * attempt as u64 + jitter)
}
