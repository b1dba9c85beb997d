//! Unprotected repository storage: blobs under `refs/tollgate/approvals` are checked from
//! their object headers before they are read.

use std::process::{Command, Stdio};

use crate::budget::tollgate_peak_rss_env;
use crate::support::{git, tollgate};

use super::MIB;

#[test]
fn a_huge_blob_under_the_approvals_ref_is_not_read() {
    // The demo's repository, whose prod requires signed approvals.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("demo").to_str().unwrap().to_string();
    assert_eq!(tollgate(&["demo", &repo]).code, 0);
    // 500 MB of zeros: a few hundred KiB compressed, 500 MB (twice, before the fix) in memory.
    let mut hash = Command::new("git").args(["-C", &repo, "hash-object", "-w", "--stdin"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let zeros = vec![0u8; 1 << 20];
    {
        use std::io::Write;
        let mut stdin = hash.stdin.take().unwrap();
        for _ in 0..500 {
            stdin.write_all(&zeros).unwrap();
        }
    }
    let blob = String::from_utf8(hash.wait_with_output().unwrap().stdout).unwrap().trim().to_string();
    let mut mktree = Command::new("git").args(["-C", &repo, "mktree"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        writeln!(mktree.stdin.take().unwrap(), "100644 blob {blob}\tbig.approval").unwrap();
    }
    let tree = String::from_utf8(mktree.wait_with_output().unwrap().stdout).unwrap().trim().to_string();
    let commit = git(&repo, &["commit-tree", "-m", "approvals", &tree]).trim().to_string();
    git(&repo, &["update-ref", "refs/tollgate/approvals", &commit]);
    for args in [&["approvals", "shop-api", "--to", "prod"][..], &["plan", "shop-api", "--to", "prod"]] {
        let mut all = vec!["--repo", repo.as_str()];
        all.extend_from_slice(args);
        let (run, peak) = tollgate_peak_rss_env(&all, &[]);
        assert!(run.code == 0 || run.code == 1, "{}{}", run.stdout, run.stderr);
        assert!(peak < 400 * MIB, "{args:?}: peak RSS {} MiB", peak / MIB);
    }
}

/// Write `intent` (JSON) as the promotion journal of `repo`.
fn plant_journal(repo: &str, intent: serde_json::Value) {
    std::fs::write(std::path::Path::new(repo).join(".git/tollgate-promotion"), intent.to_string()).unwrap();
}

/// `promote` into dev: refused with exit 2, naming the journal, and the branch unchanged.
fn promote_refused_naming_the_journal(repo: &str) {
    let head = git(repo, &["rev-parse", "HEAD"]);
    let run = crate::support::tollgate_in(repo, &["promote", "shop-api", "--to", "dev", "--version", "1.5.0", "--no-digest", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("tollgate-promotion does not describe an interrupted promotion") && run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(git(repo, &["rev-parse", "HEAD"]), head, "the branch did not move");
}

#[test]
fn a_crafted_journal_with_absolute_paths_deletes_nothing_outside_the_repository() {
    let dir = crate::support::gitops_repo();
    let repo = crate::support::repo_path(&dir);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    // A publishing intent whose commit is HEAD: before the fix, main went back to HEAD's
    // parent, then the path outside the repository was acted on.
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "second"]);
    let second = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    for paths in [vec![victim.to_str().unwrap().to_string()], vec![format!("../{}", victim.display())], vec!["envs/../../victim.txt".to_string()]] {
        plant_journal(&repo, serde_json::json!({"branch": "main", "new_branch": false, "base": head, "commit": second, "paths": paths, "publish": true}));
        promote_refused_naming_the_journal(&repo);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me", "{paths:?}");
    }
}

#[test]
fn a_crafted_journal_through_an_untracked_symlinked_directory_deletes_nothing() {
    let dir = crate::support::gitops_repo();
    let repo = crate::support::repo_path(&dir);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim.txt"), "same content\n").unwrap();
    // A commit (child of HEAD, not on any branch) that adds escape/victim.txt with the
    // victim's content, and an untracked symlink `escape` to the directory outside.
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let scratch = tempfile::tempdir().unwrap();
    let index = scratch.path().join("index");
    let with_index = |args: &[&str]| {
        let output = Command::new("git").args(["-C", &repo]).args(args).env("GIT_INDEX_FILE", &index).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    with_index(&["read-tree", &head]);
    let blob = {
        let mut hash = Command::new("git").args(["-C", &repo, "hash-object", "-w", "--stdin"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        hash.stdin.take().unwrap().write_all(b"same content\n").unwrap();
        String::from_utf8(hash.wait_with_output().unwrap().stdout).unwrap().trim().to_string()
    };
    with_index(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},escape/victim.txt")]);
    let tree = with_index(&["write-tree"]);
    let commit = git(&repo, &["commit-tree", "-p", &head, "-m", "crafted", &tree]).trim().to_string();
    std::os::unix::fs::symlink(outside.path(), std::path::Path::new(&repo).join("escape")).unwrap();
    plant_journal(&repo, serde_json::json!({"branch": "main", "new_branch": false, "base": head, "commit": commit, "paths": ["escape/victim.txt"], "publish": false}));
    promote_refused_naming_the_journal(&repo);
    assert_eq!(std::fs::read_to_string(outside.path().join("victim.txt")).unwrap(), "same content\n");
}

#[test]
fn a_crafted_journal_with_unrelated_commits_is_refused_before_anything_moves() {
    let dir = crate::support::gitops_repo();
    let repo = crate::support::repo_path(&dir);
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "one"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "two"]);
    let tip = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    // `commit` is not a child of `base`; a made-up id; a branch name git refuses.
    for (branch, base, commit) in [("main", head.as_str(), tip.as_str()), ("main", "0123456789012345678901234567890123456789", tip.as_str()), ("ma..in", head.as_str(), tip.as_str())] {
        plant_journal(&repo, serde_json::json!({"branch": branch, "new_branch": false, "base": base, "commit": commit, "paths": [], "publish": true}));
        promote_refused_naming_the_journal(&repo);
    }
}
