//! The deployment-health policy end to end: a real Alertmanager (Debian's
//! `prometheus-alertmanager`, started here on a loopback port), Argo CD's API served from the
//! fixtures in tests/fixtures/argocd/ by a loopback server, a real GitOps repository, and the
//! host attaching a bearer token the plugin never sees.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{git, plugin, shared_cache, tollgate_env, workspace};

const TOKEN: &str = "argocd-e2e-token-0b7c4d19e2f6a853";

// ---------------------------------------------------------------------------------------
// A real Alertmanager.

/// `prometheus-alertmanager` on a free loopback port with a minimal configuration and a
/// temporary storage path; stopped when dropped.
pub(crate) struct Alertmanager {
    pub(crate) url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub(crate) fn start() -> Alertmanager {
        let binary = ["/usr/bin/prometheus-alertmanager", "/usr/local/bin/alertmanager"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("prometheus-alertmanager is not installed; .ci/run installs it (apt-get install prometheus-alertmanager)");
        crate::support::start_on_a_free_port("prometheus-alertmanager", |port| Alertmanager::start_on(binary, port))
    }

    /// Start on `port`; `None` when another process took the port first.
    fn start_on(binary: &str, port: u16) -> Option<Alertmanager> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        // A receiver named for this instance: an answer from another server that took the
        // port is not mistaken for this one's.
        let receiver = format!("blackhole-{}-{port}", std::process::id());
        std::fs::write(&config, format!("route:\n  receiver: {receiver}\nreceivers:\n  - name: {receiver}\n")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip: a single instance, nothing listening beyond the API port.
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start prometheus-alertmanager");
        let mut alertmanager = Alertmanager { url: format!("http://127.0.0.1:{port}"), child, _dir: dir };
        let started = Instant::now();
        loop {
            if ureq::get(&format!("{}/-/ready", alertmanager.url)).call().is_ok()
                && ureq::get(&format!("{}/api/v2/status", alertmanager.url))
                    .call()
                    .ok()
                    .and_then(|mut response| response.body_mut().read_to_string().ok())
                    .is_some_and(|status| status.contains(&receiver))
            {
                return Some(alertmanager);
            }
            if let Ok(Some(status)) = alertmanager.child.try_wait() {
                let mut stderr = String::new();
                alertmanager.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
                if stderr.contains("address already in use") {
                    return None;
                }
                panic!("prometheus-alertmanager exited ({status}): {stderr}");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "prometheus-alertmanager did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn post(&self, path: &str, body: &str) -> String {
        let mut response = ureq::post(&format!("{}{path}", self.url))
            .content_type("application/json")
            .send(body)
            .unwrap_or_else(|error| panic!("POST {path}: {error}"));
        response.body_mut().read_to_string().unwrap()
    }

    /// Fire (or, with `ends_at`, resolve) an alert through the API v2.
    pub(crate) fn alert(&self, labels: &str, ends_at: Option<&str>) {
        let ends = ends_at.map(|at| format!(r#", "endsAt": "{at}""#)).unwrap_or_default();
        self.post("/api/v2/alerts", &format!(r#"[{{"labels": {labels}, "annotations": {{"summary": "e2e"}}{ends}}}]"#));
    }

    /// Silence alerts named `alertname` for an hour; returns the silence ID.
    fn silence(&self, alertname: &str) -> String {
        let now = jiff::Timestamp::now();
        let body = format!(
            r#"{{"matchers": [{{"name": "alertname", "value": "{alertname}", "isRegex": false, "isEqual": true}}],
                "startsAt": "{now}", "endsAt": "{}", "createdBy": "tollgate e2e", "comment": "known, being fixed"}}"#,
            now + jiff::SignedDuration::from_hours(1)
        );
        let answer: serde_json::Value = serde_json::from_str(&self.post("/api/v2/silences", &body)).unwrap();
        answer["silenceID"].as_str().expect("a silence ID").to_string()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Argo CD's API, from the fixtures.

/// What the fake Argo CD answers.
struct ArgoState {
    /// Fixture file in tests/fixtures/argocd/ served for the application.
    fixture: &'static str,
    /// Answer 500 with the request's headers as the body (a server that echoes its request).
    echo: bool,
    /// The Authorization header of every request (empty when there was none).
    seen: Vec<String>,
    /// How long to wait before answering (a slow Argo CD).
    delay: Duration,
}

/// A loopback server answering `GET /api/v1/applications/shop-api-staging` like Argo CD:
/// 401 without `Bearer TOKEN`, 404 for other applications, else the current fixture; and
/// `GET /api/v2/alerts?…` with no alerts (without asking for a token).
struct FakeArgo {
    origin: String,
    state: Arc<Mutex<ArgoState>>,
}

impl FakeArgo {
    fn start() -> FakeArgo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ArgoState { fixture: "healthy.json", echo: false, seen: Vec::new(), delay: Duration::ZERO }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut headers = Vec::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                    headers.push(line.trim_end().to_string());
                    line.clear();
                }
                let authorization = headers
                    .iter()
                    .find_map(|header| header.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("authorization")))
                    .map(|(_, value)| value.trim().to_string())
                    .unwrap_or_default();
                let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
                let delay = shared.lock().unwrap().delay;
                std::thread::sleep(delay);
                let (status, body) = {
                    let mut state = shared.lock().unwrap();
                    state.seen.push(authorization.clone());
                    if state.echo {
                        (500, headers.join("\n"))
                    } else if path.starts_with("/api/v2/alerts?") {
                        // Standing in for an Alertmanager without credentials: no alerts.
                        (200, "[]".to_string())
                    } else if authorization != format!("Bearer {TOKEN}") {
                        (401, fixture("unauthorized.json"))
                    } else if path != "/api/v1/applications/shop-api-staging" {
                        (404, fixture("not-found.json"))
                    } else {
                        (200, fixture(state.fixture))
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeArgo { origin, state }
    }

    fn serve(&self, fixture: &'static str) {
        self.state.lock().unwrap().fixture = fixture;
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

pub(crate) fn fixture(name: &str) -> String {
    std::fs::read_to_string(workspace().join("tests/fixtures/argocd").join(name)).unwrap()
}

// ---------------------------------------------------------------------------------------
// The repository.

/// A GitOps repository (dev → staging → prod) where staging runs shop-api 1.4.2 and prod
/// 1.4.1, with `policy` as its only policy (a YAML list item).
fn repository(policy: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let values = |tag: &str| format!("image:\n  repository: registry.example.com/shop/api\n  tag: \"{tag}\"\n");
    let mut config = String::from("environments: [dev, staging, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n");
    for env in ["dev", "staging", "prod"] {
        config.push_str(&format!("      {env}: {{ file: envs/{env}/shop-api/values.yaml, helm: {{ tag_path: image.tag }} }}\n"));
        std::fs::create_dir_all(repo.join(format!("envs/{env}/shop-api"))).unwrap();
        std::fs::write(repo.join(format!("envs/{env}/shop-api/values.yaml")), values(if env == "prod" { "1.4.1" } else { "1.4.2" })).unwrap();
    }
    config.push_str("policies:\n");
    config.push_str(policy);
    std::fs::write(repo.join("tollgate.yaml"), config).unwrap();
    let repo = repo.to_str().unwrap().to_string();
    let status = Command::new("git").args(["init", "-q", "-b", "main", &repo]).status().unwrap();
    assert!(status.success());
    git(&repo, &["-c", "user.name=platform", "-c", "user.email=p@example.com", "add", "-A"]);
    git(&repo, &["-c", "user.name=platform", "-c", "user.email=p@example.com", "commit", "-qm", "desired state"]);
    git(&repo, &["config", "user.name", "platform"]);
    git(&repo, &["config", "user.email", "p@example.com"]);
    (dir, repo)
}

/// Run tollgate on `repo` with ARGOCD_TOKEN set to `token` (unset when `None`).
fn run(repo: &str, args: &[&str], token: Option<&str>) -> crate::support::Run {
    let mut all = vec!["--repo", repo];
    all.extend_from_slice(args);
    let mut env = vec![("ARGOCD_TOKEN", token.unwrap_or(""))];
    if token.is_none() {
        env.clear();
    }
    tollgate_env(&shared_cache(), &all, &env)
}

fn plan_prod(repo: &str, extra: &[&str], token: Option<&str>) -> crate::support::Run {
    let mut args = vec!["plan", "shop-api", "--to", "prod", "--actor", "alice"];
    args.extend_from_slice(extra);
    run(repo, &args, token)
}

// ---------------------------------------------------------------------------------------

#[test]
fn promotion_to_prod_waits_for_stagings_critical_alerts_to_be_silenced_or_resolved() {
    let alertmanager = Alertmanager::start();
    let policy = format!(
        "  - plugin: builtin:deployment-health\n    environments: [prod]\n    http_origins: ['{am}']\n    config:\n      environments:\n        prod:\n          alertmanager:\n            url: '{am}'\n            matchers: ['env=\"{{env}}\"', 'app=\"{{app}}\"', 'severity=~\"critical|warning\"']\n",
        am = alertmanager.url
    );
    let (_dir, repo) = repository(&policy);
    assert_eq!(plan_prod(&repo, &[], None).code, 0, "no alerts yet");

    // An info alert for staging and a critical one for another app do not match.
    alertmanager.alert(r#"{"alertname": "DiskFilling", "env": "staging", "app": "shop-api", "severity": "info"}"#, None);
    alertmanager.alert(r#"{"alertname": "HighErrorRate", "env": "staging", "app": "shop-web", "severity": "critical"}"#, None);
    let allowed = plan_prod(&repo, &[], None);
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);

    alertmanager.alert(r#"{"alertname": "HighErrorRate", "env": "staging", "app": "shop-api", "severity": "critical"}"#, None);
    let denied = plan_prod(&repo, &[], None);
    assert_eq!(denied.code, 1, "{}{}", denied.stdout, denied.stderr);
    assert!(denied.stdout.contains("staging: alert HighErrorRate firing since "), "{}", denied.stdout);
    assert!(denied.stdout.contains("{app=\"shop-api\", env=\"staging\", severity=\"critical\"}"), "{}", denied.stdout);
    assert!(!denied.stdout.contains("DiskFilling"), "{}", denied.stdout);

    // Silenced: allowed.
    alertmanager.silence("HighErrorRate");
    let allowed = plan_prod(&repo, &[], None);
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);

    // A warning fires: denied again; once it is resolved, the promotion goes through.
    let labels = r#"{"alertname": "LatencyHigh", "env": "staging", "app": "shop-api", "severity": "warning"}"#;
    alertmanager.alert(labels, None);
    let denied = plan_prod(&repo, &[], None);
    assert_eq!(denied.code, 1, "{}{}", denied.stdout, denied.stderr);
    assert!(denied.stdout.contains("staging: alert LatencyHigh firing since "), "{}", denied.stdout);
    let past = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5)).to_string();
    alertmanager.alert(labels, Some(&past));
    let promoted = run(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"], None);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert!(promoted.stdout.contains("allowed: committed "), "{}", promoted.stdout);
    assert!(std::fs::read_to_string(Path::new(&repo).join("envs/prod/shop-api/values.yaml")).unwrap().contains("tag: \"1.4.2\""));
}

#[test]
fn alertmanager_that_is_down_fails_closed_and_monitor_mode_only_warns() {
    // Nothing answers there, and nothing else can start answering while the test runs.
    let down = crate::support::closed_port();
    let am = format!("http://127.0.0.1:{}", down.port);
    let policy = |mode: &str| {
        format!("  - plugin: builtin:deployment-health\n    mode: {mode}\n    http_origins: ['{am}']\n    config: {{ default: {{ alertmanager: {{ url: '{am}' }} }} }}\n")
    };
    let (_dir, repo) = repository(&policy("enforce"));
    let denied = plan_prod(&repo, &[], None);
    assert_eq!(denied.code, 1, "{}{}", denied.stdout, denied.stderr);
    assert!(denied.stdout.contains(&format!("Alertmanager alerts for staging (env=\"staging\", app=\"shop-api\") could not be read from {am}/api/v2/alerts?")), "{}", denied.stdout);
    let (_dir, repo) = repository(&policy("monitor"));
    let warned = plan_prod(&repo, &[], None);
    assert_eq!(warned.code, 0, "{}{}", warned.stdout, warned.stderr);
    assert!(warned.stdout.contains("monitor-deny"), "{}", warned.stdout);
}

fn argo_policy(argo: &str, extra_origin: Option<&str>) -> String {
    let (origins, alertmanager) = match extra_origin {
        Some(other) => (format!("['{argo}', '{other}']"), format!("\n          alertmanager: {{ url: '{other}' }}")),
        None => (format!("['{argo}']"), String::new()),
    };
    format!(
        "  - plugin: builtin:deployment-health\n    environments: [prod]\n    http_origins: {origins}\n    credentials:\n      {argo}: {{ bearer: {{ env: ARGOCD_TOKEN }} }}\n    config:\n      environments:\n        prod:\n          argocd: {{ url: '{argo}' }}{alertmanager}\n"
    )
}

#[test]
fn promotion_to_prod_needs_stagings_argocd_application_healthy_synced_and_running_the_artifact() {
    let argo = FakeArgo::start();
    let (_dir, repo) = repository(&argo_policy(&argo.origin, None));

    argo.serve("degraded.json");
    let denied = plan_prod(&repo, &[], Some(TOKEN));
    assert_eq!(denied.code, 1, "{}{}", denied.stdout, denied.stderr);
    assert!(denied.stdout.contains("Argo CD application shop-api-staging (staging) is Degraded, not Healthy: Deployment \"shop-api\" exceeded its progress deadline"), "{}", denied.stdout);

    argo.serve("wrong-image.json");
    let denied = plan_prod(&repo, &[], Some(TOKEN));
    assert_eq!(denied.code, 1);
    assert!(denied.stdout.contains("runs registry.example.com/shop/api:1.4.1, not registry.example.com/shop/api:1.4.2"), "{}", denied.stdout);

    argo.serve("out-of-sync.json");
    assert_eq!(plan_prod(&repo, &[], Some(TOKEN)).code, 1);

    argo.serve("healthy.json");
    let promoted = run(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice"], Some(TOKEN));
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    // The host sent the token on every request; the plugin's configuration has none.
    assert!(argo.seen().iter().all(|seen| seen == &format!("Bearer {TOKEN}")), "{:?}", argo.seen());
}

#[test]
fn an_argocd_slower_than_the_deadline_is_never_an_allow() {
    let argo = FakeArgo::start();
    argo.state.lock().unwrap().delay = Duration::from_secs(4);
    let (_dir, repo) = repository(&argo_policy(&argo.origin, None));
    let run = plan_prod(&repo, &[], Some(TOKEN));
    assert!(run.code == 1 || run.code == 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("timed out"), "{}", run.stdout);
    assert!(!run.stdout.contains("allowed"), "{}", run.stdout);
}

#[test]
fn a_wrong_or_missing_argocd_token_fails_closed() {
    let argo = FakeArgo::start();
    let (_dir, repo) = repository(&argo_policy(&argo.origin, None));
    let denied = plan_prod(&repo, &[], Some("not-the-token"));
    assert_eq!(denied.code, 1, "{}{}", denied.stdout, denied.stderr);
    assert!(denied.stdout.contains("it answered HTTP 401"), "{}", denied.stdout);
    assert!(denied.stdout.contains(&format!("check the token tollgate attaches to {}", argo.origin)), "{}", denied.stdout);

    let failed = plan_prod(&repo, &[], None);
    assert_eq!(failed.code, 3, "{}{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains(&format!("credentials for {}: environment variable ARGOCD_TOKEN is not set", argo.origin)),
        "{}",
        failed.stdout
    );
    assert!(argo.seen().len() == 1, "no request without the credential: {:?}", argo.seen());

    let check = run(&repo, &["check-config"], None);
    assert_eq!(check.code, 2, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.contains("error: policies.0.credentials: credentials for"), "{}", check.stdout);
    assert!(check.stdout.contains("environment variable ARGOCD_TOKEN is not set"), "{}", check.stdout);
    assert_eq!(run(&repo, &["check-config"], Some(TOKEN)).code, 0);
}

#[test]
fn the_argocd_token_never_appears_in_any_output_and_the_plugin_cannot_get_it() {
    let argo = FakeArgo::start();
    // A second granted origin without credentials, standing for "elsewhere".
    let elsewhere = FakeArgo::start();
    elsewhere.state.lock().unwrap().echo = true;
    // Beside deployment-health, a hostile plugin reads the credentialed origin and reports
    // the whole answer, and another probes its sandbox (environment variables included).
    let hostile = plugin("hostile");
    let policies = format!(
        "{}  - plugin: '{hostile}'\n    environments: [prod]\n    http_origins: ['{argo}']\n    credentials:\n      {argo}: {{ bearer: {{ env: ARGOCD_TOKEN }} }}\n    config: {{ behaviour: http-get, target: '{argo}/api/v1/applications/shop-api-staging' }}\n  - plugin: '{hostile}'\n    environments: [prod]\n    config: {{ behaviour: probe-sandbox }}\n",
        argo_policy(&argo.origin, Some(&elsewhere.origin)),
        hostile = hostile.display(),
        argo = argo.origin,
    );
    let (dir, repo) = repository(&policies);

    // Argo CD echoes the request: the answer carries the token, so both policies that asked
    // for it are stopped before reading it and fail closed; the token is in no output.
    argo.state.lock().unwrap().echo = true;
    let denied = plan_prod(&repo, &[], Some(TOKEN));
    assert_eq!(denied.code, 3, "{}{}", denied.stdout, denied.stderr);
    let stopped = format!("the answer from {} carried a form of the credential for {}", argo.origin, argo.origin);
    assert!(denied.stdout.matches(&stopped).count() >= 2, "{}", denied.stdout);
    assert_eq!(argo.seen(), [format!("Bearer {TOKEN}"), format!("Bearer {TOKEN}")], "the token was really sent to Argo CD");
    assert!(elsewhere.seen().iter().all(String::is_empty), "nothing was sent elsewhere with it");
    argo.state.lock().unwrap().echo = false;
    elsewhere.state.lock().unwrap().echo = false;

    let mut outputs = vec![denied.stdout, denied.stderr];
    let summary = dir.path().join("summary.md");
    for format in ["text", "json", "junit", "github", "sarif"] {
        let all = ["--repo", repo.as_str(), "--verbose", "plan", "shop-api", "--to", "prod", "--actor", "alice", "-o", format];
        let step = tollgate_env(&shared_cache(), &all, &[("ARGOCD_TOKEN", TOKEN), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())]);
        outputs.push(step.stdout);
        outputs.push(step.stderr);
    }
    outputs.push(std::fs::read_to_string(&summary).unwrap_or_default());
    for format in ["text", "json"] {
        let check = run(&repo, &["check-config", "-o", format], Some(TOKEN));
        assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
        if format == "json" {
            let report: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
            assert_eq!(report["policies"][0]["credentials"][&argo.origin], "bearer token from environment variable ARGOCD_TOKEN");
        }
        outputs.push(check.stdout);
        outputs.push(check.stderr);
    }
    // Healthy, and no alerts at the other origin: committed, with its decision record.
    let promoted = run(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "-o", "json"], Some(TOKEN));
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    outputs.push(promoted.stdout);
    outputs.push(promoted.stderr);
    outputs.push(git(&repo, &["log", "--all", "--format=%H%n%B"]));
    let record = crate::support::record_at(&repo, "HEAD");
    assert_eq!(record["policies"][0]["credentials"][&argo.origin], "bearer token from environment variable ARGOCD_TOKEN", "{record}");
    outputs.push(record.to_string());
    for args in [&["history"][..], &["history", "-o", "json"], &["status", "-o", "json"]] {
        let step = run(&repo, args, Some(TOKEN));
        outputs.push(step.stdout);
        outputs.push(step.stderr);
    }
    // Every object in the repository, records included, whatever the format.
    let objects = Command::new("git").args(["-C", &repo, "cat-file", "--batch-all-objects", "--batch"]).output().unwrap();
    assert!(objects.status.success());
    outputs.push(String::from_utf8_lossy(&objects.stdout).into_owned());

    let everything = outputs.join("\n");
    assert!(everything.contains("bearer token from environment variable ARGOCD_TOKEN"), "the credential's source is reported");
    assert!(!everything.contains(TOKEN), "the token leaked into an output");
    // Every request to Argo CD carried it; none to the other origin did.
    assert!(argo.seen().iter().all(|seen| seen == &format!("Bearer {TOKEN}")));
    assert!(elsewhere.seen().iter().all(String::is_empty), "{:?}", elsewhere.seen());
}

#[test]
fn a_plugin_cannot_set_its_own_authorization_for_a_credentialed_origin() {
    let argo = FakeArgo::start();
    let policy = format!(
        "  - plugin: '{}'\n    http_origins: ['{argo}']\n    credentials:\n      {argo}: {{ bearer: {{ env: ARGOCD_TOKEN }} }}\n    config: {{ behaviour: http-get, target: '{argo}/api/v1/applications/shop-api-staging', headers: [[Authorization, Bearer guessed]] }}\n",
        plugin("hostile").display(),
        argo = argo.origin
    );
    let (_dir, repo) = repository(&policy);
    let failed = plan_prod(&repo, &[], Some(TOKEN));
    assert_eq!(failed.code, 3, "{}{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains(&format!(
            "refused: tollgate sends the credentials for {} itself; a policy may not set an Authorization header for it",
            argo.origin
        )),
        "{}",
        failed.stdout
    );
    assert!(argo.seen().is_empty(), "nothing was sent: {:?}", argo.seen());
}
