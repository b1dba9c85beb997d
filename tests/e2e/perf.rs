//! The performance paths of issue 13, checked by behaviour, never timed: planning reads
//! history only as far as the records it needs and `history` pages lazily (P6, counted in
//! commits read on a long generated history); a promotion in a checkout checks and updates
//! only the touched index entries and files with every guarantee kept (P4); `plan-batch`
//! plans many promotions in one process (P5).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{git, gitops_repo, promote_to_test, repo_path, snapshot, tollgate_in, write};

const TUESDAY: &str = "2026-01-06T10:30:00+01:00";
const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

/// Add `count` ordinary commits (each changing `filler.txt`, dated in 2023) on top of `main`
/// with `git fast-import`, then bring the working tree up to date.
pub fn add_filler_commits(repo: &str, count: usize) {
    let tip = git(repo, &["rev-parse", "main"]).trim().to_string();
    let mut stream = String::new();
    for index in 0..count {
        let message = format!("filler {index}\n");
        let content = format!("{index}\n");
        stream.push_str(&format!("commit refs/heads/main\ncommitter Filler <filler@example.com> {} +0000\n", 1_680_000_000 + index));
        stream.push_str(&format!("data {}\n{message}", message.len()));
        if index == 0 {
            stream.push_str(&format!("from {tip}\n"));
        }
        stream.push_str(&format!("M 644 inline filler.txt\ndata {}\n{content}\n", content.len()));
    }
    let mut child = Command::new("git").args(["-C", repo, "fast-import", "--quiet"]).stdin(Stdio::piped()).spawn().expect("run git fast-import");
    child.stdin.take().unwrap().write_all(stream.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "git fast-import failed");
    git(repo, &["reset", "--hard", "-q", "main"]);
}

/// The number in `tollgate: planning read N commits of history`.
fn commits_read(stderr: &str) -> usize {
    let line = stderr.lines().find(|line| line.contains("planning read")).unwrap_or_else(|| panic!("no history count in: {stderr}"));
    line.split_whitespace().find_map(|word| word.parse().ok()).unwrap()
}

#[test]
fn plan_stops_reading_history_at_the_records_it_needs() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    add_filler_commits(&repo, 5_000);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", &digest, "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The promotion into dev is the tip: planning test from it reads one commit, not 5,000.
    let run = tollgate_in(&repo, &["--verbose", "plan", "shop-api", "--to", "test", "--actor", "alice", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(commits_read(&run.stderr) <= 2, "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(document.to_string().contains("1.4.2"), "{document}");

    // The count is real: a source environment with no promotion record reads to the root.
    let run = tollgate_in(&repo, &["--verbose", "plan", "shop-web", "--to", "test", "--actor", "alice"]);
    assert!(commits_read(&run.stderr) > 5_000, "{}", run.stderr);

    // `history` pages lazily and still finds the promotion behind the newest page.
    let run = tollgate_in(&repo, &["history", "--limit", "1", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(page["promotions"].as_array().map(Vec::len), Some(1), "{page}");
    assert!(run.stderr.contains("--limit N shows more"), "{}", run.stderr);
}

#[test]
fn a_staged_change_to_the_touched_file_refuses_the_promotion_and_changes_nothing() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let file = dir.path().join("repo/envs/dev/shop-api/values.yaml");
    let committed = std::fs::read_to_string(&file).unwrap();
    // Staged, then the working file put back: only the index differs from the branch.
    std::fs::write(&file, committed.clone() + "# staged edit\n").unwrap();
    git(&repo, &["add", "envs/dev/shop-api/values.yaml"]);
    std::fs::write(&file, &committed).unwrap();
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.5.0", "--no-digest", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("envs/dev/shop-api/values.yaml has uncommitted changes"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn a_promotion_in_a_checkout_updates_only_its_entries_and_leaves_status_clean() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    // Untouched files with local changes stay as they are; an executable manifest stays executable.
    write(&dir.path().join("repo"), "README.md", "# local notes\n");
    let file = dir.path().join("repo/envs/dev/shop-api/values.yaml");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    git(&repo, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", "executable values"]);
    write(&dir.path().join("repo"), "README.md", "# local notes, changed again\n");
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.5.0", "--digest", DIGEST, "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["status", "--porcelain"]), " M README.md\n");
    assert_eq!(git(&repo, &["diff", "--cached", "--name-only"]), "");
    let staged = git(&repo, &["ls-files", "-s", "envs/dev/shop-api/values.yaml"]);
    let committed = git(&repo, &["rev-parse", "HEAD:envs/dev/shop-api/values.yaml"]);
    assert!(staged.starts_with(&format!("100755 {}", committed.trim())), "{staged} vs {committed}");
    assert!(std::fs::read_to_string(&file).unwrap().contains("1.5.0"));
    assert_eq!(std::fs::read_to_string(dir.path().join("repo/README.md")).unwrap(), "# local notes, changed again\n");
    // The record is in the index and the working tree too.
    let record = git(&repo, &["show", "--name-only", "--format=", "HEAD"]).lines().find(|line| line.ends_with(".decision")).unwrap().to_string();
    assert!(dir.path().join("repo").join(&record).is_file(), "{record}");
    assert_eq!(git(&repo, &["ls-files", &record]).trim(), record);
}

#[test]
fn plan_batch_plans_many_promotions_in_one_process() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    promote_to_test(&repo);
    let train = write(dir.path(), "train.txt", "# release train\nshop-api prod\nshop-web test\n{\"app\": \"shop-api\", \"to\": \"test\"}\n");
    let approved = ["--actor", "alice", "--approval", "bob", "--approval", "carol", "--at", TUESDAY];
    let mut args = vec!["--verbose", "plan-batch", train.as_str(), "-o", "json"];
    args.extend(approved);
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let results: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let summary: Vec<(u64, &str, &str, &str, &str)> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|result| (result["line"].as_u64().unwrap(), result["app"].as_str().unwrap(), result["to"].as_str().unwrap(), result["version"].as_str().unwrap(), result["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(summary, [(2, "shop-api", "prod", "1.4.2", "allowed"), (3, "shop-web", "test", "2.0.0", "no-change"), (4, "shop-api", "test", "1.4.2", "no-change")]);
    // The three plans shared one history reader: shop-web has no record in dev, so it was read
    // to the root once, not once per plan.
    let commits = git(&repo, &["rev-list", "--count", "main"]);
    assert!(run.stderr.contains(&format!("3 plans read {} commits of history", commits.trim())), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before, "planning commits nothing");

    // A denial and a request that cannot be planned: each reported on its line, the worst exit code wins.
    let train = write(dir.path(), "train.txt", "shop-api prod\nshop-cart prod\n");
    let run = tollgate_in(&repo, &["plan-batch", train.as_str(), "--actor", "alice", "--approval", "bob", "--at", TUESDAY]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(":1: shop-api -> prod 1.4.2: denied (approval-count deny)"), "{}", run.stdout);
    assert!(run.stdout.contains(":2: shop-cart -> prod ?: error (unknown application shop-cart"), "{}", run.stdout);
    let train = write(dir.path(), "train.txt", "shop-api prod\n");
    let run = tollgate_in(&repo, &["plan-batch", train.as_str(), "--actor", "alice", "--approval", "bob", "--at", TUESDAY]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);

    // A malformed line is refused before anything is planned, naming the line.
    let train = write(dir.path(), "train.txt", "shop-api prod\nshop-api\n");
    let run = tollgate_in(&repo, &["plan-batch", train.as_str()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("train.txt:2: write APP ENV"), "{}", run.stderr);
}

/// A large batch is shared out among the cores (each thread with its own repository handle,
/// history and judge); what each line gets, and the order, are what small batches (decided on
/// one thread) give.
#[test]
fn plan_batch_shares_a_large_batch_among_the_cores_with_the_same_results_in_order() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    promote_to_test(&repo);
    let kinds = ["shop-api test", "shop-web test", "shop-cart prod", "shop-api prod", "shop-web dev 2.1.0"];
    let lines: Vec<&str> = (0..100).map(|index| kinds[(index * index + index / 7) % kinds.len()]).collect();
    let decide = |name: &str, lines: &[&str]| {
        let file = write(dir.path(), name, &(lines.join("\n") + "\n"));
        let run = tollgate_in(&repo, &["--verbose", "plan-batch", file.as_str(), "-o", "json", "--actor", "alice", "--approval", "bob", "--at", TUESDAY]);
        assert_eq!(run.code, 2, "the worst line is an error: {}{}", run.stdout, run.stderr);
        let results: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let results: Vec<String> = results.as_array().unwrap().iter().map(|result| format!("{} {} {} {} {}", result["app"], result["to"], result["version"], result["verdict"], result["detail"])).collect();
        (results, run.stderr)
    };
    let (whole, stderr) = decide("whole.txt", &lines);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores > 1 {
        assert!(stderr.contains("100 plans read") && stderr.contains(&format!(" on {} threads", cores.min(3))), "{stderr}");
    }
    let one_thread = tollgate_in(&repo, &["--verbose", "plan-batch", dir.path().join("whole.txt").to_str().unwrap(), "--jobs", "1", "-o", "json", "--actor", "alice", "--approval", "bob", "--at", TUESDAY]);
    assert!(one_thread.stderr.contains("100 plans read") && !one_thread.stderr.contains(" threads"), "--jobs 1: {}", one_thread.stderr);
    let one_thread: serde_json::Value = serde_json::from_str(&one_thread.stdout).unwrap();
    let whole_json: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &["plan-batch", dir.path().join("whole.txt").to_str().unwrap(), "-o", "json", "--actor", "alice", "--approval", "bob", "--at", TUESDAY]).stdout).unwrap();
    assert_eq!(one_thread, whole_json, "one thread and several give the same document");
    let mut in_parts = Vec::new();
    for (index, part) in lines.chunks(25).enumerate() {
        let (results, stderr) = decide(&format!("part-{index}.txt"), part);
        assert!(!stderr.contains(" threads"), "25 requests are decided on one thread: {stderr}");
        in_parts.extend(results);
    }
    assert_eq!(whole, in_parts);
    let verdicts: std::collections::BTreeSet<&str> = whole.iter().map(|line| line.split(' ').nth(3).unwrap()).collect();
    assert_eq!(verdicts.len(), 4, "allowed, denied, no-change and error lines: {whole:?}");
}

#[test]
fn a_promotion_never_writes_through_a_symlinked_directory_of_the_checkout() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    // envs/dev replaced locally by a link to a copy outside the repository, same content.
    let outside = dir.path().join("outside");
    std::fs::rename(dir.path().join("repo/envs/dev"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("repo/envs/dev")).unwrap();
    let before = std::fs::read_to_string(outside.join("shop-api/values.yaml")).unwrap();
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.5.0", "--digest", DIGEST, "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(std::fs::read_to_string(outside.join("shop-api/values.yaml")).unwrap(), before);
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head, "nothing committed");
}

/// `tollgate serve` (like `plan-batch`) takes its instances from wasmtime's pool (memory and
/// table slots reset and reused, issue 25): every decision still starts from a fresh instance
/// (the hostile plugin's global counter, bumped in one decision, reads 0 in the next), and
/// the memory cap still holds in a pooled slot.
#[test]
fn serve_gives_every_decision_a_fresh_pooled_instance_and_keeps_the_memory_cap() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let config_for = |behaviour: &str| {
        let config = format!(
            "environments: [dev]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: {{ file: envs/dev/shop-api/values.yaml, helm: {{ tag_path: image.tag }} }}\npolicies:\n  - plugin: {}\n    memory_mib: 16\n    config: {{ behaviour: {behaviour} }}\n",
            crate::support::plugin("hostile").display()
        );
        write(dir.path(), &format!("{behaviour}.yaml"), &config)
    };
    let body = r#"{"app": "shop-api", "to": "dev", "version": "1.5.0", "actor": "alice"}"#;

    // The answers of a server running the policy with `behaviour`, to `count` plans.
    let answers = |behaviour: &str, count: usize| {
        let server = crate::serve_support::Server::start(&repo, &["--config", &config_for(behaviour)], &[]);
        let answers: Vec<serde_json::Value> = (0..count).map(|_| server.call("POST", "/v1/plan", Some(body)).json()).collect();
        server.terminate();
        answers
    };
    for answer in answers("state", 6) {
        assert_eq!(answer["decision"], "allow", "{answer}");
        assert!(answer.to_string().contains("calls before: 0"), "an instance saw another decision's state: {answer}");
    }
    for answer in answers("memory-bomb", 3) {
        assert_eq!(answer["decision"], "error", "{answer}");
        assert!(answer.to_string().contains("exceeded memory limit of 16 MiB"), "{answer}");
    }
}
