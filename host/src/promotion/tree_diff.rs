//! Which files differ between two trees, reading only the subtrees that differ.
//!
//! libgit2's tree-to-tree diff reads every subtree of both sides, even one whose id is the same
//! on both; in a repository of 100,000 files that was most of the time a promotion took to
//! check its own commit. Git's tree ids make the pruning exact: a subtree with the same id on
//! both sides holds the same files. The answer is libgit2's with submodules ignored (a
//! property test holds the two together): a submodule moved to another commit is no change,
//! and a path whose kind changes (file, symlink, directory or submodule) is a deletion plus
//! an addition.

use git2::{Delta, Oid, Repository, Tree, TreeEntry};

/// Every file path that differs between `old` and `new`, with how, sorted by path.
pub fn changed_files(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> Result<Vec<(String, Delta)>, git2::Error> {
    let mut changes = Vec::new();
    diff_level(repo, "", Some(old), Some(new), &mut changes)?;
    sort(&mut changes);
    Ok(changes)
}

/// By path, then by kind of change (a path whose kind changed is both added and deleted).
fn sort(changes: &mut [(String, Delta)]) {
    changes.sort_by(|(path, delta), (other_path, other_delta)| (path, *delta as u8).cmp(&(other_path, *other_delta as u8)));
}

/// What a tree entry is, as far as a diff cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Directory,
    File,
    Symlink,
    Submodule,
}

fn kind(entry: &TreeEntry<'_>) -> Kind {
    match entry.filemode() & 0o170000 {
        0o040000 => Kind::Directory,
        0o120000 => Kind::Symlink,
        0o160000 => Kind::Submodule,
        _ => Kind::File,
    }
}

/// One side of a name at one level: its kind, id and mode.
type Side = Option<(Kind, Oid, i32)>;

fn diff_level(repo: &Repository, prefix: &str, old: Option<&Tree<'_>>, new: Option<&Tree<'_>>, changes: &mut Vec<(String, Delta)>) -> Result<(), git2::Error> {
    let mut names: std::collections::BTreeMap<String, (Side, Side)> = Default::default();
    let side = |entry: TreeEntry<'_>| (String::from_utf8_lossy(entry.name_bytes()).into_owned(), (kind(&entry), entry.id(), entry.filemode()));
    for (name, entry) in old.into_iter().flat_map(Tree::iter).map(side) {
        names.entry(name).or_default().0 = Some(entry);
    }
    for (name, entry) in new.into_iter().flat_map(Tree::iter).map(side) {
        names.entry(name).or_default().1 = Some(entry);
    }
    for (name, (old, new)) in names {
        let path = format!("{prefix}{name}");
        match (old, new) {
            (Some(old), Some(new)) if old.1 == new.1 && old.2 == new.2 => {}
            // A submodule moved to another commit is not a change of this repository's files.
            (Some((Kind::Submodule, ..)), Some((Kind::Submodule, ..))) => {}
            (Some((Kind::Directory, old, _)), Some((Kind::Directory, new, _))) => {
                diff_level(repo, &format!("{path}/"), Some(&repo.find_tree(old)?), Some(&repo.find_tree(new)?), changes)?;
            }
            (Some((old_kind, ..)), Some((new_kind, ..))) if old_kind == new_kind => changes.push((path, Delta::Modified)),
            (old, new) => {
                if let Some((kind, id, _)) = old {
                    side_only(repo, path.clone(), kind, id, Delta::Deleted, changes)?;
                }
                if let Some((kind, id, _)) = new {
                    side_only(repo, path, kind, id, Delta::Added, changes)?;
                }
            }
        }
    }
    Ok(())
}

/// A path present on one side only: the file, or every file of the directory.
fn side_only(repo: &Repository, path: String, kind: Kind, id: Oid, delta: Delta, changes: &mut Vec<(String, Delta)>) -> Result<(), git2::Error> {
    if kind != Kind::Directory {
        changes.push((path, delta));
        return Ok(());
    }
    let tree = repo.find_tree(id)?;
    let prefix = format!("{path}/");
    if delta == Delta::Deleted { diff_level(repo, &prefix, Some(&tree), None, changes) } else { diff_level(repo, &prefix, None, Some(&tree), changes) }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use git2::{DiffOptions, IndexEntry, IndexTime};
    use proptest::prelude::*;

    use super::*;

    /// A tree from path → (mode, content).
    fn tree_of<'r>(repo: &'r Repository, files: &BTreeMap<String, (u32, String)>) -> Tree<'r> {
        let mut index = git2::Index::new().unwrap();
        for (path, (mode, content)) in files {
            let id = if *mode == 0o160000 { Oid::hash_object(git2::ObjectType::Commit, content.as_bytes()).unwrap() } else { repo.blob(content.as_bytes()).unwrap() };
            let time = IndexTime::new(0, 0);
            let entry = IndexEntry {
                ctime: time,
                mtime: time,
                dev: 0,
                ino: 0,
                mode: *mode,
                uid: 0,
                gid: 0,
                file_size: 0,
                id,
                flags: path.len().min(0xfff) as u16,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&entry).unwrap();
        }
        repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap()
    }

    /// libgit2's answer, as the record check asked it before.
    fn libgit2_changes(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> Vec<(String, Delta)> {
        let mut options = DiffOptions::new();
        options.ignore_submodules(true);
        let diff = repo.diff_tree_to_tree(Some(old), Some(new), Some(&mut options)).unwrap();
        let mut changes: Vec<_> = diff
            .deltas()
            .map(|delta| {
                let file = if delta.status() == Delta::Deleted { delta.old_file() } else { delta.new_file() };
                (file.path().unwrap().to_string_lossy().into_owned(), delta.status())
            })
            .collect();
        sort(&mut changes);
        changes
    }

    fn libgit2_changes_fail(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> bool {
        repo.diff_tree_to_tree(Some(old), Some(new), None).and_then(|diff| diff.stats()).is_err()
    }

    /// Paths over a small alphabet, so that files and directories collide.
    fn files() -> impl Strategy<Value = BTreeMap<String, (u32, String)>> {
        let path = proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("a-b"), Just("c.yaml")], 1..4).prop_map(|parts| parts.join("/"));
        let mode = prop_oneof![Just(0o100644u32), Just(0o100755), Just(0o120000), Just(0o160000)];
        proptest::collection::vec((path, mode, prop_oneof![Just("1"), Just("2")]), 0..8).prop_map(|entries| {
            let mut files = BTreeMap::new();
            for (path, mode, content) in entries {
                // A path cannot be both a file and a directory in one tree.
                let clashes = files.keys().any(|other: &String| other.starts_with(&format!("{path}/")) || path.starts_with(&format!("{other}/")));
                if !clashes {
                    files.insert(path, (mode, content.to_string()));
                }
            }
            files
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn the_pruned_diff_is_libgit2s(old in files(), new in files()) {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init_bare(dir.path()).unwrap();
            let (old, new) = (tree_of(&repo, &old), tree_of(&repo, &new));
            prop_assert_eq!(changed_files(&repo, &old, &new).unwrap(), libgit2_changes(&repo, &old, &new));
        }
    }

    #[test]
    fn an_unchanged_subtree_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let files = |tag: &str| BTreeMap::from([("envs/dev/values.yaml".to_string(), (0o100644, tag.to_string())), ("big/x".to_string(), (0o100644, "x".to_string()))]);
        let (old, new) = (tree_of(&repo, &files("1")).id(), tree_of(&repo, &files("2")).id());
        // Remove the unchanged subtree from the object store (and reopen, past libgit2's object
        // cache): a diff that read it would fail.
        let big = repo.find_tree(old).unwrap().get_name("big").unwrap().id().to_string();
        std::fs::remove_file(dir.path().join("objects").join(&big[..2]).join(&big[2..])).unwrap();
        let repo = Repository::open_bare(dir.path()).unwrap();
        let (old, new) = (repo.find_tree(old).unwrap(), repo.find_tree(new).unwrap());
        assert!(libgit2_changes_fail(&repo, &old, &new), "libgit2 reads the unchanged subtree");
        assert_eq!(changed_files(&repo, &old, &new).unwrap(), vec![("envs/dev/values.yaml".to_string(), Delta::Modified)]);
    }
}
