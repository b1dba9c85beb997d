//! A multi-artifact application (an image and a Helm chart, Kargo's Freight) whose files live
//! on environment branches of their own (GitOps Promoter's `environment/dev`,
//! `environment/prod`), through a real bare remote: promoted into each branch as one commit,
//! verified, judged by the branch guard, shown by status and history from a fresh clone and
//! rolled back; artifacts of one environment on two branches are a configuration error.

use std::path::Path;

use crate::support::{clone_remote, committed_repo, git, record_at, tollgate_in};

/// shop's api (an image) and chart, each environment's files on `environment/{env}`; prod
/// needs one approval.
const CONFIG: &str = "branch: main
environments: [dev, prod]
applications:
  shop:
    artifacts:
      api:
        image: registry.example.com/shop/api
        environments:
          dev:  { branch: \"environment/{env}\", file: shop/values.yaml, helm: { tag_path: api.tag } }
          prod: { branch: \"environment/{env}\", file: shop/values.yaml, helm: { tag_path: api.tag } }
      chart:
        chart: { repository: oci://registry.example.com/charts, name: shop }
        environments:
          dev:  { branch: environment/dev, file: shop/Chart.yaml, chart_dependency: { name: shop } }
          prod: { branch: environment/prod, file: shop/Chart.yaml, chart_dependency: { name: shop } }
policies:
  - plugin: builtin:approval-count
    environments: [prod]
    config: { environments: { prod: { required: 1 } } }
";

fn values(api: &str) -> String {
    format!("api:\n  tag: \"{api}\"\n")
}

fn chart_yaml(chart: &str) -> String {
    format!("apiVersion: v2\nname: shop-env\nversion: 0.1.0\ndependencies:\n  - name: shop\n    version: {chart}\n")
}

/// An orphan `branch` holding shop's two files at `api` and `chart` (a hydrator's commit).
fn hydrate(repo: &str, branch: &str, api: &str, chart: &str) {
    git(repo, &["checkout", "--quiet", "--orphan", branch]);
    git(repo, &["rm", "-rfq", "."]);
    std::fs::create_dir_all(Path::new(repo).join("shop")).unwrap();
    std::fs::write(Path::new(repo).join("shop/values.yaml"), values(api)).unwrap();
    std::fs::write(Path::new(repo).join("shop/Chart.yaml"), chart_yaml(chart)).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["-c", "user.name=hydrator", "-c", "user.email=hydrator@example.com", "commit", "--quiet", "-m", &format!("hydrate {branch}")]);
    git(repo, &["checkout", "--quiet", "main"]);
}

/// The configuration on main, dev at api 1.2.0 + chart 0.3.0 and prod the same, published to
/// a bare remote; a promoter's clone of it. Returns (dir, remote, promoter).
fn remote_and_clone(config: &str) -> (tempfile::TempDir, String, String) {
    let (dir, source) = committed_repo(&[("tollgate.yaml".into(), config.into())]);
    hydrate(&source, "environment/dev", "1.2.0", "0.3.0");
    hydrate(&source, "environment/prod", "1.2.0", "0.3.0");
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&source, &["clone", "--quiet", "--bare", &source, &remote]);
    let promoter = dir.path().join("promoter").to_str().unwrap().to_string();
    clone_remote(&remote, &promoter, false);
    git(&promoter, &["config", "user.name", "ci"]);
    git(&promoter, &["config", "user.email", "ci@example.com"]);
    (dir, remote, promoter)
}

fn succeeded(run: &crate::support::Run) {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

fn at(repo: &str, branch: &str, file: &str) -> String {
    git(repo, &["show", &format!("{branch}:shop/{file}")])
}

#[test]
fn env_branches_a_multi_artifact_application_is_promoted_verified_and_rolled_back_on_its_environment_branches() {
    let (dir, remote, promoter) = remote_and_clone(CONFIG);
    let main_before = git(&remote, &["rev-parse", "main"]);
    let dev_before = git(&remote, &["rev-parse", "environment/dev"]).trim().to_string();
    succeeded(&tollgate_in(&promoter, &["check-config"]));

    // Into dev: both files in one commit on environment/dev; main is not touched.
    succeeded(&tollgate_in(&promoter, &["promote", "shop", "--to", "dev", "--version", "api=1.3.0", "--version", "chart=0.4.0", "--actor", "alice", "--push"]));
    assert_eq!(git(&remote, &["rev-parse", "environment/dev~1"]).trim(), dev_before, "one commit");
    assert_eq!((at(&remote, "environment/dev", "values.yaml"), at(&remote, "environment/dev", "Chart.yaml")), (values("1.3.0"), chart_yaml("0.4.0")));
    assert_eq!(git(&remote, &["rev-parse", "main"]), main_before, "nothing is committed to main");
    assert_eq!(git(&promoter, &["status", "--porcelain"]), "", "the checked-out main is untouched");

    // Into prod: every artifact read from environment/dev, committed on environment/prod.
    succeeded(&tollgate_in(&promoter, &["promote", "shop", "--to", "prod", "--actor", "alice", "--approval", "bob", "--push"]));
    assert_eq!((at(&remote, "environment/prod", "values.yaml"), at(&remote, "environment/prod", "Chart.yaml")), (values("1.3.0"), chart_yaml("0.4.0")));
    let record = record_at(&remote, "environment/prod");
    let artifacts: Vec<String> = record["transition"]["artifacts"].as_array().unwrap().iter().map(|a| format!("{} {}", a["name"].as_str().unwrap(), a["version"].as_str().unwrap())).collect();
    assert_eq!(artifacts, ["api 1.3.0", "chart 0.4.0"]);
    assert_eq!(record["transition"]["from_env"], "dev");
    let prod = git(&remote, &["rev-parse", "environment/prod"]).trim().to_string();
    succeeded(&tollgate_in(&promoter, &["verify", &prod]));
    succeeded(&tollgate_in(&promoter, &["verify", &format!("{prod}~1..{prod}"), "--branch", "environment/prod"]));

    // A fresh clone: status and history read each environment's branch.
    let fresh = dir.path().join("fresh").to_str().unwrap().to_string();
    clone_remote(&remote, &fresh, false);
    let status: serde_json::Value = serde_json::from_str(&tollgate_in(&fresh, &["status", "-o", "json"]).stdout).unwrap();
    let prod_cell = &status["applications"][0]["environments"]["prod"];
    assert_eq!(prod_cell["by"], "alice", "{status}");
    let listed: Vec<String> = prod_cell["artifacts"].as_array().unwrap().iter().map(|a| format!("{} {}", a["name"].as_str().unwrap(), a["version"].as_str().unwrap())).collect();
    assert_eq!(listed, ["api 1.3.0", "chart 0.4.0"]);
    let history = tollgate_in(&fresh, &["history", "--app", "shop", "--env", "prod"]);
    succeeded(&history);
    assert!(history.stdout.contains("alice"), "{}", history.stdout);

    // One rollback puts both back, on environment/prod.
    succeeded(&tollgate_in(&promoter, &["rollback", "shop", "--env", "prod", "--actor", "alice", "--approval", "bob", "--push"]));
    assert_eq!((at(&remote, "environment/prod", "values.yaml"), at(&remote, "environment/prod", "Chart.yaml")), (values("1.2.0"), chart_yaml("0.3.0")));
    assert_eq!(git(&remote, &["rev-parse", "main"]), main_before);

    // The branch guard refuses a hand edit of an artifact's file there.
    git(&promoter, &["fetch", "--quiet", "origin"]);
    git(&promoter, &["checkout", "--quiet", "environment/prod"]);
    std::fs::write(Path::new(&promoter).join("shop/Chart.yaml"), chart_yaml("9.9.9")).unwrap();
    git(&promoter, &["commit", "--quiet", "-am", "bump the chart by hand"]);
    let guarded = tollgate_in(&promoter, &["verify", "origin/environment/prod..environment/prod", "--branch", "environment/prod"]);
    assert_ne!(guarded.code, 0, "{}{}", guarded.stdout, guarded.stderr);
    assert!(guarded.stdout.contains("shop/Chart.yaml"), "{}{}", guarded.stdout, guarded.stderr);
}

#[test]
fn env_branches_artifacts_of_one_environment_on_two_branches_are_a_configuration_error() {
    let config = CONFIG.replace("prod: { branch: environment/prod, file: shop/Chart.yaml", "prod: { file: shop/Chart.yaml");
    let (_dir, _remote, promoter) = remote_and_clone(&config);
    let run = tollgate_in(&promoter, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("applications.shop.artifacts.chart.environments.prod: the files of shop in prod are changed by one commit: keep them on one branch (api's are on environment/prod, this one is on main)"), "{said}");
}
