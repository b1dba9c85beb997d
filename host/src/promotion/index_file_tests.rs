//! The index written directly (`index_file.rs`) against the index libgit2 writes, for the same
//! update of random small trees in real repositories: the same entries (mode, blob, stage,
//! path, flags; the size of every touched file), and Git agrees with both.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use git2::{Oid, Repository, Signature};
use proptest::prelude::*;

use super::worktree::TouchedPaths;

/// Paths in a few directories, so that updates share and empty directories.
const PATHS: [&str; 8] = ["x.yaml", "a/x.yaml", "a/y.yaml", "a/b/x.yaml", "a/b/z", "c/x.yaml", "c/d/e/f.yaml", "z"];

/// A file's content and whether it is executable; `None` for no file.
type Files = BTreeMap<&'static str, (String, bool)>;

fn files() -> impl Strategy<Value = Files> {
    proptest::collection::vec(proptest::option::of(("[a-c]{0,6}", any::<bool>())), PATHS.len()).prop_map(|contents| {
        PATHS.iter().zip(contents).filter_map(|(path, file)| file.map(|file| (*path, file))).collect()
    })
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git").arg("-C").arg(dir).args(["-c", "user.name=someone", "-c", "user.email=someone@example.com"]).args(args).output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A checked-out repository whose one commit holds `files`, with every tree cached in its index.
fn checkout(dir: &Path, files: &Files) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "--quiet", "--initial-branch", "main"]);
    for (path, (content, executable)) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        if *executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "--allow-empty", "-m", "base"]);
    git(dir, &["write-tree"]);
}

/// Commit `after` on the checked-out branch without touching the work tree or index, update
/// both with `open` for the changed paths, and return the new tree's id.
fn promote(dir: &Path, before: &Files, after: &Files, open: fn(&Repository) -> TouchedPaths<'_>) -> Oid {
    let git = Repository::open(dir).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    let base = head.tree().unwrap();
    let mut update = git2::build::TreeUpdateBuilder::new();
    let changed: Vec<&str> = PATHS.iter().copied().filter(|path| before.get(path) != after.get(path)).collect();
    for path in &changed {
        match after.get(path) {
            Some((content, executable)) => {
                let mode = if *executable { git2::FileMode::BlobExecutable } else { git2::FileMode::Blob };
                update.upsert(*path, git.blob(content.as_bytes()).unwrap(), mode);
            }
            None => {
                update.remove(*path);
            }
        }
    }
    let tree = git.find_tree(update.create_updated(&git, &base).unwrap()).unwrap();
    let someone = Signature::now("someone", "someone@example.com").unwrap();
    git.commit(Some("HEAD"), &someone, &someone, "promote", &tree, &[&head]).unwrap();
    let mut worktree = open(&git);
    assert_eq!(worktree.first_changed(&base, &changed).unwrap(), None);
    worktree.update(&tree, &changed).unwrap();
    tree.id()
}

/// The index as Git lists it, without what differs between two checkouts (times, inode,
/// device), and with sizes only for `touched` paths (an untouched entry's size may be zeroed
/// by either writer's racy-git rule).
fn entries(dir: &Path, touched: &[&str]) -> String {
    let staged = git(dir, &["ls-files", "--stage"]);
    let debug = git(dir, &["ls-files", "--debug"]);
    let mut flags = Vec::new();
    let mut path = String::new();
    for line in debug.lines() {
        match line.strip_prefix("  ") {
            None => path = line.to_string(),
            Some(field) if field.starts_with("size:") => {
                let (size, flag) = field.split_once("flags:").unwrap();
                let size = if touched.contains(&path.as_str()) { size.trim() } else { "" };
                flags.push(format!("{path} {size} flags:{}", flag.trim()));
            }
            Some(_) => {}
        }
    }
    format!("{staged}{}", flags.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn the_direct_writer_leaves_the_index_libgit2_leaves(before in files(), after in files()) {
        let dir = tempfile::tempdir().unwrap();
        let (direct, libgit2) = (dir.path().join("direct"), dir.path().join("libgit2"));
        checkout(&direct, &before);
        checkout(&libgit2, &before);
        let opened_directly = TouchedPaths::open(&Repository::open(&direct).unwrap()).unwrap().reads_directly();
        prop_assert!(opened_directly, "a plain index is read directly");
        let tree = promote(&direct, &before, &after, |git| TouchedPaths::open(git).unwrap());
        prop_assert_eq!(promote(&libgit2, &before, &after, |git| TouchedPaths::open_with_libgit2(git).unwrap()), tree);
        let touched: Vec<&str> = PATHS.iter().copied().filter(|path| before.get(path) != after.get(path)).collect();
        prop_assert_eq!(entries(&direct, &touched), entries(&libgit2, &touched));
        for repo in [&direct, &libgit2] {
            prop_assert_eq!(git(repo, &["write-tree"]), format!("{tree}\n"));
            prop_assert_eq!(git(repo, &["status", "--porcelain"]), "");
            git(repo, &["fsck", "--no-dangling"]);
        }
    }
}

#[test]
fn an_entry_git_adds_after_the_index_was_read_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let before: Files = [("a/x.yaml", ("one".to_string(), false))].into_iter().collect();
    checkout(dir.path(), &before);
    let after: Files = [("a/x.yaml", ("two".to_string(), false))].into_iter().collect();
    let tree = promote(dir.path(), &before, &after, |git| {
        let worktree = TouchedPaths::open(git).unwrap();
        assert!(worktree.reads_directly());
        // Between the dirty check's read and the update, another git writes the index.
        std::fs::write(git.workdir().unwrap().join("notes.txt"), "staged meanwhile\n").unwrap();
        let output = Command::new("git").arg("-C").arg(git.workdir().unwrap()).args(["add", "notes.txt"]).output().unwrap();
        assert!(output.status.success());
        worktree
    });
    assert_eq!(git(dir.path(), &["ls-files", "--stage", "notes.txt"]), "100644 50827aadfb5c7faa10e318a6191e918c100a528a 0\tnotes.txt\n");
    assert_eq!(git(dir.path(), &["status", "--porcelain"]), "A  notes.txt\n");
    assert_ne!(git(dir.path(), &["write-tree"]), format!("{tree}\n"), "the staged file is in the index's tree");
}

/// A path new to the index touched twice in one update (two plans of a batch adding the same
/// file) is one entry, not two (Git calls an index with both corrupt).
#[test]
fn a_new_path_touched_twice_is_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let before: Files = [("a/x.yaml", ("one".to_string(), false))].into_iter().collect();
    checkout(dir.path(), &before);
    let repo = Repository::open(dir.path()).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert("c/new.yaml", repo.blob(b"new").unwrap(), git2::FileMode::Blob);
    let tree = repo.find_tree(update.create_updated(&repo, &head.tree().unwrap()).unwrap()).unwrap();
    let mut worktree = TouchedPaths::open(&repo).unwrap();
    assert!(worktree.reads_directly());
    worktree.update(&tree, &["c/new.yaml", "c/new.yaml"]).unwrap();
    assert_eq!(git(dir.path(), &["ls-files", "--stage", "c/new.yaml"]).lines().count(), 1);
    git(dir.path(), &["fsck", "--no-dangling"]);
}
