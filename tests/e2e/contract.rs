//! The plugin contract (WIT 0.1.2), end to end: a per-environment key that names no environment
//! is refused where it is written (check-config, plan, promote) instead of switching a policy
//! off, plugins built against 0.1.0 and 0.1.1 still load and decide, and what a policy reports
//! about which approvals counted reaches the host checked.

use crate::support::{committed_repo, git, plugin, snapshot, tollgate, tollgate_in, write};

/// qa → staging-us → prod-us and qa → staging-eu → prod-eu, one application in each.
const GRAPH: &str = "environments:\n  - qa\n  - { name: staging-us, upstream: qa }\n  - { name: prod-us, upstream: staging-us }\n  \
                     - { name: staging-eu, upstream: qa }\n  - { name: prod-eu, upstream: staging-eu }\n\
                     applications:\n  api:\n    image: registry.example.com/api\n    defaults: { file: \"envs/{env}/api.yaml\", helm: { tag_path: image.tag } }\n";

/// A repository with [`GRAPH`] and `policies` (the `policies:` section) in its tollgate.yaml;
/// api runs 1.2.0 in qa, 1.1.0 in the stagings and 1.0.0 in the prods, so every promotion
/// along the graph changes something (a no-op runs no policy).
fn graph_repo(policies: &str) -> (tempfile::TempDir, String) {
    let mut files = vec![("tollgate.yaml".to_string(), format!("{GRAPH}{policies}"))];
    for (env, version) in [("qa", "1.2.0"), ("staging-us", "1.1.0"), ("prod-us", "1.0.0"), ("staging-eu", "1.1.0"), ("prod-eu", "1.0.0")] {
        files.push((format!("envs/{env}/api.yaml"), format!("image:\n  tag: \"{version}\"\n")));
    }
    committed_repo(&files)
}

/// `LINE:COLUMN` of the first non-blank character of `needle` in `text`.
fn position(text: &str, needle: &str) -> String {
    let start = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in\n{text}")) + (needle.len() - needle.trim_start().len());
    let line = text[..start].matches('\n').count() + 1;
    let column = text[..start].rsplit('\n').next().unwrap().chars().count() + 1;
    format!("{line}:{column}")
}

fn json(run: &crate::support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}{}", run.stdout, run.stderr))
}

#[test]
fn a_typo_in_a_per_environment_key_is_an_error_not_a_silent_allow() {
    // There is no `prod`: before, check-config said `valid` and a plan into prod-us was
    // allowed because "approval-count has no rules for prod-us".
    let policies = "policies:\n  - plugin: builtin:approval-count\n    config:\n      environments:\n        prod: { required: 2 }\n";
    let (_dir, repo) = graph_repo(policies);
    let text = format!("{GRAPH}{policies}");
    let at = position(&text, "        prod: { required: 2 }");
    let refusal = "policies.0.config.environments.prod: approval-count does not accept this configuration: no environment is called prod; \
                   the environments of tollgate.yaml are qa, staging-us, prod-us, staging-eu, prod-eu";

    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("tollgate.yaml:{at}: error: {refusal}")), "{}", run.stdout);
    assert!(run.stdout.ends_with("\ninvalid: 1 error, 0 warnings\n"), "{}", run.stdout);

    // plan and promote: bad input (exit 2) at the same place, never an allow, nothing written.
    let run = tollgate_in(&repo, &["plan", "api", "--to", "prod-us", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("tollgate.yaml:{at}: {}", refusal.replace("approval-count does", "builtin:approval-count does"))), "{}", run.stderr);
    assert!(!run.stdout.contains("allowed"), "{}", run.stdout);
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "api", "--to", "prod-us", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("tollgate.yaml:{at}: policies.0.config.environments.prod:")), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before, "nothing committed");

    // Written as meant, the policy runs and denies for want of approvals.
    let fixed = "policies:\n  - plugin: builtin:approval-count\n    environments: [prod-us, prod-eu]\n    config:\n      environments:\n        prod-us: { required: 2 }\n        prod-eu: { required: 2 }\n";
    let (_dir, repo) = graph_repo(fixed);
    assert_eq!(tollgate_in(&repo, &["check-config"]).code, 0);
    let run = tollgate_in(&repo, &["plan", "api", "--to", "prod-us", "--actor", "alice"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("prod-us needs 2 approvals of 1.1.0; have none"), "{}", run.stdout);
}

#[test]
fn the_demos_prod_renamed_production_is_refused_by_check_config_and_plan() {
    let dir = crate::support::gitops_repo();
    let repo = crate::support::repo_path(&dir);
    let path = dir.path().join("repo/tollgate.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replacen("      environments:\n        prod:\n          required: 2", "      environments:\n        production:\n          required: 2", 1);
    std::fs::write(&path, &text).unwrap();
    git(&repo, &["commit", "--quiet", "-am", "rename"]);
    // Into dev and test the policy does not run; a new version reaches test.
    let digest = format!("sha256:{}", "ab".repeat(32));
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", &digest, "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "test", "--actor", "alice"]).code, 0);
    let at = position(&text, "        production:");
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "tollgate.yaml:{at}: error: policies.0.config.environments.production: approval-count does not accept this configuration: \
             no environment is called production; the environments of tollgate.yaml are dev, test, prod"
        )),
        "{}",
        run.stdout
    );
    let run = tollgate_in(&repo, &["plan", "shop-api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("tollgate.yaml:{at}: policies.0.config.environments.production: ")), "{}", run.stderr);
}

#[test]
fn a_policy_running_where_it_has_no_rules_is_refused_naming_both_fixes() {
    let policies = "policies:\n  - plugin: builtin:approval-count\n    config:\n      environments:\n        prod-us: { required: 2 }\n        prod-eu: { required: 2 }\n";
    let (_dir, repo) = graph_repo(policies);
    let at = position(&format!("{GRAPH}{policies}"), "    config:");
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "tollgate.yaml:{at}: error: policies.0.config: approval-count does not accept this configuration: no rules for qa, staging-us, staging-eu, \
             where this policy runs (neither an entry under environments nor a default); add an entry for each (or a default), \
             or run the policy only where it has rules with `environments: [prod-us, prod-eu]` on the policy in tollgate.yaml"
        )),
        "{}",
        run.stdout
    );
    // Into staging-us it would have said "no approvals are required"; now it is bad input.
    let run = tollgate_in(&repo, &["plan", "api", "--to", "staging-us", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("tollgate.yaml:{at}: policies.0.config: builtin:approval-count does not accept this configuration: no rules for qa")), "{}", run.stderr);
}

#[test]
fn plugins_built_against_wit_0_1_0_and_0_1_1_still_load_and_decide() {
    let (old, older) = (plugin("contract-0-1-1"), plugin("contract-0-1-0"));
    for (wasm, version) in [(&older, "0.1.0"), (&old, "0.1.1")] {
        let run = tollgate(&["plugin", "info", wasm.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(&format!("world:        tollgate:policy/policy@{version}\n")), "{}", run.stdout);
    }
    let run = tollgate(&["plugin", "info", "builtin:approval-count"]);
    assert!(run.stdout.contains("world:        tollgate:policy/policy@0.1.3\n"), "{}", run.stdout);

    let policies = format!(
        "policies:\n  - plugin: {}\n    environments: [prod-us]\n  - plugin: {}\n    environments: [prod-us]\n",
        older.display(),
        old.display()
    );
    let (_dir, repo) = graph_repo(&policies);
    assert_eq!(tollgate_in(&repo, &["check-config"]).code, 0);
    let run = tollgate_in(&repo, &["plan", "api", "--to", "prod-us", "--actor", "alice", "--approval", "bob", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document = json(&run);
    let findings = |index: usize| document["policies"][index]["evaluation"]["findings"][0]["message"].as_str().unwrap_or_default().to_string();
    assert_eq!(findings(0), "0.1.0 plugin saw registry.example.com/api:1.1.0");
    assert_eq!(findings(1), "0.1.1 plugin saw registry.example.com/api:1.1.0 (0 named artifacts), approved by [bob]");
    // They never said which approvals counted.
    for index in 0..2 {
        assert!(document["policies"][index]["evaluation"].get("counted_approvals").is_none(), "{}", run.stdout);
    }

    // A 0.1.1 plugin's refusal of its config is placed like any other.
    let refused = format!("policies:\n  - plugin: {}\n    config: {{ strict: true }}\n", old.display());
    let (_dir, repo) = graph_repo(&refused);
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let at = position(&format!("{GRAPH}{refused}"), "    config:");
    assert!(run.stdout.contains(&format!("tollgate.yaml:{at}: error: policies.0.config: contract-0-1-1 does not accept this configuration: takes no settings")), "{}", run.stdout);
}

#[test]
fn approval_count_reports_exactly_the_counted_approvals() {
    let policies = "policies:\n  - plugin: builtin:approval-count\n    environments: [prod-us]\n    config: { environments: { prod-us: { required: 2 } } }\n";
    let (_dir, repo) = graph_repo(policies);
    // alice asks and approves her own promotion; dave approved another version; BOB is bob again.
    let approvals = ["--approval", "alice", "--approval", "bob", "--approval", "dave@0.9.0", "--approval", "BOB", "--approval", "carol"];
    let mut args = vec!["plan", "api", "--to", "prod-us", "--actor", "alice", "-o", "json"];
    args.extend(approvals);
    let run = tollgate_in(&repo, &args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document = json(&run);
    let evaluation = &document["policies"][0]["evaluation"];
    assert_eq!(evaluation["counted_approvals"], serde_json::json!(["bob", "carol"]), "{}", run.stdout);
    assert!(evaluation.to_string().contains("ignored: alice approved their own promotion"), "{evaluation}");
    // Fewer than required: a deny still says which counted.
    let run = tollgate_in(&repo, &["plan", "api", "--to", "prod-us", "--actor", "alice", "--approval", "alice", "--approval", "carol", "-o", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(json(&run)["policies"][0]["evaluation"]["counted_approvals"], serde_json::json!(["carol"]));
}

#[test]
fn a_plugin_reporting_approvals_that_were_not_given_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let approvals = "[{ approver: bob, version: 1.0.0 }, { approver: carol, version: 1.0.0 }, { approver: bob, version: 0.9.0 }]";
    let transition = write(dir.path(), "t.yaml", &format!("approvals: {approvals}\n"));
    let hostile = plugin("hostile");
    let eval = |names: &str| {
        let config = format!("{{ behaviour: count, target: \"{names}\" }}");
        tollgate(&["plugin", "eval", hostile.to_str().unwrap(), "--policy-config", &config, "--transition", &transition, "-o", "json"])
    };
    let run = eval("carol,bob,bob");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(json(&run)["counted_approvals"], serde_json::json!(["bob", "carol"]), "deduplicated, in the transition's order");
    let run = eval("");
    assert_eq!(json(&run)["counted_approvals"], serde_json::json!([]), "reported, none counted");
    for (names, cause) in [
        ("bob,mallory", "returned malformed output: it reported \\\"mallory\\\" as a counted approval, but no approval of this transition is by \\\"mallory\\\""),
        ("bob,carol,bob,carol", "returned malformed output: it reported 4 counted approvals, more than the 3 the transition has"),
    ] {
        let run = eval(names);
        assert_eq!(run.code, 3, "{names}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(cause), "{names}: {}", run.stdout);
        assert!(json(&run).get("counted_approvals").is_none(), "{}", run.stdout);
    }
}

#[test]
fn plugin_eval_and_cases_files_tell_the_environments_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let config = "{ environments: { prod: { required: 1 } } }";
    // Not told: names cannot be checked, and prod has its rule.
    let run = tollgate(&["plugin", "eval", "builtin:approval-count", "--policy-config", config]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let run = tollgate(&["plugin", "eval", "builtin:approval-count", "--policy-config", config, "--environment", "qa", "--environment", "prod-us"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("configuration rejected: config.environments.prod: no environment is called prod; the environments of tollgate.yaml are qa, prod-us"), "{}", run.stdout);
    let run = tollgate(&["plugin", "eval", "builtin:approval-count", "--policy-config", config, "--policy-environment", "prod"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--policy-environment: prod is not one of the configured environments (--environment: none)"), "{}", run.stderr);

    // A case's expected counted approvals are checked.
    let cases = write(
        dir.path(),
        "cases.yaml",
        "environments: [staging, prod]\npolicy_environments: [prod]\nconfig: { environments: { prod: { required: 1 } } }\ncases:\n  \
         - name: counts bob\n    transition: { approvals: [{ approver: bob, version: 1.0.0 }, { approver: alice, version: 1.0.0 }] }\n    \
         expect: { decision: allow, counted_approvals: [bob] }\n  \
         - name: claims alice counted\n    transition: { approvals: [{ approver: bob, version: 1.0.0 }, { approver: alice, version: 1.0.0 }] }\n    \
         expect: { decision: allow, counted_approvals: [alice, bob] }\n  \
         - name: runs for staging too\n    policy_environments: [staging, prod]\n    expect: error\n    error_contains: \"config: no rules for staging\"\n",
    );
    let run = tollgate(&["plugin", "test", "builtin:approval-count", &cases]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  PASS  counts bob ("), "{}", run.stdout);
    assert!(run.stdout.contains("  PASS  runs for staging too ("), "{}", run.stdout);
    assert!(run.stdout.contains("  FAIL  claims alice counted ("), "{}", run.stdout);
    assert!(run.stdout.contains("counted approvals are [bob], expected [alice, bob]"), "{}", run.stdout);
    let bad = write(dir.path(), "bad.yaml", "environments: [prod, prod]\ncases:\n  - { name: x, expect: allow }\n");
    let run = tollgate(&["plugin", "test", "builtin:approval-count", &bad]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("bad.yaml: environments: prod is listed twice"), "{}", run.stderr);
}
