//! What long-lived processes remember between requests (`repo::memo`) is never another
//! repository's or another commit's.

use git2::{Oid, Repository, Signature};

use crate::promotion::claim::check_commit_remembered;
use crate::promotion::verified::RulesAt;

/// A commit of `files` (paths at most one directory deep) on `main` over `parent`.
fn commit(repo: &Repository, parent: Option<Oid>, files: &[(&str, &str)]) -> Oid {
    let mut root = repo.treebuilder(None).unwrap();
    let mut dirs: std::collections::BTreeMap<&str, Vec<(&str, Oid)>> = Default::default();
    for (path, content) in files {
        let blob = repo.blob(content.as_bytes()).unwrap();
        match path.rsplit_once('/') {
            Some((dir, name)) => dirs.entry(dir).or_default().push((name, blob)),
            None => root.insert(path, blob, 0o100644).map(drop).unwrap(),
        }
    }
    for (dir, entries) in dirs {
        // Nested directories one level at a time: `a/b` as `a` holding `b`.
        let mut sub = repo.treebuilder(None).unwrap();
        entries.iter().for_each(|(name, blob)| sub.insert(name, *blob, 0o100644).map(drop).unwrap());
        let mut id = sub.write().unwrap();
        let mut parts: Vec<&str> = dir.split('/').collect();
        while parts.len() > 1 {
            let name = parts.pop().unwrap();
            let mut outer = repo.treebuilder(None).unwrap();
            outer.insert(name, id, 0o040000).unwrap();
            id = outer.write().unwrap();
        }
        root.insert(parts[0], id, 0o040000).unwrap();
    }
    let tree = repo.find_tree(root.write().unwrap()).unwrap();
    let who = Signature::new("someone", "someone@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
    let parents: Vec<git2::Commit<'_>> = parent.into_iter().map(|oid| repo.find_commit(oid).unwrap()).collect();
    let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
    repo.commit(Some("refs/heads/main"), &who, &who, "change", &tree, &parents).unwrap()
}

/// A loose object's file.
fn object_file(repo: &Repository, id: Oid) -> std::path::PathBuf {
    let hex = id.to_string();
    repo.path().join("objects").join(&hex[..2]).join(&hex[2..])
}

#[test]
fn a_commits_check_remembered_in_one_repository_is_not_served_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let first = Repository::init_bare(dir.path().join("first.git")).unwrap();
    let parent = commit(&first, None, &[("README", "hello\n")]);
    // A record that does not parse: the commit claims a promotion and does not check out.
    let claim = commit(&first, Some(parent), &[("README", "hello\n"), (".tollgate/decisions/x.json", "not a record")]);
    let checked = check_commit_remembered(&first, &first.find_commit(claim).unwrap()).unwrap().expect("a claim");
    assert!(!checked.checks_out());

    // The same commit in a second repository that lacks its parent's tree: read afresh, it fails.
    let copy = dir.path().join("second.git");
    let status = std::process::Command::new("cp").arg("-r").arg(dir.path().join("first.git")).arg(&copy).status().unwrap();
    assert!(status.success());
    let second = Repository::open_bare(&copy).unwrap();
    let parent_tree = second.find_commit(parent).unwrap().tree_id();
    std::fs::remove_file(object_file(&second, parent_tree)).unwrap();
    let second = Repository::open_bare(&copy).unwrap();
    assert!(check_commit_remembered(&second, &second.find_commit(claim).unwrap()).is_err(), "the first repository's answer was served");
    assert!(check_commit_remembered(&first, &first.find_commit(claim).unwrap()).unwrap().is_some());
}

const CONFIG: &str = "branch: main\nenvironments: [dev, prod]\ndefaults:\n  file: \"{env}/{app}/FILE\"\n  manifest: { container: api }\n\
                      applications:\n  shop-api: { image: registry.example.com/shop/api }\n";

#[test]
fn rules_remembered_for_one_configuration_are_not_those_of_a_newer_commit_or_another_repository() {
    let dir = tempfile::tempdir().unwrap();
    let first = Repository::init_bare(dir.path().join("first.git")).unwrap();
    let old = commit(&first, None, &[("tollgate.yaml", &CONFIG.replace("FILE", "manifest.yaml"))]);
    let new = commit(&first, Some(old), &[("tollgate.yaml", &CONFIG.replace("FILE", "deployment.yaml"))]);
    let locations = |repo: &Repository, at: Oid| RulesAt::default().at(repo, &repo.find_commit(at).unwrap()).locations.keys().cloned().collect::<Vec<_>>();
    assert_eq!(locations(&first, old), ["dev/shop-api/manifest.yaml", "prod/shop-api/manifest.yaml"]);
    assert_eq!(locations(&first, new), ["dev/shop-api/deployment.yaml", "prod/shop-api/deployment.yaml"], "a new commit's configuration is read");
    assert_eq!(locations(&first, old), ["dev/shop-api/manifest.yaml", "prod/shop-api/manifest.yaml"]);

    // A second repository whose copy of the configuration's blob is gone: its rules say so.
    let copy = dir.path().join("second.git");
    assert!(std::process::Command::new("cp").arg("-r").arg(dir.path().join("first.git")).arg(&copy).status().unwrap().success());
    let second = Repository::open_bare(&copy).unwrap();
    let blob = second.find_commit(old).unwrap().tree().unwrap().get_name("tollgate.yaml").unwrap().id();
    std::fs::remove_file(object_file(&second, blob)).unwrap();
    let second = Repository::open_bare(&copy).unwrap();
    let rules = RulesAt::default().at(&second, &second.find_commit(old).unwrap());
    assert!(rules.problem.is_some() && rules.locations.is_empty(), "the first repository's rules were served: {rules:?}");
}

#[test]
fn a_blob_size_remembered_in_one_repository_is_not_served_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let first = Repository::init_bare(dir.path().join("first.git")).unwrap();
    let blob = first.blob(b"status: ready\n").unwrap();
    assert_eq!(crate::repo::blob_size(&first, blob).unwrap(), 14);
    let copy = dir.path().join("second.git");
    assert!(std::process::Command::new("cp").arg("-r").arg(dir.path().join("first.git")).arg(&copy).status().unwrap().success());
    let second = Repository::open_bare(&copy).unwrap();
    std::fs::remove_file(object_file(&second, blob)).unwrap();
    assert!(crate::repo::blob_size(&second, blob).is_err(), "the first repository's size was served for a blob the second lacks");
    assert_eq!(crate::repo::blob_size(&first, blob).unwrap(), 14);
}
