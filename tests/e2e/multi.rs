//! Several transitions in one call (issue 11, part 3): several `--to`, target globs and
//! release trains (`--app GLOB`, `--all`), all or nothing in one commit with one decision
//! record per transition.

use std::path::Path;

use crate::support::{committed_repo, git, snapshot, tollgate_in};

/// qa → staging → prod-us, with staging → prod-eu allowed directly (until environments are
/// a graph, `--from staging` reaches both prod regions). approval-count wants one approval
/// in prod-eu only, so a call into both regions without one is a partial deny.
const CONFIG: &str = "environments: [qa, staging, prod-us, prod-eu]
allow_skip: [{ from: staging, to: prod-eu }]
applications:
  billing:
    image: registry.example.com/billing
    environments:
      qa:      { file: envs/qa/billing/kustomization.yaml, kustomize: {} }
      staging: { file: envs/staging/billing/kustomization.yaml, kustomize: {} }
      prod-us: { file: envs/prod-us/billing/kustomization.yaml, kustomize: {} }
  shop-api:
    image: registry.example.com/shop/api
    environments:
      qa:      { file: envs/qa/shop-api/kustomization.yaml, kustomize: {} }
      staging: { file: envs/staging/shop-api/kustomization.yaml, kustomize: {} }
      prod-us: { file: envs/prod-us/shop-api/kustomization.yaml, kustomize: {} }
      prod-eu: { file: envs/prod-eu/shop-api/kustomization.yaml, kustomize: {} }
  shop-web:
    image: registry.example.com/shop/web
    environments:
      qa:      { file: envs/qa/shop-web/kustomization.yaml, kustomize: {} }
      staging: { file: envs/staging/shop-web/kustomization.yaml, kustomize: {} }
      prod-us: { file: envs/prod-us/shop-web/kustomization.yaml, kustomize: {} }
      prod-eu: { file: envs/prod-eu/shop-web/kustomization.yaml, kustomize: {} }
policies:
  - plugin: builtin:approval-count
    environments: [prod-eu]
    config:
      environments:
        prod-eu: { required: 1 }
";

fn kustomization(image: &str, version: &str) -> String {
    format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\nimages:\n  - name: {image}\n    newTag: {version}\n")
}

/// The repository: shop-api 1.1.0 in qa and staging, 1.0.0 in both prod regions; shop-web
/// 2.1.0 everywhere but prod-eu (2.0.0); billing 3.0.0 in qa and staging, hotfixed to 3.1.0
/// in prod-us.
pub fn regions_repo() -> (tempfile::TempDir, String) {
    let mut files: Vec<(String, String)> = vec![("tollgate.yaml".into(), CONFIG.into())];
    let versions = [
        ("billing", "registry.example.com/billing", [("qa", "3.0.0"), ("staging", "3.0.0"), ("prod-us", "3.1.0"), ("prod-eu", "")]),
        ("shop-api", "registry.example.com/shop/api", [("qa", "1.1.0"), ("staging", "1.1.0"), ("prod-us", "1.0.0"), ("prod-eu", "1.0.0")]),
        ("shop-web", "registry.example.com/shop/web", [("qa", "2.1.0"), ("staging", "2.1.0"), ("prod-us", "2.1.0"), ("prod-eu", "2.0.0")]),
    ];
    for (app, image, envs) in versions {
        for (env, version) in envs.iter().filter(|(_, version)| !version.is_empty()) {
            files.push((format!("envs/{env}/{app}/kustomization.yaml"), kustomization(image, version)));
        }
    }
    committed_repo(&files)
}

fn json(run: &crate::support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}{}", run.stdout, run.stderr))
}

/// The decision records commit `rev` adds.
fn records_at(repo: &str, rev: &str) -> Vec<serde_json::Value> {
    let files = git(repo, &["show", "--name-only", "--format=", rev]);
    files
        .lines()
        .filter(|line| line.starts_with(".tollgate/decisions/"))
        .map(|path| serde_json::from_str(&git(repo, &["show", &format!("{rev}:{path}")])).unwrap())
        .collect()
}

#[test]
fn several_targets_with_a_partial_deny_commit_nothing_and_report_every_verdict() {
    let (_dir, repo) = regions_repo();
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod-us", "--to", "prod-eu", "--from", "staging", "--actor", "alice"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("promote shop-api 1.1.0 from staging to prod-us"), "{}", run.stdout);
    assert!(run.stdout.contains("promote shop-api 1.1.0 from staging to prod-eu"), "{}", run.stdout);
    assert!(run.stdout.contains("prod-eu needs 1 approval of 1.1.0; have none"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with("denied: shop-api to prod-eu (all or nothing: nothing committed, none of the 2 transitions)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(snapshot(&repo), before, "a partial deny changed the repository");

    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod-*", "--from", "staging", "--actor", "alice", "-o", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let document = json(&run);
    assert_eq!(document["outcome"], "denied");
    assert_eq!(document["committed"], serde_json::Value::Null);
    let outcomes: Vec<&str> = document["transitions"].as_array().unwrap().iter().map(|t| t["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["allowed", "denied"]);
    assert_eq!(document["transitions"][1]["transition"]["to_env"], "prod-eu");
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn a_glob_of_targets_lands_in_one_commit_with_one_record_per_transition() {
    let (_dir, repo) = regions_repo();
    let base = git(&repo, &["rev-parse", "HEAD"]);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod-*", "--from", "staging", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("allowed: 2 transitions committed together in "), "{}", run.stdout);
    // One commit on the old tip, changing both files and adding both records.
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]), base);
    let changed = git(&repo, &["show", "--name-only", "--format=", "HEAD"]);
    assert!(changed.contains("envs/prod-us/shop-api/kustomization.yaml\n") && changed.contains("envs/prod-eu/shop-api/kustomization.yaml\n"), "{changed}");
    let records = records_at(&repo, "HEAD");
    let targets: Vec<&str> = records.iter().map(|record| record["transition"]["to_env"].as_str().unwrap()).collect();
    assert_eq!(targets.len(), 2);
    assert!(targets.contains(&"prod-us") && targets.contains(&"prod-eu"), "{targets:?}");
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(message.starts_with("promote 2 transitions: "), "{message}");
    assert_eq!(message.matches("Tollgate-Decision: ").count(), 2, "{message}");

    // history lists both, status attributes both, verify re-runs both.
    let run = tollgate_in(&repo, &["history", "--app", "shop-api", "-o", "json"]);
    let history = json(&run);
    let entries = history.as_array().or_else(|| history["promotions"].as_array()).unwrap_or_else(|| panic!("{history}"));
    assert_eq!(entries.len(), 2, "{history}");
    assert!(entries.iter().all(|entry| entry["counts"] == true && entry["version"] == "1.1.0"), "{history}");
    let status = json(&tollgate_in(&repo, &["status", "-o", "json"]));
    let api = status["applications"].as_array().unwrap().iter().find(|app| app["app"] == "shop-api").unwrap().clone();
    for env in ["prod-us", "prod-eu"] {
        assert_eq!(api["environments"][env]["version"], "1.1.0");
        assert_eq!(api["environments"][env]["unrecorded_change"], false, "{status}");
        assert_eq!(api["environments"][env]["by"], "alice");
    }
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // One region can be rolled back on its own.
    let run = tollgate_in(&repo, &["rollback", "shop-api", "--env", "prod-us", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let kustomization = std::fs::read_to_string(Path::new(&repo).join("envs/prod-us/shop-api/kustomization.yaml")).unwrap();
    assert!(kustomization.contains("newTag: 1.0.0"), "{kustomization}");
    let kustomization = std::fs::read_to_string(Path::new(&repo).join("envs/prod-eu/shop-api/kustomization.yaml")).unwrap();
    assert!(kustomization.contains("newTag: 1.1.0"), "{kustomization}");
}

#[test]
fn an_edited_trailer_of_a_commit_of_several_transitions_does_not_check_out() {
    let (_dir, repo) = regions_repo();
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod-*", "--from", "staging", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    let first_decision = message.lines().find(|line| line.starts_with("Tollgate-Decision: ")).unwrap();
    let edited = message.replacen(&format!("{first_decision}\n"), "", 1);
    git(&repo, &["commit", "--quiet", "--amend", "-m", &edited]);
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("its Tollgate-Decision trailers name "), "{}", run.stdout);
}

#[test]
fn a_release_train_promotes_what_is_behind_and_lists_the_rest_as_nothing_to_do() {
    let (_dir, repo) = regions_repo();
    let run = tollgate_in(&repo, &["promote", "--all", "--to", "prod-us", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("promote shop-api 1.1.0 from staging to prod-us"), "{}", run.stdout);
    assert!(run.stdout.contains("nothing to do:\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  shop-web to prod-us: shop-web already runs 2.1.0 in prod-us; nothing to do\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  billing to prod-us: billing runs 3.1.0 in prod-us, newer than 3.0.0 in staging; nothing to do\n"), "{}", run.stdout);
    assert!(run.stdout.contains("allowed: 1 transition committed together in "), "{}", run.stdout);
    assert_eq!(records_at(&repo, "HEAD").len(), 1);

    // Now every application is current in prod-us: exit 0, nothing committed.
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let run = tollgate_in(&repo, &["promote", "--all", "--to", "prod-us", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.ends_with("nothing to do: every selected application is current\n"), "{}", run.stdout);
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);

    // A train by glob into prod-eu: billing is not matched, both shop apps go, one commit.
    let run = tollgate_in(&repo, &["plan", "--app", "shop-*", "--to", "prod-eu", "--from", "staging", "--actor", "alice", "--approval", "bob", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document = json(&run);
    let apps: Vec<&str> = document["transitions"].as_array().unwrap().iter().map(|t| t["transition"]["application"].as_str().unwrap()).collect();
    assert_eq!(apps, ["shop-api", "shop-web"]);
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head, "plan committed");
    let run = tollgate_in(&repo, &["promote", "--app", "shop-*", "--to", "prod-eu", "--from", "staging", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(records_at(&repo, "HEAD").len(), 2);
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]), head);
}

#[test]
fn every_output_format_reports_every_transition() {
    let (_dir, repo) = regions_repo();
    let args = |format: &'static str| ["plan", "shop-api", "--to", "prod-*", "--from", "staging", "--actor", "alice", "-o", format];
    let run = tollgate_in(&repo, &args("junit"));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let xml = roxmltree::Document::parse(&run.stdout).unwrap();
    let suites: Vec<&str> = xml.descendants().filter(|node| node.has_tag_name("testsuite")).map(|node| node.attribute("name").unwrap()).collect();
    assert_eq!(suites, ["promote shop-api 1.1.0 to prod-us", "promote shop-api 1.1.0 to prod-eu"]);
    assert_eq!(xml.root_element().attribute("failures"), Some("1"));

    let run = tollgate_in(&repo, &args("sarif"));
    assert_eq!(run.code, 1);
    let sarif = json(&run);
    assert_eq!(sarif["runs"].as_array().unwrap().len(), 2, "{sarif}");
    let mut schema = crate::support::published_sarif_schema();
    crate::outputs::escape_stray_bracket(&mut schema);
    let validator = jsonschema::draft7::new(&schema).unwrap();
    assert!(validator.is_valid(&sarif), "{sarif}");

    let run = tollgate_in(&repo, &args("github"));
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("::error ") && run.stdout.contains("prod-eu needs 1 approval of 1.1.0"), "{}", run.stdout);
    assert!(run.stdout.ends_with("denied: shop-api to prod-eu (all or nothing: nothing committed, none of the 2 transitions)\n"), "{}", run.stdout);
}

/// A three-image application (api and worker in one values file, the migration job in its
/// own manifest, and in prod also in a CronJob) through qa → staging → prod.
const SHOP_CONFIG: &str = "environments: [qa, staging, prod]
applications:
  shop:
    artifacts:
      api:
        image: registry.example.com/shop/api
        environments:
          qa:      { file: envs/qa/shop/values.yaml, helm: { tag_path: api.image.tag } }
          staging: { file: envs/staging/shop/values.yaml, helm: { tag_path: api.image.tag } }
          prod:    { file: envs/prod/shop/values.yaml, helm: { tag_path: api.image.tag } }
      worker:
        image: registry.example.com/shop/worker
        environments:
          qa:      { file: envs/qa/shop/values.yaml, helm: { tag_path: worker.image.tag } }
          staging: { file: envs/staging/shop/values.yaml, helm: { tag_path: worker.image.tag } }
          prod:    { file: envs/prod/shop/values.yaml, helm: { tag_path: worker.image.tag } }
      migrate:
        image: registry.example.com/shop/migrate
        environments:
          qa:      { file: envs/qa/shop/migrate.yaml, manifest: { container: migrate } }
          staging: { file: envs/staging/shop/migrate.yaml, manifest: { container: migrate } }
          prod:
            - { file: envs/prod/shop/migrate.yaml, manifest: { container: migrate } }
            - { file: envs/prod/shop/cleanup-cronjob.yaml, manifest: { container: migrate } }
policies:
  - plugin: builtin:approval-count
    environments: [prod]
    config:
      environments:
        prod: { required: 1 }
";

fn shop_values(api: &str, worker: &str) -> String {
    format!("api:\n  image:\n    repository: registry.example.com/shop/api\n    tag: \"{api}\"\nworker:\n  image:\n    repository: registry.example.com/shop/worker\n    tag: \"{worker}\"\n  replicas: 2\n")
}

fn migrate_job(kind: &str, version: &str) -> String {
    format!("apiVersion: batch/v1\nkind: {kind}\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      containers:\n        - name: migrate\n          image: registry.example.com/shop/migrate:{version}\n")
}

fn shop_repo() -> (tempfile::TempDir, String) {
    let mut files: Vec<(String, String)> = vec![("tollgate.yaml".into(), SHOP_CONFIG.into())];
    for env in ["qa", "staging", "prod"] {
        files.push((format!("envs/{env}/shop/values.yaml"), shop_values("1.2.0", "1.2.0")));
        files.push((format!("envs/{env}/shop/migrate.yaml"), migrate_job("Job", "1.2.0")));
    }
    files.push(("envs/prod/shop/cleanup-cronjob.yaml".into(), migrate_job("CronJob", "1.2.0")));
    committed_repo(&files)
}

fn read(repo: &str, path: &str) -> String {
    std::fs::read_to_string(Path::new(repo).join(path)).unwrap()
}

#[test]
fn a_three_image_application_is_promoted_as_one_commit_whose_record_lists_all_three_artifacts() {
    let (_dir, repo) = shop_repo();
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "qa", "--version", "api=1.3.0", "--version", "worker=1.3.0", "--version", "migrate=1.3.1", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read(&repo, "envs/qa/shop/values.yaml"), shop_values("1.3.0", "1.3.0"), "every other byte kept");
    assert_eq!(read(&repo, "envs/qa/shop/migrate.yaml"), migrate_job("Job", "1.3.1"));
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "staging", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // The approval binds to the set: one for 1.3.0 alone does not count when migrate is 1.3.1.
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "prod", "--actor", "alice", "--approval", "bob@1.3.0", "-o", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let text = tollgate_in(&repo, &["plan", "shop", "--to", "prod", "--actor", "alice"]).stdout;
    assert!(text.contains("  artifact migrate registry.example.com/shop/migrate:1.3.1 (was 1.2.0)\n"), "{text}");
    assert!(text.contains("+++ b/envs/prod/shop/cleanup-cronjob.yaml"), "every edited file is in the diff: {text}");
    let set = json(&run)["transition"]["artifact"]["version"].as_str().unwrap().to_string();
    assert!(set.starts_with("set-"), "{set}");
    assert_eq!(snapshot(&repo), before);
    let base = git(&repo, &["rev-parse", "HEAD"]);
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "prod", "--actor", "alice", "--approval", &format!("bob@{set}")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]), base, "one commit");
    let changed = git(&repo, &["show", "--name-only", "--format=", "HEAD"]);
    for file in ["envs/prod/shop/values.yaml", "envs/prod/shop/migrate.yaml", "envs/prod/shop/cleanup-cronjob.yaml"] {
        assert!(changed.contains(&format!("{file}\n")), "{file} not in {changed}");
    }
    assert_eq!(read(&repo, "envs/prod/shop/cleanup-cronjob.yaml"), migrate_job("CronJob", "1.3.1"));
    let records = records_at(&repo, "HEAD");
    assert_eq!(records.len(), 1, "one decision");
    let artifacts = records[0]["transition"]["artifacts"].as_array().unwrap();
    let listed: Vec<String> = artifacts.iter().map(|a| format!("{} {} {} (was {})", a["name"].as_str().unwrap(), a["image"].as_str().unwrap(), a["version"].as_str().unwrap(), a["previous_version"].as_str().unwrap())).collect();
    assert_eq!(
        listed,
        [
            "api registry.example.com/shop/api 1.3.0 (was 1.2.0)",
            "migrate registry.example.com/shop/migrate 1.3.1 (was 1.2.0)",
            "worker registry.example.com/shop/worker 1.3.0 (was 1.2.0)"
        ]
    );
    assert_eq!(records[0]["transition"]["artifact"]["version"], set.as_str());

    // history and verify work on it.
    let history = json(&tollgate_in(&repo, &["history", "--app", "shop", "--env", "prod", "-o", "json"]));
    let entries = history.as_array().or_else(|| history["promotions"].as_array()).unwrap_or_else(|| panic!("{history}"));
    assert_eq!(entries[0]["version"], set.as_str());
    assert_eq!(entries[0]["artifacts"].as_array().unwrap().len(), 3);
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // A rollback puts every artifact back, in one commit.
    let run = tollgate_in(&repo, &["rollback", "shop", "--env", "prod", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read(&repo, "envs/prod/shop/values.yaml"), shop_values("1.2.0", "1.2.0"));
    assert_eq!(read(&repo, "envs/prod/shop/migrate.yaml"), migrate_job("Job", "1.2.0"));
    assert_eq!(read(&repo, "envs/prod/shop/cleanup-cronjob.yaml"), migrate_job("CronJob", "1.2.0"));
    let records = records_at(&repo, "HEAD");
    assert_eq!(records[0]["transition"]["kind"], "rollback");
    assert_eq!(records[0]["transition"]["artifacts"].as_array().unwrap().len(), 3);
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn one_version_for_every_artifact_and_precise_errors() {
    let (_dir, repo) = shop_repo();
    let run = tollgate_in(&repo, &["plan", "shop", "--to", "qa", "--version", "api=1.3.0", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("give every artifact's version, --version migrate=VERSION (or one --version for all)"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["plan", "shop", "--to", "qa", "--version", "db=1.3.0", "--actor", "alice"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("shop has no artifact db; its artifacts are api, migrate, worker"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "qa", "--version", "1.4.0", "--actor", "alice", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(json(&run)["transition"]["artifact"]["version"], "1.4.0", "a shared version is the set's version");
    assert_eq!(read(&repo, "envs/qa/shop/values.yaml"), shop_values("1.4.0", "1.4.0"));
    assert_eq!(read(&repo, "envs/qa/shop/migrate.yaml"), migrate_job("Job", "1.4.0"));
}

#[test]
fn a_plugin_checks_every_artifact_through_the_host_function_of_wit_0_1_1() {
    let (dir, repo) = shop_repo();
    let config = SHOP_CONFIG.replace(
        "policies:\n",
        &format!(
            "policies:\n  - plugin: {}\n    environments: [qa]\n    config: {{ allowed_registries: [registry.example.com/shop/api, registry.example.com/shop/worker] }}\n",
            crate::support::plugin("image-policy").display()
        ),
    );
    let config = crate::support::write(dir.path(), "tollgate.yaml", &config);
    let run = tollgate_in(&repo, &["--config", &config, "plan", "shop", "--to", "qa", "--version", "1.4.0", "--actor", "alice"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    // The transition's own artifact is the api (the primary); only the host function shows the migration job.
    assert!(run.stdout.contains("registry.example.com/shop/migrate is not from an allowed registry"), "{}", run.stdout);
    assert!(!run.stdout.contains("registry.example.com/shop/api is not"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["--config", &config, "plugin", "info", crate::support::plugin("image-policy").to_str().unwrap()]);
    assert!(run.stdout.contains("world:        tollgate:policy/policy@0.1.3\n"), "{}", run.stdout);
}

#[test]
fn a_plugin_built_against_wit_0_1_0_still_loads_and_sees_the_primary_artifact_with_the_sets_version() {
    let (dir, repo) = shop_repo();
    let old = crate::support::plugin("contract-0-1-0");
    let run = tollgate_in(&repo, &["plugin", "info", old.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("world:        tollgate:policy/policy@0.1.0\n"), "{}", run.stdout);
    let config = SHOP_CONFIG.replace("policies:\n", &format!("policies:\n  - plugin: {}\n    environments: [qa]\n", old.display()));
    let config = crate::support::write(dir.path(), "tollgate.yaml", &config);
    let run = tollgate_in(&repo, &["--config", &config, "plan", "shop", "--to", "qa", "--version", "api=1.3.0", "--version", "worker=1.3.0", "--version", "migrate=1.3.1", "--actor", "alice", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document = json(&run);
    let set = document["transition"]["artifact"]["version"].as_str().unwrap();
    assert!(set.starts_with("set-"), "{set}");
    let findings = document["policies"][0]["evaluation"].to_string();
    assert!(findings.contains(&format!("0.1.0 plugin saw registry.example.com/shop/api:{set}")), "{}", run.stdout);
}

#[test]
fn several_targets_are_pushed_as_one_commit() {
    let (dir, source) = regions_repo();
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--bare", "--quiet", &source, &remote]);
    let clone = dir.path().join("clone").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", &remote, &clone]);
    git(&clone, &["config", "user.name", "ci"]);
    git(&clone, &["config", "user.email", "ci@example.com"]);
    let base = git(&remote, &["rev-parse", "main"]);
    let run = tollgate_in(&clone, &["promote", "shop-api", "--to", "prod-*", "--from", "staging", "--actor", "alice", "--approval", "bob", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("pushed to origin (main at "), "{}", run.stdout);
    assert_eq!(git(&remote, &["rev-parse", "main~1"]), base, "one commit on the remote");
    assert_eq!(records_at(&remote, "main").len(), 2);
}

/// Commit `edits` (path, content) on a new branch `name` off the current branch, and go back.
fn proposal_branch(repo: &str, name: &str, edits: &[(&str, String)]) {
    git(repo, &["checkout", "--quiet", "-b", name]);
    for (path, content) in edits {
        std::fs::write(Path::new(repo).join(path), content).unwrap();
    }
    git(repo, &["commit", "--quiet", "-am", name]);
    git(repo, &["checkout", "--quiet", "-"]);
}

/// check-proposal saw only the primary artifact's file: a pull request that changed another
/// artifact's version (or its second file) passed as "changes no configured version".
#[test]
fn check_proposal_judges_every_artifact_of_a_multi_artifact_application_not_only_its_primary() {
    let (_dir, repo) = shop_repo();
    proposal_branch(&repo, "sneak-migrate", &[("envs/prod/shop/migrate.yaml", migrate_job("Job", "6.6.6"))]);
    proposal_branch(&repo, "sneak-cronjob", &[("envs/prod/shop/cleanup-cronjob.yaml", migrate_job("CronJob", "6.6.6"))]);
    proposal_branch(&repo, "sneak-worker", &[("envs/prod/shop/values.yaml", shop_values("1.2.0", "6.6.6"))]);
    for branch in ["sneak-migrate", "sneak-cronjob", "sneak-worker"] {
        let run = tollgate_in(&repo, &["check-proposal", &format!("HEAD..{branch}"), "--actor", "alice", "-o", "json"]);
        assert_eq!(run.code, 1, "{branch}: {}{}", run.stdout, run.stderr);
        let document = json(&run);
        assert_eq!(document["transitions"][0]["environment"], "prod", "{branch}: {document}");
        assert_eq!(document["transitions"][0]["matches_promotion"], false, "{branch}: {document}");
    }

    // Into the first environment, a proposal moving one artifact is the promotion of that set.
    proposal_branch(&repo, "migrate-in-qa", &[("envs/qa/shop/migrate.yaml", migrate_job("Job", "1.3.1"))]);
    let run = tollgate_in(&repo, &["check-proposal", "HEAD..migrate-in-qa", "--actor", "alice", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let transition = &json(&run)["transitions"][0];
    assert_eq!((transition["environment"].as_str(), transition["matches_promotion"].as_bool()), (Some("qa"), Some(true)), "{transition}");
    let artifacts: Vec<String> = transition["document"]["transition"]["artifacts"].as_array().unwrap().iter().map(|a| format!("{}={}", a["name"].as_str().unwrap(), a["version"].as_str().unwrap())).collect();
    assert_eq!(artifacts, ["api=1.2.0", "migrate=1.3.1", "worker=1.2.0"]);
}

/// status compared only the primary artifact's file with the promotion that set it: a hand
/// edit of another artifact's file (here the CronJob beside migrate's Job) showed the cell as
/// that promotion's, with no unrecorded change.
#[test]
fn status_marks_a_hand_edit_of_any_artifacts_file_as_an_unrecorded_change() {
    let (_dir, repo) = shop_repo();
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "qa", "--version", "1.3.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let cell = |repo: &str| json(&tollgate_in(repo, &["status", "-o", "json"]))["applications"][0]["environments"]["qa"].clone();
    let promoted = cell(&repo);
    assert_eq!((promoted["unrecorded_change"].as_bool(), promoted["by"].as_str()), (Some(false), Some("alice")), "{promoted}");

    std::fs::write(Path::new(&repo).join("envs/qa/shop/migrate.yaml"), migrate_job("Job", "6.6.6")).unwrap();
    git(&repo, &["commit", "--quiet", "-am", "hand edit of the migration job"]);
    let edited = cell(&repo);
    assert_eq!(edited["unrecorded_change"], true, "{edited}");
    assert!(tollgate_in(&repo, &["status"]).stdout.contains("UNRECORDED CHANGE"));
}
