//! Promotions committed on environment branches of their own (GitOps Promoter's
//! `environment/dev`, `environment/prod`), through a real bare remote: promote, verify,
//! rollback, status and history from a fresh clone, the branch guard on an environment branch
//! (a hand edit and a forged record refused), a remote branch that keeps moving (exit 4,
//! nothing changed), and `POST /v1/promote` into an environment branch.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::env_branches::{commit_on_branch, manifest};
use crate::serve_support::{Server, token_file};
use crate::support::{clone_remote, committed_repo, git, record_at, snapshot, tollgate_in};

/// Each environment on `environment/{env}`; prod needs one approval (typed ones count).
const CONFIG: &str = "branch: main\nenvironments: [dev, prod]\ndefaults:\n  branch: \"environment/{env}\"\n  file: \"{app}/manifest.yaml\"\n  \
                      manifest: { container: api }\napplications:\n  shop-api: { image: registry.example.com/shop/api }\npolicies:\n  \
                      - plugin: builtin:approval-count\n    environments: [prod]\n    config: { environments: { prod: { required: 1 } } }\n";

/// A repository laid out as GitOps Promoter keeps it: [`CONFIG`] on main (checked out),
/// shop-api 1.4.1 on environment/dev and 1.4.0 on environment/prod (hydrator commits).
fn local_repo() -> (tempfile::TempDir, String) {
    let (dir, repo) = committed_repo(&[("tollgate.yaml".into(), CONFIG.into()), ("README.md".into(), "DRY sources\n".into())]);
    commit_on_branch(&repo, "environment/dev", None, "1.4.1");
    commit_on_branch(&repo, "environment/prod", None, "1.4.0");
    (dir, repo)
}

/// [`local_repo`] published to a bare remote, and a promoter's clone of it (main checked out,
/// the environment branches only as `origin/…`). Returns (dir, remote, promoter).
fn remote_and_clone() -> (tempfile::TempDir, String, String) {
    let (dir, source) = local_repo();
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", "--bare", &source, &remote]);
    let promoter = dir.path().join("promoter").to_str().unwrap().to_string();
    clone_remote(&remote, &promoter, false);
    git(&promoter, &["config", "user.name", "ci"]);
    git(&promoter, &["config", "user.email", "ci@example.com"]);
    (dir, remote, promoter)
}

fn promote(repo: &str, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["promote", "shop-api", "--actor", "alice"];
    all.extend_from_slice(args);
    tollgate_in(repo, &all)
}

/// The version in shop-api's manifest at `revision`.
fn version_at(repo: &str, revision: &str) -> String {
    let text = git(repo, &["show", &format!("{revision}:shop-api/manifest.yaml")]);
    text.lines().find_map(|line| line.trim().strip_prefix(&format!("image: {}:", crate::env_branches::IMAGE)).map(str::to_string)).unwrap()
}

#[test]
fn env_branches_promote_push_verify_rollback_and_status_from_a_fresh_clone() {
    let (dir, remote, promoter) = remote_and_clone();
    let main_before = git(&remote, &["rev-parse", "main"]);

    // dev is the root: the promotion lands on environment/dev, main and the work tree untouched.
    let run = promote(&promoter, &["--to", "dev", "--version", "1.4.2", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("pushed to origin (environment/dev at"), "{}", run.stdout);
    assert!(git(&remote, &["log", "-1", "--format=%s", "environment/dev"]).starts_with("promote shop-api 1.4.2 to dev"));
    assert_eq!(version_at(&remote, "environment/dev"), "1.4.2");
    assert_eq!(git(&remote, &["rev-parse", "main"]), main_before, "nothing is committed to main");
    assert_eq!(git(&promoter, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/main");
    assert_eq!(git(&promoter, &["status", "--porcelain"]), "", "the checked-out main's work tree and index are untouched");

    // prod takes what dev runs, read from environment/dev, with dev's arrival time (soak-time's
    // from_env_since) read from environment/dev's records.
    let run = promote(&promoter, &["--to", "prod", "--push"]);
    assert_eq!(run.code, 1, "prod needs an approval: {}{}", run.stdout, run.stderr);
    let run = promote(&promoter, &["--to", "prod", "--approval", "bob", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let record = record_at(&remote, "environment/prod");
    assert_eq!(record["transition"]["from_env"], "dev");
    assert_eq!(record["transition"]["artifact"]["version"], "1.4.2");
    assert_eq!(record["transition"]["previous_artifact"]["version"], "1.4.0");
    let dev_arrival = git(&remote, &["log", "-1", "--format=%ct", "environment/dev"]).trim().parse::<i64>().unwrap();
    assert_eq!(record["transition"]["from_env_since"].as_i64(), Some(dev_arrival), "{record}");
    let first_prod = git(&remote, &["rev-parse", "environment/prod"]).trim().to_string();
    let run = tollgate_in(&promoter, &["verify", &first_prod]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let run = promote(&promoter, &["--to", "dev", "--version", "1.4.3", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = promote(&promoter, &["--to", "prod", "--approval", "bob", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let second_prod = git(&remote, &["rev-parse", "environment/prod"]).trim().to_string();

    // A fresh clone has only main locally: status and history read each environment's records
    // from origin's environment branches.
    let fresh = dir.path().join("fresh").to_str().unwrap().to_string();
    clone_remote(&remote, &fresh, false);
    let run = tollgate_in(&fresh, &["status", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let app = status.as_array().map(|apps| apps[0].clone()).unwrap_or_else(|| status["applications"][0].clone());
    let prod = &app["environments"]["prod"];
    assert_eq!((prod["version"].as_str(), prod["by"].as_str(), prod["commit"].as_str()), (Some("1.4.3"), Some("alice"), Some(second_prod.as_str())), "{status}");
    assert_eq!(app["environments"]["dev"]["version"], "1.4.3", "{status}");
    assert!(app["environments"]["dev"]["commit"].is_string(), "dev is attributed to its promotion: {status}");
    let run = tollgate_in(&fresh, &["history", "--app", "shop-api", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let history: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let promotions: Vec<(String, String)> = history["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["counts"] == true)
        .map(|entry| (entry["to"].as_str().unwrap().to_string(), entry["version"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(promotions.len(), 4, "{history}");
    for expected in [("prod", "1.4.3"), ("dev", "1.4.3"), ("prod", "1.4.2"), ("dev", "1.4.2")] {
        assert!(promotions.contains(&(expected.0.to_string(), expected.1.to_string())), "{expected:?} in {history}");
    }

    // Rollback from the fresh clone: prod goes back to 1.4.2 on environment/prod.
    let run = tollgate_in(&fresh, &["rollback", "shop-api", "--env", "prod", "--actor", "alice", "--approval", "bob", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(version_at(&remote, "environment/prod"), "1.4.2");
    let record = record_at(&remote, "environment/prod");
    assert_eq!((record["transition"]["kind"].as_str(), record["rollback_of"].as_str()), (Some("rollback"), Some(second_prod.as_str())), "{record}");
    let run = tollgate_in(&fresh, &["verify", "environment/prod"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&remote, &["rev-parse", "main"]), main_before);

    // Without --push, a clone with no local environment/dev starts one at the promotion, whose
    // parent is origin's tip; main and the work tree stay as they were.
    assert!(git(&fresh, &["branch", "--list", "environment/dev"]).trim().is_empty());
    let run = promote(&fresh, &["--to", "dev", "--version", "1.4.4"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&fresh, &["rev-parse", "environment/dev~1"]), git(&fresh, &["rev-parse", "origin/environment/dev"]));
    assert_eq!(version_at(&fresh, "environment/dev"), "1.4.4");
    assert_eq!(git(&fresh, &["status", "--porcelain"]), "");
}

/// Commit `version` into shop-api's manifest on `branch` by hand (with `extra` files), from a
/// checkout of it; main is checked out again after. Returns the commit.
fn hand_commit(repo: &str, branch: &str, version: &str, extra: &[(&str, &str)]) -> String {
    git(repo, &["checkout", "--quiet", branch]);
    std::fs::create_dir_all(Path::new(repo).join("shop-api")).unwrap();
    std::fs::write(Path::new(repo).join("shop-api/manifest.yaml"), manifest(version)).unwrap();
    for (path, content) in extra {
        let path = Path::new(repo).join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", &format!("set shop-api {version}")]);
    let commit = git(repo, &["rev-parse", "HEAD"]).trim().to_string();
    git(repo, &["checkout", "--quiet", "main"]);
    commit
}

#[test]
fn env_branches_guard_refuses_a_hand_edit_and_a_forged_record_on_an_environment_branch() {
    let (_dir, repo) = local_repo();
    let hydrated = git(&repo, &["rev-parse", "environment/prod"]).trim().to_string();
    // Without --push, in a checkout of main: the commits land on the environment branches
    // without touching main's work tree.
    assert_eq!(promote(&repo, &["--to", "dev", "--version", "1.4.2"]).code, 0);
    let run = promote(&repo, &["--to", "prod", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let promoted = git(&repo, &["rev-parse", "environment/prod"]).trim().to_string();
    assert!(run.stdout.contains(&format!("allowed: committed {} on environment/prod", &promoted[..12])), "{}", run.stdout);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    let guard = |range: &str, branch: &str| tollgate_in(&repo, &["verify", range, "--branch", branch, "-o", "json"]);
    let run = guard(&format!("{hydrated}..{promoted}"), "environment/prod");
    assert_eq!(run.code, 0, "tollgate's own promotion passes the guard: {}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\"unsigned\""), "{}", run.stdout);

    // A hand edit on the environment branch is refused, judged by main's rules.
    let hand = hand_commit(&repo, "environment/prod", "6.6.6", &[]);
    let run = guard(&format!("{promoted}..{hand}"), "environment/prod");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("changes shop-api/manifest.yaml (shop-api in prod) without a decision record"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["status", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let prod = status.to_string();
    assert!(prod.contains("\"6.6.6\"") && prod.contains("unrecorded"), "{status}");

    // A forged record: the real one carried into a plain commit that sets 9.9.9, under a new id.
    let real = record_at(&repo, &promoted).to_string();
    let id = record_at(&repo, &promoted)["transition"]["id"].as_str().unwrap().to_string();
    // Another last hex digit, so the forged id always differs (an id ending in 0 kept it).
    let forged_id = format!("{}{}", &id[..id.len() - 1], if id.ends_with('0') { '1' } else { '0' });
    let forged = real.replace("1.4.2", "9.9.9").replace(&id, &forged_id);
    let forged_path = format!(".tollgate/decisions/shop-api/prod/{forged_id}.decision");
    let forgery = hand_commit(&repo, "environment/prod", "9.9.9", &[(&forged_path, &forged)]);
    let run = guard(&format!("{hand}..{forgery}"), "environment/prod");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&repo, &["history", "--app", "shop-api", "--env", "prod", "-o", "json"]);
    let history: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let entry = history["promotions"].as_array().unwrap().iter().find(|entry| entry["commit"] == forgery.as_str()).cloned().unwrap_or_else(|| panic!("{history}"));
    assert_eq!((entry["counts"].as_bool(), entry["trust"]["status"].as_str()), (Some(false), Some("unrecorded")), "{entry}");
    let run = tollgate_in(&repo, &["status", "-o", "json"]);
    assert!(!run.stdout.contains(&forgery), "the forged record is not what prod is attributed to: {}", run.stdout);

    // The branch guard on main leaves a file configured on another branch alone: the same path
    // on main is no environment's file.
    let main_before = git(&repo, &["rev-parse", "main"]).trim().to_string();
    let on_main = hand_commit(&repo, "main", "7.7.7", &[]);
    let run = guard(&format!("{main_before}..{on_main}"), "main");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\"unrelated\""), "{}", run.stdout);
}

#[test]
fn env_branches_a_remote_environment_branch_that_keeps_moving_ends_in_exit_4_with_nothing_changed() {
    let (dir, remote, promoter) = remote_and_clone();
    // Another promoter's clone moves environment/dev on the remote before every push.
    let other = dir.path().join("other").to_str().unwrap().to_string();
    clone_remote(&remote, &other, false);
    git(&other, &["checkout", "--quiet", "environment/dev"]);
    let marker = Path::new(&promoter).join(".git/race-count");
    let hook = Path::new(&promoter).join(".git/hooks/pre-push");
    let script = format!(
        "#!/bin/sh\necho x >> {marker}\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n\
         git -C {other} -c user.name=o -c user.email=o@example.com commit --quiet --allow-empty -m \"someone else's change $(date +%s%N)\"\n\
         git -C {other} push --quiet origin environment/dev\n",
        marker = marker.display()
    );
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = snapshot(&promoter);

    let run = promote(&promoter, &["--to", "dev", "--version", "1.4.2", "--push"]);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("rejected the push of environment/dev 4 times (the branch keeps moving)"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 4, "the remote moved before each of the 4 pushes");
    assert!(!git(&remote, &["log", "--format=%s", "environment/dev"]).contains("promote shop-api"), "nothing was published");
    let local = git(&promoter, &["log", "-1", "--format=%s", "environment/dev"]);
    assert!(!local.starts_with("promote"), "no unpublished promotion is left locally: {local}");
    assert_eq!(git(&promoter, &["rev-parse", "main"]), git(&remote, &["rev-parse", "main"]));
    assert_eq!(git(&promoter, &["status", "--porcelain"]), "");
    assert!(before.contains("refs/heads/main"), "{before}");
}

#[test]
fn env_branches_serve_promote_lands_on_the_environment_branch_and_history_and_status_show_it() {
    let (dir, source) = local_repo();
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", "--bare", &source, &remote]);
    let mirror = dir.path().join("mirror");
    let server = Server::start(
        &format!("file://{remote}"),
        &[],
        &["--token-file", &token_file(dir.path()), "--mirror-dir", mirror.to_str().unwrap(), "--allow-promote", "--fetch-interval", "1h"],
    );
    let main_before = git(&remote, &["rev-parse", "main"]);
    let answer = server.call("POST", "/v1/promote", Some(r#"{"app": "shop-api", "to": "dev", "version": "1.4.2", "actor": "alice"}"#));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let document = answer.json();
    assert_eq!(document["decision"], "allow", "{document}");
    let committed = document["committed"].as_str().unwrap().to_string();
    assert_eq!(document["pushed"]["branch"], "environment/dev", "{document}");
    assert_eq!(git(&remote, &["rev-parse", "environment/dev"]).trim(), committed);
    assert_eq!(git(&remote, &["rev-parse", "main"]), main_before);
    let run = tollgate_in(&remote, &["verify", &committed]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let history = server.call("GET", "/v1/history?app=shop-api&env=dev", None);
    assert_eq!(history.status, 200, "{}", history.body);
    assert!(history.body.contains(&committed), "{}", history.body);
    let status = server.call("GET", "/v1/status", None);
    assert_eq!(status.status, 200, "{}", status.body);
    assert!(status.body.contains(&committed) && status.body.contains("\"1.4.2\""), "{}", status.body);
}

/// An erp-readiness endpoint on 127.0.0.1 that moves environment/dev in `repo` by a commit of
/// someone else's before every answer. Returns its origin and how many times it moved it.
fn endpoint_that_moves_dev(repo: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let moves = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (repo, counted) = (repo.to_string(), moves.clone());
    let origin = crate::promotion::ready_endpoint(move |index| {
        let message = format!("someone else's change {index}");
        let moved = git(&repo, &["commit-tree", "environment/dev^{tree}", "-p", "environment/dev", "-m", &message]);
        git(&repo, &["update-ref", "refs/heads/environment/dev", moved.trim()]);
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    (origin, moves)
}

#[test]
fn env_branches_a_local_environment_branch_that_moves_during_every_decision_gives_up_with_exit_4() {
    let (_dir, repo) = local_repo();
    let (origin, moves) = endpoint_that_moves_dev(&repo);
    let config = format!(
        "{CONFIG}  - plugin: builtin:erp-readiness\n    environments: [dev]\n    timeout_ms: 60000\n    http_origins: ['{origin}']\n    \
         config: {{ environments: {{ dev: {{ endpoint: {{ url: '{origin}/ready' }} }} }} }}\n"
    );
    std::fs::write(Path::new(&repo).join("tollgate.yaml"), config).unwrap();
    git(&repo, &["commit", "--quiet", "-am", "gate dev on ERP readiness"]);
    let main_before = git(&repo, &["rev-parse", "main"]);

    let run = promote(&repo, &["--to", "dev", "--version", "1.4.2"]);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("gave up after 3 attempts (re-planned and re-ran the policies each time)"), "{}", run.stderr);
    assert_eq!(moves.load(std::sync::atomic::Ordering::SeqCst), 3, "environment/dev moved during each of the 3 decisions");
    assert_eq!(git(&repo, &["log", "-1", "--format=%s", "environment/dev"]).trim(), "someone else's change 2");
    assert!(!git(&repo, &["log", "--format=%s", "environment/dev"]).contains("promote shop-api"), "nothing was committed");
    assert_eq!(git(&repo, &["rev-parse", "main"]), main_before);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn env_branches_history_lists_the_others_while_an_environment_branch_is_not_created_yet() {
    let (dir, repo) = committed_repo(&[("tollgate.yaml".into(), CONFIG.into())]);
    commit_on_branch(&repo, "environment/dev", None, "1.4.1");
    assert_eq!(promote(&repo, &["--to", "dev", "--version", "1.4.2"]).code, 0);
    let run = tollgate_in(&repo, &["history", "-o", "json"]);
    assert_eq!(run.code, 0, "environment/prod does not exist yet: {}{}", run.stdout, run.stderr);
    let history: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(history["promotions"][0]["version"], "1.4.2", "{history}");
    drop(dir);
}

#[test]
fn env_branches_a_signed_promotion_on_an_environment_branch_is_verified_by_mains_signers_and_an_unsigned_copy_is_untrusted() {
    let keys = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = crate::trust::keygen(keys.path(), "alice", "ed25519");
    let trust = "trust:\n  allowed_signers: .tollgate/allowed_signers\n  promoters: [alice]\n  environments:\n    prod: { signed_commits: true }\n";
    let (_dir, repo) = committed_repo(&[
        ("tollgate.yaml".into(), format!("{CONFIG}{trust}")),
        (".tollgate/allowed_signers".into(), format!("alice namespaces=\"git\" {alice_pub}\n")),
    ]);
    commit_on_branch(&repo, "environment/dev", None, "1.4.1");
    commit_on_branch(&repo, "environment/prod", None, "1.4.0");
    assert_eq!(promote(&repo, &["--to", "dev", "--version", "1.4.2"]).code, 0);

    // The signing rule of main's configuration holds for prod on its own branch.
    let before = snapshot(&repo);
    let run = promote(&repo, &["--to", "prod", "--approval", "bob"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("promotions into prod must be signed commits"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before);
    git(&repo, &["config", "gpg.format", "ssh"]);
    git(&repo, &["config", "user.signingKey", alice_key.to_str().unwrap()]);
    git(&repo, &["config", "commit.gpgsign", "true"]);
    let run = promote(&repo, &["--to", "prod", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let signed = git(&repo, &["rev-parse", "environment/prod"]).trim().to_string();
    let run = tollgate_in(&repo, &["verify", &signed]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("commit signature: good signature by alice (key SHA256:"), "{}", run.stdout);
    let status = tollgate_in(&repo, &["status", "-o", "json"]).stdout;
    assert!(status.contains("\"verified\""), "{status}");

    // The same promotion recommitted without a signature on environment/prod does not count.
    git(&repo, &["checkout", "--quiet", "environment/prod"]);
    git(&repo, &["reset", "-q", "--soft", "HEAD~1"]);
    git(&repo, &["-c", "commit.gpgsign=false", "commit", "-q", "-C", &signed]);
    let unsigned = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    git(&repo, &["checkout", "--quiet", "main"]);
    let run = tollgate_in(&repo, &["verify", &unsigned]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("UNTRUSTED: prod requires signed commits; not signed"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["verify", &format!("{unsigned}~1..{unsigned}"), "--branch", "environment/prod"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&repo, &["status"]);
    assert!(run.stdout.contains(&format!("UNTRUSTED: shop-api in prod arrived by {}", &unsigned[..12])), "{}", run.stdout);
}

#[test]
fn env_branches_serve_verify_judges_a_range_on_an_environment_branch_as_verify_branch_does() {
    let (dir, repo) = local_repo();
    let hydrated = git(&repo, &["rev-parse", "environment/prod"]).trim().to_string();
    assert_eq!(promote(&repo, &["--to", "dev", "--version", "1.4.2"]).code, 0);
    assert_eq!(promote(&repo, &["--to", "prod", "--approval", "bob"]).code, 0);
    let promoted = git(&repo, &["rev-parse", "environment/prod"]).trim().to_string();
    let hand = hand_commit(&repo, "environment/prod", "6.6.6", &[]);
    let server = Server::start(&repo, &[], &["--token-file", &token_file(dir.path())]);
    let cli = |range: &str| {
        let run = tollgate_in(&repo, &["verify", range, "--branch", "environment/prod", "-o", "json"]);
        (run.code, serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap_or_else(|_| panic!("{}{}", run.stdout, run.stderr)))
    };

    // tollgate's own promotion passes; the answer is the command's document.
    let range = format!("{hydrated}..{promoted}");
    let answer = server.call("GET", &format!("/v1/verify/{range}?branch=environment/prod"), None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let document = answer.json();
    assert_eq!(document["passes"], true, "{document}");
    assert_eq!(document["commits"][0]["verdict"], "unsigned", "{document}");
    assert_eq!((0, document), cli(&range));

    // A hand edit on the environment branch is refused by main's rules.
    let range = format!("{promoted}..{hand}");
    let answer = server.call("GET", &format!("/v1/verify/{range}?branch=environment/prod"), None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let document = answer.json();
    assert_eq!(document["passes"], false, "{document}");
    assert!(document.to_string().contains("changes shop-api/manifest.yaml (shop-api in prod) without a decision record"), "{document}");
    assert_eq!((1, document), cli(&range));

    // Without the branch, the environment branch's commit cannot be judged by rules it does
    // not carry: refused, with the hint to name the branch.
    let answer = server.call("GET", &format!("/v1/verify/{range}"), None);
    assert_eq!(answer.json()["passes"], false, "{}", answer.body);
    assert!(answer.body.contains("pass --branch NAME"), "{}", answer.body);

    // A bad branch, a branch without a range and an unknown query field are 400s.
    for (query, expected) in [
        (format!("{range}?branch=-x"), "branch: \\\"-x\\\" is not a valid"),
        (format!("{hand}?branch=environment/prod"), "branch goes with a range BASE..HEAD"),
        (format!("{range}?brnach=environment/prod"), "unknown field"),
    ] {
        let answer = server.call("GET", &format!("/v1/verify/{query}"), None);
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
        assert!(answer.body.contains(expected), "{query}: {}", answer.body);
    }
}
