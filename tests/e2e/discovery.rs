//! Discovery end to end against Debian's `docker-registry` on 127.0.0.1: images pushed as
//! raw blobs and OCI manifests, `tollgate versions` listing what an application's
//! `discover:` rule admits, `promote --latest` taking the newest version with the digest the
//! registry holds, a typed digest checked against it, and an unreachable registry refused
//! (exit 2, no fallback).

use crate::registry_support::Registry;
use crate::support::{Run, committed_repo, git, snapshot, tollgate_env};

/// Push an image `shop/api:TAG` (a configuration created at `created`, one layer); returns
/// its manifest digest.
pub fn push_image(registry: &Registry, tag: &str, created: &str) -> String {
    let config = format!(r#"{{"created":"{created}","architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#);
    let layer = format!("layer of {tag}");
    registry.push_one_layer("shop/api", tag, ("application/vnd.oci.image.config.v1+json", config.as_bytes()), ("application/vnd.oci.image.layer.v1.tar", layer.as_bytes()))
}

/// A repository whose application `api` (image on `registry`) has `discover` as its rule,
/// in `dev` → `prod`, both at 0.9.0.
fn repo(registry: &Registry, discover: &str) -> (tempfile::TempDir, String) {
    let config = format!(
        "environments:\n  - dev\n  - {{ name: prod, upstream: dev }}\napplications:\n  api:\n    image: {}/shop/api\n    discover: {discover}\n    environments:\n      \
         dev: {{ file: envs/dev/api.yaml, helm: {{ tag_path: image.tag, digest_path: image.digest }} }}\n      \
         prod: {{ file: envs/prod/api.yaml, helm: {{ tag_path: image.tag, digest_path: image.digest }} }}\n",
        registry.host
    );
    let values = "image:\n  tag: \"0.9.0\"\n  digest: \"\"\n".to_string();
    committed_repo(&[
        ("tollgate.yaml".into(), config),
        ("envs/dev/api.yaml".into(), values.clone()),
        ("envs/prod/api.yaml".into(), values),
    ])
}

/// `tollgate --repo REPO ARGS` with its own cache and no Docker credentials.
pub fn run(repo: &str, args: &[&str]) -> Run {
    let cache = std::path::Path::new(repo).parent().unwrap().join("cache");
    let docker = cache.join("docker-config");
    let mut all = vec!["--repo", repo];
    all.extend_from_slice(args);
    tollgate_env(&cache, &all, &[("DOCKER_CONFIG", docker.to_str().unwrap())])
}

/// Releases 1.0.0, 1.2.0, 1.10.0 (older than 1.2.0 by creation time), 2.0.0, 1.11.0-rc.1 and
/// `latest`; their digests by tag.
fn push_releases(registry: &Registry) -> std::collections::BTreeMap<&'static str, String> {
    [
        ("1.0.0", "2026-01-01T00:00:00Z"),
        ("1.2.0", "2026-03-01T00:00:00Z"),
        ("1.10.0", "2026-02-01T00:00:00Z"),
        ("2.0.0", "2026-04-01T00:00:00Z"),
        ("1.11.0-rc.1", "2026-05-01T00:00:00Z"),
        ("latest", "2026-05-01T00:00:00Z"),
    ]
    .into_iter()
    .map(|(tag, created)| (tag, push_image(registry, tag, created)))
    .collect()
}

#[test]
fn versions_lists_what_the_rule_admits_newest_first_with_the_registrys_digests() {
    let registry = Registry::start();
    let digests = push_releases(&registry);
    let (_dir, repo) = repo(&registry, "{ semver: \">=1.0, <2\" }");
    let listed = run(&repo, &["versions", "api", "-o", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let document: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let versions: Vec<(&str, &str)> =
        document["versions"].as_array().unwrap().iter().map(|v| (v["version"].as_str().unwrap(), v["digest"].as_str().unwrap())).collect();
    assert_eq!(versions, vec![("1.10.0", digests["1.10.0"].as_str()), ("1.2.0", digests["1.2.0"].as_str()), ("1.0.0", digests["1.0.0"].as_str())]);
    let text = run(&repo, &["versions", "api", "--limit", "1"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(text.stdout, format!("1.10.0  {}\n", digests["1.10.0"]));
}

#[test]
fn promote_latest_commits_the_newest_version_with_the_registrys_digest_into_the_first_environment() {
    let registry = Registry::start();
    let digests = push_releases(&registry);
    let (_dir, repo) = repo(&registry, "{ semver: \">=1.0, <2\" }");
    let promoted = run(&repo, &["promote", "api", "--to", "dev", "--latest", "--actor", "ci", "-o", "json"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let file = git(&repo, &["show", "HEAD:envs/dev/api.yaml"]);
    assert!(file.contains("tag: \"1.10.0\""), "{file}");
    assert!(file.contains(&digests["1.10.0"]), "{file}");
    let document: serde_json::Value = serde_json::from_str(&promoted.stdout).unwrap();
    assert_eq!(document["transition"]["artifact"]["version"], "1.10.0", "{document}");
    assert_eq!(document["transition"]["artifact"]["digest"], digests["1.10.0"].as_str(), "{document}");

    // Downstream environments take their artifact from upstream, never from the registry.
    let before = snapshot(&repo);
    let refused = run(&repo, &["promote", "api", "--to", "prod", "--latest", "--actor", "ci"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("takes its version from its upstream environment"), "{}", refused.stderr);
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn a_typed_digest_that_differs_from_the_registrys_is_refused_and_a_missing_one_is_read_from_it() {
    let registry = Registry::start();
    let digests = push_releases(&registry);
    let (_dir, repo) = repo(&registry, "{ semver: \">=1.0, <2\" }");
    let before = snapshot(&repo);
    let wrong = digests["1.0.0"].clone();
    let refused = run(&repo, &["promote", "api", "--to", "dev", "--version", "1.2.0", "--digest", &wrong, "--actor", "ci"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains(&format!("--digest {wrong} is not what the registry holds for api:1.2.0 ({})", digests["1.2.0"])), "{}", refused.stderr);
    assert_eq!(snapshot(&repo), before, "nothing may change");

    let typed = run(&repo, &["promote", "api", "--to", "dev", "--version", "1.2.0", "--actor", "ci"]);
    assert_eq!(typed.code, 0, "{}", typed.stderr);
    assert!(git(&repo, &["show", "HEAD:envs/dev/api.yaml"]).contains(&digests["1.2.0"]));
}

#[test]
fn an_unreachable_registry_fails_discovery_with_exit_2_and_changes_nothing() {
    let mut registry = Registry::start();
    push_releases(&registry);
    let (_dir, repo) = repo(&registry, "{ semver: \">=1.0, <2\" }");
    registry.stop();
    let before = snapshot(&repo);
    for args in [
        vec!["versions", "api"],
        vec!["promote", "api", "--to", "dev", "--latest", "--actor", "ci"],
        vec!["promote", "api", "--to", "dev", "--version", "1.2.0", "--actor", "ci"],
    ] {
        let failed = run(&repo, &args);
        assert_eq!(failed.code, 2, "{args:?}: {}", failed.stderr);
        assert!(failed.stderr.contains("cannot reach the registry"), "{args:?}: {}", failed.stderr);
    }
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn newest_by_created_orders_tags_by_the_image_configurations_time() {
    let registry = Registry::start();
    let older = push_image(&registry, "main-bbbbbbb", "2026-01-01T00:00:00Z");
    let newer = push_image(&registry, "main-aaaaaaa", "2026-06-01T12:00:00Z");
    push_image(&registry, "feature-ccccccc", "2026-07-01T00:00:00Z");
    let (_dir, repo) = repo(&registry, "{ tag_regex: \"main-[0-9a-f]{7}\" }");
    let listed = run(&repo, &["versions", "api"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(
        listed.stdout,
        format!("main-aaaaaaa  {newer}  created 2026-06-01T12:00:00Z\nmain-bbbbbbb  {older}  created 2026-01-01T00:00:00Z\n")
    );
}

#[test]
fn a_discovery_rule_that_cannot_be_checked_is_a_configuration_error_naming_its_key() {
    let registry = Registry::start();
    let (_dir, repo) = repo(&registry, "{ semver: \"newest please\" }");
    let checked = run(&repo, &["check-config"]);
    assert_eq!(checked.code, 2, "{}{}", checked.stdout, checked.stderr);
    let said = format!("{}{}", checked.stdout, checked.stderr);
    assert!(said.contains("tollgate.yaml:7:17: error: applications.api.discover.semver"), "{said}");
    assert!(said.contains("is not a semver requirement"), "{said}");
}

#[test]
fn a_proposal_pinning_a_digest_the_registry_does_not_hold_for_its_version_does_not_pass() {
    let registry = Registry::start();
    let digests = push_releases(&registry);
    let (_dir, repo) = repo(&registry, "{ semver: \">=1.0, <2\" }");
    let propose = |branch: &str, digest: &str| {
        git(&repo, &["checkout", "--quiet", "-b", branch, "main"]);
        std::fs::write(format!("{repo}/envs/dev/api.yaml"), format!("image:\n  tag: \"1.2.0\"\n  digest: \"{digest}\"\n")).unwrap();
        git(&repo, &["commit", "--quiet", "-am", "dev to 1.2.0"]);
        git(&repo, &["checkout", "--quiet", "main"]);
        run(&repo, &["check-proposal", &format!("main..{branch}"), "--actor", "ci"])
    };
    let forged = propose("forged", &digests["1.0.0"]);
    assert_eq!(forged.code, 1, "{}{}", forged.stdout, forged.stderr);
    assert!(forged.stdout.contains("is not what the registry holds for api:1.2.0"), "{}", forged.stdout);
    let honest = propose("honest", &digests["1.2.0"]);
    assert_eq!(honest.code, 0, "{}{}", honest.stdout, honest.stderr);
}

#[test]
fn an_image_pinned_by_digest_alone_is_promoted_with_the_digest_as_its_version_and_travels_downstream() {
    let dir = crate::support::gitops_repo();
    let repo = crate::support::repo_path(&dir);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let promoted = crate::support::tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", &digest, "--actor", "ci", "-o", "json"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let values = git(&repo, &["show", "HEAD:envs/dev/shop-api/values.yaml"]);
    assert!(values.contains("tag: \"\"") && values.contains(&format!("digest: {digest}")), "{values}");
    let document: serde_json::Value = serde_json::from_str(&promoted.stdout).unwrap();
    assert_eq!(document["transition"]["artifact"]["version"], digest.as_str());

    let downstream = crate::support::tollgate_in(&repo, &["promote", "shop-api", "--to", "test", "--actor", "ci"]);
    assert_eq!(downstream.code, 0, "{}{}", downstream.stdout, downstream.stderr);
    assert!(git(&repo, &["show", "HEAD:envs/test/shop-api/values.yaml"]).contains(&format!("digest: {digest}")));
    let verified = crate::support::tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);

    let before = snapshot(&repo);
    let other = format!("sha256:{}", "cd".repeat(32));
    let refused = crate::support::tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", &digest, "--digest", &other, "--actor", "ci"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("is a digest (an image pinned by digest alone)"), "{}", refused.stderr);
    assert_eq!(snapshot(&repo), before);
}
