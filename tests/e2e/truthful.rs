//! Regression tests for "nothing the gate says is false": each test is named after the item
//! it fixes (`item_NN_…`), and fails on the code before the fix.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{committed_repo, git, tollgate_in};

/// A fresh ed25519 key pair for `name`: (private key path, public key line).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("id_{name}"));
    let status = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"]).arg(&path).status().expect("ssh-keygen runs");
    assert!(status.success());
    (path.clone(), std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_string())
}

/// Make `repo` sign its commits with `key` in Git's own SSH format.
fn sign_with(repo: &str, key: &Path) {
    git(repo, &["config", "gpg.format", "ssh"]);
    git(repo, &["config", "user.signingKey", key.to_str().unwrap()]);
    git(repo, &["config", "commit.gpgsign", "true"]);
}

fn json(run: &crate::support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}{}", run.stdout, run.stderr))
}

/// A repository with `shop-api` (Helm values) in each of `versions` (environment, version),
/// the environments a chain in that order, and `policies` (YAML list items, may be empty).
fn chain_repo(versions: &[(&str, &str)], policies: &str) -> (tempfile::TempDir, String) {
    chain_repo_with(versions, policies, "", &[])
}

/// [`chain_repo`] with `extra` top-level configuration and extra files.
fn chain_repo_with(versions: &[(&str, &str)], policies: &str, extra: &str, extra_files: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let envs: Vec<&str> = versions.iter().map(|(env, _)| *env).collect();
    let mut config = format!("environments: [{}]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n", envs.join(", "));
    for env in &envs {
        config.push_str(&format!("      {env}: {{ file: envs/{env}/values.yaml, helm: {{ tag_path: image.tag }} }}\n"));
    }
    config.push_str(&format!("policies:\n{policies}{extra}"));
    let mut files = vec![("tollgate.yaml".to_string(), config)];
    files.extend(extra_files.iter().map(|(path, content)| (path.to_string(), content.to_string())));
    for (env, version) in versions {
        files.push((format!("envs/{env}/values.yaml"), format!("image:\n  repository: registry.example.com/shop/api\n  tag: \"{version}\"\n")));
    }
    committed_repo(&files)
}

#[test]
fn item_05_status_says_ahead_or_differs_where_an_environment_is_not_behind() {
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("test", "1.3.0"), ("prod", "build-7")], "  []\n");
    let status = tollgate_in(&repo, &["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let row = |env: &str| status.stdout.lines().find(|line| line.trim_start().starts_with(env)).unwrap_or_default().to_string();
    assert!(row("test").contains("[ahead of dev: 1.2.0]"), "{}", status.stdout);
    assert!(!status.stdout.contains("[behind dev"), "{}", status.stdout);
    assert!(row("prod").contains("[differs from test: 1.3.0]"), "{}", status.stdout);

    let json: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &["status", "-o", "json"]).stdout).unwrap();
    let standings: Vec<(String, String)> = json["lagging"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lag| (lag["environment"].as_str().unwrap().to_string(), lag["standing"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(standings, [("test".to_string(), "ahead".to_string()), ("prod".to_string(), "differs".to_string())]);

    // A release train agrees: test runs a later version than dev offers, so there is nothing to do.
    let train = tollgate_in(&repo, &["plan", "--all", "--to", "test"]);
    assert_eq!(train.code, 0, "{}{}", train.stdout, train.stderr);
    assert!(train.stdout.contains("shop-api runs 1.3.0 in test, newer than 1.2.0 in dev; nothing to do"), "{}", train.stdout);
    assert_eq!(git(&repo, &["rev-list", "--count", "HEAD"]).trim(), "1");
}

#[test]
fn item_11_an_e_mail_actor_is_the_authors_address_as_it_is() {
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], "  []\n");
    let promoted = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "bob@example.com"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert_eq!(git(&repo, &["log", "-1", "--format=%an <%ae>"]).trim(), "bob@example.com <bob@example.com>");
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains("Tollgate-Requested-By: bob@example.com\n"));
}

#[test]
fn item_04_history_lists_the_hand_edit_that_status_reports() {
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], "  []\n");
    let promoted = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let file = Path::new(&repo).join("envs/prod/values.yaml");
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("1.2.0", "9.9.9")).unwrap();
    git(&repo, &["commit", "-q", "-am", "hotfix prod by hand"]);
    let edit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

    let status = tollgate_in(&repo, &["status"]).stdout;
    assert!(status.contains("UNRECORDED CHANGE"), "{status}");
    for args in [vec!["history"], vec!["history", "--env", "prod"], vec!["history", "--app", "shop-api"]] {
        let history = tollgate_in(&repo, &args).stdout;
        let entry = history.split(&format!("{}  ", &edit[..12])).nth(1).unwrap_or_else(|| panic!("{args:?} does not list {edit}: {history}"));
        assert!(entry.contains("9.9.9"), "{entry}");
        assert!(entry.contains("UNRECORDED CHANGE: not a verified tollgate promotion: envs/prod/values.yaml was changed without a decision record (a hand edit"), "{entry}");
    }
    let history = json(&tollgate_in(&repo, &["history", "-o", "json"]));
    let newest = &history["promotions"][0];
    assert_eq!((newest["commit"].as_str(), newest["version"].as_str(), newest["to"].as_str()), (Some(edit.as_str()), Some("9.9.9"), Some("prod")), "{history}");
    assert_eq!((&newest["trust"]["status"], &newest["counts"], &newest["verified"]), (&"unrecorded".into(), &false.into(), &false.into()));
}

/// A repository whose allowed signers list alice (commits and approvals) and whose trust
/// section has `trust` (YAML lines under `trust:`); alice signs the checkout's commits.
fn signing_repo(versions: &[(&str, &str)], policies: &str, trust: &str) -> (tempfile::TempDir, String, PathBuf) {
    let keys = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = keygen(keys.path(), "alice");
    let signers = format!("alice namespaces=\"git,tollgate-approval\" {alice_pub}\n");
    let extra = format!("trust:\n  allowed_signers: .tollgate/allowed_signers\n{trust}");
    let (dir, repo) = chain_repo_with(versions, policies, &extra, &[(".tollgate/allowed_signers", &signers)]);
    let kept = dir.path().join("alice");
    std::fs::copy(&alice, &kept).unwrap();
    std::fs::copy(alice.with_extension("pub"), kept.with_extension("pub")).unwrap();
    (dir, repo, kept)
}

#[test]
fn item_06_a_rule_added_later_does_not_judge_earlier_promotions() {
    let (_dir, repo, _alice) = signing_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], "  []\n", "");
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"]).code, 0);
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.3.0", "--actor", "alice"]).code, 0);
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"]).code, 0);
    // prod now requires signed promotion commits; the earlier ones were made under the old rules.
    let config = Path::new(&repo).join("tollgate.yaml");
    let text = std::fs::read_to_string(&config).unwrap() + "  environments:\n    prod: { signed_commits: true }\n";
    std::fs::write(&config, text).unwrap();
    git(&repo, &["commit", "-q", "-am", "prod requires signed promotion commits"]);
    let change = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

    let history = tollgate_in(&repo, &["history"]).stdout;
    assert!(!history.contains("UNTRUSTED"), "{history}");
    assert_eq!(history.matches("unsigned record (not signed)").count(), 3, "{history}");
    assert!(history.contains(&format!("{}  ", &change[..12])) && history.contains("configuration change: tollgate.yaml by platform@example.com (not signed)"), "{history}");
    let status = tollgate_in(&repo, &["status"]).stdout;
    assert!(!status.contains("UNTRUSTED") && status.contains("by alice (unsigned record)"), "{status}");
    let rollback = tollgate_in(&repo, &["rollback", "shop-api", "--env", "prod", "--actor", "alice", "--dry-run"]);
    assert_eq!(rollback.code, 0, "{}{}", rollback.stdout, rollback.stderr);
    assert!(rollback.stdout.contains("rollback shop-api in prod to 1.2.0"), "{}", rollback.stdout);
}

#[test]
fn item_07_a_record_in_a_plain_commit_is_an_unsigned_claim_and_a_replay_fails_verify() {
    let (dir, repo, alice) = signing_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], "  []\n", "  promoters: [alice]\n");
    sign_with(&repo, &alice);
    let promoted = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let genuine = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let history = tollgate_in(&repo, &["history"]).stdout;
    assert!(history.contains("verified: signed by promoter alice"), "{history}");

    // mallory promotes in a clone of her own (unsigned) and brings the commit over with git alone.
    let clone = dir.path().join("mallory").to_str().unwrap().to_string();
    git(&repo, &["clone", "-q", &repo, &clone]);
    git(&clone, &["config", "commit.gpgsign", "false"]);
    assert_eq!(tollgate_in(&clone, &["promote", "shop-api", "--to", "dev", "--version", "1.3.0", "--actor", "mallory", "--approval", "bob", "--approval", "carol"]).code, 0);
    git(&repo, &["-c", "commit.gpgsign=false", "pull", "-q", "--ff-only", &clone, "main"]);
    let forged = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let history = json(&tollgate_in(&repo, &["history", "-o", "json"]));
    let entry = &history["promotions"][0];
    assert_eq!(entry["commit"], forged.as_str());
    assert_eq!((&entry["trust"]["status"], &entry["verified"], &entry["counts"]), (&"unsigned".into(), &false.into(), &true.into()), "{entry}");
    let text = tollgate_in(&repo, &["history"]).stdout;
    let forged_entry = text.split(&format!("{}  ", &forged[..12])).nth(1).unwrap();
    assert!(forged_entry.lines().nth(1).unwrap().contains("unsigned record (not signed): a claim anyone with push access could have written"), "{text}");
    let status = tollgate_in(&repo, &["status"]).stdout;
    assert!(status.contains("by mallory (unsigned record)"), "{status}");
    assert!(tollgate_in(&repo, &["verify", &genuine]).stdout.contains("verified: signed by promoter alice"));

    // A replay: the genuine record, carried onto a later commit that sets prod back (new id and
    // base, the old decision time), self-consistent, committed by hand.
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"]).code, 0);
    let record_path = git(&repo, &["show", "--name-only", "--format=", &genuine]).lines().find(|l| l.ends_with(".decision")).unwrap().to_string();
    let mut record: serde_json::Value = serde_json::from_str(&git(&repo, &["show", &format!("{genuine}:{record_path}")])).unwrap();
    let file = Path::new(&repo).join("envs/prod/values.yaml");
    let now = std::fs::read_to_string(&file).unwrap();
    let back = now.replace("1.3.0", "1.2.0");
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    record["base_commit"] = head.as_str().into();
    record["transition"]["id"] = "tg-0123456789abcdef".into();
    record["transition"]["requested_at"] = (record["transition"]["requested_at"].as_i64().unwrap() - 7200).into();
    record["transition"]["previous_artifact"]["version"] = "1.3.0".into();
    record["transition"]["changes"][0]["before"] = now.as_str().into();
    record["transition"]["changes"][0]["after"] = back.as_str().into();
    std::fs::write(&file, &back).unwrap();
    let replayed = Path::new(&repo).join(".tollgate/decisions/shop-api/prod/tg-0123456789abcdef.decision");
    std::fs::write(&replayed, format!("{}\n", serde_json::to_string_pretty(&record).unwrap())).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "promote shop-api 1.2.0 to prod"]);
    let verify = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("a record carried over from another commit"), "{}", verify.stdout);
    assert!(verify.stdout.contains("takes 1.2.0 from dev, but at its base commit dev held 1.3.0"), "{}", verify.stdout);
}

#[test]
fn item_08_verify_checks_every_record_of_a_commit() {
    // A two-record commit (dev takes qa's 1.2.0, prod dev's 1.1.0) made where prod did not
    // require signed approvals ...
    let (dir, repo, _alice) = signing_repo(&[("qa", "1.2.0"), ("dev", "1.1.0"), ("prod", "1.0.0")], "  []\n", "");
    let clone = dir.path().join("elsewhere").to_str().unwrap().to_string();
    git(&repo, &["clone", "-q", &repo, &clone]);
    let promoted = tollgate_in(&clone, &["promote", "shop-api", "--to", "dev", "--to", "prod", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert_eq!(git(&clone, &["show", "--name-only", "--format=", "HEAD"]).matches(".decision").count(), 2);
    // ... lands where prod does: its typed approval must not pass as signed.
    let config = Path::new(&repo).join("tollgate.yaml");
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap() + "  environments:\n    prod: { signed_approvals: true }\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "prod requires signed approvals"]);
    git(&repo, &["fetch", "-q", &clone, "main"]);
    git(&repo, &["cherry-pick", "FETCH_HEAD"]);
    let verify = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("approval by bob is not signed, but prod requires signed approvals"), "{}", verify.stdout);
}

#[test]
fn item_12_verify_in_a_depth_1_clone_names_the_decision() {
    let (dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], "  []\n");
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"]).code, 0);
    let id = git(&repo, &["log", "-1", "--format=%(trailers:key=Tollgate-Decision,valueonly)"]).trim().to_string();
    assert!(id.starts_with("tg-"), "{id}");
    let clone = dir.path().join("shallow").to_str().unwrap().to_string();
    git(&repo, &["clone", "-q", "--depth", "1", &format!("file://{repo}"), &clone]);
    let verify = tollgate_in(&clone, &["verify", "HEAD"]);
    assert_eq!(verify.code, 1);
    assert!(verify.stdout.starts_with(&format!("verify {} (decision {id})\n", &git(&clone, &["rev-parse", "HEAD"])[..12])), "{}", verify.stdout);
}

#[test]
fn item_02_check_config_refuses_what_plan_refuses_and_names_the_working_tree_copy() {
    // The file names another image than tollgate.yaml configures: plan refuses, so must check-config.
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], "  []\n");
    let file = Path::new(&repo).join("envs/prod/values.yaml");
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("shop/api", "shop/other")).unwrap();
    git(&repo, &["commit", "-q", "-am", "prod runs another image"]);
    let plan = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    let check = tollgate_in(&repo, &["check-config"]);
    assert_eq!(check.code, 2, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("error: applications.shop-api.environments.prod.helm: envs/prod/values.yaml:3: the image repository in the file is registry.example.com/shop/other, but tollgate.yaml configures registry.example.com/shop/api for shop-api"),
        "{}",
        check.stdout
    );

    // Names Docker treats as one image are one image, for both.
    let (_dir, repo) = committed_repo(&[
        ("tollgate.yaml".to_string(), "environments: [dev, prod]\napplications:\n  app:\n    image: kostiscodefresh/simple-env-app\n    environments:\n      dev: { file: dev.yaml, helm: { tag_path: image.tag } }\n      prod: { file: prod.yaml, helm: { tag_path: image.tag } }\npolicies: []\n".to_string()),
        ("dev.yaml".to_string(), "image:\n  repository: docker.io/kostiscodefresh/simple-env-app\n  tag: \"2.0\"\n".to_string()),
        ("prod.yaml".to_string(), "image:\n  repository: index.docker.io/kostiscodefresh/simple-env-app\n  tag: \"1.0\"\n".to_string()),
    ]);
    assert_eq!(tollgate_in(&repo, &["check-config"]).code, 0);
    assert_eq!(tollgate_in(&repo, &["plan", "app", "--to", "prod"]).code, 0);

    // Editing tollgate.yaml in the working tree: check-config says which copy it checked.
    let config = Path::new(&repo).join("tollgate.yaml");
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap().replace("prod: { file: prod.yaml", "prod: { file: missing.yaml")).unwrap();
    let check = tollgate_in(&repo, &["check-config"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(check.stdout.contains("tollgate.yaml in the working tree differs from the one checked here (on branch main, which judges promotions); to check your edits, run: tollgate check-config --config"), "{}", check.stdout);
    let edits = tollgate_in(&repo, &["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(edits.code, 2, "{}", edits.stdout);
    assert!(edits.stdout.contains("missing.yaml does not exist"), "{}", edits.stdout);
}

/// A readiness endpoint on 127.0.0.1 whose answer the test switches: 0 ready, 1 degraded,
/// anything else closes the connection (the endpoint is gone). Returns its origin.
fn switchable_endpoint(state: std::sync::Arc<std::sync::atomic::AtomicU8>) -> String {
    use std::io::{BufRead, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                line.clear();
            }
            let body = match state.load(std::sync::atomic::Ordering::SeqCst) {
                0 => r#"{"status": "ready"}"#,
                1 => r#"{"status": "degraded", "message": "invoice sync lagging"}"#,
                _ => continue,
            };
            let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    origin
}

#[test]
fn item_09_verify_replays_what_the_policy_saw_and_asks_again_only_when_told() {
    let state = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    let origin = switchable_endpoint(state.clone());
    let policies = format!(
        "  - plugin: builtin:erp-readiness\n    environments: [prod]\n    http_origins: ['{origin}']\n    \
         config: {{ environments: {{ prod: {{ endpoint: {{ url: '{origin}/ready' }} }} }} }}\n"
    );
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], &policies);
    let promoted = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let record = crate::support::record_at(&repo, "HEAD");
    assert_eq!(record["schema_version"], 3);
    let seen = &record["policies"][0]["observations"][0];
    assert_eq!((seen["call"].as_str(), seen["status"].as_u64()), (Some("http-get"), Some(200)), "{record}");
    assert_eq!(seen["url"], format!("{origin}/ready"));
    assert_eq!(seen["kept"]["text"], r#"{"status": "ready"}"#);

    // The world changes: the endpoint degrades, then disappears. Offline, verify replays what
    // the policy saw; --live asks again and reports the difference as a changed world.
    for change in [1, 2] {
        state.store(change, std::sync::atomic::Ordering::SeqCst);
        let offline = tollgate_in(&repo, &["verify", "HEAD"]);
        assert_eq!(offline.code, 0, "{}{}", offline.stdout, offline.stderr);
        assert!(offline.stdout.contains("  same     erp-readiness\n"), "{}", offline.stdout);
        let live = tollgate_in(&repo, &["verify", "HEAD", "--live"]);
        assert_eq!(live.code, 1, "{}{}", live.stdout, live.stderr);
        assert!(live.stdout.contains("  DIFFERS  erp-readiness (re-run live)\n"), "{}", live.stdout);
    }
}

#[test]
fn item_09_an_answer_from_a_credentialed_origin_is_not_kept_and_not_replayed() {
    let state = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    let origin = switchable_endpoint(state);
    let policies = format!(
        "  - plugin: builtin:erp-readiness\n    environments: [prod]\n    http_origins: ['{origin}']\n    \
         credentials: {{ '{origin}': {{ bearer: {{ env: ITEM09_TOKEN }} }} }}\n    \
         config: {{ environments: {{ prod: {{ endpoint: {{ url: '{origin}/ready' }} }} }} }}\n"
    );
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], &policies);
    let token = "item-09-token-0123456789";
    let promoted = crate::support::tollgate_env(&crate::support::shared_cache(), &["--repo", &repo, "promote", "shop-api", "--to", "prod", "--actor", "alice"], &[("ITEM09_TOKEN", token)]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let record = crate::support::record_at(&repo, "HEAD");
    let seen = &record["policies"][0]["observations"][0];
    assert_eq!(seen["not_kept"], "the origin received a credential", "{record}");
    assert!(seen.get("kept").is_none());
    assert!(!record.to_string().contains(token));
    let offline = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(offline.code, 1, "{}{}", offline.stdout, offline.stderr);
    assert!(offline.stdout.contains("  NOT REPLAYED erp-readiness\n"), "{}", offline.stdout);
    assert!(offline.stdout.contains("not replayable offline: an answer it got was not kept"), "{}", offline.stdout);
    assert!(!offline.stdout.contains("DIFFERS") && !offline.stdout.contains("reproduced: "), "{}", offline.stdout);
}

#[test]
fn item_03_an_approval_no_policy_counted_is_never_written_as_approved_by() {
    let policies = "  - plugin: builtin:approval-count\n    environments: [prod]\n    config: { environments: { prod: { required: 2 } } }\n";
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], policies);
    let args = ["shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "--approval", "alice"];
    let plan = tollgate_in(&repo, &[&["plan"][..], &args].concat());
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("      counted approvals: bob, carol\n"), "{}", plan.stdout);
    let promoted = tollgate_in(&repo, &[&["promote"][..], &args].concat());
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Tollgate-Approved-By: bob\nTollgate-Approved-By: carol\n") && !message.contains("Tollgate-Approved-By: alice"), "{message}");
    assert!(message.contains("approved by bob, carol") && !message.contains("approved by bob, carol, alice"), "{message}");
    let record = crate::support::record_at(&repo, "HEAD");
    assert_eq!(record["policies"][0]["counted_approvals"], serde_json::json!(["bob", "carol"]));
    assert_eq!(record["transition"]["approvals"].as_array().unwrap().len(), 3, "the record keeps every approval presented");
    let history = json(&tollgate_in(&repo, &["history", "-o", "json"]));
    assert_eq!(history["promotions"][0]["approved_by"], serde_json::json!(["bob", "carol"]));
    assert_eq!(history["promotions"][0]["not_counted"], serde_json::json!(["alice"]));
    assert_eq!(tollgate_in(&repo, &["verify", "HEAD"]).code, 0);
}

#[test]
fn item_10_plugin_test_and_eval_grant_what_the_gate_grants_and_ask_info_first() {
    let dir = tempfile::tempdir().unwrap();
    // A plugin that declares no capabilities reads a file: refused in plugin test and eval as
    // in the gate.
    let undeclared = crate::support::plugin("undeclared");
    let cases = crate::support::write(
        dir.path(),
        "undeclared.yaml",
        "config: { path: f.txt }\nfiles: { f.txt: secret }\ncases:\n  - name: reads without asking\n    expect: deny\n    findings_contain: ['reading repository files is not available to this policy']\n",
    );
    let run = crate::support::tollgate(&["plugin", "test", undeclared.to_str().unwrap(), &cases]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("read 6 bytes"), "{}", run.stdout);
    let transition = crate::support::write(dir.path(), "t.yaml", "application: shop-api\n");
    let run = crate::support::tollgate(&["plugin", "eval", undeclared.to_str().unwrap(), "--policy-config", "{path: f.txt}", "--transition", &transition]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("reading repository files is not available to this policy"), "{}", run.stdout);

    // A component whose info() floods fails closed in plugin test, as it does in plan.
    let flood = crate::support::plugin("hostile-info");
    let cases = crate::support::write(dir.path(), "flood.yaml", "cases:\n  - name: anything\n    expect: allow\n");
    let run = crate::support::tollgate(&["plugin", "test", flood.to_str().unwrap(), &cases]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("got error: its info() failed: returned malformed output: 1000000 capabilities (limit 16)"), "{}", run.stdout);
}

#[test]
fn item_12_verbose_says_how_plan_and_check_config_got_each_plugins_code() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("image_policy.wasm");
    std::fs::copy(crate::support::plugin("image-policy"), &wasm).unwrap();
    let policies = format!(
        "  - plugin: {}\n    config: {{ allowed_registries: [registry.example.com/] }}\n  - plugin: builtin:approval-count\n    environments: [prod]\n    config: {{ environments: {{ prod: {{ required: 1 }} }} }}\n",
        wasm.display()
    );
    let (_repo_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], &policies);
    let cache = dir.path().join("cache");
    let run = |args: &[&str]| crate::support::tollgate_with_cache(&cache, &[&["--repo", &repo, "-v"][..], args].concat());
    let check = run(&["check-config"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(check.stderr.contains(&format!("tollgate: {}: compiled in ", wasm.display())), "{}", check.stderr);
    assert!(check.stderr.contains("tollgate: builtin:approval-count: loaded its build-time precompiled code in "), "{}", check.stderr);
    let plan = run(&["plan", "shop-api", "--to", "prod", "--approval", "bob"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains(&format!("tollgate: {}: loaded from the compile cache in ", wasm.display())), "{}", plan.stderr);
    assert_eq!(plan.stderr.matches("image_policy.wasm: ").count(), 1, "said once: {}", plan.stderr);
}
