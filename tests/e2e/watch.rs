//! `tollgate watch` end to end: an Argo CD API served on a loopback port from the fixtures in
//! tests/fixtures/argocd/ (first "progressing", then "healthy" at the promoted commit), Debian's
//! real `prometheus-alertmanager`, a real repository; the health record read back by `status`,
//! `history` and the branch guard from a fresh clone.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::deployment_health::{Alertmanager, fixture};
use crate::support::{Run, git, shared_cache, tollgate_env};

const TOKEN: &str = "watch-e2e-argocd-token-5d1c9e07";
/// The revision the Argo CD fixtures were captured at.
const FIXTURE_REVISION: &str = "8d3c1f0a9b7e6d5c4b3a29180f7e6d5c4b3a2918";

/// A loopback Argo CD answering `GET /api/v1/applications/shop-api-dev` (with `Bearer TOKEN`;
/// 401 without) with the queued answers, one per request, repeating the last (`{HEAD}` in an
/// answer is the tip of `main` in the repository `follow` names, as Argo CD syncs it); how
/// many requests it answered is kept.
struct FakeArgo {
    origin: String,
    answers: Arc<Mutex<(VecDeque<String>, usize)>>,
    follow: Arc<Mutex<Option<String>>>,
}

impl FakeArgo {
    fn start(answers: Vec<String>) -> FakeArgo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let answers = Arc::new(Mutex::new((VecDeque::from(answers), 0)));
        let follow: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let (shared, followed) = (answers.clone(), follow.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut request_line, mut line, mut authorized) = (String::new(), String::new(), false);
                let _ = reader.read_line(&mut request_line);
                while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                    authorized |= line.trim_end().eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}"));
                    line.clear();
                }
                let (status, body) = {
                    let mut state = shared.lock().unwrap();
                    state.1 += 1;
                    let mut answer = if state.0.len() > 1 { state.0.pop_front().unwrap() } else { state.0[0].clone() };
                    if let Some(repo) = followed.lock().unwrap().as_deref() {
                        answer = answer.replace("{HEAD}", git(repo, &["rev-parse", "refs/heads/main"]).trim());
                    }
                    match (authorized, request_line.split_whitespace().nth(1)) {
                        (false, _) => (401, fixture("unauthorized.json")),
                        (true, Some("/api/v1/applications/shop-api-dev")) => (200, answer),
                        _ => (404, fixture("not-found.json")),
                    }
                };
                let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            }
        });
        FakeArgo { origin, answers, follow }
    }

    fn requests(&self) -> usize {
        self.answers.lock().unwrap().1
    }
}

/// A real Alertmanager, a directory for the repository and a fake Argo CD with nothing queued yet.
fn servers() -> (Alertmanager, tempfile::TempDir, FakeArgo) {
    (Alertmanager::start(), tempfile::tempdir().unwrap(), FakeArgo::start(Vec::new()))
}

/// The `healthy.json` fixture, synced at `revision` (progressing: the `progressing.json` one).
fn argo_answer(name: &str, revision: &str) -> String {
    fixture(name).replace(FIXTURE_REVISION, revision)
}

/// A repository (dev → prod) whose shop-api was promoted to 1.4.2 in dev by tollgate, with a
/// `health:` section pointing at `argo` and `alertmanager`; returns the promotion commit.
fn repository(dir: &std::path::Path, argo: &str, alertmanager: &str) -> (String, String) {
    repository_with(dir, argo, alertmanager, &["1.4.2"], "[]")
}

/// The same, with each of `versions` promoted in turn (approved by bob) and `policies` (a YAML
/// flow list).
fn repository_with(dir: &std::path::Path, argo: &str, alertmanager: &str, versions: &[&str], policies: &str) -> (String, String) {
    let repo = dir.join("repo");
    for env in ["dev", "prod"] {
        std::fs::create_dir_all(repo.join(format!("envs/{env}"))).unwrap();
        std::fs::write(repo.join(format!("envs/{env}/values.yaml")), "image:\n  repository: registry.example.com/shop/api\n  tag: \"1.4.0\"\n").unwrap();
    }
    let config = format!(
        "environments: [dev, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: {{ file: envs/dev/values.yaml, helm: {{ tag_path: image.tag }} }}\n      prod: {{ file: envs/prod/values.yaml, helm: {{ tag_path: image.tag }} }}\n\
         health:\n  argocd: {{ url: '{argo}' }}\n  alertmanager: {{ url: '{alertmanager}' }}\n  credentials:\n    {argo}: {{ bearer: {{ env: ARGOCD_TOKEN }} }}\npolicies: {policies}\n"
    );
    std::fs::write(repo.join("tollgate.yaml"), config).unwrap();
    let repo = committed(&repo);
    for version in versions {
        let promoted = run(&repo, &["promote", "shop-api", "--to", "dev", "--version", version, "--actor", "alice", "--approval", "bob"]);
        assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    }
    let commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    (repo, commit)
}

/// `dir` made a repository on `main` whose one commit holds what is in it; its path.
fn committed(dir: &std::path::Path) -> String {
    let repo = dir.to_str().unwrap().to_string();
    assert!(Command::new("git").args(["init", "-q", "-b", "main", &repo]).status().unwrap().success());
    git(&repo, &["config", "user.name", "platform"]);
    git(&repo, &["config", "user.email", "p@example.com"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "desired state"]);
    repo
}

fn run(repo: &str, args: &[&str]) -> Run {
    let mut all = vec!["--repo", repo];
    all.extend_from_slice(args);
    tollgate_env(&shared_cache(), &all, &[("ARGOCD_TOKEN", TOKEN)])
}

fn watch(repo: &str, deadline: &str) -> Run {
    run(repo, &["watch", "shop-api", "--env", "dev", "--deadline", deadline, "--soak", "1s", "--interval", "50ms", "--actor", "watcher@example.com"])
}

/// `status` and `history` of a fresh clone of `repo`.
fn from_a_fresh_clone(repo: &str) -> (tempfile::TempDir, Run, Run) {
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    assert!(Command::new("git").args(["clone", "-q", repo, clone.to_str().unwrap()]).status().unwrap().success());
    let clone = clone.to_str().unwrap();
    let (status, history) = (run(clone, &["status"]), run(clone, &["history"]));
    (dir, status, history)
}

#[test]
fn watch_waits_through_progressing_records_healthy_and_status_shows_healthy_since() {
    let alertmanager = Alertmanager::start();
    // An alert of another application does not match.
    alertmanager.alert(r#"{"alertname": "HighErrorRate", "app": "shop-web", "env": "dev"}"#, None);
    let dir = tempfile::tempdir().unwrap();
    let argo = FakeArgo::start(Vec::new());
    let (repo, promotion) = repository(dir.path(), &argo.origin, &alertmanager.url);
    let progressing = argo_answer("progressing.json", FIXTURE_REVISION);
    let healthy = argo_answer("healthy.json", &promotion);
    *argo.answers.lock().unwrap() = (VecDeque::from([progressing.clone(), progressing, healthy]), 0);

    let watched = watch(&repo, "60s");
    assert_eq!(watched.code, 0, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("shop-api 1.4.2 in dev") && watched.stdout.contains(": healthy"), "{}", watched.stdout);
    // The window: it saw the rollout progressing before it saw it healthy.
    assert!(watched.stderr.contains("Progressing"), "{}", watched.stderr);
    assert!(argo.requests() >= 3);

    // Its own commit, touching only .tollgate/health/, with the trailers.
    let files = git(&repo, &["show", "--name-status", "--format=", "HEAD"]);
    assert_eq!(files.lines().count(), 1, "{files}");
    assert!(files.starts_with("A\t.tollgate/health/shop-api/dev/") && files.trim_end().ends_with(".health"), "{files}");
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Tollgate-Health: healthy") && message.contains(&format!("Tollgate-Health-Of: {promotion}")), "{message}");
    assert_eq!(git(&repo, &["log", "-1", "--format=%ae"]).trim(), "watcher@example.com");

    let (_clone, status, history) = from_a_fresh_clone(&repo);
    assert!(status.stdout.contains("[healthy since ") && status.stdout.contains(", soaked "), "{}", status.stdout);
    assert!(!status.stdout.contains("verified"), "{}", status.stdout);
    assert!(history.stdout.contains("health in dev") && history.stdout.contains("healthy (soaked"), "{}", history.stdout);
    let guard = run(&repo, &["verify", &format!("{promotion}..HEAD")]);
    assert_eq!(guard.code, 0, "{}{}", guard.stdout, guard.stderr);
    assert!(guard.stdout.contains("health"), "{}", guard.stdout);
}

#[test]
fn watch_fails_on_a_firing_alert_records_the_failure_and_status_shows_it() {
    let alertmanager = Alertmanager::start();
    alertmanager.alert(r#"{"alertname": "HighErrorRate", "app": "shop-api", "env": "dev", "severity": "critical"}"#, None);
    let dir = tempfile::tempdir().unwrap();
    let argo = FakeArgo::start(Vec::new());
    let (repo, promotion) = repository(dir.path(), &argo.origin, &alertmanager.url);
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("healthy.json", &promotion)]), 0);

    let watched = watch(&repo, "60s");
    assert_eq!(watched.code, 1, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("failed its health check: alert HighErrorRate fires"), "{}", watched.stdout);
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Tollgate-Health: failed"), "{message}");

    let (_clone, status, history) = from_a_fresh_clone(&repo);
    assert!(status.stdout.contains("[failed its health check: alert HighErrorRate fires"), "{}", status.stdout);
    assert!(history.stdout.contains("failed its health check: alert HighErrorRate"), "{}", history.stdout);
}

#[test]
fn watch_whose_deadline_passes_exits_3_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let argo = FakeArgo::start(vec![argo_answer("progressing.json", FIXTURE_REVISION)]);
    // No Alertmanager is reached: the deadline passes first.
    let (repo, _) = repository(dir.path(), &argo.origin, "http://127.0.0.1:9");
    let before = git(&repo, &["rev-parse", "HEAD"]);
    let watched = watch(&repo, "1s");
    assert_eq!(watched.code, 3, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("could not tell: the deadline (1 s) passed") && watched.stdout.contains("nothing recorded"), "{}", watched.stdout);
    assert!(argo.requests() >= 1);
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), before);
    assert!(git(&repo, &["status", "--porcelain"]).is_empty());
}

#[test]
fn a_hand_made_health_record_commit_is_not_counted_and_the_guard_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, promotion) = repository(dir.path(), "http://127.0.0.1:9", "http://127.0.0.1:9");
    let record = format!(
        r#"{{"schema_version": 1, "tollgate_version": "0", "application": "shop-api", "environment": "dev", "promotion": "{promotion}", "version": "1.4.2",
            "outcome": "healthy", "checked_by": "mallory", "healthy_since": 1767225600, "soaked_seconds": 600, "finished_at": 1767226200, "argocd_application": "shop-api-dev"}}"#
    );
    let path = format!(".tollgate/health/shop-api/dev/{promotion}-1767226200.health");
    std::fs::create_dir_all(std::path::Path::new(&repo).join(".tollgate/health/shop-api/dev")).unwrap();
    std::fs::write(std::path::Path::new(&repo).join(&path), record).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "health of shop-api 1.4.2 in dev: healthy"]);

    let (_clone, status, history) = from_a_fresh_clone(&repo);
    assert!(!status.stdout.contains("healthy since"), "{}", status.stdout);
    assert!(history.stdout.contains("NOT COUNTED: not a health record tollgate made"), "{}", history.stdout);
    let guard = run(&repo, &["verify", &format!("{promotion}..HEAD")]);
    assert_eq!(guard.code, 1, "{}{}", guard.stdout, guard.stderr);
    assert!(guard.stdout.contains("health record:"), "{}", guard.stdout);
}

#[test]
fn promote_watch_promotes_then_watches_the_commit_it_made() {
    let (alertmanager, dir, argo) = servers();
    let (repo, _) = repository(dir.path(), &argo.origin, &alertmanager.url);
    *argo.follow.lock().unwrap() = Some(repo.clone());
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("healthy.json", "{HEAD}").replace("api:1.4.2", "api:1.5.0")]), 0);
    let args = ["promote", "shop-api", "--to", "dev", "--version", "1.5.0", "--actor", "alice", "--watch", "--soak", "1s", "--interval", "50ms", "--deadline", "60s"];
    let promoted = run(&repo, &args);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert!(promoted.stdout.contains("shop-api 1.5.0 in dev") && promoted.stdout.contains(": healthy"), "{}", promoted.stdout);
    let promotion = git(&repo, &["rev-parse", "HEAD~1"]);
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains(&format!("Tollgate-Health-Of: {}", promotion.trim())));
    assert!(git(&repo, &["log", "-1", "--format=%B", "HEAD~1"]).contains("Tollgate-Version: 1.5.0"));
}

#[test]
fn watch_rollback_on_failure_commits_a_gated_rollback_and_a_denied_one_leaves_the_failure_recorded() {
    let alertmanager = Alertmanager::start();
    alertmanager.alert(r#"{"alertname": "HighErrorRate", "app": "shop-api", "env": "dev"}"#, None);
    let rollback_args = ["watch", "shop-api", "--env", "dev", "--deadline", "60s", "--soak", "1s", "--interval", "50ms", "--actor", "watcher@example.com", "--rollback-on-failure"];

    // The policies allow it: a rollback commit on top of the health record.
    let dir = tempfile::tempdir().unwrap();
    let argo = FakeArgo::start(Vec::new());
    let (repo, promotion) = repository_with(dir.path(), &argo.origin, &alertmanager.url, &["1.4.1", "1.4.2"], "[]");
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("healthy.json", &promotion)]), 0);
    let watched = run(&repo, &rollback_args);
    assert_eq!(watched.code, 1, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("failed its health check: alert HighErrorRate") && watched.stdout.contains("rolled back: commit"), "{}", watched.stdout);
    let rollback = git(&repo, &["log", "-1", "--format=%an <%ae>%n%B"]);
    assert!(rollback.contains(&format!("Tollgate-Rollback-Of: {promotion}")) && rollback.contains("Tollgate-Version: 1.4.1"), "{rollback}");
    assert!(rollback.contains("watcher@example.com"), "{rollback}");
    assert!(git(&repo, &["log", "-1", "--format=%B", "HEAD~1"]).contains("Tollgate-Health: failed"));
    let (_clone, status, history) = from_a_fresh_clone(&repo);
    assert!(status.stdout.lines().any(|line| line.contains("dev") && line.contains("1.4.1")), "{}", status.stdout);
    assert!(history.stdout.contains("rollback in dev") && history.stdout.contains("failed its health check"), "{}", history.stdout);

    // The policies deny it (an approval is required, the watcher brings none): said, and the failure stays recorded.
    let dir = tempfile::tempdir().unwrap();
    let argo = FakeArgo::start(Vec::new());
    let policies = "[{ plugin: 'builtin:approval-count', config: { default: { required: 1 } } }]";
    let (repo, promotion) = repository_with(dir.path(), &argo.origin, &alertmanager.url, &["1.4.1", "1.4.2"], policies);
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("healthy.json", &promotion)]), 0);
    let watched = run(&repo, &rollback_args);
    assert_eq!(watched.code, 1, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("the rollback was not made: denied by the policies") && watched.stdout.contains("the failure stays recorded"), "{}", watched.stdout);
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains("Tollgate-Health: failed"));
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]).trim(), promotion);
}

#[test]
fn watch_push_publishes_the_health_record_and_check_config_names_an_unread_health_credential() {
    let (alertmanager, dir, argo) = servers();
    let (repo, promotion) = repository(dir.path(), &argo.origin, &alertmanager.url);
    let origin = dir.path().join("origin.git");
    let origin = origin.to_str().unwrap();
    assert!(Command::new("git").args(["clone", "-q", "--bare", &repo, origin]).status().unwrap().success());
    git(&repo, &["remote", "add", "origin", origin]);
    git(&repo, &["fetch", "-q", "origin"]);
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("healthy.json", &promotion)]), 0);

    let watched = run(&repo, &["watch", "shop-api", "--env", "dev", "--soak", "1s", "--interval", "50ms", "--actor", "watcher@example.com", "--push"]);
    assert_eq!(watched.code, 0, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("pushed to origin (main at "), "{}", watched.stdout);
    assert_eq!(git(origin, &["rev-parse", "main"]), git(&repo, &["rev-parse", "HEAD"]));
    assert!(git(origin, &["log", "-1", "--format=%B", "main"]).contains("Tollgate-Health: healthy"));

    let checked = tollgate_env(&shared_cache(), &["--repo", &repo, "check-config"], &[]);
    assert_eq!(checked.code, 2, "{}{}", checked.stdout, checked.stderr);
    assert!(checked.stdout.contains("health.credentials") && checked.stdout.contains("ARGOCD_TOKEN"), "{}", checked.stdout);
}

#[test]
fn where_commits_must_be_signed_the_watcher_signs_the_health_record_and_an_unsigned_one_is_untrusted() {
    let (alertmanager, dir, argo) = servers();
    let (repo, _) = repository_with(dir.path(), &argo.origin, &alertmanager.url, &[], "[]");
    let (alice, alice_pub) = crate::trust::keygen(dir.path(), "alice", "ed25519");
    let (watcher, watcher_pub) = crate::trust::keygen(dir.path(), "watcher", "ed25519");
    std::fs::write(
        std::path::Path::new(&repo).join(".tollgate-signers"),
        format!("alice namespaces=\"git\" {alice_pub}\nwatcher@example.com namespaces=\"git\" {watcher_pub}\n"),
    )
    .unwrap();
    let config = std::fs::read_to_string(std::path::Path::new(&repo).join("tollgate.yaml")).unwrap();
    let trust = "trust:\n  allowed_signers: .tollgate-signers\n  environments:\n    dev: { signed_commits: true }\n";
    std::fs::write(std::path::Path::new(&repo).join("tollgate.yaml"), format!("{config}{trust}")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "require signed commits into dev"]);
    git(&repo, &["config", "gpg.format", "ssh"]);
    git(&repo, &["config", "commit.gpgsign", "true"]);
    git(&repo, &["config", "user.signingKey", alice.to_str().unwrap()]);
    let promoted = run(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--actor", "alice"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let promotion = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("healthy.json", &promotion)]), 0);

    // alice's key cannot sign a health record for the watcher: refused before watching.
    let refused = watch(&repo, "60s");
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert_eq!(argo.requests(), 0);
    git(&repo, &["config", "user.signingKey", watcher.to_str().unwrap()]);
    let watched = watch(&repo, "60s");
    assert_eq!(watched.code, 0, "{}{}", watched.stdout, watched.stderr);
    let history = run(&repo, &["history"]);
    assert!(history.stdout.contains("health in dev") && history.stdout.contains("verified: signed by promoter watcher@example.com"), "{}", history.stdout);
    assert!(run(&repo, &["status"]).stdout.contains("[healthy since "));
    assert_eq!(run(&repo, &["verify", &format!("{promotion}..HEAD")]).code, 0);

    // The same record recommitted without a signature: UNTRUSTED, not counted, refused by the guard.
    let signed = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["reset", "-q", "--soft", "HEAD~1"]);
    git(&repo, &["-c", "commit.gpgsign=false", "commit", "-q", "-C", signed.trim()]);
    let history = run(&repo, &["history"]);
    assert!(history.stdout.contains("UNTRUSTED: dev requires signed commits; not signed"), "{}", history.stdout);
    assert!(!run(&repo, &["status"]).stdout.contains("healthy since"));
    let guard = run(&repo, &["verify", &format!("{promotion}..HEAD")]);
    assert_eq!(guard.code, 1, "{}{}", guard.stdout, guard.stderr);
}

#[test]
fn watch_fails_at_once_when_argocd_runs_another_image_or_reports_degraded_at_the_promotion() {
    for (fixture_name, says) in [
        ("wrong-image.json", "failed its health check: Argo CD reports shop-api-dev running registry.example.com/shop/api:1.4.1, not the promoted registry.example.com/shop/api:1.4.2"),
        ("degraded.json", "failed its health check: Argo CD reports shop-api-dev Degraded at "),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let argo = FakeArgo::start(Vec::new());
        // Alertmanager is never reached: the check fails before the soak.
        let (repo, promotion) = repository(dir.path(), &argo.origin, "http://127.0.0.1:9");
        *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer(fixture_name, &promotion)]), 0);
        let watched = watch(&repo, "60s");
        assert_eq!(watched.code, 1, "{fixture_name}: {}{}", watched.stdout, watched.stderr);
        assert!(watched.stdout.contains(says), "{fixture_name}: {}", watched.stdout);
        assert!(git(&repo, &["log", "-1", "--format=%B"]).contains("Tollgate-Health: failed"));
    }
}

/// An environment on a branch of its own (GitOps Promoter's `environment/dev`): `watch --push`
/// commits the health record on that branch, after the promotion it reports on, and publishes
/// that branch; main is untouched; `status` and `history` of a fresh clone show it, and the
/// branch guard on the environment branch passes it.
/// A GitOps Promoter-shaped repository (rules on main, shop-api on `environment/{env}`: 1.4.1
/// in dev, 1.4.0 in prod) with a `health:` section pointing at `argo` and `alertmanager`, a
/// bare remote of it and a clone to promote from; the clone and the remote.
fn env_branch_repository(dir: &std::path::Path, argo: &str, alertmanager: &str) -> (String, String) {
    let source = dir.join("source").to_str().unwrap().to_string();
    let config = format!(
        "branch: main\nenvironments: [dev, prod]\ndefaults:\n  branch: \"environment/{{env}}\"\n  file: \"{{app}}/manifest.yaml\"\n  manifest: {{ container: api }}\n\
         applications:\n  shop-api: {{ image: registry.example.com/shop/api }}\n\
         health:\n  argocd: {{ url: '{argo}' }}\n  alertmanager: {{ url: '{alertmanager}' }}\n  credentials:\n    {argo}: {{ bearer: {{ env: ARGOCD_TOKEN }} }}\npolicies: []\n",
    );
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(dir.join("source/tollgate.yaml"), config).unwrap();
    assert!(Command::new("git").args(["init", "-q", "-b", "main", &source]).status().unwrap().success());
    git(&source, &["-c", "user.name=platform", "-c", "user.email=p@example.com", "add", "-A"]);
    git(&source, &["-c", "user.name=platform", "-c", "user.email=p@example.com", "commit", "-qm", "DRY sources"]);
    crate::env_branches::commit_on_branch(&source, "environment/dev", None, "1.4.1");
    crate::env_branches::commit_on_branch(&source, "environment/prod", None, "1.4.0");
    let origin = dir.join("origin.git").to_str().unwrap().to_string();
    crate::support::clone_remote(&source, &origin, true);
    let repo = dir.join("promoter").to_str().unwrap().to_string();
    crate::support::clone_remote(&origin, &repo, false);
    git(&repo, &["config", "user.name", "ci"]);
    git(&repo, &["config", "user.email", "ci@example.com"]);
    (repo, origin)
}

#[test]
fn watch_on_an_environment_branch_records_health_beside_the_promotion_and_status_shows_it() {
    let (alertmanager, dir, argo) = servers();
    let (repo, origin) = env_branch_repository(dir.path(), &argo.origin, &alertmanager.url);
    let main_before = git(&origin, &["rev-parse", "main"]);

    let promoted = run(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--actor", "alice", "--push"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let promotion = git(&origin, &["rev-parse", "environment/dev"]).trim().to_string();
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("progressing.json", FIXTURE_REVISION), argo_answer("healthy.json", &promotion)]), 0);

    let watched = run(&repo, &["watch", "shop-api", "--env", "dev", "--soak", "1s", "--interval", "50ms", "--actor", "watcher@example.com", "--push"]);
    assert_eq!(watched.code, 0, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("pushed to origin (environment/dev at "), "{}", watched.stdout);
    assert!(watched.stderr.contains("Progressing") && argo.requests() >= 2, "it saw the rollout progressing first: {}", watched.stderr);
    // On environment/dev, right after the promotion; main untouched.
    let recorded = git(&origin, &["rev-parse", "environment/dev"]).trim().to_string();
    assert_eq!(git(&origin, &["rev-parse", "environment/dev~1"]).trim(), promotion);
    let message = git(&origin, &["log", "-1", "--format=%B", "environment/dev"]);
    assert!(message.contains("Tollgate-Health: healthy") && message.contains(&format!("Tollgate-Health-Of: {promotion}")), "{message}");
    assert_eq!(git(&origin, &["rev-parse", "main"]), main_before);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    let (_clone, status, history) = from_a_fresh_clone(&origin);
    assert!(status.stdout.contains("[healthy since "), "{}{}", status.stdout, status.stderr);
    assert!(history.stdout.contains("health in dev") && history.stdout.contains("healthy (soaked"), "{}", history.stdout);
    let guard = run(&repo, &["verify", &format!("{promotion}..{recorded}"), "--branch", "environment/dev", "-o", "json"]);
    assert_eq!(guard.code, 0, "{}{}", guard.stdout, guard.stderr);
    assert!(guard.stdout.contains("\"health\""), "{}", guard.stdout);

    // A hand-made health record on the environment branch is refused by its guard.
    git(&repo, &["checkout", "--quiet", "environment/dev"]);
    let path = std::path::Path::new(&repo).join(format!(".tollgate/health/shop-api/dev/{promotion}-1.health"));
    std::fs::write(&path, "{\"outcome\": \"healthy\"}").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", &format!("healthy\n\nTollgate-Health: healthy\nTollgate-Health-Of: {promotion}")]);
    let forged = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    git(&repo, &["checkout", "--quiet", "main"]);
    let guard = run(&repo, &["verify", &format!("{recorded}..{forged}"), "--branch", "environment/dev"]);
    assert_eq!(guard.code, 1, "{}{}", guard.stdout, guard.stderr);
    assert!(guard.stdout.contains("health record:"), "{}", guard.stdout);
}

/// GitOps Promoter's layout: a failed health check on `environment/dev` rolls back there, as
/// a gated promotion on that branch, pushed; main is untouched and a fresh clone shows it.
#[test]
fn watch_rollback_on_failure_on_an_environment_branch_commits_the_rollback_on_that_branch() {
    let alertmanager = Alertmanager::start();
    alertmanager.alert(r#"{"alertname": "HighErrorRate", "app": "shop-api", "env": "dev"}"#, None);
    let dir = tempfile::tempdir().unwrap();
    let argo = FakeArgo::start(Vec::new());
    let (repo, origin) = env_branch_repository(dir.path(), &argo.origin, &alertmanager.url);
    let main_before = git(&origin, &["rev-parse", "main"]);
    for version in ["1.4.2", "1.4.3"] {
        let promoted = run(&repo, &["promote", "shop-api", "--to", "dev", "--version", version, "--actor", "alice", "--push"]);
        assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    }
    let promotion = git(&origin, &["rev-parse", "environment/dev"]).trim().to_string();
    // Synced and healthy at the promotion, running what it promoted; only the alert fails it.
    let healthy = argo_answer("healthy.json", &promotion).replace("shop/api:1.4.2", "shop/api:1.4.3");
    *argo.answers.lock().unwrap() = (VecDeque::from([healthy]), 0);

    let watched = run(&repo, &["watch", "shop-api", "--env", "dev", "--deadline", "60s", "--soak", "1s", "--interval", "50ms", "--actor", "watcher@example.com", "--rollback-on-failure", "--push"]);
    assert_eq!(watched.code, 1, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains("failed its health check: alert HighErrorRate") && watched.stdout.contains("rolled back: commit"), "{}", watched.stdout);
    // On environment/dev: the promotion, its failed health record, then the rollback to 1.4.2.
    let rollback = git(&origin, &["log", "-1", "--format=%ae%n%B", "environment/dev"]);
    assert!(rollback.contains(&format!("Tollgate-Rollback-Of: {promotion}")) && rollback.contains("Tollgate-Version: 1.4.2"), "{rollback}");
    assert!(rollback.starts_with("watcher@example.com"), "{rollback}");
    assert!(git(&origin, &["log", "-1", "--format=%B", "environment/dev~1"]).contains("Tollgate-Health: failed"));
    assert_eq!(git(&origin, &["rev-parse", "environment/dev~2"]).trim(), promotion);
    assert!(git(&origin, &["show", "environment/dev:shop-api/manifest.yaml"]).contains("1.4.2"));
    assert_eq!(git(&origin, &["rev-parse", "main"]), main_before);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    let (_clone, status, history) = from_a_fresh_clone(&origin);
    assert!(status.stdout.lines().any(|line| line.contains("dev") && line.contains("1.4.2")), "{}{}", status.stdout, status.stderr);
    assert!(history.stdout.contains("rollback in dev") && history.stdout.contains("failed its health check"), "{}", history.stdout);
}

/// A repository (dev → prod) whose shop-api is an image and a Helm chart (Kargo's Freight),
/// promoted in dev to api 1.4.2 with chart 0.4.0 by tollgate; returns the promotion commit.
fn freight_repository(dir: &std::path::Path, argo: &str, alertmanager: &str) -> (String, String) {
    let repo = dir.join("repo");
    for env in ["dev", "prod"] {
        std::fs::create_dir_all(repo.join(format!("envs/{env}"))).unwrap();
        std::fs::write(repo.join(format!("envs/{env}/values.yaml")), "image:\n  repository: registry.example.com/shop/api\n  tag: \"1.4.0\"\n").unwrap();
        std::fs::write(repo.join(format!("envs/{env}/Chart.yaml")), "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n  - name: shop\n    version: 0.3.0\n    repository: oci://registry.example.com/charts\n").unwrap();
    }
    let locations = |layout: &str| format!("dev: {{ file: envs/dev/{layout} }}\n          prod: {{ file: envs/prod/{layout} }}");
    let config = format!(
        "environments: [dev, prod]\napplications:\n  shop-api:\n    artifacts:\n      api:\n        image: registry.example.com/shop/api\n        environments:\n          {}\n      chart:\n        chart: {{ repository: oci://registry.example.com/charts, name: shop }}\n        environments:\n          {}\n\
         health:\n  argocd: {{ url: '{argo}' }}\n  alertmanager: {{ url: '{alertmanager}' }}\n  credentials:\n    {argo}: {{ bearer: {{ env: ARGOCD_TOKEN }} }}\n",
        locations("values.yaml, helm: { tag_path: image.tag }"),
        locations("Chart.yaml, chart_dependency: { name: shop }"),
    );
    std::fs::write(repo.join("tollgate.yaml"), config).unwrap();
    let repo = committed(&repo);
    let promoted = run(&repo, &["promote", "shop-api", "--to", "dev", "--version", "api=1.4.2", "--version", "chart=0.4.0", "--actor", "alice"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    (repo, commit)
}

/// watch looked for every artifact, a Helm chart too, among the images Argo CD reports, so an
/// image and a chart promoted together never passed; a chart is checked by its file instead.
#[test]
fn watch_of_an_image_and_a_chart_checks_the_image_among_argocds_images_and_passes() {
    let (alertmanager, dir, argo) = servers();
    let (repo, promotion) = freight_repository(dir.path(), &argo.origin, &alertmanager.url);
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("healthy.json", &promotion)]), 0);
    let watched = watch(&repo, "60s");
    assert_eq!(watched.code, 0, "{}{}", watched.stdout, watched.stderr);
    assert!(watched.stdout.contains(": healthy"), "{}", watched.stdout);
}

/// watch took Argo CD synced at a later commit as the promotion when the primary artifact's
/// file was unchanged there; a hand edit of the chart's file since is not what was promoted.
#[test]
fn watch_does_not_take_a_later_commit_that_changed_another_artifacts_file_for_the_promotion() {
    let (alertmanager, dir, argo) = servers();
    let (repo, _) = freight_repository(dir.path(), &argo.origin, &alertmanager.url);
    let chart = std::path::Path::new(&repo).join("envs/dev/Chart.yaml");
    std::fs::write(&chart, std::fs::read_to_string(&chart).unwrap().replace("version: 0.4.0", "version: 6.6.6")).unwrap();
    git(&repo, &["commit", "-qam", "hand edit of the chart"]);
    *argo.follow.lock().unwrap() = Some(repo.clone());
    *argo.answers.lock().unwrap() = (VecDeque::from([argo_answer("healthy.json", "{HEAD}")]), 0);
    let watched = watch(&repo, "2s");
    assert_eq!(watched.code, 3, "{}{}", watched.stdout, watched.stderr);
    assert!(argo.requests() >= 2, "it asked Argo CD more than once before the deadline");
    assert!(watched.stdout.contains("the deadline (2 s) passed") || watched.stderr.contains("the deadline (2 s) passed"), "{}{}", watched.stdout, watched.stderr);
}
