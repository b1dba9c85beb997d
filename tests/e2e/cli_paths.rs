//! Command-line paths no other test reaches (issue 14, "Promises with no test"): a failed
//! policy wins over a deny, approvals with a version and group, `--no-cache`, and a denied
//! `promote --push` that leaves the clone and the remote as they were.

use crate::record::{DIGEST_A, PLAIN_CONFIG, plain_repo_with};
use crate::support::{files_under, git, plugin, snapshot, tollgate_in, tollgate_with_cache};

fn config_with(policies: &str) -> String {
    format!("{PLAIN_CONFIG}policies:\n{policies}")
}

#[test]
fn a_failed_policy_wins_over_a_deny_exit_3_not_1() {
    let policies = format!(
        "  - plugin: builtin:approval-count\n    config: {{ default: {{ required: 1 }} }}\n  - plugin: {}\n    timeout_ms: 300\n    config: {{ behaviour: spin }}\n",
        plugin("hostile").display()
    );
    let (_dir, repo) = plain_repo_with(&config_with(&policies), &[]);
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("deny"), "the deny is reported too: {}", run.stdout);
    assert!(run.stdout.contains("failed closed: hostile could not decide; nothing committed"), "{}", run.stdout);
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn approvals_with_a_version_and_group_reach_the_policy_and_the_record() {
    let policies = "  - plugin: builtin:approval-count\n    config: { default: { required: 2, groups: { sre: [bob] }, group_minimums: { sre: 1 } } }\n";
    let (_dir, repo) = plain_repo_with(&config_with(policies), &[]);
    // An approval of another version does not count.
    let run = tollgate_in(&repo, &["plan", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice", "--approval", "bob@1.1.0:sre", "--approval", "carol@9.9.9"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ignored: carol approved 9.9.9, not 1.1.0"), "{}", run.stdout);
    let run = tollgate_in(
        &repo,
        &["promote", "api", "--to", "dev", "--version", "1.1.0", "--digest", DIGEST_A, "--actor", "alice", "--approval", "bob@1.1.0:sre", "--approval", "carol@1.1.0", "--no-cache"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let record = crate::support::record_at(&repo, "HEAD");
    assert_eq!(record["transition"]["approvals"][0], serde_json::json!({"approver": "bob", "version": "1.1.0", "group": "sre"}));
    assert_eq!(record["transition"]["approvals"][1]["approver"], "carol");
    // A malformed approval is refused where it enters.
    let run = tollgate_in(&repo, &["plan", "api", "--to", "test", "--actor", "alice", "--approval", "@1.1.0"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--approval \"@1.1.0\": give a name"), "{}", run.stderr);
}

#[test]
fn no_cache_compiles_in_memory_and_writes_nothing() {
    // A plugin file, not a builtin: builtins are precompiled at build time and never touch
    // the cache, so only a file plugin shows what --no-cache changes.
    let wasm = plugin("image-policy");
    let policies = format!("  - plugin: {}\n    config: {{ allowed_registries: [registry.example.com/], require_digest: true }}\n", wasm.display());
    let (dir, repo) = plain_repo_with(&config_with(&policies), &[]);
    let cache = dir.path().join("cache");
    let plan = |extra: &[&str]| {
        let mut args = vec!["--repo", repo.as_str()];
        args.extend_from_slice(extra);
        args.extend(["plan", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]);
        tollgate_with_cache(&cache, &args)
    };
    // The plugin's own verdict: it was compiled and ran.
    let run = plan(&["--no-cache"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("denied by image-policy"), "{}", run.stdout);
    assert_eq!(files_under(&cache), Vec::<std::path::PathBuf>::new(), "--no-cache wrote to the cache");
    // `-v` says the code was compiled here and now, and cached nowhere.
    let info = tollgate_with_cache(&cache, &["--no-cache", "--verbose", "plugin", "info", wasm.to_str().unwrap()]);
    assert_eq!(info.code, 0, "{}{}", info.stdout, info.stderr);
    assert!(info.stderr.contains(&format!("tollgate: {}: compiled in ", wasm.display())), "{}", info.stderr);
    assert!(!info.stderr.contains("cached at"), "{}", info.stderr);
    assert_eq!(files_under(&cache), Vec::<std::path::PathBuf>::new(), "--no-cache wrote to the cache");
    // Without --no-cache the same commands do write compiled code there: the checks above can fail.
    let run = plan(&[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(!files_under(&cache).is_empty(), "a cached run writes compiled code to {}", cache.display());
}

#[test]
fn a_denied_promote_push_leaves_the_clone_and_the_remote_as_they_were() {
    let (dir, source) = plain_repo_with(&config_with("  - plugin: builtin:approval-count\n    config: { default: { required: 1 } }\n"), &[]);
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", "--bare", &source, &remote]);
    let clone = dir.path().join("clone").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", &remote, &clone]);
    let (clone_before, remote_before) = (snapshot(&clone), snapshot(&remote));
    let run = tollgate_in(&clone, &["promote", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice", "--push=origin"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.ends_with("denied by approval-count; nothing committed\n"), "{}", run.stdout);
    assert_eq!(snapshot(&clone), clone_before);
    assert_eq!(snapshot(&remote), remote_before);
}
