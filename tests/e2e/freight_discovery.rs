//! Discovery for Helm charts and Git revisions (issue 24; Kargo's Warehouse subscriptions to
//! charts and Git): a chart pushed as an OCI artifact to Debian's `docker-registry`, a chart
//! repository's `index.yaml` served on 127.0.0.1, and a local bare repository's tags;
//! `tollgate versions` lists what the rule admits and `promote --latest` takes the newest.

use std::time::Duration;

use crate::discovery::run;
use crate::registry_support::Registry;
use crate::support::{Run, committed_repo, git, http_server};

/// A repository whose single application `shop` is `source` (a `chart:` or `git:` line),
/// discovered by `discover`, its version in `file` as `layout` says, in dev → prod.
fn app_repo(source: &str, discover: &str, layout: &str, file: &str) -> (tempfile::TempDir, String) {
    let config = format!(
        "environments:\n  - dev\n  - {{ name: prod, upstream: dev }}\napplications:\n  shop:\n    {source}\n    discover: {discover}\n    environments:\n      \
         dev: {{ file: envs/dev/shop.yaml, {layout} }}\n      prod: {{ file: envs/prod/shop.yaml, {layout} }}\n"
    );
    committed_repo(&[("tollgate.yaml".into(), config), ("envs/dev/shop.yaml".into(), file.to_string()), ("envs/prod/shop.yaml".into(), file.to_string())])
}

/// A bare Git repository `base.git` in `dir` with one commit per tag (annotated), as a
/// `file://` URL, and the commits the tags name.
pub fn tagged_remote(dir: &std::path::Path, tags: &[&str]) -> (String, Vec<String>) {
    let origin = dir.join("base");
    let origin = origin.to_str().unwrap();
    git(dir.to_str().unwrap(), &["init", "--quiet", origin]);
    let mut commits = Vec::new();
    for tag in tags {
        std::fs::write(std::path::Path::new(origin).join("file"), tag).unwrap();
        git(origin, &["add", "file"]);
        git(origin, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", tag]);
        git(origin, &["-c", "user.name=t", "-c", "user.email=t@example.com", "tag", "-a", "-m", tag, tag]);
        commits.push(git(origin, &["rev-parse", "HEAD"]).trim().to_string());
    }
    let remote = dir.join("base.git");
    git(dir.to_str().unwrap(), &["clone", "--bare", "--quiet", origin, remote.to_str().unwrap()]);
    (format!("file://{}", remote.display()), commits)
}

fn chart_yaml(version: &str) -> String {
    format!("apiVersion: v2\nname: shop-env\nversion: 0.1.0\ndependencies:\n  - name: shop\n    version: {version}\n")
}

fn versions(run: &Run) -> Vec<(String, String)> {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    document["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap().to_string(), v["digest"].as_str().or(v["commit"].as_str()).unwrap_or("-").to_string()))
        .collect()
}

/// Push chart `charts/shop:VERSION` as Helm pushes it: an OCI manifest with a Helm config and
/// one chart layer; returns its manifest digest.
pub fn push_chart(registry: &Registry, version: &str) -> String {
    let config = format!(r#"{{"name":"shop","version":"{version}","apiVersion":"v2"}}"#);
    let layer = format!("chart archive of {version}");
    registry.push_one_layer("charts/shop", version, ("application/vnd.cncf.helm.config.v1+json", config.as_bytes()), ("application/vnd.cncf.helm.chart.content.v1.tar+gzip", layer.as_bytes()))
}

#[test]
fn a_chart_in_an_oci_registry_is_discovered_and_its_newest_version_promoted() {
    let registry = Registry::start();
    let digests: Vec<(String, String)> = ["0.3.0", "0.4.0", "0.10.0", "1.0.0-rc.1"].iter().map(|version| (version.to_string(), push_chart(&registry, version))).collect();
    let source = format!("chart: {{ repository: 'oci://{}/charts', name: shop }}", registry.host);
    let (_dir, repo) = app_repo(&source, "{ semver: '<1' }", "chart_dependency: { name: shop }", &chart_yaml("0.3.0"));
    let listed = versions(&run(&repo, &["versions", "shop", "-o", "json"]));
    let expected: Vec<(String, String)> = [2, 1, 0].iter().map(|&index| digests[index].clone()).collect();
    assert_eq!(listed, expected);
    let promoted = run(&repo, &["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert_eq!(git(&repo, &["show", "HEAD:envs/dev/shop.yaml"]), chart_yaml("0.10.0"), "the chart version, no digest");
    // A typed version must be one the repository holds (whether or not the rule admits it).
    let typed = run(&repo, &["plan", "shop", "--to", "dev", "--version", "1.0.0-rc.1", "--actor", "ci"]);
    assert_eq!(typed.code, 0, "{}{}", typed.stdout, typed.stderr);
    let missing = run(&repo, &["promote", "shop", "--to", "dev", "--version", "0.5.0", "--actor", "ci"]);
    assert_eq!(missing.code, 2, "{}{}", missing.stdout, missing.stderr);
    assert!(missing.stderr.contains("--version 0.5.0: the repository of shop does not offer it"), "{}", missing.stderr);
    assert_eq!(git(&repo, &["show", "HEAD:envs/dev/shop.yaml"]), chart_yaml("0.10.0"), "nothing changed");
}

#[test]
fn a_chart_repositorys_index_is_read_on_loopback_and_an_unreachable_one_is_an_error() {
    let index = "apiVersion: v1\nentries:\n  shop:\n    - version: 1.2.0\n      digest: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n    - version: 1.10.0\n    - version: 'bad version'\n    - version: 2.0.0\n  other:\n    - version: 9.0.0\n";
    let origin = http_server(200, Box::leak(index.to_string().into_boxed_str()), Duration::ZERO);
    let source = format!("chart: {{ repository: '{origin}/charts', name: shop }}");
    let (_dir, repo) = app_repo(&source, "{ semver: '^1' }", "helm_release: {}", "kind: HelmRelease\nspec:\n  chart:\n    spec: { chart: shop, version: 1.0.0 }\n");
    let listed = versions(&run(&repo, &["versions", "shop", "-o", "json"]));
    assert_eq!(listed, [("1.10.0".to_string(), "-".to_string()), ("1.2.0".into(), "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into())]);
    let promoted = run(&repo, &["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert!(git(&repo, &["show", "HEAD:envs/dev/shop.yaml"]).contains("version: 1.10.0 }"));
    // An unreachable repository is an error (exit 2), never a fallback.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let source = format!("chart: {{ repository: 'http://{closed}/charts', name: shop }}");
    let (_dir, repo) = app_repo(&source, "{ semver: '^1' }", "helm_release: {}", "kind: HelmRelease\nspec:\n  chart:\n    spec: { chart: shop, version: 1.0.0 }\n");
    let refused = run(&repo, &["versions", "shop"]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("/charts/index.yaml: cannot be reached"), "{}", refused.stderr);
}

#[test]
fn a_git_remotes_tags_are_discovered_with_their_commits_and_the_newest_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, commits) = tagged_remote(dir.path(), &["v1.0.0", "v1.2.0", "v2.0.0-rc.1", "nightly"]);
    let source = format!("git: {{ url: '{remote}' }}");
    let kustomization = "resources:\n  - https://git.example.com/platform/base//deploy?ref=v0.9.0\n";
    let (_dir, repo) = app_repo(&source, "{ semver: '*' }", "kustomize_remote: { url: https://git.example.com/platform/base }", kustomization);
    let listed = versions(&run(&repo, &["versions", "shop", "-o", "json"]));
    assert_eq!(listed, [("v1.2.0".to_string(), commits[1].clone()), ("v1.0.0".into(), commits[0].clone())], "annotated tags name their commits");
    let promoted = run(&repo, &["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert_eq!(git(&repo, &["show", "HEAD:envs/dev/shop.yaml"]), kustomization.replace("v0.9.0", "v1.2.0"));
    // A typed tag must be one of the remote's; a full commit id is taken as typed.
    let missing = run(&repo, &["plan", "shop", "--to", "dev", "--version", "v9.9.9", "--actor", "ci"]);
    assert_eq!(missing.code, 2, "{}{}", missing.stdout, missing.stderr);
    assert!(missing.stderr.contains("--version v9.9.9: the repository of shop does not offer it"), "{}", missing.stderr);
    let pinned = run(&repo, &["plan", "shop", "--to", "dev", "--version", &commits[0], "--actor", "ci"]);
    assert_eq!(pinned.code, 0, "{}{}", pinned.stdout, pinned.stderr);
    // A remote that is not there is an error (exit 2).
    let gone = format!("git: {{ url: 'file://{}/missing.git' }}", dir.path().display());
    let (_gone_dir, repo) = app_repo(&gone, "{ semver: '*' }", "kustomize_remote: { url: https://git.example.com/platform/base }", kustomization);
    let refused = run(&repo, &["versions", "shop"]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("git ls-remote file://"), "{}", refused.stderr);
}

#[test]
fn chart_versions_with_build_metadata_are_discovered_from_oci_tags_and_an_index_and_promoted() {
    // In an OCI repository Helm stores 0.4.0+build.7 under the tag 0.4.0_build.7.
    let registry = Registry::start();
    let plain = push_chart(&registry, "0.4.0");
    let built = push_chart(&registry, "0.4.0_build.7");
    let source = format!("chart: {{ repository: 'oci://{}/charts', name: shop }}", registry.host);
    let (_dir, repo) = app_repo(&source, "{ semver: '<1' }", "chart_dependency: { name: shop }", &chart_yaml("0.3.0"));
    let listed = versions(&run(&repo, &["versions", "shop", "-o", "json"]));
    assert_eq!(listed, [("0.4.0+build.7".to_string(), built), ("0.4.0".into(), plain)]);
    let promoted = run(&repo, &["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert_eq!(git(&repo, &["show", "HEAD:envs/dev/shop.yaml"]), chart_yaml("0.4.0+build.7"));
    let record = crate::freight::record_at(&repo, "HEAD");
    assert_eq!(record["transition"]["artifact"]["version"], "0.4.0+build.7", "{record}");
    let verified = run(&repo, &["verify", "HEAD"]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    // Downstream it travels as it is; typed, it must be offered under its `_` tag.
    let downstream = run(&repo, &["promote", "shop", "--to", "prod", "--actor", "ci"]);
    assert_eq!(downstream.code, 0, "{}{}", downstream.stdout, downstream.stderr);
    assert_eq!(git(&repo, &["show", "HEAD:envs/prod/shop.yaml"]), chart_yaml("0.4.0+build.7"));
    let missing = run(&repo, &["plan", "shop", "--to", "dev", "--version", "0.4.0+build.8", "--actor", "ci"]);
    assert_eq!(missing.code, 2, "{}{}", missing.stdout, missing.stderr);
    assert!(missing.stderr.contains("--version 0.4.0+build.8: the repository of shop does not offer it"), "{}", missing.stderr);

    // From an HTTP repository's index.yaml, as written there.
    let index = "apiVersion: v1\nentries:\n  shop:\n    - version: 1.2.3+build.1\n    - version: 1.2.2\n    - version: 1.2.4+bad_build\n";
    let origin = http_server(200, Box::leak(index.to_string().into_boxed_str()), Duration::ZERO);
    let source = format!("chart: {{ repository: '{origin}/charts', name: shop }}");
    let release = "kind: HelmRelease\nspec:\n  chart:\n    spec: { chart: shop, version: 1.0.0 }\n";
    let (_dir, repo) = app_repo(&source, "{ semver: '^1' }", "helm_release: {}", release);
    let listed = versions(&run(&repo, &["versions", "shop", "-o", "json"]));
    assert_eq!(listed, [("1.2.3+build.1".to_string(), "-".to_string()), ("1.2.2".into(), "-".into())], "a version outside the grammar is dropped");
    let promoted = run(&repo, &["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"]);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert_eq!(git(&repo, &["show", "HEAD:envs/dev/shop.yaml"]), release.replace("1.0.0", "1.2.3+build.1"));
}

#[test]
fn build_metadata_is_refused_in_an_image_tag() {
    let dir = crate::support::gitops_repo();
    let repo = crate::support::repo_path(&dir);
    let before = crate::support::snapshot(&repo);
    let refused = crate::support::tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2+build.1", "--no-digest", "--actor", "ci"]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("\"1.4.2+build.1\" is not a valid image version: only a Helm chart's version takes +BUILD metadata"), "{}", refused.stderr);
    assert_eq!(crate::support::snapshot(&repo), before);
}
