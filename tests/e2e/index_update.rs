//! A promotion in a checkout updates Git's index so that Git agrees with it afterwards, for
//! every kind of index Git writes: a plain one (written directly), `index.skipHash`, an
//! untracked cache, version 4, a split index, and checkouts whose filters send it to libgit2.

use std::path::Path;

use crate::support::{git, gitops_repo, repo_path, snapshot, tollgate_in};

/// Promote shop-api 1.4.2 into dev (changes envs/dev/shop-api/values.yaml and adds a record).
fn promote(repo: &str) -> crate::support::Run {
    tollgate_in(repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", &format!("sha256:{}", "ab".repeat(32)), "--actor", "alice"])
}

/// A demo checkout after `setup` (git commands), with a complete cache tree in its index.
fn checkout(setup: &[&[&str]]) -> (tempfile::TempDir, String) {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    for args in setup {
        git(&repo, args);
    }
    // Every directory's tree cached in the index, so a stale one would show.
    git(&repo, &["write-tree"]);
    (dir, repo)
}

fn index_bytes(repo: &str) -> Vec<u8> {
    std::fs::read(Path::new(repo).join(".git/index")).unwrap()
}

fn has_extension(index: &[u8], signature: &[u8; 4]) -> bool {
    index.windows(4).any(|window| window == signature)
}

/// What Git must say after a promotion: nothing to commit, nothing staged, the index intact,
/// and the index's tree is the promoted commit's (also after `git commit`, which uses the
/// cached trees).
fn assert_git_agrees(repo: &str) {
    assert_eq!(git(repo, &["status", "--porcelain"]), "");
    let staged = std::process::Command::new("git").args(["-C", repo, "diff", "--cached", "--quiet"]).status().unwrap();
    assert!(staged.success(), "nothing staged");
    git(repo, &["fsck", "--no-dangling"]);
    let head_tree = git(repo, &["rev-parse", "HEAD^{tree}"]);
    assert_eq!(git(repo, &["write-tree"]), head_tree);
    git(repo, &["commit", "--quiet", "--allow-empty", "-m", "after the promotion"]);
    assert_eq!(git(repo, &["rev-parse", "HEAD^{tree}"]), head_tree, "git commit took the promoted tree");
}

#[test]
fn a_promotion_keeps_the_cache_tree_true_and_git_agrees() {
    let (_dir, repo) = checkout(&[]);
    assert!(has_extension(&index_bytes(&repo), b"TREE"));
    let tree_before = git(&repo, &["rev-parse", "HEAD^{tree}"]);
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_ne!(git(&repo, &["rev-parse", "HEAD^{tree}"]), tree_before);
    // Without invalidating envs/ and envs/dev/shop-api/, `git write-tree` and `git commit`
    // would give the old tree back.
    assert_git_agrees(&repo);
}

#[test]
fn with_index_skip_hash_the_trailer_is_zero_and_git_reads_it() {
    let (_dir, repo) = checkout(&[&["config", "index.skipHash", "true"]]);
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let index = index_bytes(&repo);
    assert_eq!(index[index.len() - 20..], [0u8; 20], "the checksum skipped, as index.skipHash asks");
    assert_git_agrees(&repo);
}

#[test]
fn without_skip_hash_the_trailer_is_the_sha1_of_the_index() {
    let (_dir, repo) = checkout(&[]);
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let index = index_bytes(&repo);
    let (content, trailer) = index.split_at(index.len() - 20);
    // `git hash-object` cannot hash raw bytes with SHA-1 alone: sha1sum can.
    let path = Path::new(&repo).join(".git/index-content");
    std::fs::write(&path, content).unwrap();
    let sha1sum = std::process::Command::new("sha1sum").arg(&path).output().unwrap();
    std::fs::remove_file(&path).unwrap();
    let expected = String::from_utf8(sha1sum.stdout).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(hex::encode(trailer), expected);
    assert_git_agrees(&repo);
}

#[test]
fn an_index_with_an_untracked_cache_is_left_for_git_to_rebuild() {
    let (_dir, repo) = checkout(&[&["config", "core.untrackedCache", "true"], &["status", "--porcelain"]]);
    std::fs::write(Path::new(&repo).join("notes.txt"), "untracked\n").unwrap();
    git(&repo, &["status", "--porcelain"]);
    assert!(has_extension(&index_bytes(&repo), b"UNTR"));
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "?? notes.txt\n");
    std::fs::remove_file(Path::new(&repo).join("notes.txt")).unwrap();
    assert_git_agrees(&repo);
}

#[test]
fn a_version_4_index_goes_through_libgit2_and_stays_version_4() {
    let (_dir, repo) = checkout(&[&["update-index", "--index-version", "4"]]);
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(index_bytes(&repo)[4..8], 4u32.to_be_bytes());
    assert_git_agrees(&repo);
}

#[test]
fn a_split_index_is_written_whole_and_git_agrees() {
    // libgit2 cannot read a split index: promotions into one used to fail.
    let (_dir, repo) = checkout(&[&["update-index", "--split-index"]]);
    assert!(has_extension(&index_bytes(&repo), b"link"));
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!has_extension(&index_bytes(&repo), b"link"), "written as one index");
    assert_git_agrees(&repo);
}

#[test]
fn text_auto_attributes_go_through_libgit2_as_before() {
    promote_with_attributes(".gitattributes", "* text=auto\n");
}

/// Commit `attributes` as the attributes file at `path`, promote, and check Git agrees.
fn promote_with_attributes(path: &str, attributes: &str) {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    std::fs::write(Path::new(&repo).join(path), attributes).unwrap();
    git(&repo, &["add", path]);
    git(&repo, &["commit", "--quiet", "-m", "attributes"]);
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_git_agrees(&repo);
}

#[test]
fn core_autocrlf_goes_through_libgit2_as_before() {
    let (_dir, repo) = checkout(&[&["config", "core.autocrlf", "true"]]);
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_git_agrees(&repo);
}

#[test]
fn an_index_another_git_holds_is_a_conflict_and_nothing_changes() {
    held_index_is_a_conflict(&[]);
}

/// The same through libgit2 (a version 4 index), which used to write the files, fail on the
/// lock, and fail its undo on it too.
#[test]
fn an_index_another_git_holds_is_a_conflict_through_libgit2_too() {
    held_index_is_a_conflict(&[&["update-index", "--index-version", "4"]]);
}

fn held_index_is_a_conflict(setup: &[&[&str]]) {
    let (_dir, repo) = checkout(setup);
    let index_lock = Path::new(&repo).join(".git/index.lock");
    std::fs::write(&index_lock, "").unwrap();
    let before = snapshot(&repo);
    let index_before = index_bytes(&repo);
    let run = promote(&repo);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("{} exists; if no git process is running, remove that file", index_lock.display())), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before, "the branch went back and no file was written");
    assert_eq!(index_bytes(&repo), index_before);
    assert!(index_lock.exists(), "the other process's lock is left alone");
    std::fs::remove_file(&index_lock).unwrap();
    let run = promote(&repo);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_git_agrees(&repo);
}

/// A lock another git holds for a moment (an editor's background `git status`) is waited for:
/// the promotion goes through once it is released instead of failing, or failing its undo.
#[test]
fn an_index_lock_held_for_a_moment_is_waited_for() {
    let (_dir, repo) = checkout(&[]);
    let index_lock = Path::new(&repo).join(".git/index.lock");
    std::fs::write(&index_lock, "").unwrap();
    let releaser = {
        let index_lock = index_lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::fs::remove_file(&index_lock).unwrap();
        })
    };
    let run = promote(&repo);
    releaser.join().unwrap();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!index_lock.exists());
    assert_git_agrees(&repo);
}

#[test]
fn an_eol_attribute_beside_the_file_goes_through_libgit2_as_before() {
    promote_with_attributes("envs/dev/shop-api/.gitattributes", "*.yaml eol=lf\n");
}
