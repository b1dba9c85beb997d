//! Discovery for multi-artifact applications (issue 24; Kargo's Warehouse subscribing to
//! several artifacts and making Freight of their newest versions): an image and a chart
//! pushed to Debian's `docker-registry` and a local bare Git remote, each artifact with its
//! own `discover:` rule; `tollgate versions` lists each, and `promote --latest` takes every
//! newest version (the image's digest from the registry) into the first environment in one
//! commit.

use crate::discovery::{push_image, run};
use crate::freight::record_at;
use crate::freight_discovery::{push_chart, tagged_remote};
use crate::registry_support::Registry;
use crate::serve_support::{Server, TOKEN, token_file};
use crate::support::{Run, committed_repo, git, snapshot};

/// The application `shop` of three artifacts (`api` image, `chart` OCI chart, `base` Git
/// revision), each discovered by its own rule (`base`'s is `base_rule`, none when empty), in
/// dev → prod.
fn shop_repo(registry: &Registry, remote: &str, base_rule: &str) -> (tempfile::TempDir, String) {
    let host = &registry.host;
    let config = format!(
        "environments:\n  - dev\n  - {{ name: prod, upstream: dev }}\napplications:\n  shop:\n    artifacts:\n      \
         api:\n        image: {host}/shop/api\n        discover: {{ semver: '^1' }}\n        environments:\n          \
         dev: {{ file: envs/dev/values.yaml, helm: {{ tag_path: api.tag, digest_path: api.digest }} }}\n          \
         prod: {{ file: envs/prod/values.yaml, helm: {{ tag_path: api.tag, digest_path: api.digest }} }}\n      \
         chart:\n        chart: {{ repository: 'oci://{host}/charts', name: shop }}\n        discover: {{ semver: '<1' }}\n        environments:\n          \
         dev: {{ file: envs/dev/Chart.yaml, chart_dependency: {{ name: shop }} }}\n          \
         prod: {{ file: envs/prod/Chart.yaml, chart_dependency: {{ name: shop }} }}\n      \
         base:\n        git: {{ url: '{remote}' }}\n{base_rule}        environments:\n          \
         dev: {{ file: envs/dev/kustomization.yaml, kustomize_remote: {{ url: https://git.example.com/platform/base }} }}\n          \
         prod: {{ file: envs/prod/kustomization.yaml, kustomize_remote: {{ url: https://git.example.com/platform/base }} }}\n"
    );
    let mut files = vec![("tollgate.yaml".to_string(), config)];
    for env in ["dev", "prod"] {
        files.push((format!("envs/{env}/values.yaml"), values("0.9.0", "")));
        files.push((format!("envs/{env}/Chart.yaml"), chart_yaml("0.1.0")));
        files.push((format!("envs/{env}/kustomization.yaml"), kustomization("v0.9.0")));
    }
    committed_repo(&files)
}

const BASE_RULE: &str = "        discover: { semver: '*' }\n";

fn values(tag: &str, digest: &str) -> String {
    format!("api:\n  tag: \"{tag}\"\n  digest: \"{digest}\"\n")
}

fn chart_yaml(version: &str) -> String {
    format!("apiVersion: v2\nname: shop-env\nversion: 0.1.0\ndependencies:\n  - name: shop\n    version: {version}\n")
}

fn kustomization(reference: &str) -> String {
    format!("resources:\n  - https://git.example.com/platform/base//deploy?ref={reference}\n")
}

/// A registry holding api 1.0.0, 1.2.0 and 2.0.0 and chart 0.3.0, 0.4.0 and 1.0.0 (their
/// digests by `api:TAG` and `chart:VERSION`), a Git remote tagged v1.0.0 and v1.1.0 (its
/// commits), and `shop_repo` on them.
struct Shop {
    registry: Registry,
    digests: std::collections::BTreeMap<String, String>,
    remote: String,
    commits: Vec<String>,
    repo: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn shop(base_rule: &str) -> Shop {
    let registry = Registry::start();
    let mut digests = std::collections::BTreeMap::new();
    for tag in ["1.0.0", "1.2.0", "2.0.0"] {
        digests.insert(format!("api:{tag}"), push_image(&registry, tag, "2026-01-01T00:00:00Z"));
    }
    for version in ["0.3.0", "0.4.0", "1.0.0"] {
        digests.insert(format!("chart:{version}"), push_chart(&registry, version));
    }
    let remote_dir = tempfile::tempdir().unwrap();
    let (remote, commits) = tagged_remote(remote_dir.path(), &["v1.0.0", "v1.1.0"]);
    let (dir, repo) = shop_repo(&registry, &remote, base_rule);
    Shop { registry, digests, remote, commits, repo, _dirs: (remote_dir, dir) }
}

fn succeeded(run: &Run) {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

fn read(repo: &str, path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(repo).join(path)).unwrap()
}

#[test]
fn versions_lists_each_discovered_artifact_of_a_multi_artifact_application() {
    let shop = shop(BASE_RULE);
    let (repo, digests) = (shop.repo.clone(), shop.digests.clone());
    let listed = run(&repo, &["versions", "shop", "-o", "json"]);
    succeeded(&listed);
    let document: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let of = |name: &str| -> Vec<(String, String)> {
        document["artifacts"][name]["versions"]
            .as_array()
            .unwrap_or_else(|| panic!("{document}"))
            .iter()
            .map(|v| (v["version"].as_str().unwrap().to_string(), v["digest"].as_str().or(v["commit"].as_str()).unwrap().to_string()))
            .collect()
    };
    assert_eq!(of("api"), [("1.2.0".to_string(), digests["api:1.2.0"].clone()), ("1.0.0".into(), digests["api:1.0.0"].clone())]);
    assert_eq!(of("chart"), [("0.4.0".to_string(), digests["chart:0.4.0"].clone()), ("0.3.0".into(), digests["chart:0.3.0"].clone())]);
    assert_eq!(of("base"), [("v1.1.0".to_string(), shop.commits[1].clone()), ("v1.0.0".into(), shop.commits[0].clone())]);
    assert_eq!(document["artifacts"]["chart"]["kind"], "helm-chart", "{document}");
    let text = run(&repo, &["versions", "shop", "--limit", "1"]);
    succeeded(&text);
    assert_eq!(
        text.stdout,
        format!(
            "api (image {host}/shop/api)\n  1.2.0  {}\nbase (git-revision {})\n  v1.1.0  {}\nchart (helm-chart oci://{host}/charts/shop)\n  0.4.0  {}\n",
            digests["api:1.2.0"],
            shop.remote,
            shop.commits[1],
            digests["chart:0.4.0"],
            host = shop.registry.host
        )
    );
}

#[test]
fn promote_latest_takes_every_artifacts_newest_version_and_the_images_digest_in_one_commit() {
    let shop = shop(BASE_RULE);
    let (repo, digests) = (shop.repo.clone(), shop.digests.clone());
    let base = git(&repo, &["rev-parse", "HEAD"]);
    succeeded(&run(&repo, &["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"]));
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]).trim(), base.trim(), "one commit");
    assert_eq!(read(&repo, "envs/dev/values.yaml"), values("1.2.0", &digests["api:1.2.0"]));
    assert_eq!(read(&repo, "envs/dev/Chart.yaml"), chart_yaml("0.4.0"));
    assert_eq!(read(&repo, "envs/dev/kustomization.yaml"), kustomization("v1.1.0"));
    let record = record_at(&repo, "HEAD");
    let artifacts: Vec<(String, String, String)> = record["transition"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().into(), a["version"].as_str().unwrap().into(), a["digest"].as_str().unwrap_or("-").into()))
        .collect();
    assert_eq!(
        artifacts,
        [
            ("api".to_string(), "1.2.0".to_string(), digests["api:1.2.0"].clone()),
            ("base".into(), "v1.1.0".into(), "-".into()),
            ("chart".into(), "0.4.0".into(), "-".into())
        ]
    );
    succeeded(&run(&repo, &["verify", "HEAD"]));

    // Further down, every artifact and digest comes from upstream, never from a registry.
    let before = snapshot(&repo);
    let refused = run(&repo, &["promote", "shop", "--to", "prod", "--latest", "--actor", "ci"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("takes its version from its upstream environment"), "{}", refused.stderr);
    assert_eq!(snapshot(&repo), before);
    succeeded(&run(&repo, &["promote", "shop", "--to", "prod", "--actor", "ci"]));
    assert_eq!(read(&repo, "envs/prod/values.yaml"), values("1.2.0", &digests["api:1.2.0"]));
    assert_eq!(read(&repo, "envs/prod/Chart.yaml"), chart_yaml("0.4.0"));
}

#[test]
fn typed_versions_of_discovered_artifacts_are_checked_against_their_registries() {
    let shop = shop(BASE_RULE);
    let (repo, digests) = (shop.repo.clone(), shop.digests.clone());
    let before = snapshot(&repo);
    let typed = ["--version", "api=1.0.0", "--version", "chart=0.3.0", "--version", "base=v1.0.0"];
    let wrong = format!("api={}", digests["api:1.2.0"]);
    let refused = run(&repo, &[&["promote", "shop", "--to", "dev", "--digest", &wrong, "--actor", "ci"][..], &typed].concat());
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let said = format!("--digest {wrong} is not what the registry holds for shop artifact api 1.0.0 ({})", digests["api:1.0.0"]);
    assert!(refused.stderr.contains(&said), "{}", refused.stderr);
    let missing = run(&repo, &["promote", "shop", "--to", "dev", "--version", "api=1.0.0", "--version", "chart=0.5.0", "--version", "base=v1.0.0", "--actor", "ci"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("--version chart=0.5.0: the repository of shop artifact chart does not offer it"), "{}", missing.stderr);
    assert_eq!(snapshot(&repo), before, "nothing may change");

    // Typed without a digest: the image's is read from the registry.
    succeeded(&run(&repo, &[&["promote", "shop", "--to", "dev", "--actor", "ci"][..], &typed].concat()));
    assert_eq!(read(&repo, "envs/dev/values.yaml"), values("1.0.0", &digests["api:1.0.0"]));
    // The right digest typed is taken.
    let right = format!("api={}", digests["api:1.2.0"]);
    succeeded(&run(&repo, &["promote", "shop", "--to", "dev", "--version", "api=1.2.0", "--version", "chart=0.4.0", "--version", "base=v1.1.0", "--digest", &right, "--actor", "ci"]));
    assert_eq!(read(&repo, "envs/dev/values.yaml"), values("1.2.0", &digests["api:1.2.0"]));
}

#[test]
fn an_unreachable_registry_fails_a_multi_artifact_discovery_with_exit_2_and_changes_nothing() {
    let mut shop = shop(BASE_RULE);
    let repo = shop.repo.clone();
    shop.registry.stop();
    let before = snapshot(&repo);
    for args in [
        vec!["versions", "shop"],
        vec!["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"],
        vec!["promote", "shop", "--to", "dev", "--version", "api=1.0.0", "--version", "chart=0.3.0", "--version", "base=v1.0.0", "--actor", "ci"],
    ] {
        let failed = run(&repo, &args);
        assert_eq!(failed.code, 2, "{args:?}: {}", failed.stderr);
        assert!(failed.stderr.contains("cannot reach the registry"), "{args:?}: {}", failed.stderr);
    }
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn latest_names_an_artifact_without_a_rule_takes_one_pinned_by_name_and_an_application_level_rule_is_a_configuration_error() {
    let shop = shop("");
    let (repo, digests) = (shop.repo.clone(), shop.digests.clone());
    let before = snapshot(&repo);
    let refused = run(&repo, &["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("shop artifact base has no `discover:` rule (applications.shop.artifacts.base.discover); add one, or give its version with --version base=VERSION"), "{}", refused.stderr);
    assert_eq!(snapshot(&repo), before);
    // Pinned by name, it goes with the others' newest; a pinned discovered one is checked.
    let pinned = run(&repo, &["plan", "shop", "--to", "dev", "--latest", "--version", "base=v7.0.0", "--version", "chart=0.3.0", "--actor", "ci", "-o", "json"]);
    succeeded(&pinned);
    let document: serde_json::Value = serde_json::from_str(&pinned.stdout).unwrap();
    let planned: Vec<String> = document["transition"]["artifacts"].as_array().unwrap().iter().map(|a| format!("{} {}", a["name"].as_str().unwrap(), a["version"].as_str().unwrap())).collect();
    assert_eq!(planned, ["api 1.2.0", "base v7.0.0", "chart 0.3.0"]);
    let missing = run(&repo, &["plan", "shop", "--to", "dev", "--latest", "--version", "base=v7.0.0", "--version", "chart=0.5.0", "--actor", "ci"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("--version chart=0.5.0: the repository of shop artifact chart does not offer it"), "{}", missing.stderr);
    let plain = run(&repo, &["plan", "shop", "--to", "dev", "--latest", "--version", "1.0.0", "--actor", "ci"]);
    assert_eq!(plain.code, 2, "{}", plain.stderr);
    assert!(plain.stderr.contains("--latest takes the version and digest from the registry: give it without --version VERSION"), "{}", plain.stderr);
    // Typed, an artifact without a rule is taken as typed; the others are still checked.
    succeeded(&run(&repo, &["promote", "shop", "--to", "dev", "--version", "api=1.2.0", "--version", "chart=0.4.0", "--version", "base=v7.0.0", "--actor", "ci"]));
    assert_eq!(read(&repo, "envs/dev/values.yaml"), values("1.2.0", &digests["api:1.2.0"]));
    assert_eq!(read(&repo, "envs/dev/kustomization.yaml"), kustomization("v7.0.0"));

    let config = read(&repo, "tollgate.yaml").replace("  shop:\n", "  shop:\n    discover: { semver: '*' }\n");
    let path = std::path::Path::new(&repo).join("tollgate.yaml");
    std::fs::write(&path, config).unwrap();
    let checked = run(&repo, &["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(checked.code, 2, "{}{}", checked.stdout, checked.stderr);
    let said = format!("{}{}", checked.stdout, checked.stderr);
    assert!(said.contains("applications.shop.discover: an application of several artifacts discovers each one's versions on its own"), "{said}");
}

#[test]
fn status_and_the_dashboard_show_every_artifact_and_serve_takes_latest_through_the_same_path() {
    let shop = shop(BASE_RULE);
    let repo = shop.repo.clone();
    let tokens_dir = tempfile::tempdir().unwrap();
    let server = Server::start(&repo, &[], &["--token-file", &token_file(tokens_dir.path())]);
    let answer = server.call("POST", "/v1/plan", Some(r#"{"app": "shop", "to": "dev", "latest": true, "actor": "ci"}"#));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let artifacts: Vec<String> =
        answer.json()["transition"]["artifacts"].as_array().unwrap().iter().map(|a| format!("{} {}", a["name"].as_str().unwrap(), a["version"].as_str().unwrap())).collect();
    assert_eq!(artifacts, ["api 1.2.0", "base v1.1.0", "chart 0.4.0"]);
    succeeded(&run(&repo, &["promote", "shop", "--to", "dev", "--latest", "--actor", "ci"]));

    // status: every artifact per environment, in text and in JSON (beside the primary's version).
    let digest = &shop.digests["api:1.2.0"];
    let text = run(&repo, &["status"]);
    succeeded(&text);
    let expected = format!(
        "               api   image        1.2.0  {}\n               base  git-revision v1.1.0 -\n               chart helm-chart   0.4.0  -\n  prod",
        &digest[..15]
    );
    assert!(text.stdout.contains(&expected), "{}", text.stdout);
    let status: serde_json::Value = serde_json::from_str(&run(&repo, &["status", "-o", "json"]).stdout).unwrap();
    let cells = &status["applications"][0]["environments"];
    assert_eq!(cells["dev"]["version"], "1.2.0", "the primary's, as before: {status}");
    let listed = |env: &str| -> Vec<String> {
        cells[env]["artifacts"]
            .as_array()
            .unwrap_or_else(|| panic!("{status}"))
            .iter()
            .map(|a| format!("{} {} {} {}", a["name"].as_str().unwrap(), a["kind"].as_str().unwrap(), a["version"].as_str().unwrap(), a["digest"].as_str().unwrap_or("-")))
            .collect()
    };
    assert_eq!(listed("dev"), [format!("api image 1.2.0 {digest}"), "base git-revision v1.1.0 -".into(), "chart helm-chart 0.4.0 -".into()]);
    assert_eq!(listed("prod"), ["api image 0.9.0 -", "base git-revision v0.9.0 -", "chart helm-chart 0.1.0 -"]);

    // The dashboard's cell lists them too.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let login = server.call_with("POST", "/login", &form, Some(format!("token={TOKEN}").as_bytes()));
    let cookie = login.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let page = server.call_with("GET", "/", &[("cookie", &cookie)], None);
    assert_eq!(page.status, 200);
    for artifact in ["api 1.2.0", "base v1.1.0", "chart 0.4.0", "api 0.9.0"] {
        assert!(page.body.contains(&format!("<div class=\"small artifact\">{artifact}</div>")), "{artifact}: {}", page.body);
    }
}

#[test]
fn a_digest_in_the_primary_artifacts_file_asks_for_its_digest_by_name_or_no_digest() {
    let config = "environments: [dev]\napplications:\n  shop:\n    artifacts:\n      api:\n        image: registry.example.com/shop/api\n        environments:\n          \
                  dev: { file: envs/dev/values.yaml, helm: { tag_path: api.tag, digest_path: api.digest } }\n      worker:\n        image: registry.example.com/shop/worker\n        environments:\n          \
                  dev: { file: envs/dev/values.yaml, helm: { tag_path: worker.tag } }\n";
    let digest = format!("sha256:{}", "ab".repeat(32));
    let values = format!("api:\n  tag: \"1.0.0\"\n  digest: \"{digest}\"\nworker:\n  tag: \"1.0.0\"\n");
    let (_dir, repo) = committed_repo(&[("tollgate.yaml".into(), config.into()), ("envs/dev/values.yaml".into(), values)]);
    let typed = ["plan", "shop", "--to", "dev", "--version", "api=1.1.0", "--version", "worker=1.1.0", "--actor", "ci"];
    let refused = run(&repo, &typed);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("shop artifact api in dev has a digest; give --digest api=DIGEST, or --no-digest to clear it"), "{}", refused.stderr);
    let other = format!("api=sha256:{}", "cd".repeat(32));
    succeeded(&run(&repo, &[&typed[..], &["--digest", &other]].concat()));
    succeeded(&run(&repo, &[&typed[..], &["--no-digest"]].concat()));
    let misplaced = run(&repo, &[&typed[..], &["--digest", &other, "--digest", &format!("worker=sha256:{}", "cd".repeat(32))]].concat());
    assert_eq!(misplaced.code, 2, "{}{}", misplaced.stdout, misplaced.stderr);
    assert!(misplaced.stderr.contains("--digest worker=…: the file of shop artifact worker in dev has no place for a digest"), "{}", misplaced.stderr);
}
