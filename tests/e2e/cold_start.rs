//! A first run on a fresh runner: the standard plugins were precompiled at build time, so
//! planning and promoting with all of them compiles nothing and writes nothing to the
//! compile cache.

use crate::support::{gitops_repo, repo_path, tollgate_with_cache};

const TUESDAY: &str = "2026-01-06T10:30:00+01:00";

/// Every file below `dir` (recursively).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { files_under(&path) } else { vec![path] }
        })
        .collect()
}

#[test]
fn a_first_plan_with_every_builtin_compiles_nothing_and_leaves_the_cache_empty() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().join("fresh-runner-cache");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let run = |args: &[&str]| {
        let mut all = vec!["--repo", repo.as_str()];
        all.extend_from_slice(args);
        tollgate_with_cache(&cache, &all)
    };
    for args in [
        vec!["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", &digest, "--actor", "alice"],
        vec!["promote", "shop-api", "--to", "test", "--actor", "alice"],
    ] {
        let promoted = run(&args);
        assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    }
    let plan = run(&["plan", "-o", "json", "shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "--at", TUESDAY]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    let document: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let policies = document["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 4, "{}", plan.stdout);
    assert!(policies.iter().all(|policy| policy["plugin"].as_str().unwrap().starts_with("builtin:")), "{}", plan.stdout);
    assert_eq!(document["outcome"], "allowed", "{}", plan.stdout);
    assert_eq!(files_under(&cache), Vec::<std::path::PathBuf>::new(), "the builtins must not go through the compile cache");

    // Each builtin, asked on its own, says where its code came from.
    for name in ["change-window", "approval-count", "secret-scope", "erp-readiness", "deployment-health"] {
        let info = tollgate_with_cache(&cache, &["--verbose", "plugin", "info", &format!("builtin:{name}")]);
        assert_eq!(info.code, 0, "{}", info.stderr);
        assert!(info.stderr.contains(&format!("builtin:{name}: loaded its build-time precompiled code in ")), "{}", info.stderr);
        assert!(!info.stderr.contains("compiled in"), "{}", info.stderr);
    }
    assert_eq!(files_under(&cache), Vec::<std::path::PathBuf>::new());
}
