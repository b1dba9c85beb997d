//! The promotion record: never corrupt, never lost, never forgeable by input (issue 8).
//! Each `item_NN_…` test is the regression test of one defect listed in the issue.

use std::path::Path;

use crate::support::{committed_repo, git, gitops_repo, repo_path, snapshot, tollgate_in, write};

pub const DIGEST_A: &str = "sha256:abababababababababababababababababababababababababababababababab";
pub const DIGEST_B: &str = "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

/// A configuration with no policies: what is under test is the record, not the verdicts.
pub const PLAIN_CONFIG: &str = "branch: main
environments: [dev, test, prod]
applications:
  api:
    image: registry.example.com/shop/api
    environments:
      dev:  { file: envs/dev/api.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
      test: { file: envs/test/api.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
      prod: { file: envs/prod/api.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
  web:
    image: registry.example.com/shop/web
    environments:
      dev:  { file: envs/dev/web.yaml, manifest: { container: web } }
      test: { file: envs/test/web.yaml, manifest: { container: web } }
      prod: { file: envs/prod/web.yaml, manifest: { container: web } }
";

/// Helm values for `api`.
pub fn api_values(version: &str) -> String {
    format!("image:\n  repository: registry.example.com/shop/api\n  tag: \"{version}\"\n  digest: \"\"\n")
}

/// A raw Deployment for `web`.
pub fn web_manifest(version: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/shop/web:{version}\n"
    )
}

/// A checked-out repository (branch main) holding `config` and the files of [`PLAIN_CONFIG`]
/// at 1.0.0, plus `extra` files. Returns the temporary directory and the repository path.
pub fn plain_repo_with(config: &str, extra: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let mut files: Vec<(String, String)> = vec![("tollgate.yaml".into(), config.into())];
    for env in ["dev", "test", "prod"] {
        files.push((format!("envs/{env}/api.yaml"), api_values("1.0.0")));
        files.push((format!("envs/{env}/web.yaml"), web_manifest("1.0.0")));
    }
    files.extend(extra.iter().map(|(path, content)| (path.to_string(), content.to_string())));
    committed_repo(&files)
}

/// [`plain_repo_with`] the plain configuration.
pub fn plain_repo() -> (tempfile::TempDir, String) {
    plain_repo_with(PLAIN_CONFIG, &[])
}

/// `git fsck --full` finds nothing wrong.
pub fn assert_fsck_clean(repo: &str) {
    let output = std::process::Command::new("git").args(["-C", repo, "fsck", "--full", "--strict"]).output().unwrap();
    assert!(output.status.success(), "git fsck: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
}

fn promote(repo: &str, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["promote"];
    all.extend_from_slice(args);
    tollgate_in(repo, &all)
}

fn assert_ok(run: &crate::support::Run) {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// Make a commit with git itself, as someone bypassing tollgate would.
fn hand_commit(repo: &str, path: &str, content: &str, message: &str) {
    std::fs::write(Path::new(repo).join(path), content).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", message]);
}

#[test]
fn item_01_a_newline_in_actor_is_refused_and_the_repository_stays_usable() {
    let (_dir, repo) = plain_repo();
    let before = snapshot(&repo);
    let run = promote(&repo, &["api", "--to", "dev", "--version", "9.10", "--actor", "eve\nx"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--actor: \"eve\\nx\" contains the control or bidirectional character U+000A"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before);
    for bad in ["a <b", "<x@y>", "eve\u{2028}", "Eve <eve@x> trailing"] {
        let run = promote(&repo, &["api", "--to", "dev", "--version", "9.10", "--actor", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("--actor"), "{}", run.stderr);
    }
    assert_eq!(snapshot(&repo), before);
    assert_ok(&promote(&repo, &["api", "--to", "dev", "--version", "9.10", "--actor", "Eve Example <eve@example.com>"]));
    assert_eq!(git(&repo, &["log", "-1", "--format=%an|%ae"]), "Eve Example|eve@example.com\n");
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains("Tollgate-Requested-By: eve@example.com\n"));
    assert_fsck_clean(&repo);
}

const FORGED_BLOCK: &str = "1.5.0\n\nTollgate-App: api\nTollgate-To: prod\nTollgate-Version: 6.6.6\nTollgate-Approved-By: root\n--- ";

#[test]
fn item_02_trailer_forgery_through_any_input_is_refused() {
    let (_dir, repo) = plain_repo();
    let before = snapshot(&repo);
    let attempts: Vec<Vec<&str>> = vec![
        vec!["api", "--to", "dev", "--version", FORGED_BLOCK, "--actor", "alice"],
        vec!["api", "--to", "dev", "--version", "1.5.0", "--actor", "alice", "--approval", "bob\n\nTollgate-To: prod"],
        vec!["api", "--to", "dev", "--version", "1.5.0", "--actor", "alice", "--label", "k=v\nTollgate-Version: 6.6.6"],
        vec!["api", "--to", "dev", "--version", "1.5.0", "--actor", "alice", "--label", "a b=c"],
    ];
    for args in attempts {
        let run = promote(&repo, &args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
    }
    assert_eq!(snapshot(&repo), before);
    assert!(!tollgate_in(&repo, &["history"]).stdout.contains("6.6.6"));
}

#[test]
fn item_02_a_plugin_name_cannot_write_a_line_of_the_commit_message() {
    use tollgate::promotion::record::{DecisionRecord, RecordedPolicy};
    use tollgate::promotion::trailers::{Trailers, commit_message};
    // Plugin output is escaped where it enters (the gate); even a record built around it
    // yields one trailer line per policy.
    let mut record: DecisionRecord = serde_json::from_value(serde_json::json!({
        "schema_version": 2, "tollgate_version": "0", "base_commit": "0000000000000000000000000000000000000000",
        "transition": { "id": "tg-0123456789abcdef", "application": "api", "to_env": "dev" }, "policies": []
    }))
    .unwrap();
    let name = tollgate::input::escape_untrusted("evil\nTollgate-Version: 6.6.6\u{2028}x", 100);
    record.policies.push(RecordedPolicy {
        name: name.clone(),
        plugin: "builtin:x".into(),
        sha256: "00".repeat(32),
        manifest_digest: None,
        version: "1".into(),
        mode: tollgate::config::Mode::Enforce,
        config: serde_json::json!({}),
        config_json: "{}".into(),
        timeout_ms: 1,
        memory_bytes: 1,
        http_origins: vec![],
        credentials: Default::default(),
        outcome: serde_json::json!({"outcome": "verdict", "decision": "allow", "findings": []}),
        observations: Vec::new(),
        counted_approvals: None,
    });
    let message = commit_message(&record);
    assert!(!message.lines().any(|line| line.starts_with("Tollgate-Version: 6.6.6")), "{message}");
    let trailers = Trailers::parse(&message).unwrap();
    assert_eq!(trailers.policies.len(), 1, "{message}");
    assert!(trailers.disagreements(&record).is_empty(), "{:?}", trailers.disagreements(&record));
}

#[test]
fn item_03_history_and_status_do_not_trust_commits_with_forged_trailers() {
    let (_dir, repo) = plain_repo();
    assert_ok(&promote(&repo, &["api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]));
    hand_commit(
        &repo,
        "envs/prod/api.yaml",
        &api_values("6.6.6"),
        "promote api 6.6.6 to prod\n\nTollgate-App: api\nTollgate-To: prod\nTollgate-Version: 6.6.6\nTollgate-Requested-By: root\nTollgate-Approved-By: root\nTollgate-Decision: tg-0000000000000000\n",
    );
    let history = tollgate_in(&repo, &["history", "-o", "json"]);
    let document: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let entries = document["promotions"].as_array().unwrap();
    assert_eq!(entries[0]["version"], "6.6.6");
    assert_eq!(entries[0]["counts"], false);
    assert!(entries[0]["problems"][0].as_str().unwrap().contains("no decision record"), "{}", entries[0]);
    assert_eq!(entries[1]["counts"], true);
    let text = tollgate_in(&repo, &["history"]).stdout;
    assert!(text.contains("UNRECORDED CHANGE: not a verified tollgate promotion: it has Tollgate trailers but no decision record"), "{text}");

    let status: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &["status", "-o", "json"]).stdout).unwrap();
    let prod = &status["applications"][0]["environments"]["prod"];
    assert_eq!(prod["version"], "6.6.6");
    assert_eq!(prod["by"], serde_json::Value::Null);
    assert_eq!(prod["unrecorded_change"], true);
    assert!(tollgate_in(&repo, &["status"]).stdout.contains("prod       6.6.6        -              UNRECORDED CHANGE"));
}

#[test]
fn item_04_a_transplanted_record_is_not_a_promotion() {
    let (_dir, repo) = plain_repo();
    assert_ok(&promote(&repo, &["api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]));
    let record_path = git(&repo, &["show", "--name-only", "--format=", "HEAD"]).lines().find(|line| line.ends_with(".decision")).unwrap().to_string();
    let real_message = git(&repo, &["log", "-1", "--format=%B"]);
    let record = std::fs::read_to_string(Path::new(&repo).join(&record_path)).unwrap();

    // Copy the real record under a fresh decision id into a commit setting prod to a backdoor.
    let forged_record = record.replace("tg-", "tg-f");
    let forged_path = record_path.replace("tg-", "tg-f");
    std::fs::write(Path::new(&repo).join(&forged_path), &forged_record).unwrap();
    hand_commit(&repo, "envs/prod/api.yaml", &api_values("9.9.9-backdoor"), &real_message.replace("tg-", "tg-f"));
    let verify = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("PROBLEM  it changes envs/prod/api.yaml, which no decision record covers"), "{}", verify.stdout);
    assert!(verify.stdout.contains("PROBLEM  envs/dev/api.yaml in the parent commit is not what the decision was made on"), "{}", verify.stdout);
    assert!(verify.stdout.ends_with("not reproduced\n"), "{}", verify.stdout);
    let status = tollgate_in(&repo, &["status"]).stdout;
    assert!(status.contains("prod       9.9.9-backdoor -              UNRECORDED CHANGE"), "{status}");
    assert!(!status.contains("9.9.9-backdoor since"), "{status}");

    // A commit that merely repeats an existing record changes no record: not a promotion.
    git(&repo, &["reset", "--quiet", "--hard", "HEAD~1"]);
    hand_commit(&repo, "envs/prod/api.yaml", &api_values("9.9.9-backdoor"), &real_message);
    let verify = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("its Tollgate-Decision trailer names no record the commit adds") || verify.stdout.contains("no decision record"), "{}", verify.stdout);
}

#[test]
fn item_05_verify_runs_what_the_base_configures_not_what_the_record_names() {
    use std::io::{BufRead, BufReader, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // A loopback server that counts requests: the "internal host" a tampered record points at.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                line.clear();
            }
            let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}");
        }
    });

    let dir = gitops_repo();
    let repo = repo_path(&dir);
    assert_ok(&promote(&repo, &["shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST_A, "--actor", "alice"]));
    let record_path = git(&repo, &["show", "--name-only", "--format=", "HEAD"]).lines().find(|line| line.ends_with(".decision")).unwrap().to_string();
    let mut record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(Path::new(&repo).join(&record_path)).unwrap()).unwrap();
    let mut extra = record["policies"][0].clone();
    extra["name"] = "exfiltrate".into();
    extra["plugin"] = crate::support::plugin("hostile").to_str().unwrap().into();
    extra["http_origins"] = serde_json::json!([origin]);
    extra["memory_bytes"] = serde_json::json!(3u64 << 30);
    extra["timeout_ms"] = serde_json::json!(600_000);
    extra["config_json"] = serde_json::json!(format!("{{\"behaviour\":\"http\",\"url\":\"{origin}/secret\"}}"));
    record["policies"].as_array_mut().unwrap().push(extra);
    record["policies"][0]["http_origins"] = serde_json::json!([origin]);
    record["policies"][0]["memory_bytes"] = serde_json::json!(3u64 << 30);
    std::fs::write(Path::new(&repo).join(&record_path), serde_json::to_string_pretty(&record).unwrap() + "\n").unwrap();
    git(&repo, &["commit", "--quiet", "--amend", "-a", "--no-edit"]);

    let verify = tollgate_in(&repo, &["verify", "HEAD", "-o", "json"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    let document: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    let policies = document["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2, "{document}");
    let first = policies[0]["problem"].as_str().unwrap();
    assert!(first.contains("the record's limits") && first.contains("HTTP origins"), "{first}");
    assert_eq!(policies[1]["name"], "exfiltrate");
    assert!(policies[1]["problem"].as_str().unwrap().contains("which the configuration at the base commit does not run for dev; not run"));
    assert_eq!(policies[1]["now"], serde_json::Value::Null);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "verify must not reach an origin the record names");
}

#[test]
fn item_06_concurrent_promotions_never_lose_a_record() {
    let (dir, source) = plain_repo();
    let bare = dir.path().join("bare.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", "--bare", &source, &bare]);
    // Five promoters at once on one bare repository (two applications, so some race for
    // the same file): every commit that lands carries its record and verifies.
    let handles: Vec<_> = (0..5)
        .map(|index| {
            let bare = bare.clone();
            std::thread::spawn(move || {
                let app = if index % 2 == 0 { "api" } else { "web" };
                let run = tollgate_in(&bare, &["promote", app, "--to", "dev", "--version", &format!("2.0.{index}"), "--actor", "ci", "--no-digest"]);
                assert!(run.code == 0 || run.code == 4, "exit {}: {}{}", run.code, run.stdout, run.stderr);
                run.code
            })
        })
        .collect();
    let landed = handles.into_iter().map(|handle| handle.join().unwrap()).filter(|code| *code == 0).count();
    // They queue on the repository's promotion lock (each holds it for well under a second of
    // its 20 s wait) and re-plan on the tip they find: every one lands.
    assert_eq!(landed, 5, "all five concurrent promotions land, one after another");
    let history: serde_json::Value = serde_json::from_str(&tollgate_in(&bare, &["history", "-o", "json"]).stdout).unwrap();
    let promotions = history["promotions"].as_array().unwrap();
    assert_eq!(promotions.len(), 5, "{history}");
    for promotion in promotions {
        assert_eq!(promotion["counts"], true, "{promotion}");
        let verify = tollgate_in(&bare, &["verify", promotion["commit"].as_str().unwrap()]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    }
    assert_fsck_clean(&bare);

    // The same environment from four processes in one checkout: they queue on the lock and
    // each lands on the one before it.
    let before = git(&source, &["rev-parse", "main"]);
    let handles: Vec<_> = (0..4)
        .map(|index| {
            let source = source.clone();
            std::thread::spawn(move || {
                let run = tollgate_in(&source, &["promote", "api", "--to", "dev", "--version", &format!("3.0.{index}"), "--actor", "ci", "--no-digest"]);
                assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
            })
        })
        .collect();
    handles.into_iter().for_each(|handle| handle.join().unwrap());
    let landed = git(&source, &["rev-list", &format!("{}..main", before.trim())]);
    assert_eq!(landed.lines().count(), 4, "four promotion commits: {landed}");
    for commit in landed.lines() {
        let verify = tollgate_in(&source, &["verify", commit]);
        assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    }
    assert_eq!(git(&source, &["status", "--porcelain"]), "", "the working tree and index match the branch");
    assert_fsck_clean(&source);
}

#[test]
fn item_07_the_record_survives_squash_rebase_and_merge_commits_and_a_fresh_clone() {
    for how in ["squash", "rebase", "merge"] {
        let (dir, repo) = plain_repo();
        let run = promote(&repo, &["api", "--to", "dev", "--version", "1.2.0", "--actor", "alice", "--branch", "promote/api/dev"]);
        assert_ok(&run);
        // main moves on meanwhile.
        hand_commit(&repo, "README.md", "unrelated\n", "docs");
        match how {
            "squash" => {
                git(&repo, &["merge", "--quiet", "--squash", "promote/api/dev"]);
                git(&repo, &["commit", "--quiet", "--no-edit"]);
            }
            "rebase" => {
                git(&repo, &["rebase", "--quiet", "main", "promote/api/dev"]);
                git(&repo, &["checkout", "--quiet", "main"]);
                git(&repo, &["merge", "--quiet", "--ff-only", "promote/api/dev"]);
            }
            _ => git(&repo, &["merge", "--quiet", "--no-ff", "--no-edit", "promote/api/dev"]).truncate(0),
        }
        git(&repo, &["branch", "--quiet", "-D", "promote/api/dev"]);
        let status = tollgate_in(&repo, &["status"]).stdout;
        assert!(status.contains("dev        1.2.0        -              since "), "{how}: {status}");
        let history: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &["history", "-o", "json"]).stdout).unwrap();
        assert_eq!(history["promotions"][0]["counts"], true, "{how}: {history}");
        let commit = history["promotions"][0]["commit"].as_str().unwrap().to_string();
        let verify = tollgate_in(&repo, &["verify", &commit]);
        assert_eq!(verify.code, 0, "{how}: {}{}", verify.stdout, verify.stderr);

        let clone = dir.path().join("clone").to_str().unwrap().to_string();
        git(&repo, &["clone", "--quiet", &repo, &clone]);
        let verify = tollgate_in(&clone, &["verify", &commit]);
        assert_eq!(verify.code, 0, "{how}, fresh clone: {}{}", verify.stdout, verify.stderr);
    }
}

#[test]
fn item_08_versions_and_digests_are_checked_before_anything_is_written() {
    let (_dir, repo) = plain_repo();
    let before = snapshot(&repo);
    let long = "a".repeat(200);
    for version in ["", "a\nb", "a\tb", "a: b", "{a}", "a\u{2028}b", long.as_str(), "ü1", "a:b", "-1"] {
        // `--version=…` so that clap passes values such as `-1` on.
        let run = promote(&repo, &["web", "--to", "dev", &format!("--version={version}"), "--actor", "alice"]);
        assert_eq!(run.code, 2, "{version:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("--version"), "{}", run.stderr);
    }
    for digest in ["md5:abc", "sha256:xyz", &format!("sha256:{}", "a".repeat(63)), &DIGEST_A.to_uppercase().replace("SHA256", "sha256"), "latest; rm -rf /", ""] {
        let run = promote(&repo, &["api", "--to", "dev", "--version", "1.1.0", "--digest", digest, "--actor", "alice"]);
        assert_eq!(run.code, 2, "{digest:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("--digest"), "{}", run.stderr);
    }
    assert_eq!(snapshot(&repo), before);

    // A raw manifest keeps its image name; its digest travels in the image reference.
    assert_ok(&promote(&repo, &["web", "--to", "dev", "--version", "1.1.0", "--digest", DIGEST_A, "--actor", "alice"]));
    let manifest = std::fs::read_to_string(Path::new(&repo).join("envs/dev/web.yaml")).unwrap();
    assert!(manifest.contains(&format!("image: registry.example.com/shop/web:1.1.0@{DIGEST_A}\n")), "{manifest}");
    // An existing digest is never cleared silently: give one, or say --no-digest.
    let run = promote(&repo, &["web", "--to", "dev", "--version", "1.2.0", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("has the digest sha256:abab") && run.stderr.contains("--no-digest"), "{}", run.stderr);
    assert_ok(&promote(&repo, &["web", "--to", "dev", "--version", "1.2.0", "--actor", "alice", "--no-digest"]));
    assert!(std::fs::read_to_string(Path::new(&repo).join("envs/dev/web.yaml")).unwrap().contains("web:1.2.0\n"));
    // The digest follows the artifact into the next environment.
    assert_ok(&promote(&repo, &["api", "--to", "dev", "--version", "1.1.0", "--digest", DIGEST_B, "--actor", "alice"]));
    assert_ok(&promote(&repo, &["api", "--to", "test", "--actor", "alice"]));
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains(&format!("Tollgate-Digest: {DIGEST_B}\n")));

    // A --digest the layout cannot write is refused, and the configured image must match.
    let config = PLAIN_CONFIG.replace("dev:  { file: envs/dev/api.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }", "dev:  { file: envs/dev/api.yaml, helm: { tag_path: image.tag } }");
    let (_dir, repo) = plain_repo_with(&config, &[]);
    let run = promote(&repo, &["api", "--to", "dev", "--version", "1.1.0", "--digest", DIGEST_A, "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--digest: the file of api in dev has no place for a digest"), "{}", run.stderr);
    let config = PLAIN_CONFIG.replace("image: registry.example.com/shop/web", "image: registry.example.com/other/web");
    let (_dir, repo) = plain_repo_with(&config, &[]);
    let run = promote(&repo, &["web", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("envs/dev/web.yaml:10: the image repository in the file is registry.example.com/shop/web, but tollgate.yaml configures registry.example.com/other/web"),
        "{}",
        run.stderr
    );
}

#[test]
fn item_09_duplicate_keys_on_the_edited_path_are_refused() {
    let (_dir, repo) = plain_repo();
    hand_commit(
        &repo,
        "envs/dev/api.yaml",
        "image:\n  repository: registry.example.com/shop/api\n  tag: \"1.4.2\"\n  tag: \"6.6.6\"\n  digest: \"\"\n",
        "two tags",
    );
    let before = snapshot(&repo);
    let run = promote(&repo, &["api", "--to", "dev", "--version", "1.5.0", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("envs/dev/api.yaml:4: the key `tag` is written twice in one mapping (lines 3 and 4)"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn item_10_labels_and_a_chosen_decision_time_are_visible_in_git() {
    let (_dir, repo) = plain_repo();
    let run = promote(&repo, &["api", "--to", "dev", "--version", "1.1.0", "--actor", "alice", "--label", "break-glass=INC-1234"]);
    assert_ok(&run);
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Tollgate-Label: break-glass=INC-1234\n"), "{message}");
    assert!(!message.contains("Tollgate-Requested-At"), "{message}");
    assert!(tollgate_in(&repo, &["history"]).stdout.contains("by alice [label break-glass=INC-1234]"));
    assert!(tollgate_in(&repo, &["status"]).stdout.contains("by alice [label break-glass=INC-1234]"));

    // --at far from now: plan takes it; promote refuses it unless the configuration allows it.
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["plan", "api", "--to", "test", "--actor", "alice", "--at", "2020-01-01T00:00:00Z"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = promote(&repo, &["api", "--to", "test", "--actor", "alice", "--at", "2020-01-01T00:00:00Z"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("promote and rollback decide as of now") && run.stderr.contains("allow_requested_at: true"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before);
    // Within the skew it is taken, and recorded as chosen.
    let soon = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(60)).unwrap().to_string();
    assert_ok(&promote(&repo, &["api", "--to", "test", "--actor", "alice", "--at", &soon]));
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains("Tollgate-Requested-At: "));
    assert!(tollgate_in(&repo, &["history"]).stdout.contains("(--at)]"));

    let (_dir, repo) = plain_repo_with(&format!("{PLAIN_CONFIG}allow_requested_at: true\n"), &[]);
    assert_ok(&promote(&repo, &["api", "--to", "dev", "--version", "1.1.0", "--actor", "alice", "--at", "2026-01-06T10:30:00+01:00"]));
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains("Tollgate-Requested-At: 2026-01-06T09:30:00Z\n"));
}

#[test]
fn item_11_a_refused_push_leaves_nothing_behind_and_a_successful_one_says_so() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, source) = plain_repo();
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", "--bare", &source, &remote]);
    let clone = dir.path().join("clone").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", &remote, &clone]);
    let hook = Path::new(&remote).join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'prod is frozen until Monday' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = snapshot(&clone);
    let run = tollgate_in(&clone, &["promote", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice", "--push"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("remote: prod is frozen until Monday"), "{}", run.stderr);
    assert!(run.stderr.contains("the local commit was discarded"), "{}", run.stderr);
    // Nothing unpublished is left (the remote-tracking ref may have been refreshed).
    let strip = |text: String| text.lines().filter(|line| !line.starts_with("refs/remotes/")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(snapshot(&clone)), strip(before));

    std::fs::remove_file(&hook).unwrap();
    let run = tollgate_in(&clone, &["promote", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice", "--push", "-o", "json"]);
    assert_ok(&run);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["pushed"]["remote"], "origin");
    assert_eq!(document["pushed"]["commit"], git(&remote, &["rev-parse", "main"]).trim());
    let run = tollgate_in(&clone, &["promote", "api", "--to", "test", "--actor", "alice", "--push"]);
    assert_ok(&run);
    assert!(run.stdout.contains("\npushed to origin (main at "), "{}", run.stdout);
}

#[test]
fn item_12_rollback_goes_back_not_forth_and_takes_any_revision() {
    let (_dir, repo) = plain_repo();
    for version in ["1.1.0", "1.2.0", "1.3.0"] {
        assert_ok(&promote(&repo, &["web", "--to", "dev", "--version", version, "--actor", "alice"]));
    }
    let rollback = |args: &[&str]| {
        let mut all = vec!["rollback", "web", "--env", "dev", "--actor", "alice"];
        all.extend_from_slice(args);
        tollgate_in(&repo, &all)
    };
    let deployed = || git(&repo, &["show", "HEAD:envs/dev/web.yaml"]).lines().find(|l| l.contains("image:")).unwrap().trim().to_string();
    assert_ok(&rollback(&[]));
    assert_eq!(deployed(), "image: registry.example.com/shop/web:1.2.0");
    assert_ok(&rollback(&[]));
    assert_eq!(deployed(), "image: registry.example.com/shop/web:1.1.0", "a second rollback goes further back, not to 1.3.0");
    assert_ok(&rollback(&[]));
    assert_eq!(deployed(), "image: registry.example.com/shop/web:1.0.0");
    let run = rollback(&[]);
    assert_eq!(run.code, 2, "nothing earlier: {}{}", run.stdout, run.stderr);

    // --to takes any revision Git resolves to a promotion into the environment.
    let promotion_of_1_3 = git(&repo, &["log", "--format=%h", "--grep", "promote web 1.3.0 to dev"]).trim().to_string();
    assert_ok(&rollback(&["--to", &promotion_of_1_3]));
    assert_eq!(deployed(), "image: registry.example.com/shop/web:1.3.0");
    assert_ok(&promote(&repo, &["web", "--to", "dev", "--version", "1.4.0", "--actor", "alice"]));
    assert_ok(&rollback(&["--to", "HEAD~1"]));
    assert_eq!(deployed(), "image: registry.example.com/shop/web:1.3.0");
}

#[test]
fn item_13_self_approval_through_an_identity_format_is_not_counted() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    assert_ok(&promote(&repo, &["shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST_A, "--actor", "alice"]));
    assert_ok(&promote(&repo, &["shop-api", "--to", "test", "--actor", "alice"]));
    let run = tollgate_in(
        &repo,
        &["plan", "shop-api", "--to", "prod", "--actor", "bob <bob@users.noreply.github.com>", "--approval", "bob", "--approval", "carol", "--at", "2026-01-06T10:30:00+01:00"],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ignored: bob approved their own promotion"), "{}", run.stdout);
}

#[test]
fn item_14_a_pull_request_cannot_choose_the_configuration_that_judges_it() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    assert_ok(&promote(&repo, &["shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST_A, "--actor", "alice"]));
    assert_ok(&promote(&repo, &["shop-api", "--to", "test", "--actor", "alice"]));
    // The pull request's branch loosens tollgate.yaml and points `branch:` at itself.
    git(&repo, &["checkout", "--quiet", "-b", "promote/shop-api/prod"]);
    let config = std::fs::read_to_string(Path::new(&repo).join("tollgate.yaml")).unwrap();
    let loose = config.replace("branch: main", "branch: promote/shop-api/prod");
    let loose = format!("{}policies: []\n", &loose[..loose.find("policies:").unwrap()]);
    write(Path::new(&repo), "tollgate.yaml", &loose);
    git(&repo, &["commit", "--quiet", "-am", "loosen the rules"]);
    let run = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod", "--actor", "alice", "--at", "2026-01-06T10:30:00+01:00"]);
    assert_eq!(run.code, 1, "the protected branch's rules still apply: {}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("denied by approval-count"), "{}", run.stdout);
    // Only the invocation chooses another branch.
    let run = tollgate_in(&repo, &["--protected-branch", "promote/shop-api/prod", "plan", "shop-api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn item_15_branch_names_git_would_refuse_are_refused() {
    let (_dir, repo) = plain_repo();
    let before = snapshot(&repo);
    for name in ["HEAD", "@", "-x", "a..b", "a b", "x.lock"] {
        let run = promote(&repo, &["api", "--to", "dev", "--version", "1.1.0", "--actor", "alice", &format!("--branch={name}")]);
        assert_eq!(run.code, 2, "{name:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("--branch"), "{}", run.stderr);
    }
    assert_eq!(snapshot(&repo), before);
}
