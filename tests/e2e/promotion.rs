//! The promotion engine on real Git repositories: status, plan, promote, rollback,
//! history, verify, branches, bare repositories, conflicts and failures.

use crate::support::{git, git_dir_bytes, gitops_repo, plugin, promote_to_test, record_at, repo_path, snapshot, tollgate, tollgate_in, write};

const TUESDAY: &str = "2026-01-06T10:30:00+01:00";
const FRIDAY_EVENING: &str = "2026-01-09T17:30:00+01:00";

fn prod_args(at: &str) -> Vec<&str> {
    vec!["shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "--at", at]
}

#[test]
fn status_reads_every_app_and_environment_from_git() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let run = tollgate_in(&repo, &["status", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(status["environments"], serde_json::json!(["dev", "test", "prod"]));
    assert_eq!(status["applications"][0]["app"], "shop-api");
    assert_eq!(status["applications"][0]["environments"]["prod"]["version"], "1.4.1");
    assert_eq!(status["applications"][1]["environments"]["dev"]["version"], "2.0.0");

    promote_to_test(&repo);
    let run = tollgate_in(&repo, &["status"]);
    assert!(run.stdout.contains("  test       1.4.2        sha256:abababab since "), "{}", run.stdout);
    assert!(run.stdout.contains(" by alice (unsigned record)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  prod       1.4.1 "), "{}", run.stdout);
}

#[test]
fn a_denied_promotion_leaves_the_repository_byte_for_byte_unchanged() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    promote_to_test(&repo);
    let before = snapshot(&repo);
    let git_before = git_dir_bytes(&repo);
    let values_before = std::fs::read(dir.path().join("repo/envs/prod/shop-api/values.yaml")).unwrap();

    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("prod needs 2 approvals of 1.4.2; have none"), "{}", run.stdout);
    assert!(run.stdout.ends_with("denied by approval-count; nothing committed\n"), "{}", run.stdout);

    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "--at", FRIDAY_EVENING]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("prod changes are allowed Mon–Thu 09:00–16:00 Europe/Berlin; it is Friday 2026-01-09 17:30 CET"), "{}", run.stdout);

    assert_eq!(snapshot(&repo), before);
    assert_eq!(std::fs::read(dir.path().join("repo/envs/prod/shop-api/values.yaml")).unwrap(), values_before);
    // Nothing under .git either: no object written (not even an unreferenced one), the
    // index, refs and logs as they were.
    assert_eq!(git_dir_bytes(&repo), git_before);
}

#[test]
fn plan_shows_verdicts_and_the_exact_diff_without_committing() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    promote_to_test(&repo);
    let before = snapshot(&repo);
    let mut args = vec!["plan"];
    args.extend(prod_args(TUESDAY));
    let run = tollgate_in(&repo, &args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\n-  tag: \"1.4.1\"   # set by tollgate promotions\n"), "{}", run.stdout);
    assert!(run.stdout.contains("\n+  tag: \"1.4.2\"   # set by tollgate promotions\n"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("\n+  digest: sha256:{}\n", "ab".repeat(32))), "{}", run.stdout);
    assert!(run.stdout.ends_with("allowed: would commit (dry run: plan only)\n"), "{}", run.stdout);
    assert_eq!(snapshot(&repo), before);

    let mut args = vec!["plan", "-o", "json"];
    args.extend(prod_args(TUESDAY));
    let document: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &args).stdout).unwrap();
    assert_eq!(document["outcome"], "allowed");
    assert_eq!(document["transition"]["from_env"], "test");
    assert_eq!(document["transition"]["artifact"]["digest"], format!("sha256:{}", "ab".repeat(32)));
    assert_eq!(document["policies"].as_array().unwrap().len(), 4);
}

#[test]
fn an_allowed_promotion_commits_with_trailers_its_record_and_a_clean_worktree() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    promote_to_test(&repo);
    let mut args = vec!["promote"];
    args.extend(prod_args(TUESDAY));
    let run = tollgate_in(&repo, &args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("allowed: committed "), "{}", run.stdout);

    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(message.starts_with("promote shop-api 1.4.2 to prod (from test)\n\n"), "{message}");
    for trailer in [
        "Tollgate-App: shop-api",
        "Tollgate-From: test",
        "Tollgate-To: prod",
        "Tollgate-Version: 1.4.2",
        &format!("Tollgate-Digest: sha256:{}", "ab".repeat(32)),
        "Tollgate-Requested-By: alice",
        "Tollgate-Approved-By: bob",
        "Tollgate-Approved-By: carol",
    ] {
        assert!(message.contains(&format!("{trailer}\n")), "missing {trailer:?} in {message}");
    }
    let policy_trailers: Vec<&str> = message.lines().filter(|line| line.starts_with("Tollgate-Policy: ")).collect();
    assert_eq!(policy_trailers.len(), 4, "{message}");
    assert!(policy_trailers[0].starts_with("Tollgate-Policy: approval-count@0.1.0 sha256:") && policy_trailers[0].ends_with(" allow"));
    assert!(message.contains("Tollgate-Decision: tg-"), "{message}");
    assert_eq!(git(&repo, &["log", "-1", "--format=%an"]), "alice\n");

    let note = record_at(&repo, "HEAD");
    assert_eq!(note["transition"]["artifact"]["version"], "1.4.2");
    assert_eq!(note["policies"][1]["name"], "change-window");
    assert_eq!(note["policies"][1]["outcome"]["decision"], "allow");
    assert_eq!(note["policies"][1]["sha256"].as_str().unwrap().len(), 64);
    assert!(note["tollgate_version"].is_string());

    // Only the two scalars changed, in the commit and in the checked-out file.
    let diff = git(&repo, &["diff", "HEAD~1", "HEAD", "--unified=0", "--no-color", "--", "envs"]);
    let changed: Vec<&str> = diff.lines().filter(|line| line.starts_with('+') && !line.starts_with("+++")).collect();
    assert_eq!(changed, ["+  tag: \"1.4.2\"   # set by tollgate promotions", &format!("+  digest: sha256:{}", "ab".repeat(32))]);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "", "the worktree and index follow the commit");
}

#[test]
fn promoting_what_is_already_there_is_a_no_op() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let run = tollgate_in(&repo, &["promote", "shop-web", "--to", "test", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("shop-web already runs 2.0.0 in test; nothing to do"), "{}", run.stdout);
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
}

#[test]
fn pipeline_order_is_enforced() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let run = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod", "--from", "dev"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("dev is not an upstream of prod (its upstreams: test); a promotion takes its artifact from an upstream. To promote from dev anyway, allow it with allow_skip: [{from: dev, to: prod}] in tollgate.yaml"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["plan", "shop-api", "--to", "test", "--version", "9.9.9"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--version only applies to a root environment; test takes what is in dev (1.4.1), not 9.9.9"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["plan", "shop-api", "--to", "dev"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("dev is a root environment (no upstream): give the version to promote with --version"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["plan", "shop-cart", "--to", "dev"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown application shop-cart; tollgate.yaml configures shop-api, shop-web"), "{}", run.stderr);
}

#[test]
fn rollback_goes_back_with_a_forward_commit_and_history_and_verify_read_it() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    promote_to_test(&repo);
    let mut args = vec!["promote"];
    args.extend(prod_args(TUESDAY));
    assert_eq!(tollgate_in(&repo, &args).code, 0);
    let promotion = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

    let run = tollgate_in(&repo, &["rollback", "shop-api", "--env", "prod", "--actor", "dana", "--approval", "bob", "--approval", "carol", "--at", TUESDAY]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(message.starts_with("rollback shop-api in prod to 1.4.1 (was 1.4.2)\n"), "{message}");
    assert!(message.contains(&format!("Tollgate-Rollback-Of: {promotion}\n")), "{message}");
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]).trim(), promotion, "a rollback is a new commit on top");

    let history: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &["history", "--env", "prod", "-o", "json"]).stdout).unwrap();
    let promotions = history["promotions"].as_array().unwrap();
    assert_eq!(promotions.len(), 2);
    assert_eq!(promotions[0]["kind"], "rollback");
    assert_eq!(promotions[0]["version"], "1.4.1");
    assert_eq!(promotions[1]["approved_by"], serde_json::json!(["bob", "carol"]));
    let text = tollgate_in(&repo, &["history", "--app", "shop-api"]).stdout;
    assert_eq!(text.lines().filter(|line| !line.starts_with(' ')).count(), 4, "{text}");

    // A rollback only goes back to what ran there; anything else goes through the pipeline.
    let run = tollgate_in(&repo, &["rollback", "shop-api", "--env", "prod", "--to", "9.9.9", "--dry-run"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("9.9.9 never ran in prod according to the promotion history that counts (verified or unsigned promotions; known versions: 1.4.1, 1.4.2)"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["rollback", "shop-api", "--env", "prod", "--to", "1.4.2", "--dry-run", "-o", "json"]);
    assert_eq!(run.code, 1, "back to 1.4.2 needs approvals: {}{}", run.stdout, run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["transition"]["artifact"]["digest"], format!("sha256:{}", "ab".repeat(32)), "the digest comes from the history");

    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.ends_with("reproduced: the commit checks out and every verdict is identical\n"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["verify", &promotion, "-o", "json"]);
    assert_eq!(run.code, 0);

    // A tampered record does not reproduce (and no longer counts as a promotion).
    let files = git(&repo, &["show", "--name-only", "--format=", "HEAD"]);
    let record = dir.path().join("repo").join(files.lines().find(|line| line.ends_with(".decision")).unwrap());
    std::fs::write(&record, std::fs::read_to_string(&record).unwrap().replacen("\"decision\": \"allow\"", "\"decision\": \"deny\"", 1)).unwrap();
    git(&repo, &["commit", "--quiet", "--amend", "-a", "--no-edit"]);
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("DIFFERS"), "{}", run.stdout);
    assert!(run.stdout.contains("records an enforce-mode policy that did not allow it"), "{}", run.stdout);
    assert!(run.stdout.ends_with("not reproduced\n"), "{}", run.stdout);
}

#[test]
fn a_bare_repository_works_without_a_working_copy() {
    let dir = gitops_repo();
    let source = repo_path(&dir);
    let bare = dir.path().join("bare.git");
    let bare = bare.to_str().unwrap();
    git(&source, &["clone", "--bare", "--quiet", &source, bare]);
    promote_to_test(bare);
    let mut args = vec!["promote"];
    args.extend(prod_args(TUESDAY));
    let run = tollgate_in(bare, &args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(bare, &["show", "main:envs/prod/shop-api/values.yaml"]).lines().nth(4), Some("  tag: \"1.4.2\"   # set by tollgate promotions"));
}

#[test]
fn branch_option_commits_for_review_and_leaves_main_alone() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    promote_to_test(&repo);
    let main = git(&repo, &["rev-parse", "main"]);
    let mut args = vec!["promote", "--branch", "promote/shop-api-1.4.2"];
    args.extend(prod_args(TUESDAY));
    let run = tollgate_in(&repo, &args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["rev-parse", "main"]), main);
    assert_eq!(git(&repo, &["rev-parse", "promote/shop-api-1.4.2~1"]), main);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    let run = tollgate_in(&repo, &args);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("branch promote/shop-api-1.4.2 already exists"), "{}", run.stderr);
}

#[test]
fn uncommitted_changes_to_the_touched_file_refuse_the_promotion() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let file = dir.path().join("repo/envs/dev/shop-api/values.yaml");
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap() + "# local edit\n").unwrap();
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.5.0", "--no-digest"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("envs/dev/shop-api/values.yaml has uncommitted changes in the working tree; commit or stash them first"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn a_failing_policy_fails_closed_and_monitor_mode_never_blocks() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let hostile = plugin("hostile");
    let config = format!(
        "environments: [dev, test, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: {{ file: envs/dev/shop-api/values.yaml, helm: {{ tag_path: image.tag }} }}\npolicies:\n  - plugin: {}\n    timeout_ms: 300\n    config: {{ behaviour: spin }}\n",
        hostile.display()
    );
    let config_path = dir.path().join("failing.yaml");
    std::fs::write(&config_path, &config).unwrap();
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["--config", config_path.to_str().unwrap(), "promote", "shop-api", "--to", "dev", "--version", "1.5.0"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("failed: timed out after 300 ms"), "{}", run.stdout);
    assert!(run.stdout.contains("failed closed: hostile could not decide; nothing committed"), "{}", run.stdout);
    assert_eq!(snapshot(&repo), before);

    std::fs::write(&config_path, config.replace("    timeout_ms: 300\n", "    timeout_ms: 300\n    mode: monitor\n")).unwrap();
    let run = tollgate_in(&repo, &["--config", config_path.to_str().unwrap(), "promote", "shop-api", "--to", "dev", "--version", "1.5.0"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains(" monitor-error\n"));
}

#[test]
fn configuration_errors_name_file_line_and_field() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let config_path = dir.path().join("bad.yaml");
    std::fs::write(&config_path, "environments: [dev]\napplications:\n  api:\n    image: x\n    environments:\n      dev: { file: a.yaml, helm: { tag_path: image.tag } }\npolicies:\n  - plugin: builtin:change-window\n    mode: enforcing\n").unwrap();
    let run = tollgate_in(&repo, &["--config", config_path.to_str().unwrap(), "status"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad.yaml:9:11: policies[0].mode: unknown variant `enforcing`, expected `enforce` or `monitor`"), "{}", run.stderr);

    let run = tollgate(&["--repo", dir.path().to_str().unwrap(), "status"]);
    assert_eq!(run.code, 2, "a directory that is not a repository: {}", run.stderr);
}

#[test]
fn the_demo_tells_the_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("shop");
    let run = tollgate(&["demo", target.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for expected in [
        "denied by approval-count; nothing committed",
        "denied by change-window; nothing committed",
        "rollback shop-api in prod to 1.4.1",
        "reproduced: the commit checks out and every verdict is identical",
        "prod requires signed approvals (trust.environments.prod.signed_approvals)",
        "approved shop-api 1.4.2 (sha256:9a8b",
        "into prod as carol (key SHA256:",
        "signed approvals: 2 re-verified",
        &format!("The repository is at {}", target.display()),
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?} in\n{}", run.stdout);
    }
    // dev, test, prod, the rollback, and prod again with signed approvals.
    assert_eq!(run.stdout.matches("allowed: committed ").count(), 5, "{}", run.stdout);
}

#[test]
fn a_branch_that_moves_between_plan_and_commit_is_replanned_and_the_other_update_kept() {
    use tollgate::promotion::commit::{commit_plan, signature};
    use tollgate::promotion::journal::CommitError;
    use tollgate::promotion::pipeline::decision_record;
    use tollgate::promotion::journal::PromotionLock;
    use tollgate::promotion::workspace::Workspace;
    use tollgate::promotion::request::PlanRequest;

    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let runtime = tollgate::runtime::Runtime::new(Some(&crate::support::shared_cache())).unwrap();
    let workspace = Workspace::open(std::path::Path::new(&repo), None, None, runtime).unwrap();
    let request = PlanRequest {
        app: "shop-api".into(),
        to_env: "dev".into(),
        version: Some("1.5.0".into()),
        no_digest: true,
        actor: "alice".into(),
        at: 1_767_607_200,
        ..PlanRequest::default()
    };
    let stale = workspace.decide(&request).unwrap();

    // Someone else commits to main meanwhile.
    std::fs::write(dir.path().join("repo/README.md"), "# shop GitOps\n\nEdited concurrently.\n").unwrap();
    git(&repo, &["commit", "--quiet", "-am", "concurrent edit"]);
    let other = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

    // The stale plan cannot be committed: the compare-and-swap on the old tip fails.
    let author = signature(&workspace.repo, Some(&"alice".into())).unwrap();
    let record = decision_record(&stale.plan, &stale.gate);
    let error = {
        let mut lock = PromotionLock::acquire(&workspace.repo).unwrap();
        commit_plan(&workspace.repo, &mut lock, false, "main", None, &stale.plan, &record, &author).unwrap_err()
    };
    assert!(matches!(&error, CommitError::Conflict(message) if message.contains("main moved")), "{error:?}");
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]).trim(), other, "nothing was lost or overwritten");

    // promote re-plans on the new tip, re-runs the policies and lands on top of it.
    let promoted = workspace.promote(&request, None, None).unwrap();
    let commit = promoted.commit.clone().expect("allowed and committed");
    assert_eq!(promoted.single().unwrap().plan.base.commit.to_string(), other);
    assert_eq!(git(&repo, &["rev-parse", &format!("{commit}~1")]).trim(), other);
    assert_eq!(git(&repo, &["show", "HEAD:README.md"]), "# shop GitOps\n\nEdited concurrently.\n");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}

/// A readiness endpoint on 127.0.0.1 that, while the gate waits for its answer, lets someone
/// else commit to `repo`'s main (the first `moves` requests; every request when `None`).
/// The policy's timeout is a minute: a `git commit` on a loaded machine can take seconds.
fn endpoint_that_moves_main(repo: &str, moves: Option<usize>) -> String {
    let repo = repo.to_string();
    ready_endpoint(move |index| {
        if moves.is_none_or(|moves| index < moves) {
            git(&repo, &["commit", "--quiet", "--allow-empty", "-m", &format!("someone else's change {index}")]);
        }
    })
}

/// An erp-readiness endpoint on 127.0.0.1 answering "ready" to every request, after running
/// `before_answer` with the request's number (from 0). Returns its origin.
pub(crate) fn ready_endpoint(before_answer: impl Fn(usize) + Send + 'static) -> String {
    use std::io::{BufRead, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                line.clear();
            }
            before_answer(index);
            let body = r#"{"status": "ready"}"#;
            let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    origin
}

fn repo_gated_by(origin_of: impl FnOnce(&str) -> String) -> (tempfile::TempDir, String) {
    let (dir, repo) = crate::record::plain_repo();
    let origin = origin_of(&repo);
    let config = format!(
        "{}policies:\n  - plugin: builtin:erp-readiness\n    timeout_ms: 60000\n    http_origins: ['{origin}']\n    config: {{ default: {{ endpoint: {{ url: '{origin}/ready' }} }} }}\n",
        crate::record::PLAIN_CONFIG
    );
    write(std::path::Path::new(&repo), "tollgate.yaml", &config);
    git(&repo, &["commit", "--quiet", "-am", "gate on ERP readiness"]);
    (dir, repo)
}

/// Regression for issue 14, item 1: the branch really moves while the policies decide, so
/// the engine's own retry loop runs.
#[test]
fn a_branch_that_moves_during_the_decision_is_replanned_by_the_engine() {
    let (_dir, repo) = repo_gated_by(|repo| endpoint_that_moves_main(repo, Some(1)));
    let run = tollgate_in(&repo, &["promote", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let log = git(&repo, &["log", "--format=%s", "-3"]);
    let subjects: Vec<&str> = log.lines().collect();
    assert_eq!(subjects[0], "promote api 1.1.0 to dev", "{log}");
    assert_eq!(subjects[1], "someone else's change 0", "the other change is kept under the re-planned promotion: {log}");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn a_branch_that_moves_during_every_decision_gives_up_with_exit_4() {
    let (_dir, repo) = repo_gated_by(|repo| endpoint_that_moves_main(repo, None));
    let run = tollgate_in(&repo, &["promote", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("gave up after 3 attempts (re-planned and re-ran the policies each time)"), "{}", run.stderr);
    assert_eq!(git(&repo, &["log", "--format=%s", "-1"]).trim(), "someone else's change 2");
    assert!(!git(&repo, &["log", "--format=%s"]).contains("promote api"));
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}
