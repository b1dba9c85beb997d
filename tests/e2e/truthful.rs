//! Regression tests for "nothing the gate says is false": each test is named after the item
//! it fixes (`item_NN_…`), and fails on the code before the fix.

use crate::support::{committed_repo, git, tollgate_in};

/// A repository with `shop-api` (Helm values) in each of `versions` (environment, version),
/// the environments a chain in that order, and `policies` (YAML list items, may be empty).
fn chain_repo(versions: &[(&str, &str)], policies: &str) -> (tempfile::TempDir, String) {
    let envs: Vec<&str> = versions.iter().map(|(env, _)| *env).collect();
    let mut config = format!("environments: [{}]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n", envs.join(", "));
    for env in &envs {
        config.push_str(&format!("      {env}: {{ file: envs/{env}/values.yaml, helm: {{ tag_path: image.tag }} }}\n"));
    }
    config.push_str(&format!("policies:\n{policies}"));
    let mut files = vec![("tollgate.yaml".to_string(), config)];
    for (env, version) in versions {
        files.push((format!("envs/{env}/values.yaml"), format!("image:\n  repository: registry.example.com/shop/api\n  tag: \"{version}\"\n")));
    }
    committed_repo(&files)
}

#[test]
fn item_05_status_says_ahead_or_differs_where_an_environment_is_not_behind() {
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("test", "1.3.0"), ("prod", "build-7")], "  []\n");
    let status = tollgate_in(&repo, &["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let row = |env: &str| status.stdout.lines().find(|line| line.trim_start().starts_with(env)).unwrap_or_default().to_string();
    assert!(row("test").contains("[ahead of dev: 1.2.0]"), "{}", status.stdout);
    assert!(!status.stdout.contains("[behind dev"), "{}", status.stdout);
    assert!(row("prod").contains("[differs from test: 1.3.0]"), "{}", status.stdout);

    let json: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &["status", "-o", "json"]).stdout).unwrap();
    let standings: Vec<(String, String)> = json["lagging"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lag| (lag["environment"].as_str().unwrap().to_string(), lag["standing"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(standings, [("test".to_string(), "ahead".to_string()), ("prod".to_string(), "differs".to_string())]);

    // A release train agrees: test runs a later version than dev offers, so there is nothing to do.
    let train = tollgate_in(&repo, &["plan", "--all", "--to", "test"]);
    assert_eq!(train.code, 0, "{}{}", train.stdout, train.stderr);
    assert!(train.stdout.contains("shop-api runs 1.3.0 in test, newer than 1.2.0 in dev; nothing to do"), "{}", train.stdout);
    assert_eq!(git(&repo, &["rev-list", "--count", "HEAD"]).trim(), "1");
}

#[test]
fn item_11_an_e_mail_actor_is_the_authors_address_as_it_is() {
    let (_dir, repo) = chain_repo(&[("dev", "1.2.0"), ("prod", "1.1.0")], "  []\n");
    let promoted = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "bob@example.com"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert_eq!(git(&repo, &["log", "-1", "--format=%an <%ae>"]).trim(), "bob@example.com <bob@example.com>");
    assert!(git(&repo, &["log", "-1", "--format=%B"]).contains("Tollgate-Requested-By: bob@example.com\n"));
}
