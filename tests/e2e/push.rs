//! `--push` against a local bare remote: publishing, catching up, and a remote that moves
//! between fetch and push (simulated with a real pre-push hook in the pushing clone).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{git, gitops_repo, repo_path, tollgate_in};

struct Remote {
    _dir: tempfile::TempDir,
    remote: String,
    a: String,
    b: String,
}

/// A bare remote made from the demo repository and two clones of it, `a` and `b`.
fn remote_with_two_clones() -> Remote {
    let dir = gitops_repo();
    let source = repo_path(&dir);
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--bare", "--quiet", &source, &remote]);
    let mut clones = Vec::new();
    for name in ["a", "b"] {
        let clone = dir.path().join(name).to_str().unwrap().to_string();
        git(&source, &["clone", "--quiet", &remote, &clone]);
        git(&clone, &["config", "user.name", name]);
        git(&clone, &["config", "user.email", &format!("{name}@example.com")]);
        clones.push(clone);
    }
    let b = clones.pop().unwrap();
    let a = clones.pop().unwrap();
    Remote { _dir: dir, remote, a, b }
}

/// A pre-push hook in `clone` that first lets `other` push a commit to the remote, so the
/// remote branch moves after `clone` fetched; `times` limits how often (0: always).
fn install_racing_hook(clone: &str, other: &str, times: usize) {
    let marker = Path::new(clone).join(".git/race-count");
    let hook = Path::new(clone).join(".git/hooks/pre-push");
    let limit = if times == 0 { String::new() } else { format!("[ \"$(cat {0} 2>/dev/null | wc -l)\" -ge {times} ] && exit 0\n", marker.display()) };
    let script = format!(
        "#!/bin/sh\n{limit}echo x >> {marker}\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\ngit -C {other} commit --quiet --allow-empty -m \"someone else's change $(date +%s%N)\"\ngit -C {other} push --quiet origin main\n",
        marker = marker.display()
    );
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// How many decision records the branch main of `repo` holds.
fn records_on(repo: &str) -> usize {
    git(repo, &["ls-tree", "-r", "--name-only", "main"]).lines().filter(|path| path.ends_with(".decision")).count()
}

const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

#[test]
fn push_publishes_the_commit_with_its_decision_record() {
    let setup = remote_with_two_clones();
    let run = tollgate_in(&setup.a, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST, "--actor", "alice", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let pushed = git(&setup.a, &["rev-parse", "HEAD"]);
    assert_eq!(git(&setup.remote, &["rev-parse", "main"]), pushed);
    let record = crate::support::record_at(&setup.remote, "main");
    assert_eq!(record["transition"]["artifact"]["version"], "1.4.2");

    // b is behind: it catches up first, then promotes on top and pushes.
    let run = tollgate_in(&setup.b, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0", "--actor", "bob", "--push", "origin"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&setup.remote, &["rev-parse", "main~1"]), pushed);
    assert!(git(&setup.remote, &["log", "-1", "--format=%s", "main"]).starts_with("promote shop-web 2.1.0 to dev"));
    assert_eq!(records_on(&setup.remote), 2, "both decision records are on the remote");
    let run = tollgate_in(&setup.remote, &["verify", "main~1"]);
    assert_eq!(run.code, 0, "the remote verifies without any extra fetch: {}{}", run.stdout, run.stderr);
    assert_eq!(git(&setup.b, &["status", "--porcelain"]), "");
}

#[test]
fn a_push_rejected_because_the_remote_moved_is_replanned_and_lands_without_losing_the_other_change() {
    let setup = remote_with_two_clones();
    install_racing_hook(&setup.b, &setup.a, 1);
    let run = tollgate_in(&setup.b, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST, "--actor", "bob", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let log = git(&setup.remote, &["log", "--format=%s", "main"]);
    let subjects: Vec<&str> = log.lines().collect();
    assert!(subjects[0].starts_with("promote shop-api 1.4.2 to dev"), "{log}");
    assert!(subjects[1].starts_with("someone else's change"), "the other update is kept underneath: {log}");
    assert_eq!(records_on(&setup.remote), 1, "only the published decision has a record");
    assert_eq!(git(&setup.b, &["status", "--porcelain"]), "");
}

#[test]
fn a_remote_that_keeps_moving_ends_in_exit_4_with_nothing_published() {
    let setup = remote_with_two_clones();
    install_racing_hook(&setup.b, &setup.a, 0);
    let run = tollgate_in(&setup.b, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST, "--actor", "bob", "--push"]);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert_ne!(git(&setup.b, &["log", "-1", "--format=%s", "main"]).split_whitespace().next(), Some("promote"), "no unpublished promotion is left locally");
    assert!(run.stderr.contains("rejected the push of main 4 times (the branch keeps moving)"), "{}", run.stderr);
    let log = git(&setup.remote, &["log", "--format=%s", "main"]);
    assert!(!log.contains("promote shop-api"), "{log}");
    assert_eq!(records_on(&setup.remote), 0, "no decision record was published");
}

#[test]
fn a_local_branch_that_diverged_from_the_remote_is_a_conflict_and_nothing_is_pushed() {
    let setup = remote_with_two_clones();
    // b has a local commit the remote does not, and the remote moved on without it.
    git(&setup.b, &["commit", "--quiet", "--allow-empty", "-m", "local only"]);
    git(&setup.a, &["commit", "--quiet", "--allow-empty", "-m", "remote only"]);
    git(&setup.a, &["push", "--quiet", "origin", "main"]);
    let remote_before = git(&setup.remote, &["rev-parse", "main"]);
    let local_before = git(&setup.b, &["rev-parse", "main"]);
    let run = tollgate_in(&setup.b, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST, "--actor", "bob", "--push"]);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("local main and origin/main have diverged"), "{}", run.stderr);
    assert_eq!(git(&setup.remote, &["rev-parse", "main"]), remote_before);
    assert_eq!(git(&setup.b, &["rev-parse", "main"]), local_before);
}

#[test]
fn a_bare_clone_fetches_promotes_and_pushes() {
    let setup = remote_with_two_clones();
    let bare = format!("{}-bare", setup.b);
    git(&setup.a, &["clone", "--quiet", "--bare", &setup.remote, &bare]);
    // A plain `git clone --bare` has no fetch refspec (no remote-tracking refs) …
    let refspec = std::process::Command::new("git").args(["-C", &bare, "config", "--get-all", "remote.origin.fetch"]).output().unwrap();
    assert!(refspec.stdout.is_empty(), "the set-up is the case under test: {}", String::from_utf8_lossy(&refspec.stdout));
    let cloned_at = git(&bare, &["rev-parse", "main"]);
    // … and the remote moves on after the clone: the promotion must fetch to build on it.
    git(&setup.a, &["commit", "--quiet", "--allow-empty", "-m", "someone else's change"]);
    git(&setup.a, &["push", "--quiet", "origin", "HEAD:main"]);
    let moved_to = git(&setup.remote, &["rev-parse", "main"]);
    assert_ne!(moved_to, cloned_at, "the remote really moved");
    let run = tollgate_in(&bare, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0", "--actor", "ci", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("pushed to origin (main at "), "{}", run.stdout);
    assert_eq!(git(&setup.remote, &["rev-parse", "main"]), git(&bare, &["rev-parse", "main"]));
    assert_eq!(git(&setup.remote, &["rev-parse", "main~1"]), moved_to, "the promotion is built on the commit the remote moved to");
    assert!(git(&setup.remote, &["log", "-1", "--format=%s", "main"]).starts_with("promote shop-web 2.1.0 to dev"));
    assert_eq!(records_on(&setup.remote), 1);
    let run = tollgate_in(&setup.remote, &["verify", "main"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // And again, after the remote moved once more: the bare clone catches up each time.
    git(&setup.a, &["pull", "--quiet", "--ff-only", "origin", "main"]);
    git(&setup.a, &["commit", "--quiet", "--allow-empty", "-m", "another change"]);
    git(&setup.a, &["push", "--quiet", "origin", "HEAD:main"]);
    let moved_to = git(&setup.remote, &["rev-parse", "main"]);
    let run = tollgate_in(&bare, &["promote", "shop-web", "--to", "test", "--actor", "ci", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&setup.remote, &["rev-parse", "main~1"]), moved_to);
    assert_eq!(git(&setup.remote, &["rev-parse", "main"]), git(&bare, &["rev-parse", "main"]));
    assert_eq!(records_on(&setup.remote), 2);
}

/// Regression (issue 9's crash suite, issue 8 item 11): a promotion left unpublished by an
/// interrupted run is never built on; the next `--push` says how to publish or drop it.
#[test]
fn an_unpublished_local_commit_is_never_built_on() {
    let setup = remote_with_two_clones();
    let run = tollgate_in(&setup.b, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0", "--actor", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let local = git(&setup.b, &["rev-parse", "main"]);
    let remote = git(&setup.remote, &["rev-parse", "main"]);
    let run = tollgate_in(&setup.b, &["promote", "shop-web", "--to", "test", "--actor", "bob", "--push"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("local main has commits that origin/main does not"), "{}", run.stderr);
    assert!(run.stderr.contains("git push origin main") && run.stderr.contains("git reset --keep origin/main"), "{}", run.stderr);
    assert_eq!(git(&setup.b, &["rev-parse", "main"]), local);
    assert_eq!(git(&setup.remote, &["rev-parse", "main"]), remote);
}
