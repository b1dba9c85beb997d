//! Which files differ between two trees, reading only the subtrees that differ.
//!
//! libgit2's tree-to-tree diff reads every subtree of both sides, even one whose id is the same
//! on both; in a repository of 100,000 files that was most of the time a promotion took to
//! check its own commit. Git's tree ids make the pruning exact: a subtree with the same id on
//! both sides holds the same files. The answer is libgit2's with submodules ignored (a
//! property test holds the two together): a submodule moved to another commit is no change,
//! and a path whose kind changes (file, symlink, directory or submodule) is a deletion plus
//! an addition.

use std::collections::{BTreeMap, HashSet};

use git2::{Delta, ObjectType, Oid, Repository, Tree};

/// Every file path that differs between `old` and `new`, with how, sorted by path.
pub fn changed_files(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> Result<Vec<(String, Delta)>, git2::Error> {
    let mut changes = Vec::new();
    // Directories still to compare, by their path with a trailing `/` and either side's tree
    // id. A stack rather than recursion: a crafted commit nested ten thousand directories
    // deep is compared, not a stack overflow.
    let mut pending = vec![(String::new(), Some(old.id()), Some(new.id()))];
    while let Some((prefix, old, new)) = pending.pop() {
        let (old, new) = (old.map(|id| repo.find_tree(id)).transpose()?, new.map(|id| repo.find_tree(id)).transpose()?);
        for (name, (old, new)) in entries_by_name(old.as_ref(), new.as_ref())? {
            let path = format!("{prefix}{}", String::from_utf8_lossy(&name));
            match (old, new) {
                (Some(old), Some(new)) if old == new => {}
                // A submodule moved to another commit is not a change of this repository's files.
                (Some((Kind::Submodule, ..)), Some((Kind::Submodule, ..))) => {}
                (Some((Kind::Directory, old, _)), Some((Kind::Directory, new, _))) => pending.push((format!("{path}/"), Some(old), Some(new))),
                (Some((old_kind, ..)), Some((new_kind, ..))) if old_kind == new_kind => changes.push((path, Delta::Modified)),
                (old, new) => {
                    for (side, delta) in [(old, Delta::Deleted), (new, Delta::Added)] {
                        match side {
                            Some((Kind::Directory, id, _)) if delta == Delta::Deleted => pending.push((format!("{path}/"), Some(id), None)),
                            Some((Kind::Directory, id, _)) => pending.push((format!("{path}/"), None, Some(id))),
                            Some(_) => changes.push((path.clone(), delta)),
                            None => {}
                        }
                    }
                }
            }
        }
    }
    sort(&mut changes);
    Ok(changes)
}

/// Which of `paths` name a different entry in `new` than in `old` (another id, of any kind, or
/// present on one side only): exactly what comparing [`entry_id`] on both sides says, reading
/// only the subtrees on the way to the paths whose ids differ. A commit that changes one file
/// of thousands of configured locations reads a few trees instead of looking every location up
/// twice.
pub fn differing_entries<'p>(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>, paths: impl IntoIterator<Item = &'p str>) -> HashSet<&'p str> {
    let mut differing = HashSet::new();
    let mut walked = Vec::new();
    for path in paths {
        if is_plain(path) {
            walked.push((path, path));
        } else if entry_id(old, path) != entry_id(new, path) {
            // A path `get_path` reads its own way (`a/`, `a//b`, `./a`, a NUL): asked as it is.
            differing.insert(path);
        }
    }
    walk(repo, Some(old.id()), Some(new.id()), walked, &mut differing);
    differing
}

/// The id of the entry at `path` in `tree` (any kind), or `None` when there is none or it
/// cannot be read.
pub fn entry_id(tree: &Tree<'_>, path: &str) -> Option<Oid> {
    tree.get_path(std::path::Path::new(path)).ok().map(|entry| entry.id())
}

/// Components that are all names (not empty, `.` or `..`, no NUL).
fn is_plain(path: &str) -> bool {
    !path.contains('\0') && path.split('/').all(|name| !name.is_empty() && name != "." && name != "..")
}

/// [`differing_entries`] below the directories `old` and `new` (trees, or absent), for the
/// `(path, rest of the path below them)` of each path. A tree that cannot be read holds
/// nothing, as [`entry_id`] reads it.
fn walk<'p>(repo: &Repository, old: Option<Oid>, new: Option<Oid>, paths: Vec<(&'p str, &'p str)>, differing: &mut HashSet<&'p str>) {
    // The same tree (or nothing on both sides) holds the same entries.
    if old == new || paths.is_empty() {
        return;
    }
    let (old, new) = (old.and_then(|id| repo.find_tree(id).ok()), new.and_then(|id| repo.find_tree(id).ok()));
    let named = |tree: &Option<Tree<'_>>, name: &str| tree.as_ref().and_then(|tree| tree.get_name(name).map(|entry| (entry.id(), entry.kind())));
    let mut below: BTreeMap<&'p str, Vec<(&'p str, &'p str)>> = BTreeMap::new();
    for (path, rest) in paths {
        match rest.split_once('/') {
            None => {
                if named(&old, rest).map(|(id, _)| id) != named(&new, rest).map(|(id, _)| id) {
                    differing.insert(path);
                }
            }
            Some((directory, rest)) => below.entry(directory).or_default().push((path, rest)),
        }
    }
    for (directory, paths) in below {
        // Only a tree has entries below it; anything else reads as nothing there.
        let subtree = |tree: &Option<Tree<'_>>| named(tree, directory).filter(|(_, kind)| *kind == Some(ObjectType::Tree)).map(|(id, _)| id);
        walk(repo, subtree(&old), subtree(&new), paths, differing);
    }
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

/// One side of a name at one level: its kind, id and mode as stored (libgit2's diff compares
/// stored modes, not the normalised ones `TreeEntry::filemode` gives).
type Side = Option<(Kind, Oid, i32)>;

/// The entries of both trees, paired by name (as bytes: names need not be UTF-8). A tree that
/// names an entry twice is refused.
fn entries_by_name(old: Option<&Tree<'_>>, new: Option<&Tree<'_>>) -> Result<BTreeMap<Vec<u8>, (Side, Side)>, git2::Error> {
    let mut names: BTreeMap<Vec<u8>, (Side, Side)> = BTreeMap::new();
    for (tree, is_new) in [(old, false), (new, true)] {
        let Some(tree) = tree else { continue };
        for entry in tree.iter() {
            let mode = entry.filemode_raw();
            let kind = match mode & 0o170000 {
                0o040000 => Kind::Directory,
                0o120000 => Kind::Symlink,
                0o160000 => Kind::Submodule,
                _ => Kind::File,
            };
            let pair = names.entry(entry.name_bytes().to_vec()).or_default();
            let side = if is_new { &mut pair.1 } else { &mut pair.0 };
            if side.replace((kind, entry.id(), mode)).is_some() {
                return Err(git2::Error::from_str(&format!("tree {} names {} twice", tree.id(), String::from_utf8_lossy(entry.name_bytes()))));
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
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

        /// Paths of files, directories, submodules, missing entries and odd spellings alike.
        #[test]
        fn the_pruned_entry_comparison_is_get_paths(
            old in files(),
            new in files(),
            paths in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("a-b"), Just("c.yaml"), Just(""), Just("."), Just("a\0")], 1..5).prop_map(|parts| parts.join("/")),
                0..12,
            ),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init_bare(dir.path()).unwrap();
            let (old, new) = (tree_of(&repo, &old), tree_of(&repo, &new));
            let expected: HashSet<&str> = paths.iter().map(String::as_str).filter(|path| entry_id(&old, path) != entry_id(&new, path)).collect();
            prop_assert_eq!(differing_entries(&repo, &old, &new, paths.iter().map(String::as_str)), expected);
        }
    }

    /// A tree object written as is: entries of (raw mode, name bytes, id), in the given order.
    fn raw_tree(repo: &Repository, entries: &[(&str, &[u8], Oid)]) -> Oid {
        let mut bytes = Vec::new();
        for (mode, name, id) in entries {
            bytes.extend_from_slice(format!("{mode} ").as_bytes());
            bytes.extend_from_slice(name);
            bytes.push(0);
            bytes.extend_from_slice(id.as_bytes());
        }
        repo.odb().unwrap().write(git2::ObjectType::Tree, &bytes).unwrap()
    }

    #[test]
    fn stored_modes_and_names_that_are_not_utf8_are_compared_as_libgit2_compares_them() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let (one, two) = (repo.blob(b"1").unwrap(), repo.blob(b"2").unwrap());
        // An executable turned into a "submodule" of the same id (a mode git normalises to
        // 100755 when asked, but stores as written); two names that are not UTF-8 and read the
        // same once made text.
        let old = raw_tree(&repo, &[("100755", b"a", one), ("100644", b"\xfe", one), ("100644", b"\xff", one)]);
        let new = raw_tree(&repo, &[("160755", b"a", one), ("100644", b"\xfe", two), ("100644", b"\xff", one)]);
        let (old, new) = (repo.find_tree(old).unwrap(), repo.find_tree(new).unwrap());
        let ours = changed_files(&repo, &old, &new).unwrap();
        assert_eq!(ours, libgit2_changes(&repo, &old, &new));
        assert!(ours.contains(&("a".to_string(), Delta::Deleted)), "{ours:?}");
        assert!(ours.contains(&("\u{fffd}".to_string(), Delta::Modified)), "{ours:?}");
    }

    #[test]
    fn a_tree_that_names_an_entry_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let (one, two) = (repo.blob(b"1").unwrap(), repo.blob(b"2").unwrap());
        let old = raw_tree(&repo, &[("100644", b"a", one)]);
        let new = raw_tree(&repo, &[("100644", b"a", one), ("100644", b"a", two)]);
        let error = changed_files(&repo, &repo.find_tree(old).unwrap(), &repo.find_tree(new).unwrap()).unwrap_err();
        assert!(error.message().contains("names a twice"), "{}", error.message());
    }

    #[test]
    fn a_deeply_nested_change_is_found_without_recursion() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let nest = |content: &[u8]| {
            let mut id = raw_tree(&repo, &[("100644", b"f", repo.blob(content).unwrap())]);
            for _ in 0..20_000 {
                id = raw_tree(&repo, &[("40000", b"d", id)]);
            }
            repo.find_tree(id).unwrap()
        };
        let changes = changed_files(&repo, &nest(b"1"), &nest(b"2")).unwrap();
        assert_eq!(changes.len(), 1);
        assert!(changes[0].0.ends_with("d/d/f") && changes[0].1 == Delta::Modified);
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
