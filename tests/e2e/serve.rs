//! `tollgate serve` as a real server on a loopback port: the Kargo step's request and
//! expressions, documents equal to the command line's, tokens, body limits, the in-flight
//! limit, promotion through a mirrored remote, webhook signatures, and SIGTERM.

use std::time::Duration;

use crate::serve_support::{Server, TOKEN, token_file};
use crate::support::{committed_repo, git, gitops_repo, http_server, repo_path, tollgate, tollgate_in, write};

const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

/// Promote shop-api 1.4.2 into dev (and, with `test`, test) with the command line.
fn promote_with_cli(repo: &str, test: bool) {
    let run = tollgate_in(repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST, "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    if test {
        let run = tollgate_in(repo, &["promote", "shop-api", "--to", "test", "--actor", "alice"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
}

/// The document without what differs between two runs of one decision.
fn stable(mut document: serde_json::Value) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                // `requested_at` is the clock when each call was made: two calls may straddle a second.
                for key in ["decision_id", "id", "elapsed_ms", "time", "requested_at"] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut document);
    document
}

/// The Kargo step of examples/kargo: its body with Kargo's `${{ … }}` expressions filled
/// in, and its success and failure expressions.
struct KargoStep {
    body: String,
    success: String,
    failure: String,
}

fn kargo_step(stage: &str, version: &str) -> KargoStep {
    kargo_step_of("promotion-template.yaml", "/v1/plan", stage, version)
}

/// The `http` step of `examples/kargo/FILE`, which posts to `endpoint`.
fn kargo_step_of(file: &str, endpoint: &str, stage: &str, version: &str) -> KargoStep {
    let text = std::fs::read_to_string(crate::support::workspace().join("examples/kargo").join(file)).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let step = &yaml["spec"]["promotionTemplate"]["spec"]["steps"][0];
    assert_eq!(step["uses"], "http");
    let config = &step["config"];
    assert_eq!(config["method"], "POST");
    assert!(config["url"].as_str().unwrap().ends_with(endpoint));
    let body = config["body"]
        .as_str()
        .unwrap()
        .replace("${{ ctx.stage }}", stage)
        .replace("${{ imageFrom(vars.imageRepo).Tag }}", version)
        .replace("${{ ctx.project }}", "shop")
        .replace("${{ ctx.promotion }}", "prod.01hq");
    assert!(!body.contains("${{"), "every expression of the body is filled in: {body}");
    KargoStep { body, success: config["successExpression"].as_str().unwrap().to_string(), failure: config["failureExpression"].as_str().unwrap().to_string() }
}

/// Evaluate an expression of the form `response.body.KEY == 'VALUE'` (what the example uses)
/// against an answer's body.
fn holds(expression: &str, body: &serde_json::Value) -> bool {
    let (left, right) = expression.split_once(" == ").unwrap_or_else(|| panic!("unsupported expression {expression}"));
    let key = left.trim().strip_prefix("response.body.").unwrap_or_else(|| panic!("unsupported expression {expression}"));
    let value = right.trim().trim_matches('\'');
    body[key] == value
}

/// The demo repository, served with the test token.
fn served_demo() -> (tempfile::TempDir, String, Server) {
    served_demo_with(&[])
}

/// [`served_demo`] with more `serve` flags.
fn served_demo_with(flags: &[&str]) -> (tempfile::TempDir, String, Server) {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let tokens = token_file(dir.path());
    let server = Server::start(&repo, &[], &[&["--token-file", tokens.as_str()], flags].concat());
    (dir, repo, server)
}

#[test]
fn serve_kargo_step_body_and_expressions_allow_then_deny() {
    let (_dir, repo, server) = served_demo();
    promote_with_cli(&repo, false);

    // test has no policies: allowed; Kargo goes on.
    let step = kargo_step("test", "1.4.2");
    let answer = server.call("POST", "/v1/plan", Some(&step.body));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let document = answer.json();
    assert_eq!(document["decision"], "allow", "{document}");
    assert!(holds(&step.success, &document) && !holds(&step.failure, &document));
    assert_eq!(document["transition"]["requested_by"], "kargo-shop");
    assert_eq!(document["transition"]["labels"]["kargo-promotion"], "prod.01hq");
    assert!(document["decision_id"].as_str().unwrap().starts_with("tg-"), "{document}");

    // prod needs two approvals: denied; Kargo fails the promotion with the summary.
    promote_with_cli(&repo, true);
    let step = kargo_step("prod", "1.4.2");
    let document = server.call("POST", "/v1/plan", Some(&step.body)).json();
    assert_eq!(document["decision"], "deny", "{document}");
    assert!(!holds(&step.success, &document) && holds(&step.failure, &document));
    assert!(document["summary"].as_str().unwrap().starts_with("denied by approval-count"), "{document}");

    // A version that is not what test runs is an error answer: neither expression holds,
    // so Kargo retries until the step's timeout (fails closed).
    let step = kargo_step("prod", "9.9.9");
    let answer = server.call("POST", "/v1/plan", Some(&step.body));
    assert_eq!(answer.status, 400);
    let document = answer.json();
    assert_eq!(document["decision"], "error");
    assert!(!holds(&step.success, &document) && !holds(&step.failure, &document));
    assert!(document["summary"].as_str().unwrap().contains("takes what is in test (1.4.2), not 9.9.9"), "{document}");
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn serve_grew_by_glibcs_per_thread_malloc_caches_so_it_runs_without_them() {
    // The server started itself again with the caches off (BENCHMARKS.md, `tollgate serve`
    // under load): the same process, still answering and ending cleanly on SIGTERM.
    let (_dir, repo, server) = served_demo();
    let environment = std::fs::read(format!("/proc/{}/environ", server.pid())).unwrap();
    let tunables: Vec<&[u8]> = environment.split(|byte| *byte == 0).filter(|variable| variable.starts_with(b"GLIBC_TUNABLES=")).collect();
    assert_eq!(tunables, [b"GLIBC_TUNABLES=glibc.malloc.tcache_count=0".as_slice()], "{}", String::from_utf8_lossy(&environment));
    promote_with_cli(&repo, false);
    let answer = server.call("POST", "/v1/plan", Some(&kargo_step("test", "1.4.2").body));
    assert_eq!(answer.json()["decision"], "allow", "{}", answer.body);
    assert_eq!(server.terminate().0, 0);
}

#[test]
fn serve_reuses_its_opened_repository_but_judges_with_the_configuration_committed_since() {
    let (_dir, repo, server) = served_demo();
    promote_with_cli(&repo, true);
    let step = kargo_step("prod", "1.4.2");
    let before = server.call("POST", "/v1/plan", Some(&step.body)).json();
    assert_eq!(before["decision"], "deny", "{before}");
    let findings = |document: &serde_json::Value| document.to_string();
    assert!(findings(&before).contains("2 approvals"), "{before}");

    // The protected branch's configuration changes between two requests: the second one,
    // served with the repository the first one opened, is judged by the new one.
    let config = std::fs::read_to_string(std::path::Path::new(&repo).join("tollgate.yaml")).unwrap();
    assert!(config.contains("required: 2"));
    write(std::path::Path::new(&repo), "tollgate.yaml", &config.replacen("required: 2", "required: 3", 1));
    git(&repo, &["commit", "-qam", "prod needs three approvals"]);
    let after = server.call("POST", "/v1/plan", Some(&step.body)).json();
    assert_eq!(after["decision"], "deny", "{after}");
    assert!(findings(&after).contains("3 approvals") && !findings(&after).contains("2 approvals"), "{after}");
}

/// With --preinitialise, a configuration decided 16 times is pre-initialised on a background
/// thread; the decisions after it start from the snapshot, say so in the metrics, and answer
/// as before.
#[test]
fn serve_pre_initialises_a_hot_configuration_and_answers_the_same_from_its_snapshot() {
    let (_dir, repo, server) = served_demo_with(&["--preinitialise"]);
    promote_with_cli(&repo, true);
    let step = kargo_step("prod", "1.4.2");
    // The document without what differs between two calls, change-window's words on the
    // minute of the call included.
    let decide = || {
        let mut document = stable(server.call("POST", "/v1/plan", Some(&step.body)).json());
        for policy in document["policies"].as_array_mut().unwrap().iter_mut().filter(|policy| policy["name"] == "change-window") {
            let evaluation = policy["evaluation"].as_object_mut().unwrap();
            evaluation.remove("findings");
            evaluation.remove("logs");
        }
        document
    };
    let first = decide();
    assert_eq!(first["decision"], "deny", "{first}");
    let from_snapshots = |metrics: &str| metrics.lines().any(|line| line.starts_with("tollgate_policy_decisions_preinitialised_total{") && !line.ends_with(" 0"));
    let started = std::time::Instant::now();
    let mut plain = 0;
    while !from_snapshots(&server.call("GET", "/metrics", None).body) {
        assert_eq!(decide(), first);
        plain += 1;
        assert!(started.elapsed() < Duration::from_secs(300), "no decision from a snapshot after {plain} requests");
    }
    assert!(plain >= 15, "a configuration is hot after 16 decisions, not {}", plain + 1);
    for _ in 0..3 {
        assert_eq!(decide(), first);
    }
}

/// Which branch is protected is found for the first request and kept: a reference that
/// would have chosen another branch, made while the server runs, changes nothing.
#[test]
fn serve_keeps_the_protected_branch_it_found_first_when_origin_head_appears_later() {
    let (_dir, repo, server) = served_demo();
    promote_with_cli(&repo, true);
    let step = kargo_step("prod", "1.4.2");
    let before = server.call("POST", "/v1/plan", Some(&step.body)).json();
    assert_eq!(before["decision"], "deny", "{before}");
    assert!(before.to_string().contains("2 approvals"), "{before}");

    // A lenient configuration on a branch that `origin/HEAD` now names: the command line, run
    // now, would take it as the protected branch.
    let config = std::fs::read_to_string(std::path::Path::new(&repo).join("tollgate.yaml")).unwrap();
    git(&repo, &["checkout", "-qb", "lenient"]);
    write(std::path::Path::new(&repo), "tollgate.yaml", &config.replacen("required: 2", "required: 1", 1));
    git(&repo, &["commit", "-qam", "one approval is enough"]);
    git(&repo, &["update-ref", "refs/remotes/origin/lenient", "lenient"]);
    git(&repo, &["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/lenient"]);
    git(&repo, &["checkout", "-q", "main"]);
    let cli = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "-o", "json"]);
    let required = |document: &serde_json::Value| {
        let policies = document["policies"].as_array().unwrap().clone();
        policies.into_iter().find(|policy| policy["name"] == "approval-count").unwrap()["config"]["environments"]["prod"]["required"].clone()
    };
    let cli: serde_json::Value = serde_json::from_str(&cli.stdout).unwrap();
    assert_eq!(required(&cli), 1, "the window: a fresh process takes origin/HEAD's branch as the protected one");
    assert_eq!(required(&before), 2);

    let after = server.call("POST", "/v1/plan", Some(&step.body)).json();
    assert_eq!(required(&after), 2, "judged by the branch found first: {after}");
    assert_eq!(after["summary"], before["summary"]);
}

#[test]
fn serve_remembers_the_commits_it_read_but_plans_from_a_promotion_committed_since() {
    let (_dir, repo, server) = served_demo();
    promote_with_cli(&repo, true);
    let first = server.call("POST", "/v1/plan", Some(&kargo_step("prod", "1.4.2").body)).json();
    assert_eq!(first["transition"]["artifact"]["version"], "1.4.2", "{first}");

    // 1.4.3 promoted into dev and test after the server read (and remembered) the history
    // back to 1.4.2's promotion: the next request plans from the new tip's records.
    for (env, version) in [("dev", Some("1.4.3")), ("test", None)] {
        let mut args = vec!["promote", "shop-api", "--to", env, "--actor", "alice"];
        if let Some(version) = version {
            args.extend(["--version", version, "--digest", "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"]);
        }
        let run = tollgate_in(&repo, &args);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    let next = server.call("POST", "/v1/plan", Some(&kargo_step("prod", "1.4.3").body)).json();
    assert_eq!(next["transition"]["artifact"]["version"], "1.4.3", "{next}");
    let stale = server.call("POST", "/v1/plan", Some(&kargo_step("prod", "1.4.2").body));
    assert_eq!(stale.status, 400, "{}", stale.body);
    assert!(stale.body.contains("takes what is in test (1.4.3), not 1.4.2"), "{}", stale.body);
}

#[test]
fn serve_plan_status_history_and_verify_answer_the_clis_documents() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    promote_with_cli(&repo, true);
    let log = dir.path().join("decisions.jsonl");
    let tokens = token_file(dir.path());
    let server = Server::start(&repo, &["--decision-log", log.to_str().unwrap()], &["--token-file", &tokens]);

    let at = "2026-01-06T10:30:00+01:00";
    let body = serde_json::json!({ "app": "shop-api", "to": "prod", "actor": "alice", "approvals": ["bob", "carol"], "at": at });
    let served = server.call("POST", "/v1/plan", Some(&body.to_string()));
    assert_eq!(served.status, 200, "{}", served.body);
    let cli = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "--at", at, "-o", "json"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    let cli_document: serde_json::Value = serde_json::from_str(&cli.stdout).unwrap();
    assert_eq!(cli_document["decision"], "allow");
    assert_eq!(stable(served.json()), stable(cli_document));

    // Several targets: the batch document, as for the command line.
    let body = serde_json::json!({ "app": "shop-web", "to": ["test", "prod"], "actor": "alice" });
    let batch = server.call("POST", "/v1/plan", Some(&body.to_string())).json();
    assert_eq!((batch["decision"].as_str(), batch["outcome"].as_str()), (Some("allow"), Some("no-op")), "{batch}");
    assert_eq!(batch["nothing_to_do"].as_array().map(Vec::len), Some(2), "{batch}");

    // The decision log holds one line per decision served, as the command line writes it.
    let lines = std::fs::read_to_string(&log).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!((first["application"].as_str(), first["to_env"].as_str(), first["dry_run"].as_bool()), (Some("shop-api"), Some("prod"), Some(true)));

    for (path, args) in [
        ("/v1/status", vec!["status", "-o", "json"]),
        ("/v1/history?app=shop-api&env=test&limit=5", vec!["history", "--app", "shop-api", "--env", "test", "--limit", "5", "-o", "json"]),
        ("/v1/history", vec!["history", "-o", "json"]),
        ("/v1/verify/HEAD", vec!["verify", "HEAD", "-o", "json"]),
        ("/v1/verify/HEAD~2..HEAD", vec!["verify", "HEAD~2..HEAD", "-o", "json"]),
    ] {
        let answer = server.call("GET", path, None);
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let cli = tollgate_in(&repo, &args);
        assert_eq!(answer.body, cli.stdout, "{path} answers what `tollgate {}` prints", args.join(" "));
    }
    let openapi = server.call("GET", "/v1/openapi.json", None).json();
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["paths"]["/v1/plan"]["post"].is_object());
}

#[test]
fn serve_refuses_requests_without_or_with_a_wrong_token() {
    let (_dir, _repo, server) = served_demo();
    let body = br#"{"app": "shop-api", "to": "test"}"#;
    for headers in [vec![], vec![("authorization", "Bearer wrong-token-0123456789")], vec![("authorization", &format!("Basic {TOKEN}") as &str)]] {
        for (method, path) in [("POST", "/v1/plan"), ("GET", "/v1/status"), ("GET", "/metrics"), ("POST", "/v1/refresh")] {
            let answer = server.call_with(method, path, &headers, Some(body));
            assert_eq!(answer.status, 401, "{method} {path} with {headers:?}: {}", answer.body);
        }
    }
    // Probes need no token.
    let health = server.call_with("GET", "/healthz", &[], None);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(server.call("GET", "/v1/status", None).status, 200);

    // The dashboard leads a browser without a session to /login; a token logs it in with a
    // cookie that is not the token.
    for path in ["/", "/history", "/promotion/0123abcd"] {
        let answer = server.call_with("GET", path, &[], None);
        assert_eq!((answer.status, answer.header("location")), (303, Some("/login")), "{path}");
    }
    assert!(server.call_with("GET", "/login", &[], None).body.contains("name=\"token\""));
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let refused = server.call_with("POST", "/login", &form, Some(b"token=wrong-token-0123456789"));
    assert_eq!(refused.status, 401);
    let login = server.call_with("POST", "/login", &form, Some(format!("token={TOKEN}").as_bytes()));
    assert_eq!(login.status, 303);
    let cookie = login.header("set-cookie").unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains(TOKEN), "{cookie}");
    let session = cookie.split(';').next().unwrap();
    let page = server.call_with("GET", "/", &[("cookie", session)], None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"matrix\""));
    // The cookie opens the pages, not the API.
    assert_eq!(server.call_with("GET", "/v1/status", &[("cookie", session)], None).status, 401);
}

#[test]
fn serve_answers_400_naming_the_field_and_413_past_a_mebibyte() {
    let (_dir, _repo, server) = served_demo();
    let answer = server.call("POST", "/v1/plan", Some(r#"{"app": "shop-api", "to": "test", "approvals": ["bob", 7]}"#));
    assert_eq!(answer.status, 400);
    let document = answer.json();
    assert_eq!((document["decision"].as_str(), document["exit_code"].as_i64()), (Some("error"), Some(2)));
    assert!(document["error"].as_str().unwrap().starts_with("approvals[1]: invalid type: integer `7`"), "{document}");
    let answer = server.call("POST", "/v1/plan", Some(r#"{"app": "shop-api", "to": "test", "lables": {}}"#));
    assert!(answer.json()["error"].as_str().unwrap().contains("unknown field `lables`"), "{}", answer.body);
    let answer = server.call("POST", "/v1/plan", Some(r#"{"app": "nope", "to": "test"}"#));
    assert_eq!(answer.status, 400, "{}", answer.body);
    let big = format!(r#"{{"app": "shop-api", "to": "test", "actor": "{}"}}"#, "a".repeat(1024 * 1024));
    let answer = server.call("POST", "/v1/plan", Some(&big));
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(server.call("POST", "/v1/promote", Some(r#"{"app": "shop-api", "to": "test"}"#)).status, 403, "no --allow-promote");
}

/// A repository whose prod takes a policy that asks an ERP endpoint at `origin` (which may
/// answer slowly): the decision takes as long as the endpoint does.
fn repo_asking(origin: &str) -> (tempfile::TempDir, String) {
    let config = format!(
        "branch: main\nenvironments: [dev, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      \
         dev:  {{ file: envs/dev/values.yaml, helm: {{ tag_path: image.tag }} }}\n      prod: {{ file: envs/prod/values.yaml, helm: {{ tag_path: image.tag }} }}\n\
         policies:\n  - plugin: builtin:erp-readiness\n    environments: [prod]\n    timeout_ms: 20000\n    http_origins: ['{origin}']\n    \
         config: {{ environments: {{ prod: {{ endpoint: {{ url: '{origin}/ready' }} }} }} }}\n"
    );
    let values = |version: &str| format!("image:\n  tag: \"{version}\"\n");
    committed_repo(&[
        ("tollgate.yaml".to_string(), config),
        ("envs/dev/values.yaml".to_string(), values("1.1.0")),
        ("envs/prod/values.yaml".to_string(), values("1.0.0")),
    ])
}

/// Whether the server's metrics show one request under way, polled for up to 5 s.
fn seen_in_flight(server: &Server) -> bool {
    (0..500).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        server.call("GET", "/metrics", None).body.contains("tollgate_requests_in_flight 1")
    })
}

const PROD_PLAN: &str = r#"{"app": "shop-api", "to": "prod", "actor": "alice"}"#;

#[test]
fn serve_refuses_past_the_in_flight_limit_with_503_and_retry_after() {
    let slow = http_server(200, r#"{"status": "ready"}"#, Duration::from_secs(4));
    let (dir, repo) = repo_asking(&slow);
    let tokens = token_file(dir.path());
    let server = Server::start(&repo, &[], &["--token-file", &tokens, "--max-in-flight", "1"]);
    let url = server.url.clone();
    let first = std::thread::spawn(move || crate::serve_support::request(&url, "POST", "/v1/plan", &[("authorization", &format!("Bearer {TOKEN}"))], Some(PROD_PLAN.as_bytes())));
    // The window: the first decision holds the one place (its policy waits on the endpoint).
    assert!(seen_in_flight(&server), "the first decision was seen in flight");
    let refused = server.call("POST", "/v1/plan", Some(PROD_PLAN));
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(refused.json()["error"].as_str().unwrap().contains("--max-in-flight"));
    let first = first.join().unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["decision"], "allow");
    // Healthz is not limited.
    assert_eq!(server.call_with("GET", "/healthz", &[], None).status, 200);
}

#[test]
fn serve_finishes_the_decision_under_way_on_sigterm_and_exits_0() {
    let slow = http_server(200, r#"{"status": "degraded", "message": "invoice sync lagging"}"#, Duration::from_secs(3));
    let (dir, repo) = repo_asking(&slow);
    let tokens = token_file(dir.path());
    let server = Server::start(&repo, &[], &["--token-file", &tokens]);
    let url = server.url.clone();
    let in_flight = std::thread::spawn(move || crate::serve_support::request(&url, "POST", "/v1/plan", &[("authorization", &format!("Bearer {TOKEN}"))], Some(PROD_PLAN.as_bytes())));
    // The window: the decision is under way when the signal comes.
    assert!(seen_in_flight(&server), "the decision was seen in flight");
    let (code, _) = server.terminate();
    let answer = in_flight.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let document = answer.json();
    assert_eq!(document["decision"], "deny", "{document}");
    assert!(document["policies"][0]["evaluation"]["findings"][0]["message"].as_str().unwrap().contains("invoice sync lagging"), "{document}");
    assert_eq!(code, 0, "a clean shutdown exits 0");
}

#[test]
fn serve_promote_through_a_mirrored_remote_lands_a_commit_verify_accepts() {
    let dir = gitops_repo();
    let source = repo_path(&dir);
    let remote = dir.path().join("remote.git");
    git(&source, &["clone", "--quiet", "--bare", &source, remote.to_str().unwrap()]);
    let remote = remote.to_str().unwrap().to_string();
    let mirror = dir.path().join("mirror");
    let tokens = token_file(dir.path());
    let secret = write(dir.path(), "webhook-secret", "hook-secret\n");
    let url = format!("file://{remote}");
    let server = Server::start(
        &url,
        &[],
        &["--token-file", &tokens, "--mirror-dir", mirror.to_str().unwrap(), "--allow-promote", "--webhook-secret-file", &secret, "--fetch-interval", "1h"],
    );
    let body = serde_json::json!({ "app": "shop-api", "to": "dev", "version": "1.4.2", "digest": DIGEST, "actor": "alice" });
    let answer = server.call("POST", "/v1/promote", Some(&body.to_string()));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let document = answer.json();
    assert_eq!(document["decision"], "allow", "{document}");
    let committed = document["committed"].as_str().unwrap().to_string();
    assert_eq!(document["pushed"]["commit"], committed.as_str());
    assert_eq!(git(&remote, &["rev-parse", "main"]).trim(), committed, "the remote has the commit");
    let run = tollgate(&["--repo", &remote, "verify", &committed]);
    assert_eq!(run.code, 0, "verify accepts the pushed commit: {}{}", run.stdout, run.stderr);

    // Kargo's promote step (examples/kargo/promote-step.yaml) takes it on to test.
    let step = kargo_step_of("promote-step.yaml", "/v1/promote", "test", "1.4.2");
    let document = server.call("POST", "/v1/promote", Some(&step.body)).json();
    assert!(holds(&step.success, &document) && !holds(&step.failure, &document), "{document}");
    let committed = document["committed"].as_str().unwrap().to_string();
    assert_eq!(git(&remote, &["rev-parse", "main"]).trim(), committed);
    let run = tollgate(&["--repo", &remote, "verify", &committed]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // Someone else promotes on the remote; a webhook signed with the secret fetches it.
    let clone = dir.path().join("clone");
    git(&source, &["clone", "--quiet", &remote, clone.to_str().unwrap()]);
    let clone = clone.to_str().unwrap().to_string();
    git(&clone, &["config", "user.name", "bob"]);
    git(&clone, &["config", "user.email", "bob@example.com"]);
    let run = tollgate_in(&clone, &["promote", "shop-web", "--to", "dev", "--version", "2.1.0", "--actor", "bob", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let payload = br#"{"ref": "refs/heads/main"}"#;
    let unsigned = server.call_with("POST", "/v1/refresh", &[("x-hub-signature-256", "sha256=00")], Some(payload));
    assert_eq!(unsigned.status, 401, "a wrong signature is refused");
    let signature = format!("sha256={}", hmac_sha256_hex(b"hook-secret", payload));
    let answer = server.call_with("POST", "/v1/refresh", &[("x-hub-signature-256", &signature)], Some(payload));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["fetched"], true);
    let status = server.call("GET", "/v1/status", None).json();
    assert_eq!(status["applications"][1]["environments"]["dev"]["version"], "2.1.0", "the mirror has bob's promotion");
    let metrics = server.call("GET", "/metrics", None).body;
    assert!(metrics.contains(r#"tollgate_decisions_total{application="shop-api",environment="dev",decision="allow"} 1"#), "{metrics}");
}

/// HMAC-SHA256 with the `openssl` command (independent of the server's implementation).
fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", std::str::from_utf8(key).unwrap(), "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn serve_refuses_a_non_loopback_address_without_tls_or_insecure_listen_and_promoting_without_tokens() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let run = tollgate(&["--repo", &repo, "serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("beyond loopback the server needs --tls-cert FILE --tls-key FILE"), "{}", run.stderr);
    let run = tollgate(&["--repo", &repo, "serve", "--listen", "0.0.0.0:0", "--insecure-listen"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("needs --token-file FILE"), "{}", run.stderr);
    let run = tollgate(&["--repo", &repo, "serve", "--listen", "127.0.0.1:0", "--allow-promote"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--allow-promote needs --token-file FILE"), "{}", run.stderr);
    let run = tollgate(&["--repo", "https://git.example.com/gitops.git", "serve"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("needs --mirror-dir DIR"), "{}", run.stderr);
}

#[test]
fn serve_over_tls_reloads_a_replaced_certificate_without_restarting() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    crate::serve_support::self_signed(dir.path(), "first", &cert, &key);
    let first = std::fs::read(&cert).unwrap();
    let tokens = token_file(dir.path());
    let server = Server::start(&repo, &[], &["--token-file", &tokens, "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let answer = crate::serve_support::get_tls(&server.url, "/healthz", &first).unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "ok\n"));

    // The files are replaced (a renewal): the next handshake presents the new pair.
    std::thread::sleep(Duration::from_millis(1100)); // a modification time the old one cannot have
    crate::serve_support::self_signed(dir.path(), "second", &cert, &key);
    let second = std::fs::read(&cert).unwrap();
    let answer = crate::serve_support::get_tls(&server.url, "/healthz", &second).expect("the renewed certificate is served");
    assert_eq!(answer.status, 200);
    assert!(crate::serve_support::get_tls(&server.url, "/healthz", &first).is_err(), "the old certificate is no longer served");

    // A broken renewal keeps the last good pair.
    std::fs::write(&cert, "not a certificate").unwrap();
    assert_eq!(crate::serve_support::get_tls(&server.url, "/healthz", &second).unwrap().status, 200);
}

/// Commit on a new branch `name` off main an edit of shop-api's values in `env` (from 1.4.1 to
/// 1.4.2 with the dev digest, and `extra` appended), as another tool or a person would; returns
/// the commit.
fn propose(repo: &str, name: &str, env: &str, extra: &str) -> String {
    git(repo, &["checkout", "--quiet", "-b", name, "main"]);
    let path = std::path::Path::new(repo).join(format!("envs/{env}/shop-api/values.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let old_digest = text.lines().find_map(|line| line.trim().strip_prefix("digest: ")).unwrap().to_string();
    std::fs::write(&path, text.replace("\"1.4.1\"", "\"1.4.2\"").replace(&old_digest, DIGEST) + extra).unwrap();
    git(repo, &["-c", "user.name=carol", "-c", "user.email=carol@example.com", "commit", "--quiet", "-am", &format!("bump shop-api in {env}")]);
    let commit = git(repo, &["rev-parse", "HEAD"]).trim().to_string();
    git(repo, &["checkout", "--quiet", "main"]);
    commit
}

#[test]
fn serve_check_judges_a_proposed_commit_as_the_promotions_it_contains() {
    let (_dir, repo, server) = served_demo();
    promote_with_cli(&repo, false);
    let check = |body: serde_json::Value| {
        let answer = server.call("POST", "/v1/check", Some(&body.to_string()));
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()
    };

    // test takes what dev runs: a commit that writes exactly that passes, its author an
    // unverified requester.
    let good = propose(&repo, "bump-test", "test", "");
    let document = check(serde_json::json!({ "commit": good }));
    assert_eq!(document["decision"], "allow", "{document}");
    let transition = &document["transitions"][0];
    assert_eq!((transition["application"].as_str(), transition["environment"].as_str()), (Some("shop-api"), Some("test")));
    assert_eq!((transition["requester_verified"].as_bool(), transition["matches_promotion"].as_bool()), (Some(false), Some(true)));
    assert_eq!(transition["document"]["transition"]["requested_by"], "carol@example.com");
    assert_eq!(transition["document"]["transition"]["labels"]["requester-unverified"], "true");
    let cli = tollgate_in(&repo, &["check-proposal", &good, "-o", "json"]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert_eq!(stable(serde_json::from_str(&cli.stdout).unwrap()), stable(document));
    let named = check(serde_json::json!({ "commit": good, "base": "main", "actor": "alice" }));
    assert_eq!(named["transitions"][0]["requester_verified"], true);

    // The same version with another change in the file is not what the promotion writes.
    let extra = propose(&repo, "bump-test-and-more", "test", "podAnnotations: { team: shop }\n");
    let document = check(serde_json::json!({ "commit": extra }));
    assert_eq!(document["decision"], "deny", "{document}");
    assert!(document["transitions"][0]["summary"].as_str().unwrap().contains("is not what the promotion writes"), "{document}");

    // prod takes what test runs (1.4.1): 1.4.2 there is no promotion tollgate would make.
    let skip = propose(&repo, "bump-prod", "prod", "");
    let document = check(serde_json::json!({ "commit": skip }));
    assert_eq!(document["decision"], "deny", "{document}");
    assert!(document["transitions"][0]["summary"].as_str().unwrap().contains("prod takes what is in test (1.4.1), not 1.4.2"), "{document}");
    let cli = tollgate_in(&repo, &["check-proposal", &format!("main..{skip}")]);
    assert_eq!(cli.code, 1, "{}{}", cli.stdout, cli.stderr);
    assert!(cli.stdout.contains("shop-api 1.4.2 to prod: not a promotion tollgate would make"), "{}", cli.stdout);
}
