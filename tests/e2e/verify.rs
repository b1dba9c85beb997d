//! `tollgate verify` where the re-run cannot reproduce the decision: the plugin's bytes changed
//! since the promotion, the plugin no longer loads, or the base commit is missing (a shallow
//! clone). Each pins the reported problem and the exit code.

use std::path::Path;

use crate::record::{plain_repo_with, PLAIN_CONFIG};
use crate::support::{git, plugin, record_at, tollgate_in};

/// A plain repository whose configuration runs the image-policy example from a `.wasm` file
/// committed next to `tollgate.yaml`; `api` promoted into dev. The repository and the commit.
fn promoted_with_a_file_plugin() -> (tempfile::TempDir, String, String) {
    let config = format!(
        "{PLAIN_CONFIG}policies:\n  - plugin: image_policy.wasm\n    config: {{ allowed_registries: [registry.example.com/] }}\n"
    );
    let (dir, repo) = plain_repo_with(&config, &[]);
    std::fs::copy(plugin("image-policy"), Path::new(&repo).join("image_policy.wasm")).unwrap();
    git(&repo, &["add", "image_policy.wasm"]);
    git(&repo, &["commit", "--quiet", "-m", "image policy"]);
    let run = tollgate_in(&repo, &["promote", "api", "--to", "dev", "--version", "1.2.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let verify = tollgate_in(&repo, &["verify", &commit]);
    assert_eq!(verify.code, 0, "the untouched promotion reproduces: {}{}", verify.stdout, verify.stderr);
    (dir, repo, commit)
}

/// `bytes` with a custom section appended: a valid component that behaves the same, with other bytes.
fn with_custom_section(mut bytes: Vec<u8>) -> Vec<u8> {
    // id 0 (custom), size 6, name length 1, name "x", payload "pad!"
    bytes.extend_from_slice(&[0, 6, 1, b'x', b'p', b'a', b'd', b'!']);
    bytes
}

#[test]
fn verify_reports_a_plugin_whose_bytes_changed_since_the_promotion() {
    let (_dir, repo, commit) = promoted_with_a_file_plugin();
    let recorded = record_at(&repo, &commit)["policies"][0]["sha256"].as_str().unwrap().to_string();
    let wasm = Path::new(&repo).join("image_policy.wasm");
    std::fs::write(&wasm, with_custom_section(std::fs::read(&wasm).unwrap())).unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&tollgate_in(&repo, &["plugin", "info", wasm.to_str().unwrap(), "-o", "json"]).stdout).unwrap();
    let now = info["sha256"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    assert_ne!(recorded, now);

    let verify = tollgate_in(&repo, &["verify", &commit]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    let expected = format!(
        "  DIFFERS  image-policy\n      the plugin's digest changed: recorded sha256:{}, now sha256:{}\n",
        &recorded[..12],
        &now[..12]
    );
    assert!(verify.stdout.contains(&expected), "{}", verify.stdout);
    assert!(!verify.stdout.contains("PROBLEM"), "{}", verify.stdout);
    assert!(verify.stdout.ends_with("not reproduced\n"), "{}", verify.stdout);

    let verify = tollgate_in(&repo, &["verify", &commit, "-o", "json"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    let document: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    assert_eq!(document["reproduced"], false);
    assert_eq!(document["problems"], serde_json::json!([]));
    assert_eq!(document["policies"][0]["reproduced"], false);
    assert_eq!(
        document["policies"][0]["problem"],
        format!("the plugin's digest changed: recorded sha256:{}, now sha256:{}", &recorded[..12], &now[..12])
    );
    // The verdict itself is the same: only the bytes differ.
    assert_eq!(document["policies"][0]["recorded"], document["policies"][0]["now"]);
}

#[test]
fn verify_reports_a_plugin_that_no_longer_loads() {
    let (_dir, repo, commit) = promoted_with_a_file_plugin();
    std::fs::write(Path::new(&repo).join("image_policy.wasm"), b"\0asm not a component").unwrap();
    let verify = tollgate_in(&repo, &["verify", &commit, "-o", "json"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    let document: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    assert_eq!(document["reproduced"], false);
    assert_eq!(document["policies"], serde_json::json!([]), "nothing ran: {document}");
    let problems = document["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{document}");
    let id = record_at(&repo, &commit)["transition"]["id"].as_str().unwrap().to_string();
    let prefix = format!("decision {id}: a plugin the configuration at the base commit names cannot be loaded: ");
    let problem = problems[0].as_str().unwrap();
    assert!(problem.starts_with(&prefix) && problem.contains("image_policy.wasm"), "{problem}");
}

#[test]
fn verify_in_a_shallow_clone_reports_the_missing_base_commit() {
    // Promoted on a branch, main moved on, the branch rebased onto it: the record's base is the
    // grandparent. A clone two commits deep holds the promotion and its parent, not the base.
    let config = PLAIN_CONFIG.to_string();
    let (dir, repo) = plain_repo_with(&config, &[]);
    let run = tollgate_in(&repo, &["promote", "api", "--to", "dev", "--version", "1.2.0", "--actor", "alice", "--branch", "promote/api/dev"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    std::fs::write(Path::new(&repo).join("README.md"), "unrelated\n").unwrap();
    git(&repo, &["add", "README.md"]);
    git(&repo, &["commit", "--quiet", "-m", "docs"]);
    git(&repo, &["rebase", "--quiet", "main", "promote/api/dev"]);
    git(&repo, &["checkout", "--quiet", "main"]);
    git(&repo, &["merge", "--quiet", "--ff-only", "promote/api/dev"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let base = record_at(&repo, &commit)["base_commit"].as_str().unwrap().to_string();
    assert_eq!(git(&repo, &["rev-parse", "HEAD~2"]).trim(), base);
    assert_eq!(tollgate_in(&repo, &["verify", &commit]).code, 0);

    let clone = dir.path().join("shallow").to_str().unwrap().to_string();
    git(&repo, &["clone", "--quiet", "--depth", "2", &format!("file://{repo}"), &clone]);
    let verify = tollgate_in(&clone, &["verify", &commit]);
    let id = record_at(&clone, &commit)["transition"]["id"].as_str().unwrap().to_string();
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    let expected = format!(
        "verify {} (decision {id})\n  PROBLEM  decision {id} was made on {base}, which is not in this repository\n  PROBLEM  decision {id}: its base commit {base} is not in this repository; nothing was re-run\nnot reproduced\n",
        &commit[..12]
    );
    assert_eq!(verify.stdout, expected);
}

#[test]
fn verify_in_a_clone_one_commit_deep_says_the_parent_is_missing_not_that_it_is_a_root() {
    // The promotion commit is the shallow boundary: libgit2 sees no parent. Before the fix,
    // verify called it "a root commit", which it is not.
    let (dir, repo) = plain_repo_with(PLAIN_CONFIG, &[]);
    let run = tollgate_in(&repo, &["promote", "api", "--to", "dev", "--version", "1.2.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let decision = git(&repo, &["log", "-1", "--format=%(trailers:key=Tollgate-Decision,valueonly)"]).trim().to_string();
    let clone = dir.path().join("shallow").to_str().unwrap().to_string();
    git(&repo, &["clone", "--quiet", "--depth", "1", &format!("file://{repo}"), &clone]);
    let verify = tollgate_in(&clone, &["verify", &commit]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert_eq!(
        verify.stdout,
        format!(
            "verify {} (decision {})\n  PROBLEM  its parent commit is not in this repository (a shallow clone): fetch more history (git fetch --unshallow) to check it\nnot reproduced\n",
            &commit[..12],
            decision
        )
    );
}
