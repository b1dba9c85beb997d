//! What long-lived processes remember between requests (`repo::memo`) is never another
//! repository's or another commit's.

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{Oid, Repository};

use crate::promotion::claim::check_commit_remembered;
use crate::promotion::verified::RulesAt;

/// Write `files` into the work tree at `dir` and commit them all with the user's git.
fn commit(dir: &Path, files: &[(&str, &str)]) -> Oid {
    for (path, content) in files {
        std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
        std::fs::write(dir.join(path), content).unwrap();
    }
    let git = |args: &[&str]| {
        let output = Command::new("git").arg("-C").arg(dir).args(["-c", "user.name=someone", "-c", "user.email=someone@example.com"]).args(args).output().unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    if !dir.join(".git").exists() {
        git(&["init", "-q", "-b", "main"]);
    }
    git(&["add", "-A"]);
    git(&["commit", "-qm", "change"]);
    git(&["rev-parse", "HEAD"]).trim().parse().unwrap()
}

/// A copy of the repository at `dir` (at `dir`-copy) without the loose object `id`, opened.
fn copy_without(dir: &Path, id: Oid) -> (PathBuf, Repository) {
    let copy = dir.with_extension("copy");
    assert!(Command::new("cp").arg("-r").arg(dir).arg(&copy).status().unwrap().success());
    let hex = id.to_string();
    std::fs::remove_file(copy.join(".git/objects").join(&hex[..2]).join(&hex[2..])).unwrap();
    let repo = Repository::open(&copy).unwrap();
    (copy, repo)
}

#[test]
fn a_commits_check_remembered_in_one_repository_is_not_served_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("first");
    let parent = commit(&work, &[("README", "hello\n")]);
    // A record that does not parse: the commit claims a promotion and does not check out.
    let claim = commit(&work, &[(".tollgate/decisions/x.json", "not a record")]);
    let first = Repository::open(&work).unwrap();
    let checked = check_commit_remembered(&first, &first.find_commit(claim).unwrap()).unwrap().expect("a claim");
    assert!(!checked.checks_out());

    // The same commit in a second repository that lacks its parent's tree: read afresh, it fails.
    let (_copy, second) = copy_without(&work, first.find_commit(parent).unwrap().tree_id());
    assert!(check_commit_remembered(&second, &second.find_commit(claim).unwrap()).is_err(), "the first repository's answer was served");
    assert!(check_commit_remembered(&first, &first.find_commit(claim).unwrap()).unwrap().is_some());
}

const CONFIG: &str = "branch: main\nenvironments: [dev, prod]\ndefaults:\n  file: \"{env}/{app}/FILE\"\n  manifest: { container: api }\n\
                      applications:\n  shop-api: { image: registry.example.com/shop/api }\n";

#[test]
fn rules_remembered_for_one_configuration_are_not_those_of_a_newer_commit_or_another_repository() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("first");
    let old = commit(&work, &[("tollgate.yaml", &CONFIG.replace("FILE", "manifest.yaml"))]);
    let new = commit(&work, &[("tollgate.yaml", &CONFIG.replace("FILE", "deployment.yaml"))]);
    let first = Repository::open(&work).unwrap();
    let locations = |repo: &Repository, at: Oid| RulesAt::default().at(repo, &repo.find_commit(at).unwrap()).locations.keys().cloned().collect::<Vec<_>>();
    assert_eq!(locations(&first, old), ["dev/shop-api/manifest.yaml", "prod/shop-api/manifest.yaml"]);
    assert_eq!(locations(&first, new), ["dev/shop-api/deployment.yaml", "prod/shop-api/deployment.yaml"], "a new commit's configuration is read");
    assert_eq!(locations(&first, old), ["dev/shop-api/manifest.yaml", "prod/shop-api/manifest.yaml"]);

    // A second repository whose copy of the configuration's blob is gone: its rules say so.
    let blob = first.find_commit(old).unwrap().tree().unwrap().get_name("tollgate.yaml").unwrap().id();
    let (_copy, second) = copy_without(&work, blob);
    let rules = RulesAt::default().at(&second, &second.find_commit(old).unwrap());
    assert!(rules.problem.is_some() && rules.locations.is_empty(), "the first repository's rules were served: {rules:?}");
}

#[test]
fn a_blob_size_remembered_in_one_repository_is_not_served_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("first");
    commit(&work, &[("README", "hello\n")]);
    let first = Repository::open(&work).unwrap();
    let blob = first.blob(b"status: ready\n").unwrap();
    assert_eq!(crate::repo::blob_size(&first, blob).unwrap(), 14);
    let (_copy, second) = copy_without(&work, blob);
    assert!(crate::repo::blob_size(&second, blob).is_err(), "the first repository's size was served for a blob the second lacks");
    assert_eq!(crate::repo::blob_size(&first, blob).unwrap(), 14);
}

#[test]
fn a_check_that_found_a_problem_is_made_again_once_the_missing_object_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("first");
    commit(&work, &[("README", "hello\n")]);
    let claim = commit(&work, &[(".tollgate/decisions/x.json", "not a record")]);
    let record = Repository::open(&work).unwrap().find_commit(claim).unwrap().tree().unwrap().get_path(Path::new(".tollgate/decisions/x.json")).unwrap().id();
    // Without the record's blob (as before a fetch brings it), the check names the read.
    let (copy, repo) = copy_without(&work, record);
    let problems = |repo: &Repository| check_commit_remembered(repo, &repo.find_commit(claim).unwrap()).unwrap().expect("a claim").problems.clone();
    let without = problems(&repo);
    // The object arrives: the same commit in the same repository is checked again.
    let hex = record.to_string();
    std::fs::copy(work.join(".git/objects").join(&hex[..2]).join(&hex[2..]), copy.join(".git/objects").join(&hex[..2]).join(&hex[2..])).unwrap();
    let with = problems(&Repository::open(&copy).unwrap());
    assert_ne!(without, with, "the problem found without the object was remembered");
}
