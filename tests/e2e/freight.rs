//! More than images (issue 24): an application whose artifacts are an image and a Helm chart
//! (Kargo's Freight) promoted as one transition: one commit, one record listing each
//! artifact with its kind, re-run by `verify`, put back by one `rollback`.

use std::path::Path;

use crate::support::{committed_repo, git, snapshot, tollgate_in};

const CONFIG: &str = "environments: [qa, prod]
applications:
  shop:
    artifacts:
      api:
        image: registry.example.com/shop/api
        environments:
          qa:   { file: envs/qa/shop/values.yaml, helm: { tag_path: api.image.tag } }
          prod: { file: envs/prod/shop/values.yaml, helm: { tag_path: api.image.tag } }
      chart:
        chart: { repository: oci://registry.example.com/charts, name: shop }
        environments:
          qa:   { file: envs/qa/shop/application.yaml, argocd: {} }
          prod: { file: envs/prod/shop/Chart.yaml, chart_dependency: { name: shop } }
  base:
    git: { url: https://git.example.com/platform/base }
    environments:
      qa:   { file: envs/qa/base/kustomization.yaml, kustomize_remote: { url: https://git.example.com/platform/base } }
      prod: { file: envs/prod/base/kustomization.yaml, kustomize_remote: { url: https://git.example.com/platform/base } }
policies:
  - plugin: builtin:approval-count
    environments: [prod]
    config:
      environments:
        prod: { required: 1 }
";

fn values(api: &str) -> String {
    format!("api:\n  image:\n    repository: registry.example.com/shop/api\n    tag: \"{api}\"  # set by tollgate\n  replicas: 2\n")
}

fn application(chart: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop-qa\nspec:\n  project: default\n  source:\n    repoURL: registry.example.com/charts\n    chart: shop\n    targetRevision: {chart}\n  destination: {{ server: https://kubernetes.default.svc, namespace: shop }}\n"
    )
}

fn chart_yaml(chart: &str) -> String {
    format!("apiVersion: v2\nname: shop-prod\nversion: 0.1.0\ndependencies:\n  - name: shop\n    version: {chart} # the app's chart\n    repository: oci://registry.example.com/charts\n")
}

fn kustomization(reference: &str) -> String {
    format!("kind: Kustomization\nresources:\n  - https://git.example.com/platform/base//deploy?ref={reference}\n  - local.yaml\n")
}

fn freight_repo() -> (tempfile::TempDir, String) {
    let mut files: Vec<(String, String)> = vec![("tollgate.yaml".into(), CONFIG.into())];
    for env in ["qa", "prod"] {
        files.push((format!("envs/{env}/shop/values.yaml"), values("1.2.0")));
        files.push((format!("envs/{env}/base/kustomization.yaml"), kustomization("v2.0.0")));
    }
    files.push(("envs/qa/shop/application.yaml".into(), application("0.3.0")));
    files.push(("envs/prod/shop/Chart.yaml".into(), chart_yaml("0.3.0")));
    committed_repo(&files)
}

fn read(repo: &str, path: &str) -> String {
    std::fs::read_to_string(Path::new(repo).join(path)).unwrap()
}

fn json(run: &crate::support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}{}", run.stdout, run.stderr))
}

/// The one decision record commit `rev` adds.
pub fn record_at(repo: &str, rev: &str) -> serde_json::Value {
    let files = git(repo, &["show", "--name-only", "--format=", rev]);
    let records: Vec<&str> = files.lines().filter(|line| line.starts_with(".tollgate/decisions/")).collect();
    assert_eq!(records.len(), 1, "one decision: {files}");
    serde_json::from_str(&git(repo, &["show", &format!("{rev}:{}", records[0])])).unwrap()
}

/// Each artifact of a transition as `name kind version (was previous)`.
fn listed(transition: &serde_json::Value) -> Vec<String> {
    transition["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {} {} (was {})", a["name"].as_str().unwrap(), a["kind"].as_str().unwrap(), a["version"].as_str().unwrap(), a["previous_version"].as_str().unwrap()))
        .collect()
}

#[test]
fn a_chart_version_and_an_image_promoted_together_in_one_commit_verified_and_rolled_back_as_one() {
    let (_dir, repo) = freight_repo();
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 0, "check-config reads every kind's files: {}{}", run.stdout, run.stderr);
    // Into the first environment, each artifact's version is given; a chart's is a semver.
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "qa", "--version", "api=1.3.0", "--version", "chart=latest", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("shop artifact chart is a helm-chart: \"latest\" is not a chart version"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before, "a refused version changed the repository");
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "qa", "--version", "api=1.3.0", "--version", "chart=0.4.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read(&repo, "envs/qa/shop/values.yaml"), values("1.3.0"), "every other byte kept");
    assert_eq!(read(&repo, "envs/qa/shop/application.yaml"), application("0.4.0"));

    // Into prod: both from qa, in one commit with one record.
    let text = tollgate_in(&repo, &["plan", "shop", "--to", "prod", "--actor", "alice"]).stdout;
    assert!(text.contains("  artifact chart helm-chart oci://registry.example.com/charts/shop 0.4.0 (was 0.3.0)\n"), "{text}");
    assert!(text.contains("  artifact api registry.example.com/shop/api:1.3.0 (was 1.2.0)\n"), "{text}");
    let base = git(&repo, &["rev-parse", "HEAD"]);
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "prod", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]), base, "one commit");
    let changed = git(&repo, &["show", "--name-only", "--format=", "HEAD"]);
    assert!(changed.contains("envs/prod/shop/values.yaml\n") && changed.contains("envs/prod/shop/Chart.yaml\n"), "{changed}");
    assert_eq!(read(&repo, "envs/prod/shop/Chart.yaml"), chart_yaml("0.4.0"));
    assert_eq!(read(&repo, "envs/prod/shop/values.yaml"), values("1.3.0"));
    let record = record_at(&repo, "HEAD");
    assert_eq!(listed(&record["transition"]), ["api image 1.3.0 (was 1.2.0)", "chart helm-chart 0.4.0 (was 0.3.0)"]);
    let set = record["transition"]["artifact"]["version"].as_str().unwrap().to_string();
    assert!(set.starts_with("set-"), "{set}");

    // verify re-runs it; history and status show it.
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let history = json(&tollgate_in(&repo, &["history", "--app", "shop", "--env", "prod", "-o", "json"]));
    let entries = history.as_array().or_else(|| history["promotions"].as_array()).unwrap_or_else(|| panic!("{history}"));
    assert_eq!(entries[0]["version"], set.as_str());
    let kinds: Vec<&str> = entries[0]["artifacts"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["image", "helm-chart"], "{history}");
    let status = json(&tollgate_in(&repo, &["status", "-o", "json"]));
    let shop = status["applications"].as_array().unwrap().iter().find(|app| app["app"] == "shop").unwrap().clone();
    assert_eq!(shop["environments"]["prod"]["by"], "alice", "{status}");
    assert_eq!(shop["environments"]["prod"]["unrecorded_change"], false, "{status}");

    // One rollback puts the chart and the image back, in one commit, and verifies.
    let run = tollgate_in(&repo, &["rollback", "shop", "--env", "prod", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read(&repo, "envs/prod/shop/Chart.yaml"), chart_yaml("0.3.0"));
    assert_eq!(read(&repo, "envs/prod/shop/values.yaml"), values("1.2.0"));
    let record = record_at(&repo, "HEAD");
    assert_eq!(record["transition"]["kind"], "rollback");
    assert_eq!(listed(&record["transition"]), ["api image 1.2.0 (was 1.3.0)", "chart helm-chart 0.3.0 (was 0.4.0)"]);
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn an_argocd_application_for_another_chart_is_an_error_placed_at_the_artifacts_location() {
    let (_dir, repo) = freight_repo();
    std::fs::write(Path::new(&repo).join("envs/qa/shop/application.yaml"), application("0.3.0").replace("chart: shop", "chart: web")).unwrap();
    git(&repo, &["commit", "--quiet", "-am", "another chart"]);
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    // Placed at the artifact's own location (it used to be placed at the application's).
    assert!(run.stdout.contains("error: applications.shop.artifacts.chart.environments.qa.argocd: envs/qa/shop/application.yaml: spec.source names repoURL registry.example.com/charts with chart web, but tollgate.yaml configures repoURL oci://registry.example.com/charts with chart shop"), "{}", run.stdout);
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop", "--to", "qa", "--version", "api=1.3.0", "--version", "chart=0.4.0", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(snapshot(&repo), before, "nothing written");
}

#[test]
fn a_git_revision_is_promoted_through_a_kustomize_remote_ref_and_its_kind_is_recorded() {
    let (_dir, repo) = freight_repo();
    let run = tollgate_in(&repo, &["promote", "base", "--to", "qa", "--version", "v2..1", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let run = tollgate_in(&repo, &["promote", "base", "--to", "qa", "--version", commit, "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read(&repo, "envs/qa/base/kustomization.yaml"), kustomization(commit));
    let record = record_at(&repo, "HEAD");
    assert_eq!(record["transition"]["artifact_kind"], "git-revision");
    assert_eq!(record["transition"]["artifact"]["image"], "https://git.example.com/platform/base");
    let run = tollgate_in(&repo, &["promote", "base", "--to", "prod", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(read(&repo, "envs/prod/base/kustomization.yaml"), kustomization(commit));
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // A digest has no place in a Git revision.
    let run = tollgate_in(&repo, &["plan", "base", "--to", "qa", "--version", "v2.1.0", "--digest", &format!("sha256:{}", "a".repeat(64)), "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
}

#[test]
fn policies_see_each_artifacts_kind_and_a_wit_0_1_2_plugin_still_loads_and_sees_what_it_saw() {
    let (dir, repo) = freight_repo();
    let (image_policy, old) = (crate::support::plugin("image-policy"), crate::support::plugin("contract-0-1-2"));
    let run = tollgate_in(&repo, &["plugin", "info", old.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("world:        tollgate:policy/policy@0.1.2\n"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["plugin", "info", image_policy.to_str().unwrap()]);
    assert!(run.stdout.contains("world:        tollgate:policy/policy@0.1.3\n"), "{}", run.stdout);
    // image-policy allows only the api's registry: the chart (not an image) and the Git
    // revision are skipped because the host says what kind each is.
    let policies = format!(
        "policies:\n  - plugin: {}\n    config: {{ allowed_registries: [registry.example.com/shop/api] }}\n  - plugin: {}\n",
        image_policy.display(),
        old.display()
    );
    let config = crate::support::write(dir.path(), "tollgate.yaml", &CONFIG.replace(&CONFIG[CONFIG.find("policies:").unwrap()..], &policies));
    let run = tollgate_in(&repo, &["--config", &config, "plan", "shop", "--to", "qa", "--version", "api=1.3.0", "--version", "chart=0.4.0", "--actor", "alice", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document = json(&run);
    let finding = document["policies"][1]["evaluation"]["findings"][0]["message"].as_str().unwrap_or_default().to_string();
    assert_eq!(finding, "0.1.2 plugin saw [api=registry.example.com/shop/api:1.3.0, chart=oci://registry.example.com/charts/shop:0.4.0] in qa of [qa, prod]", "{}", run.stdout);
    let run = tollgate_in(&repo, &["--config", &config, "plan", "base", "--to", "qa", "--version", "v2.1.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "a Git revision is no image to check: {}{}", run.stdout, run.stderr);
    // An image from elsewhere is still denied.
    let elsewhere = std::fs::read_to_string(&config).unwrap().replace("[registry.example.com/shop/api]", "[registry.example.com/other]");
    let config = crate::support::write(dir.path(), "tollgate.yaml", &elsewhere);
    let run = tollgate_in(&repo, &["--config", &config, "plan", "shop", "--to", "qa", "--version", "api=1.3.0", "--version", "chart=0.4.0", "--actor", "alice"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("registry.example.com/shop/api is not from an allowed registry"), "{}", run.stdout);
    assert!(!run.stdout.contains("oci://registry.example.com/charts/shop is not"), "{}", run.stdout);
}
