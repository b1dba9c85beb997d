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
/// 401 without) with the queued answers, one per request, repeating the last; how many
/// requests it answered is kept.
struct FakeArgo {
    origin: String,
    answers: Arc<Mutex<(VecDeque<String>, usize)>>,
}

impl FakeArgo {
    fn start(answers: Vec<String>) -> FakeArgo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let answers = Arc::new(Mutex::new((VecDeque::from(answers), 0)));
        let shared = answers.clone();
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
                    let answer = if state.0.len() > 1 { state.0.pop_front().unwrap() } else { state.0[0].clone() };
                    match (authorized, request_line.split_whitespace().nth(1)) {
                        (false, _) => (401, fixture("unauthorized.json")),
                        (true, Some("/api/v1/applications/shop-api-dev")) => (200, answer),
                        _ => (404, fixture("not-found.json")),
                    }
                };
                let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            }
        });
        FakeArgo { origin, answers }
    }

    fn requests(&self) -> usize {
        self.answers.lock().unwrap().1
    }
}

/// The `healthy.json` fixture, synced at `revision` (progressing: the `progressing.json` one).
fn argo_answer(name: &str, revision: &str) -> String {
    fixture(name).replace(FIXTURE_REVISION, revision)
}

/// A repository (dev → prod) whose shop-api was promoted to 1.4.2 in dev by tollgate, with a
/// `health:` section pointing at `argo` and `alertmanager`; returns the promotion commit.
fn repository(dir: &std::path::Path, argo: &str, alertmanager: &str) -> (String, String) {
    let repo = dir.join("repo");
    for env in ["dev", "prod"] {
        std::fs::create_dir_all(repo.join(format!("envs/{env}"))).unwrap();
        std::fs::write(repo.join(format!("envs/{env}/values.yaml")), "image:\n  repository: registry.example.com/shop/api\n  tag: \"1.4.1\"\n").unwrap();
    }
    let config = format!(
        "environments: [dev, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: {{ file: envs/dev/values.yaml, helm: {{ tag_path: image.tag }} }}\n      prod: {{ file: envs/prod/values.yaml, helm: {{ tag_path: image.tag }} }}\n\
         health:\n  argocd: {{ url: '{argo}' }}\n  alertmanager: {{ url: '{alertmanager}' }}\n  credentials:\n    {argo}: {{ bearer: {{ env: ARGOCD_TOKEN }} }}\n"
    );
    std::fs::write(repo.join("tollgate.yaml"), config).unwrap();
    let repo = repo.to_str().unwrap().to_string();
    assert!(Command::new("git").args(["init", "-q", "-b", "main", &repo]).status().unwrap().success());
    git(&repo, &["config", "user.name", "platform"]);
    git(&repo, &["config", "user.email", "p@example.com"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "desired state"]);
    let promoted = run(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--actor", "alice"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    (repo, commit)
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
    assert!(status.stdout.contains("[healthy since "), "{}", status.stdout);
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
