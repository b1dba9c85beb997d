//! `tollgate promote` killed with SIGKILL at random points (checkout and bare repositories,
//! with and without `--push` to a local bare remote), 100 runs: afterwards the branch is the
//! old or the new commit, `git fsck --full` finds nothing broken, a checkout's work tree and
//! index match the branch, and the next promote works without manual cleanup (or names the
//! lock file git itself left).

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{git, gitops_repo, repo_path, shared_cache, workspace};

const RUNS_PER_VARIANT: u64 = 25;

#[derive(Debug, Clone, Copy)]
struct Variant {
    bare: bool,
    push: bool,
}

/// A fresh repository for one run: `(dir, repo, remote)`.
fn setup(variant: Variant) -> (tempfile::TempDir, String, Option<String>) {
    let dir = gitops_repo();
    let source = repo_path(&dir);
    let remote = variant.push.then(|| {
        let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
        git(&source, &["clone", "--bare", "--quiet", &source, &remote]);
        remote
    });
    let repo = match (variant.bare, &remote) {
        (false, None) => source,
        (true, None) => {
            let bare = dir.path().join("bare.git").to_str().unwrap().to_string();
            git(&source, &["clone", "--bare", "--quiet", &source, &bare]);
            bare
        }
        (bare, Some(remote)) => {
            let clone = dir.path().join("clone").to_str().unwrap().to_string();
            let mut args = vec!["clone", "--quiet"];
            if bare {
                args.push("--bare");
            }
            args.extend([remote.as_str(), clone.as_str()]);
            git(&source, &args);
            if bare {
                git(&clone, &["config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"]);
            }
            git(&clone, &["config", "user.name", "ci"]);
            git(&clone, &["config", "user.email", "ci@example.com"]);
            clone
        }
    };
    (dir, repo, remote)
}

fn promote_command(repo: &str, push: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command
        .arg("--cache-dir")
        .arg(shared_cache())
        .args(["--repo", repo, "promote", "shop-api", "--to", "dev", "--version", "1.5.0"])
        .current_dir(workspace())
        .env_remove("TOLLGATE_CACHE_DIR")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a kill takes the git processes it started with it (as a
        // CI runner cancelling a job does).
        .process_group(0);
    if push {
        command.arg("--push");
    }
    command
}

fn rev(repo: &str, name: &str) -> String {
    git(repo, &["rev-parse", name]).trim().to_string()
}

/// The branch is the old commit, or a promotion commit directly on top of it.
fn check_branch(repo: &str, old: &str) -> Result<(), String> {
    let tip = rev(repo, "refs/heads/main");
    if tip == old {
        return Ok(());
    }
    if rev(repo, "refs/heads/main^") != old {
        return Err("main is neither the old commit nor one promotion on top of it".into());
    }
    let values = git(repo, &["show", "refs/heads/main:envs/dev/shop-api/values.yaml"]);
    if !values.contains("tag: \"1.5.0\"") {
        return Err("the new commit does not carry the promotion".into());
    }
    Ok(())
}

fn check_fsck(repo: &str) -> Result<(), String> {
    let output = Command::new("git").args(["-C", repo, "fsck", "--full", "--no-dangling"]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() && text.trim().is_empty() { Ok(()) } else { Err(format!("git fsck --full: {}", text.trim())) }
}

/// Any `*.lock` file git left in the repository's git directory.
fn lock_files(repo: &str) -> Vec<String> {
    let git_dir = git(repo, &["rev-parse", "--absolute-git-dir"]).trim().to_string();
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(git_dir)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|extension| extension == "lock") {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn run_variant(variant: Variant, seed: &mut u64) -> Outcome {
    // How long an undisturbed promote takes here, to spread the kills over its whole run.
    let (_dir, repo, _remote) = setup(variant);
    let started = Instant::now();
    let output = promote_command(&repo, variant.push).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{variant:?}: {}", String::from_utf8_lossy(&output.stderr));
    let duration = started.elapsed().max(Duration::from_millis(20));

    let mut outcome = Outcome::default();
    for run in 0..RUNS_PER_VARIANT {
        let (_dir, repo, remote) = setup(variant);
        let old = rev(&repo, "refs/heads/main");
        // xorshift: reproducible kill points.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let delay = Duration::from_micros(*seed % (duration.as_micros() as u64 + 1));
        let mut child = promote_command(&repo, variant.push).spawn().unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            outcome.killed += 1;
        }
        // SIGKILL to the whole group: tollgate and any git it is running.
        // SAFETY: kill(2) on the process group we created; no memory is involved.
        unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = child.wait();
        if let Err(problem) = check_run(variant, &repo, remote.as_deref(), &old, &mut outcome) {
            outcome.problems.push(format!("{variant:?} run {run} (killed after {delay:?}): {problem}"));
        }
    }
    outcome
}

#[derive(Default)]
struct Outcome {
    killed: u64,
    with_lock: u64,
    problems: Vec<String>,
}

/// The state after a kill, and the next promote.
fn check_run(variant: Variant, repo: &str, remote: Option<&str>, old: &str, outcome: &mut Outcome) -> Result<(), String> {
    check_branch(repo, old)?;
    check_fsck(repo)?;
    if let Some(remote) = remote {
        check_branch(remote, old).map_err(|problem| format!("remote: {problem}"))?;
        check_fsck(remote).map_err(|problem| format!("remote: {problem}"))?;
    }
    let locks = lock_files(repo);
    if !variant.bare && locks.is_empty() {
        let status = git(repo, &["status", "--porcelain"]);
        if !status.is_empty() {
            return Err(format!("the work tree and index do not match the branch: {}", status.trim()));
        }
    }
    // The next promote works without manual cleanup, or names the lock git left.
    let next = promote_command(repo, variant.push).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&next.stdout), String::from_utf8_lossy(&next.stderr));
    if !locks.is_empty() {
        outcome.with_lock += 1;
        if next.status.code() != Some(0) {
            let named = locks.iter().any(|lock| said.contains(lock.as_str()));
            return if named { Ok(()) } else { Err(format!("a lock was left ({locks:?}) and the next promote does not name it: {}", said.trim())) };
        }
    }
    if next.status.code() != Some(0) {
        return Err(format!("the next promote failed: {}", said.trim()));
    }
    if rev(repo, "refs/heads/main") == old {
        return Err("the next promote did not land".into());
    }
    check_fsck(repo)?;
    if !variant.bare && !git(repo, &["status", "--porcelain"]).is_empty() {
        return Err("the work tree does not match after the next promote".into());
    }
    if let Some(remote) = remote {
        if rev(remote, "refs/heads/main") != rev(repo, "refs/heads/main") {
            return Err("the next promote did not publish".into());
        }
    }
    Ok(())
}

#[test]
#[ignore = "finds open defects in the promotion path being rewritten (SECURITY.md, Crash consistency); run with --ignored"]
fn promote_survives_sigkill_at_random_points() {
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let (mut summary, mut problems) = (Vec::new(), Vec::new());
    for variant in [
        Variant { bare: false, push: false },
        Variant { bare: true, push: false },
        Variant { bare: false, push: true },
        Variant { bare: true, push: true },
    ] {
        let outcome = run_variant(variant, &mut seed);
        summary.push(format!(
            "{variant:?}: {RUNS_PER_VARIANT} runs, {} killed mid-run, {} left a lock, {} inconsistent",
            outcome.killed,
            outcome.with_lock,
            outcome.problems.len()
        ));
        problems.extend(outcome.problems);
    }
    // For SECURITY.md's figures (`-- --nocapture`).
    eprintln!("{}", summary.join("\n"));
    assert!(problems.is_empty(), "{}\n{}", summary.join("\n"), problems.join("\n"));
}
