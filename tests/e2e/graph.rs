//! Environments as a graph, end to end: the `examples/regions` fan-out repository walked
//! along its graph, generated repositories of the same shape (qa → three staging regions →
//! three prod regions, plus integration and load) with fan-in environments requiring all or
//! any of their upstreams, the soak-time policy fed by the upstream's arrival time, the
//! status matrix, JSON graph and Mermaid picture, and configuration errors with their line
//! and column.

use std::path::Path;

use crate::support::{committed_repo, git, init_and_commit, shared_cache, tollgate_env, tollgate_in, workspace};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn values(version: &str) -> String {
    format!("image:\n  repository: registry.example.com/api\n  tag: \"{version}\"\n")
}

const REGIONS: [&str; 9] = ["qa", "staging-us", "staging-eu", "staging-asia", "prod-us", "prod-eu", "prod-asia", "integration", "load"];

/// The regions shape, with `extra` environment entries (e.g. a fan-in) and application `api`
/// at `versions` (default 1.0.0) in every environment.
fn regions_repo(extra: &str, versions: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let extra_names: Vec<String> = extra
        .lines()
        .filter_map(|line| line.split("name: ").nth(1))
        .map(|rest| rest.split([',', ' ', '}']).next().unwrap().to_string())
        .collect();
    let envs: Vec<String> = REGIONS.iter().map(|env| env.to_string()).chain(extra_names).collect();
    let locations: String =
        envs.iter().map(|env| format!("      {env}: {{ file: envs/{env}/api.yaml, helm: {{ tag_path: image.tag }} }}\n")).collect();
    let config = format!(
        "environments:\n  - qa\n  - {{ name: staging-us, upstream: qa }}\n  - {{ name: staging-eu, upstream: qa }}\n  - {{ name: staging-asia, upstream: qa }}\n  \
         - {{ name: prod-us, upstream: staging-us }}\n  - {{ name: prod-eu, upstream: staging-eu }}\n  - {{ name: prod-asia, upstream: staging-asia }}\n  \
         - {{ name: integration, upstream: qa }}\n  - {{ name: load, upstream: staging-us }}\n{extra}applications:\n  api:\n    image: registry.example.com/api\n    environments:\n{locations}"
    );
    let mut files = vec![("tollgate.yaml".to_string(), config)];
    for env in &envs {
        let version = versions.iter().find(|(e, _)| e == env).map_or("1.0.0", |(_, v)| v);
        files.push((format!("envs/{env}/api.yaml"), values(version)));
    }
    committed_repo(&files)
}

fn json(run: &crate::support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}{}", run.stdout, run.stderr))
}

#[test]
fn the_regions_example_promotes_along_its_graph_without_from() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("regions");
    copy_dir(&workspace().join("examples/regions"), &repo_dir);
    let repo = repo_dir.to_str().unwrap().to_string();
    init_and_commit(&repo);

    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "qa", "--version", "1.3.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  source: 1.3.0 given with --version: qa is a root environment\n"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "staging-eu", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("promote shop-api 1.3.0 from qa to staging-eu"), "{}", run.stdout);
    assert!(run.stdout.contains("  source: qa, the upstream of staging-eu\n"), "{}", run.stdout);

    // prod-eu takes staging-eu's artifact; soak-time wants a day there first.
    let run = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod-eu"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("promote shop-api 1.3.0 from staging-eu to prod-eu"), "{}", run.stdout);
    assert!(run.stdout.contains("1.3.0 has been in staging-eu for "), "{}", run.stdout);
    assert!(run.stdout.contains("prod-eu requires 24h (default): wait until "), "{}", run.stdout);
    let in_two_days = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(48)).unwrap().to_string();
    let run = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod-eu", "--at", &in_two_days, "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let plan = json(&run);
    assert_eq!(plan["transition"]["from_env"], "staging-eu");
    assert!(plan["transition"]["from_env_since"].as_i64().is_some(), "{plan}");
    assert_eq!(plan["source"], "staging-eu, the upstream of prod-eu");

    // Its sibling regions are untouched: prod-asia takes staging-asia's 1.2.0, which it runs.
    let run = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod-asia"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("promote shop-api 1.2.0 from staging-asia to prod-asia"), "{}", run.stdout);
    assert!(run.stdout.contains("shop-api already runs 1.2.0 in prod-asia; nothing to do"), "{}", run.stdout);

    // Break-glass skips the wait, and the ticket is in the record.
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod-eu", "--actor", "alice", "--label", "break-glass=INC-123"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stdout);
    assert!(run.stdout.contains("break-glass INC-123 used to skip the soak time of prod-eu"), "{}", run.stdout);
    let prod_eu = std::fs::read_to_string(repo_dir.join("envs/prod-eu/shop-api/values.yaml")).unwrap();
    assert!(prod_eu.contains("tag: \"1.3.0\""), "{prod_eu}");

    // The matrix: graph order, the lagging regions marked, the side environments too.
    let run = tollgate_in(&repo, &["status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<&str> = run.stdout.lines().take_while(|line| *line != "shop-web").collect();
    let order: Vec<&str> = rows.iter().skip(1).map(|row| row.split_whitespace().next().unwrap()).collect();
    assert_eq!(order, ["qa", "staging-us", "staging-eu", "staging-asia", "prod-us", "prod-eu", "prod-asia", "integration", "load"]);
    for env in ["staging-us", "staging-asia", "integration"] {
        let row = rows.iter().find(|row| row.trim_start().starts_with(&format!("{env} "))).unwrap();
        assert!(row.ends_with("[behind qa: 1.3.0]"), "{env}: {}", run.stdout);
    }
    for env in ["qa", "staging-eu", "prod-eu", "prod-us", "prod-asia", "load"] {
        let row = rows.iter().find(|row| row.trim_start().starts_with(&format!("{env} "))).unwrap();
        assert!(!row.contains("behind"), "{env}: {}", run.stdout);
    }
    let column = |row: &str| row.find("1.").unwrap();
    assert!(rows[1..].iter().all(|row| column(row) == column(rows[1])), "aligned: {}", run.stdout);
    assert!(run.stdout.contains("shop-web\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  integration  (not configured)\n"), "{}", run.stdout);

    let status = json(&tollgate_in(&repo, &["status", "-o", "json"]));
    assert_eq!(status["graph"][5], serde_json::json!({ "name": "prod-eu", "upstreams": ["staging-eu"] }));
    assert_eq!(status["graph"][8], serde_json::json!({ "name": "load", "upstreams": ["staging-us"] }));
    let lagging: Vec<(&str, &str)> = status["lagging"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lag| (lag["application"].as_str().unwrap(), lag["environment"].as_str().unwrap()))
        .collect();
    assert_eq!(lagging, [("shop-api", "staging-us"), ("shop-api", "staging-asia"), ("shop-api", "integration")]);

    let picture = tollgate_in(&repo, &["status", "-o", "mermaid"]).stdout;
    assert!(picture.starts_with("flowchart LR\n  e0[\"qa<br/>shop-api 1.3.0<br/>shop-web 2.0.0\"]\n"), "{picture}");
    assert!(picture.contains("  e1[\"staging-us<br/>shop-api 1.2.0 (behind qa: 1.3.0)<br/>shop-web 2.0.0\"]:::lagging\n"), "{picture}");
    for edge in ["e0 --> e1", "e0 --> e2", "e0 --> e3", "e1 --> e4", "e2 --> e5", "e3 --> e6", "e0 --> e7", "e1 --> e8"] {
        assert!(picture.contains(&format!("  {edge}\n")), "{edge}: {picture}");
    }
    assert_eq!(picture.matches("-->").count(), 8, "{picture}");
}

/// The issue's report: with the environments as one list, `plan --to prod-asia` proposed
/// promoting "from prod-eu", the entry before it.
#[test]
fn plan_to_prod_asia_no_longer_proposes_prod_eu() {
    let (_dir, repo) = regions_repo("", &[("staging-asia", "1.1.0"), ("prod-eu", "1.9.0"), ("staging-eu", "1.9.0")]);
    let plan = json(&tollgate_in(&repo, &["plan", "api", "--to", "prod-asia", "-o", "json"]));
    assert_eq!(plan["transition"]["from_env"], "staging-asia");
    assert_eq!(plan["transition"]["artifact"]["version"], "1.1.0");
}

#[test]
fn a_sibling_is_never_a_source() {
    let (_dir, repo) = regions_repo("", &[("staging-us", "1.2.0"), ("staging-eu", "1.3.0"), ("prod-eu", "1.3.0")]);
    let plan = json(&tollgate_in(&repo, &["plan", "api", "--to", "prod-us", "-o", "json"]));
    assert_eq!((plan["transition"]["from_env"].as_str(), plan["transition"]["artifact"]["version"].as_str()), (Some("staging-us"), Some("1.2.0")));
    for sibling in ["staging-eu", "prod-eu", "load"] {
        let run = tollgate_in(&repo, &["plan", "api", "--to", "prod-us", "--from", sibling]);
        assert_eq!(run.code, 2, "{sibling}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(&format!("{sibling} is not an upstream of prod-us (its upstreams: staging-us); a promotion takes its artifact from an upstream")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(&format!("allow_skip: [{{from: {sibling}, to: prod-us}}]")), "{}", run.stderr);
    }
    // Side environments take from their upstream like any other.
    let plan = json(&tollgate_in(&repo, &["plan", "api", "--to", "load", "-o", "json"]));
    assert_eq!(plan["transition"]["from_env"], "staging-us");
    // A root takes --version only.
    let run = tollgate_in(&repo, &["plan", "api", "--to", "qa"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("qa is a root environment (no upstream): give the version to promote with --version"), "{}", run.stderr);
}

#[test]
fn allow_skip_still_lets_a_configured_pair_through() {
    let (_dir, repo) = regions_repo("allow_skip: [{ from: qa, to: prod-eu }]\n", &[("qa", "2.0.0")]);
    let plan = json(&tollgate_in(&repo, &["plan", "api", "--to", "prod-eu", "--from", "qa", "-o", "json"]));
    assert_eq!((plan["transition"]["from_env"].as_str(), plan["transition"]["artifact"]["version"].as_str()), (Some("qa"), Some("2.0.0")));
    assert_eq!(plan["source"], "--from qa, allowed by allow_skip");
}

const FAN_IN_ALL: &str = "  - name: global\n    upstreams: [prod-us, prod-eu]\n";
const FAN_IN_ANY: &str = "  - name: global\n    upstreams: [prod-us, prod-eu]\n    require: any\n";

#[test]
fn fan_in_with_all_needs_the_same_artifact_in_every_upstream() {
    let (_dir, repo) = regions_repo(FAN_IN_ALL, &[("prod-us", "1.2.0"), ("prod-eu", "1.3.0")]);
    for from in [None, Some("prod-eu")] {
        let mut args = vec!["plan", "api", "--to", "global"];
        args.extend(from.iter().flat_map(|from| ["--from", from]));
        let run = tollgate_in(&repo, &args);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(
                "global takes its artifact from all of its upstreams (require: all), but they hold different versions: prod-us has 1.2.0, prod-eu has 1.3.0; \
                 promote the same artifact into each of them first, or make global require: any"
            ),
            "{}",
            run.stderr
        );
    }
    std::fs::write(Path::new(&repo).join("envs/prod-us/api.yaml"), values("1.3.0")).unwrap();
    git(&repo, &["commit", "--quiet", "-am", "prod-us runs 1.3.0"]);
    let run = tollgate_in(&repo, &["plan", "api", "--to", "global"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  source: every upstream of global (prod-us, prod-eu) holds 1.3.0 (require: all); recorded from "), "{}", run.stdout);
    let status = json(&tollgate_in(&repo, &["status", "-o", "json"]));
    assert_eq!(status["graph"][9], serde_json::json!({ "name": "global", "upstreams": ["prod-us", "prod-eu"], "require": "all" }));
}

#[test]
fn fan_in_with_any_takes_the_newest_version_and_says_why() {
    let (_dir, repo) = regions_repo(FAN_IN_ANY, &[("prod-us", "1.10.0"), ("prod-eu", "1.9.0")]);
    let plan = json(&tollgate_in(&repo, &["plan", "api", "--to", "global", "-o", "json"]));
    assert_eq!((plan["transition"]["from_env"].as_str(), plan["transition"]["artifact"]["version"].as_str()), (Some("prod-us"), Some("1.10.0")));
    assert_eq!(plan["source"], "prod-us holds 1.10.0, the highest version among the upstreams of global (prod-us has 1.10.0, prod-eu has 1.9.0; require: any)");
    // --from chooses among the upstreams.
    let plan = json(&tollgate_in(&repo, &["plan", "api", "--to", "global", "--from", "prod-eu", "-o", "json"]));
    assert_eq!((plan["transition"]["from_env"].as_str(), plan["transition"]["artifact"]["version"].as_str()), (Some("prod-eu"), Some("1.9.0")));
    assert_eq!(plan["source"], "--from prod-eu, an upstream of global");
}

#[test]
fn a_plan_step_summary_draws_the_pipeline() {
    let (dir, repo) = regions_repo("", &[("qa", "1.1.0")]);
    let summary = dir.path().join("summary.md");
    let run = tollgate_env(
        &shared_cache(),
        &["--repo", &repo, "plan", "api", "--to", "staging-eu", "-o", "github"],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("Source: qa, the upstream of staging-eu"), "{markdown}");
    assert!(markdown.contains("```mermaid\nflowchart LR\n  e0[\"qa<br/>api 1.1.0\"]\n"), "{markdown}");
    assert!(markdown.contains("  e2[\"staging-eu<br/>api 1.0.0 (behind qa: 1.1.0)\"]:::target\n"), "{markdown}");
    assert!(markdown.contains("  e0 ==>|\"1.1.0\"| e2\n"), "{markdown}");
    assert!(markdown.contains("classDef lagging") && markdown.contains("```\n"), "{markdown}");
}

#[test]
fn graph_errors_name_the_line_and_column() {
    let check = |environments: &str| {
        let config = format!(
            "environments:\n{environments}applications:\n  api:\n    image: registry.example.com/api\n    environments:\n      qa: {{ file: envs/qa/api.yaml, helm: {{ tag_path: image.tag }} }}\n"
        );
        let (_dir, repo) = committed_repo(&[("tollgate.yaml".into(), config), ("envs/qa/api.yaml".into(), values("1.0.0"))]);
        let run = tollgate_in(&repo, &["check-config"]);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        let plan = tollgate_in(&repo, &["plan", "api", "--to", "qa", "--version", "1.0.1"]);
        assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
        format!("{}{}", run.stdout, plan.stderr)
    };
    let out = check("  - qa\n  - { name: staging, upstream: stagin }\n");
    assert!(out.contains("tollgate.yaml:3:22: error: environments.1.upstream: unknown upstream stagin; environments are qa, staging"), "{out}");
    let out = check("  - qa\n  - { name: staging, upstream: prod }\n  - { name: prod, upstream: staging }\n");
    assert!(out.contains("tollgate.yaml:3:22: error: environments.1.upstream: cycle: staging → prod → staging; an environment cannot feed itself"), "{out}");
    let out = check("  - qa\n  - name: prod\n    upstreams: [canary]\n  - { name: canary, upstream: staging }\n  - { name: staging, upstream: canary }\n");
    assert!(
        out.contains("tollgate.yaml:4:5: error: environments.1.upstreams: prod is unreachable from a root (qa): its upstream canary never receives an artifact"),
        "{out}"
    );
    let out = check("  - qa\n  - staging\n  - { name: staging, upstream: qa }\n");
    assert!(out.contains("tollgate.yaml:4:7: error: environments.2: staging is listed twice"), "{out}");
    // The same message, from plan (exit 2), as one line.
    assert!(out.contains("tollgate: tollgate.yaml:4:7: environments.2: staging is listed twice"), "{out}");
}

/// Several targets along the graph (issue 11's multi-target promotion on the regions shape):
/// `--to 'prod-*'` takes each prod region's artifact from its own staging region, never a
/// sibling's, and lands in one commit with one record per transition.
#[test]
fn a_glob_of_prod_regions_takes_each_from_its_own_staging_in_one_commit() {
    let (_dir, repo) = regions_repo("", &[("staging-us", "1.1.0"), ("staging-eu", "1.2.0"), ("staging-asia", "1.3.0")]);
    let before = git(&repo, &["rev-parse", "main"]);
    let run = tollgate_in(&repo, &["promote", "api", "--to", "prod-*", "--actor", "ci"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["rev-parse", "main^"]), before, "one commit");
    for (prod, version) in [("prod-us", "1.1.0"), ("prod-eu", "1.2.0"), ("prod-asia", "1.3.0")] {
        let file = git(&repo, &["show", &format!("main:envs/{prod}/api.yaml")]);
        assert!(file.contains(&format!("tag: \"{version}\"")), "{prod}: {file}");
    }
    let records = git(&repo, &["show", "--name-only", "--format=", "main"]);
    assert_eq!(records.lines().filter(|path| path.ends_with(".decision")).count(), 3, "{records}");
    let verify = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}
