//! `tollgate promote` killed with SIGKILL (checkout and bare repositories, with and without
//! `--push` to a local bare remote): 100 runs at random points, and in each variant runs
//! killed exactly at each step that publishes a file (each `rename`, found with `strace`
//! syscall injection) and at some of the object writes (`link`). Afterwards the branch is the
//! old or the new commit, `git fsck --full` finds nothing broken, a checkout's work tree and
//! index match the branch, the next promote works without manual cleanup (or names the lock
//! file git itself left), and every commit it leaves verifies. Each window is asserted to have
//! been hit: killed mid-run, with a git lock left, and mid-update (the branch moved, the files
//! not yet).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{files_under, git, gitops_repo, repo_path, shared_cache, tollgate_in, workspace};

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
            crate::support::clone_remote(remote, &clone, bare);
            git(&clone, &["config", "user.name", "ci"]);
            git(&clone, &["config", "user.email", "ci@example.com"]);
            clone
        }
    };
    (dir, repo, remote)
}

fn promote_command(repo: &str, push: bool) -> Command {
    promote_under(&[], repo, push)
}

/// `promote` in `repo`, run by `tracer` (a command line that ends where the traced command
/// begins) when it is not empty.
fn promote_under(tracer: &[std::ffi::OsString], repo: &str, push: bool) -> Command {
    let tollgate = std::ffi::OsString::from(env!("CARGO_BIN_EXE_tollgate"));
    let (program, before) = tracer.split_first().map_or((&tollgate, &[][..]), |(program, rest)| (program, rest));
    let mut command = Command::new(program);
    command.args(before);
    if !tracer.is_empty() {
        command.arg(&tollgate);
    }
    command
        .arg("--cache-dir")
        .arg(shared_cache())
        .args(["--repo", repo, "promote", "shop-api", "--to", "dev", "--version", "1.5.0", "--no-digest"])
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

/// The index and work tree (tracked and untracked files) hold the branch's commit or `old`.
fn matches_a_commit(repo: &str, old: &str) -> bool {
    let quiet = |args: &[&str]| Command::new("git").arg("-C").arg(repo).args(args).output().unwrap().status.success();
    let untracked = git(repo, &["ls-files", "--others", "--exclude-standard"]);
    untracked.trim().is_empty()
        && ["refs/heads/main", old].iter().any(|commit| quiet(&["diff", "--quiet", "--cached", commit]) && quiet(&["diff", "--quiet", commit]))
}

/// A promotion's intent is still in its journal (see host/src/promotion/journal.rs).
fn journal_holds_intent(repo: &str) -> bool {
    let git_dir = git(repo, &["rev-parse", "--absolute-git-dir"]).trim().to_string();
    std::fs::read_to_string(std::path::Path::new(&git_dir).join("tollgate-promotion")).is_ok_and(|text| !text.trim().is_empty())
}

/// Any `*.lock` file git left in the repository's git directory.
fn lock_files(repo: &str) -> Vec<String> {
    let git_dir = git(repo, &["rev-parse", "--absolute-git-dir"]).trim().to_string();
    files_under(std::path::Path::new(&git_dir))
        .into_iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "lock"))
        .map(|path| path.display().to_string())
        .collect()
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
        kill_group(&child);
        let _ = child.wait();
        if let Err(problem) = check_run(variant, &repo, remote.as_deref(), &old, &mut outcome) {
            outcome.problems.push(format!("{variant:?} run {run} (killed after {delay:?}): {problem}"));
        }
    }
    for (syscall, invocation) in kill_points(variant) {
        let (_dir, repo, remote) = setup(variant);
        let old = rev(&repo, "refs/heads/main");
        let log = std::path::Path::new("/dev/null");
        let mut traced = traced_promote(&repo, variant.push, log, PUBLISHING_SYSCALLS, Some(&format!("{syscall}:signal=KILL:when={invocation}"))).spawn().unwrap();
        let status = traced.wait().unwrap();
        kill_group(&traced);
        outcome.targeted += 1;
        if status.signal() != Some(libc::SIGKILL) {
            outcome.problems.push(format!("{variant:?}: the promote was not killed at {syscall} #{invocation} ({status})"));
            continue;
        }
        outcome.killed += 1;
        if let Err(problem) = check_run(variant, &repo, remote.as_deref(), &old, &mut outcome) {
            outcome.problems.push(format!("{variant:?} killed at {syscall} #{invocation}: {problem}"));
        }
    }
    outcome
}

/// SIGKILL to the whole process group of `child`: tollgate and any git it is running.
fn kill_group(child: &std::process::Child) {
    // SAFETY: kill(2) on the process group we created; no memory is involved.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
}

/// `promote` under `strace` (its main thread only: that is where it writes the repository),
/// tracing `syscalls` into `log`, with an `inject` expression when given, in its own process
/// group.
fn traced_promote(repo: &str, push: bool, log: &std::path::Path, syscalls: &str, inject: Option<&str>) -> Command {
    assert!(std::path::Path::new(STRACE).is_file(), "{STRACE} is missing: install Debian's strace package (.ci/run does)");
    let mut tracer: Vec<std::ffi::OsString> = vec![STRACE.into(), "-qq".into(), "-o".into(), log.into(), "-e".into(), format!("trace={syscalls}").into()];
    if let Some(inject) = inject {
        tracer.extend(["-e".into(), format!("inject={inject}").into()]);
    }
    tracer.push("--".into());
    let mut command = promote_under(&tracer, repo, push);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

const STRACE: &str = "/usr/bin/strace";
/// The syscalls by which the promote publishes what it writes: `rename` (git and tollgate
/// rename a finished ref, index or work-tree file over the old one, from a `.lock` or
/// temporary file) and `link` (libgit2 links each finished loose object, and a ref that
/// was only packed, into place).
const PUBLISHING_SYSCALLS: &str = "rename,renameat,renameat2,link,linkat";

/// Where to kill `variant`: at each `rename` of an undisturbed run, and at its first, middle
/// and last `link` (the last one publishes the branch when it was packed).
fn kill_points(variant: Variant) -> Vec<(&'static str, usize)> {
    let (dir, repo, _remote) = setup(variant);
    let log = dir.path().join("trace");
    let status = traced_promote(&repo, variant.push, &log, PUBLISHING_SYSCALLS, None).status().unwrap();
    assert!(status.success(), "{variant:?}: an undisturbed traced promote failed ({status})");
    let calls = std::fs::read_to_string(&log).unwrap();
    let count = |syscall: &str| calls.lines().filter(|line| line.starts_with(&format!("{syscall}("))).count();
    assert_eq!(count("renameat") + count("renameat2") + count("linkat"), 0, "{variant:?}: only rename and link are counted here: {calls}");
    let (renames, links) = (count("rename"), count("link"));
    assert!(links >= 2, "{variant:?}: the promote published its commit without linking its objects and branch into place: {calls}");
    let mut points: Vec<(&'static str, usize)> = (1..=renames).map(|invocation| ("rename", invocation)).collect();
    let mut sampled = vec![1, links.div_ceil(2), links];
    sampled.dedup();
    points.extend(sampled.into_iter().map(|invocation| ("link", invocation)));
    points
}

#[derive(Default)]
struct Outcome {
    /// Runs killed while the promote was still running.
    killed: u64,
    /// Of all runs, those killed at a chosen syscall.
    targeted: u64,
    /// Runs that left a git lock file.
    with_lock: u64,
    /// Runs killed after the branch moved, before the work tree and index followed.
    mid_update: u64,
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
    let mut locks = lock_files(repo);
    // A killed push can leave the remote's ref locked (its receive-pack dies with it).
    locks.extend(remote.map(lock_files).unwrap_or_default());
    if !variant.bare && locks.is_empty() && !matches_a_commit(repo, old) {
        // Killed while the files themselves were being written: the journal must say so,
        // and the next promote must finish the job (checked below).
        if !journal_holds_intent(repo) {
            return Err(format!("the work tree and index match neither commit: {}", git(repo, &["status", "--porcelain"]).trim()));
        }
        outcome.mid_update += 1;
    }
    // The next promote works without manual cleanup, or names the lock git left.
    let next = promote_command(repo, variant.push).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&next.stdout), String::from_utf8_lossy(&next.stderr));
    if !locks.is_empty() {
        outcome.with_lock += 1;
        if next.status.code() != Some(0) {
            // git may name it through the directory it was run in (`repo/./refs/...`).
            let said_paths = said.replace("/./", "/");
            let named = locks.iter().any(|lock| said_paths.contains(lock.as_str()));
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
    if let Some(remote) = remote
        && rev(remote, "refs/heads/main") != rev(repo, "refs/heads/main") {
            return Err("the next promote did not publish".into());
        }
    // Every commit on the branch now, the killed run's (when it landed) and the next one's,
    // is a promotion that verifies.
    for commit in git(repo, &["rev-list", &format!("{old}..refs/heads/main")]).lines() {
        let verify = tollgate_in(repo, &["verify", commit]);
        if verify.code != 0 {
            return Err(format!("verify {commit} exited {}: {}{}", verify.code, verify.stdout, verify.stderr));
        }
    }
    Ok(())
}

#[test]
fn promote_survives_sigkill_at_random_points_and_at_every_publishing_step() {
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
            "{variant:?}: {RUNS_PER_VARIANT} runs at random points and {} at chosen syscalls, {} killed mid-run, {} left a git lock, {} killed while writing files (finished by the next promote), {} inconsistent",
            outcome.targeted,
            outcome.killed,
            outcome.with_lock,
            outcome.mid_update,
            outcome.problems.len()
        ));
        // Each window this test is about was really hit.
        if outcome.killed < outcome.targeted + 1 {
            problems.push(format!("{variant:?}: no random kill landed mid-run"));
        }
        if outcome.with_lock == 0 {
            problems.push(format!("{variant:?}: no kill left a git lock"));
        }
        if !variant.bare && outcome.mid_update == 0 {
            problems.push(format!("{variant:?}: no kill landed between moving the branch and updating the files"));
        }
        problems.extend(outcome.problems);
    }
    // For SECURITY.md's figures (`-- --nocapture`).
    eprintln!("{}", summary.join("\n"));
    assert!(problems.is_empty(), "{}\n{}", summary.join("\n"), problems.join("\n"));
}

/// Promote shop-api 1.5.0 into dev in `repo`, as the run that will be interrupted; its base
/// and its commit.
fn promote_to_interrupt(repo: &str, actor: &[&str]) -> (String, String) {
    let base = rev(repo, "main");
    let args = [&["promote", "shop-api", "--to", "dev", "--version", "1.5.0", "--no-digest"], actor].concat();
    let run = tollgate_in(repo, &args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    (base, rev(repo, "main"))
}

/// Make `repo` look as a promote killed right after moving its branch to `commit` leaves
/// it: the index and files still hold `base`, and the journal holds the promotion's intent.
fn interrupt_after_the_branch_moved(repo: &str, base: &str, commit: &str) {
    let paths = changed_paths(repo, base, commit);
    git(repo, &["read-tree", base]);
    for path in &paths {
        let file = std::path::Path::new(repo).join(path);
        match Command::new("git").args(["-C", repo, "show", &format!("{base}:{path}")]).output().unwrap() {
            output if output.status.success() => std::fs::write(&file, output.stdout).unwrap(),
            _ => std::fs::remove_file(&file).unwrap(),
        }
    }
    write_intent(repo, base, commit, false);
}

fn changed_paths(repo: &str, base: &str, commit: &str) -> Vec<String> {
    git(repo, &["diff", "--name-only", base, commit]).lines().map(str::to_string).collect()
}

/// The journal's intent of a promotion from `base` to `commit`, as the promotion writes it
/// before moving its branch.
fn write_intent(repo: &str, base: &str, commit: &str, publish: bool) {
    let paths = changed_paths(repo, base, commit);
    let intent = serde_json::json!({ "branch": "main", "new_branch": false, "base": base, "commit": commit, "paths": paths, "publish": publish });
    std::fs::write(std::path::Path::new(repo).join(".git/tollgate-promotion"), intent.to_string()).unwrap();
}

#[test]
fn a_promote_killed_between_moving_the_branch_and_updating_the_files_is_finished_by_the_next_one() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let (base, commit) = promote_to_interrupt(&repo, &[]);
    interrupt_after_the_branch_moved(&repo, &base, &commit);
    assert!(!git(&repo, &["status", "--porcelain"]).is_empty(), "the checkout is behind its branch, as a kill leaves it");

    let run = tollgate_in(&repo, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(rev(&repo, "main^"), commit, "the interrupted promotion stays; the new one lands on it");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "", "the work tree and index hold the branch");
    assert!(std::fs::read_to_string(std::path::Path::new(&repo).join("envs/dev/shop-api/values.yaml")).unwrap().contains("1.5.0"));
}

#[test]
fn a_file_edited_after_an_interrupted_promote_is_named_and_kept() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let (base, commit) = promote_to_interrupt(&repo, &[]);
    interrupt_after_the_branch_moved(&repo, &base, &commit);
    let values = std::path::Path::new(&repo).join("envs/dev/shop-api/values.yaml");
    std::fs::write(&values, "edited by hand\n").unwrap();

    let run = tollgate_in(&repo, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("envs/dev/shop-api/values.yaml was changed after the interruption"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&values).unwrap(), "edited by hand\n", "nobody's edit is overwritten");
    assert_eq!(rev(&repo, "main"), commit);
}

#[test]
fn a_lock_git_left_behind_is_named_with_what_to_do() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let (base, commit) = promote_to_interrupt(&repo, &[]);
    interrupt_after_the_branch_moved(&repo, &base, &commit);
    let index_lock = std::path::Path::new(&repo).join(".git/index.lock");
    std::fs::write(&index_lock, "").unwrap();

    let run = tollgate_in(&repo, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0"]);
    // A held index is a conflict (exit 4) in recovery as in any promotion (index_update.rs).
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("{} exists; if no git process is running, remove that file", index_lock.display())), "{}", run.stderr);
    assert_eq!(rev(&repo, "main"), commit, "nothing moved while the index was held");
    std::fs::remove_file(&index_lock).unwrap();
    let run = tollgate_in(&repo, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn a_push_promote_killed_before_publishing_is_undone_and_redone_by_the_next_one() {
    let dir = gitops_repo();
    let source = repo_path(&dir);
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--bare", "--quiet", &source, &remote]);
    let clone = dir.path().join("clone").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", &remote, &clone]);
    // The local commit a killed `--push` run made and never published.
    let (base, unpublished) = promote_to_interrupt(&clone, &["--actor", "ci"]);
    write_intent(&clone, &base, &unpublished, true);

    let run = tollgate_in(&clone, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0", "--actor", "ci", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let published = rev(&remote, "main");
    assert_eq!(rev(&clone, "main"), published);
    assert_eq!(rev(&remote, "main^"), base, "the unpublished promotion was dropped, not published unjudged");
    assert!(git(&remote, &["log", "-1", "--format=%s", "main"]).starts_with("promote shop-web 2.1.0 to dev"));
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
}
