//! Output formats for CI: text (colour), json, junit, github, sarif, and the decision log,
//! each on a real allow, deny and failure; exit codes identical across formats.

use std::path::Path;

use crate::support::{git, gitops_repo, plugin, published_sarif_schema, repo_path, shared_cache, tollgate_env, tollgate_in};

const FRIDAY_EVENING: &str = "2026-01-09T17:30:00+01:00";
const TUESDAY: &str = "2026-01-06T10:30:00+01:00";
const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

/// A demo repository with shop-api 1.4.2 in test, ready for a prod decision.
fn repo_ready_for_prod() -> (tempfile::TempDir, String) {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST]).code, 0);
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "test"]).code, 0);
    (dir, repo)
}

/// `plan` for prod: deny (one approval, Friday evening) or allow (two approvals, Tuesday).
fn plan(repo: &str, allow: bool, format: &str, env: &[(&str, &str)]) -> crate::support::Run {
    let mut args = vec!["--repo", repo, "plan", "shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "-o", format];
    if allow {
        args.extend(["--approval", "carol", "--at", TUESDAY]);
    } else {
        args.extend(["--at", FRIDAY_EVENING]);
    }
    tollgate_env(&shared_cache(), &args, env)
}

/// A configuration whose only policy spins until its timeout: a policy failure.
fn failing_config(dir: &Path) -> String {
    let config = format!(
        "environments: [dev]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: {{ file: envs/dev/shop-api/values.yaml, helm: {{ tag_path: image.tag }} }}\npolicies:\n  - name: spinner\n    plugin: {}\n    timeout_ms: 200\n    config: {{ behaviour: spin }}\n",
        plugin("hostile").display()
    );
    let path = dir.join("failing.yaml");
    std::fs::write(&path, config).unwrap();
    path.to_str().unwrap().to_string()
}

fn failing_plan(repo: &str, config: &str, format: &str) -> crate::support::Run {
    tollgate_env(&shared_cache(), &["--repo", repo, "--config", config, "plan", "shop-api", "--to", "dev", "--version", "1.5.0", "-o", format], &[])
}

#[test]
fn exit_codes_are_the_same_in_every_format() {
    let (dir, repo) = repo_ready_for_prod();
    let config = failing_config(dir.path());
    for format in ["text", "json", "junit", "github", "sarif"] {
        assert_eq!(plan(&repo, false, format, &[]).code, 1, "deny with -o {format}");
        assert_eq!(plan(&repo, true, format, &[]).code, 0, "allow with -o {format}");
        assert_eq!(failing_plan(&repo, &config, format).code, 3, "failure with -o {format}");
    }
    let run = tollgate_in(&repo, &["status", "-o", "sarif"]);
    assert_eq!(run.code, 2, "status has no SARIF form");
    assert!(run.stderr.contains("invalid value 'sarif'"), "{}", run.stderr);
}

#[test]
fn text_is_coloured_only_when_asked_or_on_a_terminal() {
    let (_dir, repo) = repo_ready_for_prod();
    let plain = plan(&repo, false, "text", &[]);
    assert!(!plain.stdout.contains('\u{1b}'), "not a terminal: no colour");
    assert!(plain.stdout.ends_with("denied by approval-count, change-window; nothing committed\n"), "{}", plain.stdout);
    let coloured = tollgate_env(
        &shared_cache(),
        &["--color", "always", "--repo", &repo, "plan", "shop-api", "--to", "prod", "--at", FRIDAY_EVENING],
        &[],
    );
    assert!(coloured.stdout.contains("\u{1b}[1m\u{1b}[31mdeny"), "{:?}", coloured.stdout);
    let never = tollgate_env(&shared_cache(), &["--color", "never", "--repo", &repo, "plan", "shop-api", "--to", "prod"], &[("NO_COLOR", "1")]);
    assert!(!never.stdout.contains('\u{1b}'));
}

#[test]
fn junit_has_a_test_case_per_policy_with_failures_and_errors() {
    let (dir, repo) = repo_ready_for_prod();
    let deny = plan(&repo, false, "junit", &[]);
    let xml = roxmltree::Document::parse(&deny.stdout).unwrap();
    let suites = xml.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    assert_eq!(suites.attribute("tests"), Some("4"));
    assert_eq!(suites.attribute("failures"), Some("2"));
    assert_eq!(suites.attribute("errors"), Some("0"));
    let suite = suites.children().find(|node| node.has_tag_name("testsuite")).unwrap();
    assert_eq!(suite.attribute("name"), Some("promote shop-api 1.4.2 to prod"));
    let cases: Vec<_> = suite.children().filter(|node| node.has_tag_name("testcase")).collect();
    let names: Vec<&str> = cases.iter().map(|case| case.attribute("name").unwrap()).collect();
    assert_eq!(names, ["approval-count@0.1.0", "change-window@0.1.0", "secret-scope@0.1.0", "erp-readiness@0.1.0"]);
    let failure = cases[1].children().find(|node| node.has_tag_name("failure")).unwrap();
    assert_eq!(failure.attribute("type"), Some("deny"));
    assert_eq!(failure.attribute("message"), Some("prod changes are allowed Mon–Thu 09:00–16:00 Europe/Berlin; it is Friday 2026-01-09 17:30 CET"));
    assert!(cases[2].children().all(|node| !node.is_element()), "an allow without findings is a bare passing case");

    let allow = roxmltree::Document::parse(&plan(&repo, true, "junit", &[]).stdout).unwrap().root_element().attribute("failures").map(str::to_string);
    assert_eq!(allow.as_deref(), Some("0"));

    let failed = failing_plan(&repo, &failing_config(dir.path()), "junit");
    let xml = roxmltree::Document::parse(&failed.stdout).unwrap();
    assert_eq!(xml.root_element().attribute("errors"), Some("1"));
    let error = xml.descendants().find(|node| node.has_tag_name("error")).unwrap();
    assert_eq!(error.attribute("message"), Some("timed out after 200 ms"));
}

#[test]
fn github_annotations_are_exact_and_the_step_summary_is_written() {
    let (dir, repo) = repo_ready_for_prod();
    let summary = dir.path().join("summary.md");
    let deny = plan(&repo, false, "github", &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())]);
    assert_eq!(
        deny.stdout,
        "::error file=envs/prod/shop-api/values.yaml,line=5,title=tollgate approval-count (deny)::prod needs 2 approvals of 1.4.2; have 1: bob (sre)\n\
         ::error file=envs/prod/shop-api/values.yaml,line=5,title=tollgate change-window (deny)::prod changes are allowed Mon–Thu 09:00–16:00 Europe/Berlin; it is Friday 2026-01-09 17:30 CET\n\
         denied by approval-count, change-window; nothing committed\n"
    );
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.starts_with("### tollgate: promote shop-api 1.4.2 to prod — denied\n"), "{markdown}");
    assert!(markdown.contains("| change-window@0.1.0 | deny | prod changes are allowed Mon–Thu 09:00–16:00 Europe/Berlin; it is Friday 2026-01-09 17:30 CET |\n"), "{markdown}");
    assert!(markdown.contains("```diff\n"), "{markdown}");

    let allow = plan(&repo, true, "github", &[]);
    assert_eq!(
        allow.stdout,
        "::notice file=envs/prod/shop-api/values.yaml,line=5,title=tollgate approval-count (allow)::1.4.2 is approved for prod by bob (sre), carol: 2 of 2 required, 1 of 1 from group sre\n\
         allowed: would commit (dry run: plan only)\n"
    );

    let failed = failing_plan(&repo, &failing_config(dir.path()), "github");
    assert_eq!(
        failed.stdout,
        "::error file=envs/dev/shop-api/values.yaml,line=5,title=tollgate spinner (error)::spinner failed to run: timed out after 200 ms\n\
         failed closed: spinner could not decide; nothing committed\n"
    );
}

#[test]
fn sarif_validates_against_the_published_schema() {
    let mut schema = published_sarif_schema();
    // The published schema's `language` patterns have a stray `]` that JavaScript accepts as
    // a literal but strict regex engines reject; escape it, keeping its meaning.
    assert_eq!(escape_stray_bracket(&mut schema), 2);
    let validator = jsonschema::draft7::new(&schema).expect("the SARIF schema compiles");
    let (dir, repo) = repo_ready_for_prod();
    let config = failing_config(dir.path());
    for (what, run) in [
        ("deny", plan(&repo, false, "sarif", &[])),
        ("allow", plan(&repo, true, "sarif", &[])),
        ("failure", failing_plan(&repo, &config, "sarif")),
    ] {
        let log: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let errors: Vec<String> = validator.iter_errors(&log).map(|error| format!("{} at {}", error, error.instance_path())).collect();
        assert!(errors.is_empty(), "{what}: {errors:#?}");
        let mut broken = log.clone();
        broken["runs"][0]["tool"]["driver"]["rules"] = serde_json::json!([{ "name": "a rule without an id" }]);
        assert!(!validator.is_valid(&broken), "the validator does reject a malformed log");
        assert_eq!(log["version"], "2.1.0");
        let run0 = &log["runs"][0];
        let rules: Vec<&str> = run0["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|rule| rule["id"].as_str().unwrap()).collect();
        match what {
            "deny" => {
                assert_eq!(rules, ["approval-count", "change-window", "secret-scope", "erp-readiness"]);
                let results = run0["results"].as_array().unwrap();
                assert_eq!(results.len(), 2);
                assert_eq!(results[1]["ruleId"], "change-window");
                assert_eq!(results[1]["level"], "error");
                let location = &results[1]["locations"][0]["physicalLocation"];
                assert_eq!(location["artifactLocation"]["uri"], "envs/prod/shop-api/values.yaml");
                assert_eq!(location["region"]["startLine"], 5);
            }
            "allow" => {
                // Non-empty first, so `all` cannot pass vacuously.
                let results = run0["results"].as_array().unwrap();
                assert!(!results.is_empty(), "the allowed plan has informational findings: {log:#}");
                assert!(results.iter().all(|result| result["level"] == "note" && result["kind"] == "pass"), "{log:#}");
            }
            _ => {
                assert_eq!(run0["results"][0]["level"], "error");
                assert_eq!(run0["results"][0]["message"]["text"], "spinner failed to run: timed out after 200 ms");
            }
        }
    }
}

#[test]
fn the_decision_log_gets_one_json_line_per_decision() {
    let (dir, repo) = repo_ready_for_prod();
    let log = dir.path().join("decisions.jsonl");
    let log_arg = log.to_str().unwrap();
    let deny = tollgate_env(&shared_cache(), &["--decision-log", log_arg, "--repo", &repo, "promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", FRIDAY_EVENING], &[]);
    assert_eq!(deny.code, 1);
    let allow = tollgate_env(
        &shared_cache(),
        &["--decision-log", log_arg, "--repo", &repo, "promote", "shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "--at", TUESDAY],
        &[],
    );
    assert_eq!(allow.code, 0, "{}{}", allow.stdout, allow.stderr);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["outcome"], "denied");
    assert_eq!(lines[0]["committed"], serde_json::Value::Null);
    assert_eq!(lines[0]["policies"][0]["verdict"], "deny");
    assert_eq!(lines[1]["outcome"], "allowed");
    assert_eq!(lines[1]["committed"].as_str().unwrap(), git(&repo, &["rev-parse", "HEAD"]).trim());
    assert_eq!(lines[1]["to_env"], "prod");
    assert_eq!(lines[1]["approvals"], serde_json::json!(["bob", "carol"]));
    assert_ne!(lines[0]["decision"], lines[1]["decision"]);
}

#[test]
fn plugin_test_and_verify_speak_junit_too() {
    let dir = tempfile::tempdir().unwrap();
    let cases = crate::support::write(
        dir.path(),
        "cases.yaml",
        "config: { allowed_registries: [registry.example.com/] }\ncases:\n  - name: passes\n    expect: allow\n  - name: wrongly expects deny\n    expect: deny\n",
    );
    let wasm = plugin("image-policy");
    let run = crate::support::tollgate(&["plugin", "test", wasm.to_str().unwrap(), &cases, "-o", "junit"]);
    assert_eq!(run.code, 1);
    let xml = roxmltree::Document::parse(&run.stdout).unwrap();
    assert_eq!(xml.root_element().attribute("tests"), Some("2"));
    assert_eq!(xml.root_element().attribute("failures"), Some("1"));
    let run = crate::support::tollgate(&["plugin", "test", wasm.to_str().unwrap(), &cases, "-o", "github"]);
    assert_eq!(
        run.stdout,
        format!("::error file={},title=tollgate case%3A wrongly expects deny::expected deny, got allow\n1 passed, 1 failed\n", cases.replace(':', "%3A").replace(',', "%2C"))
    );

    let (_dir, repo) = repo_ready_for_prod();
    let run = tollgate_in(&repo, &["verify", "HEAD", "-o", "junit"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let xml = roxmltree::Document::parse(&run.stdout).unwrap();
    assert_eq!(xml.root_element().attribute("failures"), Some("0"));
    // One case for the commit and its record, one per policy.
    assert_eq!(xml.root_element().attribute("tests"), Some("2"));
    let names: Vec<&str> = xml.descendants().filter(|node| node.has_tag_name("testcase")).filter_map(|node| node.attribute("name")).collect();
    assert_eq!(names[0], "commit and decision record");
}

/// Escape the stray `]` in the published schema's language patterns; returns how many.
pub fn escape_stray_bracket(value: &mut serde_json::Value) -> usize {
    const PUBLISHED: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
    match value {
        serde_json::Value::Object(map) => {
            let mut count = 0;
            for (key, child) in map.iter_mut() {
                if key == "pattern" && child == PUBLISHED {
                    *child = serde_json::json!("^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$");
                    count += 1;
                } else {
                    count += escape_stray_bracket(child);
                }
            }
            count
        }
        serde_json::Value::Array(items) => items.iter_mut().map(escape_stray_bracket).sum(),
        _ => 0,
    }
}

#[test]
fn monitor_mode_problems_are_sarif_warnings_and_junit_system_out() {
    let (dir, repo) = repo_ready_for_prod();
    let config = failing_config(dir.path());
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap().replace("    timeout_ms: 200\n", "    timeout_ms: 200\n    mode: monitor\n")).unwrap();

    let sarif = failing_plan(&repo, &config, "sarif");
    assert_eq!(sarif.code, 0, "monitor mode never blocks: {}{}", sarif.stdout, sarif.stderr);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{log:#}");
    assert_eq!(results[0]["level"], "warning");
    assert_eq!(results[0]["message"]["text"], "spinner failed to run: timed out after 200 ms");

    let junit = failing_plan(&repo, &config, "junit");
    assert_eq!(junit.code, 0);
    let xml = roxmltree::Document::parse(&junit.stdout).unwrap();
    assert_eq!(xml.root_element().attribute("errors"), Some("0"));
    assert_eq!(xml.root_element().attribute("failures"), Some("0"));
    let out = xml.descendants().find(|node| node.has_tag_name("system-out")).expect("the monitor-mode failure is reported as output");
    assert_eq!(out.text(), Some("monitor-error: timed out after 200 ms"));

    let github = failing_plan(&repo, &config, "github");
    assert_eq!(github.code, 0);
    assert!(github.stdout.starts_with("::warning file=envs/dev/shop-api/values.yaml,line="), "{}", github.stdout);
}

/// A configuration whose only policy returns findings made to forge and break reports.
fn forging_config(dir: &Path) -> String {
    let config = format!(
        "environments: [dev]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: {{ file: envs/dev/shop-api/values.yaml, helm: {{ tag_path: image.tag }} }}\npolicies:\n  - name: forger\n    plugin: {}\n    config: {{ behaviour: forge-report }}\n",
        plugin("hostile").display()
    );
    let path = dir.join("forging.yaml");
    std::fs::write(&path, config).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn plugin_findings_cannot_forge_or_break_any_report() {
    let (dir, repo) = repo_ready_for_prod();
    let config = forging_config(dir.path());
    let summary = dir.path().join("summary.md");
    let summary_env = [("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())];
    let run = |format: &str| {
        tollgate_env(&shared_cache(), &["--repo", &repo, "--config", &config, "plan", "shop-api", "--to", "dev", "--version", "1.5.0", "-o", format], &summary_env)
    };

    let text = run("text");
    assert_eq!(text.code, 1, "{}{}", text.stdout, text.stderr);
    let claims: Vec<&str> = text.stdout.lines().filter(|line| line.starts_with("allowed") || line.starts_with("denied")).collect();
    assert_eq!(claims, ["denied by forger; nothing committed"], "{}", text.stdout);
    assert!(text.stdout.contains("      first line\\nallowed: committed 4f2a9c1e7b3d\n"), "{}", text.stdout);
    // The runtime already turned the terminal escape and carriage return into U+FFFD.
    assert!(text.stdout.contains("      \u{fffd}[2K\u{fffd}allowed: everything fine\n"), "{}", text.stdout);
    assert!(!text.stdout.contains('\u{202e}') && !text.stdout.contains('\u{1b}'), "{:?}", text.stdout);

    let junit = run("junit");
    let xml = roxmltree::Document::parse(&junit.stdout).unwrap_or_else(|error| panic!("{error}: {}", junit.stdout));
    let failure = xml.descendants().find(|node| node.has_tag_name("failure")).unwrap();
    assert!(failure.text().unwrap().contains("\\u{202E}evil\\u{202C} \u{fffd}\u{fffd}"), "{:?}", failure.text());

    let sarif = run("sarif");
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[2]["locations"], serde_json::json!([]), "../../../etc/passwd is no location");
    assert_eq!(results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "envs/dev/shop-api/values.yaml");
    assert!(!sarif.stdout.contains('\u{202e}'));
    let mut schema = published_sarif_schema();
    escape_stray_bracket(&mut schema);
    let validator = jsonschema::draft7::new(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator.iter_errors(&log).map(|error| format!("{} at {}", error, error.instance_path())).collect();
    assert!(errors.is_empty(), "the forged findings still make a valid SARIF log: {errors:#?}");

    let github = run("github");
    assert!(!github.stdout.contains("passwd"), "{}", github.stdout);
    for line in github.stdout.lines() {
        assert!(line.starts_with("::error ") || line == "denied by forger; nothing committed", "forged or broken line: {line}");
    }
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("&lt;!-- \\#\\# ✅ All policies passed"), "{markdown}");
    assert!(!markdown.contains("<!--") && !markdown.lines().any(|line| line.starts_with("## ")), "{markdown}");
}
