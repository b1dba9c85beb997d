//! The CI examples under `examples/` and the JSON Schema of `tollgate.yaml`: every YAML file
//! parses, the workflows have the jobs, triggers and report wiring they promise, the requester
//! is a login, the protected branch is fixed by the pipeline, approvals reach tollgate as an
//! approvals file bound to the planned version and dated with the review (the workflows' own
//! jq programs are run on sample API answers and their output fed to the real CLI), every
//! `tollgate …` command in them is accepted by the real command line, and `tollgate schema`
//! validates the demo's and the examples' configurations and rejects broken ones.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_yaml::Value;

use crate::support::{gitops_repo, repo_path, tollgate, tollgate_in, workspace};

fn examples() -> PathBuf {
    workspace().join("examples")
}

/// Every file under `dir` (dot-files too: `.gitlab-ci.yml`), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn yaml_files() -> Vec<PathBuf> {
    files(&examples()).into_iter().filter(|path| path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml")).collect()
}

fn load(relative: &str) -> Value {
    let path = examples().join(relative);
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A script: a string, or a list of lines (nested lists, as YAML anchors make them, flattened).
fn script_lines(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => text.lines().map(str::to_string).collect(),
        Value::Sequence(items) => items.iter().flat_map(script_lines).collect(),
        _ => Vec::new(),
    }
}

/// The `run:` lines of every step of a GitHub Actions job.
fn github_job_lines(workflow: &Value, job: &str) -> Vec<String> {
    let steps = workflow["jobs"][job]["steps"].as_sequence().unwrap_or_else(|| panic!("job {job} has no steps"));
    steps.iter().flat_map(|step| script_lines(&step["run"])).collect()
}

fn github_job_uses(workflow: &Value, job: &str) -> Vec<String> {
    let steps = workflow["jobs"][job]["steps"].as_sequence().unwrap();
    steps.iter().filter_map(|step| step["uses"].as_str().map(str::to_string)).collect()
}

/// The `before_script:` and `script:` lines of a GitLab job.
fn gitlab_job_lines(pipeline: &Value, job: &str) -> Vec<String> {
    let job = &pipeline[job];
    [script_lines(&job["before_script"]), script_lines(&job["script"])].concat()
}

/// The `tollgate …` command lines, up to the first shell operator, comments dropped.
fn tollgate_commands(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|line| line.trim())
        .filter(|line| line.starts_with("tollgate "))
        .map(|line| {
            let line = line.split(" #").next().unwrap();
            let end = [" > ", " >> ", " || ", " && ", " | ", "; "].iter().filter_map(|operator| line.find(operator)).min();
            end.map_or(line, |end| &line[..end]).trim().to_string()
        })
        .collect()
}

/// Whether the real command line accepts `command` (shell variables replaced by samples).
fn assert_parses(file: &str, command: &str) {
    let mut args = vec!["tollgate".to_string()];
    for word in command.split_whitespace().skip(1) {
        let word = word.trim_matches('"');
        match word {
            "$@" | "${args[@]}" => args.extend(["shop-api", "--to", "prod", "--approval", "bob"].map(String::from)),
            "$AT" => args.push("2026-01-06T10:30:00Z".into()),
            word if word.starts_with('$') => args.push("sample".into()),
            word => args.push(word.to_string()),
        }
    }
    if let Err(error) = tollgate::cli::Cli::try_parse_from(&args) {
        panic!("{file}: `{command}` is not a valid tollgate command line ({args:?}):\n{error}");
    }
}

#[test]
fn every_yaml_file_under_examples_parses() {
    let files = yaml_files();
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_yaml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        assert!(value.is_mapping(), "{}: not a mapping", path.display());
    }
    for dir in ["github-actions", "gitlab-ci"] {
        let readme = std::fs::read_to_string(examples().join(dir).join("README.md")).unwrap();
        assert!(readme.contains("tollgate plan") && readme.contains("tollgate promote"), "{dir}/README.md");
    }
}

/// The decision record is a file in the promotion commit: nothing pushes, fetches or merges
/// git notes, so no example needs a Git identity for them; and no example builds the
/// requester from a display string (`login <login@users.noreply…>`).
#[test]
fn no_example_mentions_git_notes_or_a_display_string_requester() {
    for path in files(&examples()) {
        let text = std::fs::read_to_string(&path).unwrap();
        for stale in ["refs/notes", "notes/tollgate", "git notes", "users.noreply.github.com>", "user.email", "GITLAB_USER_EMAIL", "GITLAB_USER_NAME"] {
            assert!(!text.contains(stale), "{} still mentions {stale:?}", path.display());
        }
    }
}

#[test]
fn the_github_plan_workflow_plans_pull_requests_and_wires_every_report() {
    let workflow = load("github-actions/tollgate-plan.yml");
    assert!(workflow["on"]["pull_request"].is_mapping(), "plans pull requests");
    assert!(workflow["jobs"]["check-config"].is_mapping() && workflow["jobs"]["plan"].is_mapping());
    assert_eq!(workflow["env"]["TOLLGATE_PROTECTED_BRANCH"], "main", "the branch whose tollgate.yaml judges is fixed by the workflow");
    assert!(
        tollgate_commands(&github_job_lines(&workflow, "check-config")).iter().any(|command| command == "tollgate check-config --config tollgate.yaml"),
        "check-config validates the pull request's own tollgate.yaml"
    );

    let lines = github_job_lines(&workflow, "plan");
    let commands = tollgate_commands(&lines);
    assert_requests_bound_approvals("tollgate-plan.yml", &commands, "plan");
    assert!(lines.iter().any(|line| line.trim() == r#"echo "--actor"; echo "$AUTHOR""#), "the requester is the author's login");
    assert_eq!(workflow["jobs"]["plan"]["steps"][0]["with"]["ref"], "main", "plans from main, not from the pull request");
    for format in ["github", "junit", "sarif"] {
        assert!(
            commands.iter().any(|command| command.starts_with("tollgate plan ") && command.contains(&format!(" -o {format}"))),
            "no `tollgate plan … -o {format}` in {commands:#?}"
        );
    }
    assert!(commands.iter().any(|command| command.contains("--decision-log ")), "{commands:#?}");
    assert_locked(&commands);
    assert!(lines.iter().any(|line| line.contains("> tollgate-plan.xml")) && lines.iter().any(|line| line.contains("> tollgate-plan.sarif")));

    let uses = github_job_uses(&workflow, "plan");
    assert!(uses.iter().any(|action| action.starts_with("github/codeql-action/upload-sarif@")), "{uses:?}");
    assert!(uses.iter().any(|action| action.contains("junit")), "a JUnit test-report action: {uses:?}");
    assert!(uses.iter().any(|action| action.starts_with("actions/upload-artifact@")), "{uses:?}");
    let steps = workflow["jobs"]["plan"]["steps"].as_sequence().unwrap();
    let sarif = steps.iter().find(|step| step["uses"].as_str().is_some_and(|uses| uses.contains("upload-sarif"))).unwrap();
    assert_eq!(sarif["with"]["sarif_file"], "tollgate-plan.sarif");
    let junit = steps.iter().find(|step| step["uses"].as_str().is_some_and(|uses| uses.contains("junit"))).unwrap();
    assert_eq!(junit["with"]["report_paths"], "tollgate-plan.xml");
    assert_eq!(workflow["permissions"]["security-events"], "write", "upload-sarif needs it");

    for command in commands {
        assert_parses("tollgate-plan.yml", &command);
    }
}

#[test]
fn the_github_promote_workflow_pushes_after_an_environment_approval() {
    let workflow = load("github-actions/tollgate-promote.yml");
    assert!(workflow["on"]["workflow_dispatch"]["inputs"]["application"].is_mapping());
    assert!(workflow["on"]["workflow_dispatch"]["inputs"]["environment"].is_mapping());
    let job = &workflow["jobs"]["promote"];
    assert_eq!(job["environment"], "${{ inputs.environment }}", "held for the environment's reviewers");
    assert_eq!(job["needs"], "plan", "the reviewers approve the version the plan job showed");
    assert_eq!(job["steps"][0]["with"]["ref"], "main");
    assert_eq!(workflow["permissions"]["contents"], "write", "pushes the promotion commit");
    assert_eq!(workflow["env"]["TOLLGATE_PROTECTED_BRANCH"], "main", "the branch whose tollgate.yaml judges is fixed by the workflow");
    assert!(workflow["jobs"]["plan"]["environment"].is_null(), "the plan job runs before the approval");

    let plan_lines = github_job_lines(&workflow, "plan");
    assert!(
        plan_lines.iter().any(|line| line.trim() == r#"echo "--actor"; echo "$GITHUB_TRIGGERING_ACTOR""#),
        "the requester is the triggering login alone: {plan_lines:#?}"
    );
    let plan = tollgate_commands(&plan_lines);
    assert!(plan.iter().any(|command| command.starts_with("tollgate plan ") && command.contains(" -o json")), "{plan:#?}");
    assert!(plan_lines.iter().any(|line| line.contains(".transition.artifact.version")), "the version approvals are bound to");

    let lines = github_job_lines(&workflow, "promote");
    let commands = tollgate_commands(&lines);
    assert_requests_bound_approvals("tollgate-promote.yml", &commands, "promote");
    let promote: Vec<_> = commands.iter().filter(|command| command.starts_with("tollgate promote ")).collect();
    assert_eq!(promote.len(), 1, "{commands:#?}");
    assert!(promote[0].contains(" --push") && promote[0].contains(" -o github") && promote[0].contains(" --decision-log "), "{}", promote[0]);
    assert!(lines.iter().any(|line| line.contains("needs.plan.outputs") || line.contains("actions/runs/$GITHUB_RUN_ID/approvals")));
    assert_locked(&[plan.clone(), commands.clone()].concat());
    for command in [plan, commands].concat() {
        assert_parses("tollgate-promote.yml", &command);
    }
}

/// Every `tollgate plan|promote` that decides takes its approvals from an approvals file,
/// never as bare `--approval NAME` (which counts for whatever version is planned and has no
/// time, so max_age never applies).
fn assert_requests_bound_approvals(file: &str, commands: &[String], verb: &str) {
    assert!(commands.iter().all(|command| !command.contains("--approval ")), "{file}: bare --approval: {commands:#?}");
    let deciding: Vec<_> = commands.iter().filter(|command| command.starts_with(&format!("tollgate {verb} ")) && !command.contains(" -o json")).collect();
    assert!(!deciding.is_empty(), "{file}: no tollgate {verb}: {commands:#?}");
    for command in deciding {
        assert!(command.contains(" --approvals-file "), "{file}: `{command}` has no --approvals-file");
    }
}

#[test]
fn the_gitlab_pipeline_plans_merge_requests_and_promotes_by_hand() {
    let pipeline = load("gitlab-ci/.gitlab-ci.yml");
    let stages: Vec<&str> = pipeline["stages"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(stages, ["check", "plan", "promote"]);
    for job in ["check-config", "plan", "promote"] {
        assert!(pipeline[job].is_mapping(), "job {job}");
        let stage = pipeline[job]["stage"].as_str().unwrap();
        assert!(stages.contains(&stage), "{job}: stage {stage}");
    }

    assert_eq!(pipeline["variables"]["TOLLGATE_PROTECTED_BRANCH"], "$CI_DEFAULT_BRANCH", "the branch whose tollgate.yaml judges is the project's default branch");
    let request = gitlab_job_lines(&pipeline, "promote");
    assert!(
        request.iter().any(|line| line.trim() == r#"set -- "$APP" --to "$ENV" --actor "$GITLAB_USER_LOGIN""#),
        "the requester is the login alone: {request:#?}"
    );
    assert!(request.iter().any(|line| line.contains(".transition.artifact.version")), "the version approvals are bound to");
    assert!(request.iter().any(|line| line.contains("approved_at")), "approvals carry GitLab's approval time");

    let plan = tollgate_commands(&gitlab_job_lines(&pipeline, "plan"));
    assert_requests_bound_approvals(".gitlab-ci.yml", &plan, "plan");
    assert!(plan.iter().any(|command| command.starts_with("tollgate plan ") && command.contains(" -o junit")), "{plan:#?}");
    assert_eq!(pipeline["plan"]["artifacts"]["reports"]["junit"], "tollgate-plan.xml");
    assert!(gitlab_job_lines(&pipeline, "plan").iter().any(|line| line.contains("> tollgate-plan.xml")));

    let promote = tollgate_commands(&gitlab_job_lines(&pipeline, "promote"));
    assert_requests_bound_approvals(".gitlab-ci.yml", &promote, "promote");
    assert!(promote.iter().any(|command| command.starts_with("tollgate promote ") && command.contains(" --push") && command.contains(" -o junit")), "{promote:#?}");
    assert_eq!(pipeline["promote"]["artifacts"]["reports"]["junit"], "tollgate-promote.xml");
    let rules = pipeline["promote"]["rules"].as_sequence().unwrap();
    assert!(!rules.is_empty() && rules.iter().all(|rule| rule["when"] == "manual"), "promote is a manual job: {rules:?}");

    assert_locked(&plan);
    assert_locked(&promote);
    let check = tollgate_commands(&gitlab_job_lines(&pipeline, "check-config"));
    assert!(check.iter().any(|command| command.starts_with("tollgate check-config --config tollgate.yaml")), "the merge request's own tollgate.yaml: {check:#?}");

    for command in [plan, promote, check].concat() {
        assert_parses(".gitlab-ci.yml", &command);
    }
}

/// The jq programs in `text` (a workflow's scripts) that build approvals-file entries, each
/// with whether it reads its input with `--slurp`. Shell single quotes cannot be escaped, so
/// the quoted stretches are found by splitting on `'`; comment lines are dropped first (they
/// may hold apostrophes).
fn approval_programs(text: &str) -> Vec<(String, bool)> {
    let code: String = text.lines().filter(|line| !line.trim_start().starts_with('#')).map(|line| format!("{line}\n")).collect();
    let pieces: Vec<&str> = code.split('\'').collect();
    (1..pieces.len())
        .step_by(2)
        .filter(|&index| pieces[index].contains("approver:"))
        .map(|index| (pieces[index].to_string(), pieces[index - 1].contains("--slurp")))
        .collect()
}

/// Run the real `jq` on `input` with every variable the programs use.
fn run_jq(program: &str, slurp: bool, input: &str) -> serde_json::Value {
    use std::io::Write as _;
    let mut command = std::process::Command::new("jq");
    if slurp {
        command.arg("--slurp");
    }
    for (name, value) in [("env", "prod"), ("version", "1.4.2"), ("at", "2026-01-06T08:00:00Z"), ("sha", "c0ffee")] {
        command.args(["--arg", name, value]);
    }
    let mut child = command
        .arg(program)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("jq (apt package jq) is installed");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "jq {program}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Sample answers of the APIs the examples read, and the approvals each program must keep.
const DEPLOYMENT_APPROVALS: &str = r#"[
  {"state": "approved", "environments": [{"name": "prod"}], "user": {"login": "bob"}, "comment": "ship it"},
  {"state": "approved", "environments": [{"name": "test"}], "user": {"login": "carol"}, "comment": ""},
  {"state": "rejected", "environments": [{"name": "prod"}], "user": {"login": "frank"}, "comment": "no"}
]"#;
const PULL_REQUEST_REVIEWS: &str = r#"
  {"state": "APPROVED", "commit_id": "c0ffee", "submitted_at": "2026-01-06T07:00:00Z", "user": {"login": "dana"}}
  {"state": "APPROVED", "commit_id": "0ld", "submitted_at": "2026-01-05T07:00:00Z", "user": {"login": "erin"}}
  {"state": "APPROVED", "commit_id": "c0ffee", "submitted_at": "2026-01-06T07:10:00Z", "user": {"login": "gina"}}
  {"state": "CHANGES_REQUESTED", "commit_id": "c0ffee", "submitted_at": "2026-01-06T07:20:00Z", "user": {"login": "gina"}}
"#;
const MERGE_REQUEST_APPROVALS: &str = r#"{"approved_by": [
  {"user": {"username": "dana"}, "approved_at": "2026-01-06T07:00:00Z"},
  {"user": {"username": "old-gitlab"}}
]}"#;

fn expected(entries: &[(&str, &str)]) -> serde_json::Value {
    entries.iter().map(|(approver, at)| serde_json::json!({ "approver": approver, "version": "1.4.2", "at": at })).collect()
}

/// The examples' own jq programs, run on sample API answers: each approval names the
/// approver's login, the planned version and the time of the review (a deployment approval:
/// the plan job's time, which precedes it); stale, rejected, superseded, other-environment and
/// undated approvals are left out. The real CLI then counts exactly the fresh ones.
#[test]
fn the_examples_approvals_files_bind_the_planned_version_and_the_review_time() {
    let mut kept = Vec::new();
    for (file, answers) in [
        ("github-actions/tollgate-promote.yml", 2),
        ("github-actions/tollgate-plan.yml", 1),
        ("gitlab-ci/.gitlab-ci.yml", 1),
    ] {
        let text = std::fs::read_to_string(examples().join(file)).unwrap();
        let programs = approval_programs(&text);
        assert_eq!(programs.len(), answers, "{file}: {programs:#?}");
        for (program, slurp) in programs {
            let (input, want) = if program.contains("environments[]") {
                (DEPLOYMENT_APPROVALS, expected(&[("bob", "2026-01-06T08:00:00Z")]))
            } else if program.contains("commit_id") {
                (PULL_REQUEST_REVIEWS, expected(&[("dana", "2026-01-06T07:00:00Z")]))
            } else if program.contains("approved_by") {
                (MERGE_REQUEST_APPROVALS, expected(&[("dana", "2026-01-06T07:00:00Z")]))
            } else {
                panic!("{file}: an approvals program reading an unknown API: {program}");
            };
            let got = run_jq(&program, slurp, input);
            assert_eq!(got, want, "{file}: {program}");
            if file.ends_with("tollgate-promote.yml") {
                kept.extend(got.as_array().unwrap().iter().cloned());
            }
        }
    }

    // The real CLI reads them: shop-api 1.4.2 waits in test; prod is planned on Tuesday
    // 2026-01-06 10:30 Berlin, an hour after the newest approval.
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let digest = "sha256:9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d5e4f3021";
    for (env, at) in [("dev", "2026-01-05T08:00:00Z"), ("test", "2026-01-05T09:00:00Z")] {
        let mut args = vec!["promote", "shop-api", "--to", env, "--actor", "alice", "--at", at];
        if env == "dev" {
            args.extend(["--version", "1.4.2", "--digest", digest]);
        }
        let run = tollgate_in(&repo, &args);
        assert_eq!(run.code, 0, "{env}: {}{}", run.stdout, run.stderr);
    }
    let approval_count = |approvals: &serde_json::Value| -> (String, Vec<String>) {
        let path = dir.path().join("approvals.yaml");
        std::fs::write(&path, serde_json::to_string(approvals).unwrap()).unwrap();
        let run = tollgate_in(&repo, &[
            "plan", "shop-api", "--to", "prod", "--actor", "alice", "--at", "2026-01-06T09:30:00Z",
            "--approvals-file", path.to_str().unwrap(), "-o", "json",
        ]);
        assert!(run.code == 0 || run.code == 1, "{}{}", run.stdout, run.stderr);
        let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(plan["transition"]["artifact"]["version"], "1.4.2", "the version the programs bound the approvals to");
        let policy = plan["policies"].as_array().unwrap().iter().find(|run| run["name"] == "approval-count").unwrap().clone();
        let evaluation = &policy["evaluation"];
        let findings = evaluation["findings"].as_array().cloned().unwrap_or_default();
        (evaluation["decision"].to_string(), findings.iter().map(|finding| finding["message"].to_string()).collect())
    };
    let kept = serde_json::Value::Array(kept);
    let (verdict, findings) = approval_count(&kept);
    assert_eq!(verdict, r#""allow""#, "bob (deployment) and dana (review, sre) approved 1.4.2 within 24h: {findings:#?}");

    // The same approvals two days older: max_age applies because they carry their time.
    let stale: serde_json::Value = kept.as_array().unwrap().iter().map(|approval| {
        let mut approval = approval.clone();
        approval["at"] = "2026-01-04T07:00:00Z".into();
        approval
    }).collect();
    let (verdict, findings) = approval_count(&stale);
    assert_eq!(verdict, r#""deny""#, "approvals older than max_age: {findings:#?}");
    assert!(findings.iter().any(|finding| finding.contains("24h")), "{findings:#?}");
}

/// Registry plugins are pulled at the digests in tollgate.lock: every plan and promote in CI
/// runs with --locked.
fn assert_locked(commands: &[String]) {
    let gated: Vec<&String> =
        commands.iter().filter(|command| command.starts_with("tollgate plan ") || command.starts_with("tollgate promote ")).collect();
    assert!(!gated.is_empty(), "{commands:#?}");
    for command in gated {
        assert!(command.contains(" --locked"), "runs without --locked: {command}");
    }
}

/// `tollgate schema`, compiled.
fn schema_validator() -> jsonschema::Validator {
    let run = tollgate(&["schema"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    jsonschema::meta::validate(&schema).unwrap_or_else(|error| panic!("tollgate schema is not a valid JSON Schema: {error}"));
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    jsonschema::validator_for(&schema).unwrap()
}

fn schema_errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let instance: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
    validator.iter_errors(&instance).map(|error| format!("{}: {error}", error.instance_path())).collect()
}

#[test]
fn the_schema_accepts_the_demo_and_example_configurations() {
    let validator = schema_validator();
    let dir = tempfile::tempdir().unwrap();
    tollgate::cli::demo::create_repository(&dir.path().join("repo"), tollgate::cli::demo::SECRET_SCOPE_CONFIG).unwrap();
    let demo = std::fs::read_to_string(dir.path().join("repo/tollgate.yaml")).unwrap();
    assert_eq!(schema_errors(&validator, &demo), Vec::<String>::new(), "the demo's tollgate.yaml");

    let configs: Vec<PathBuf> = files(&examples()).into_iter().filter(|path| path.file_name().unwrap() == "tollgate.yaml").collect();
    assert!(!configs.is_empty());
    for path in configs {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(schema_errors(&validator, &text), Vec::<String>::new(), "{}", path.display());
        // The schema and the parser agree.
        tollgate::config::Config::parse(&path.display().to_string(), &text).unwrap();
    }
}

#[test]
fn the_schema_rejects_unknown_fields_and_bad_values() {
    let validator = schema_validator();
    let good = std::fs::read_to_string(examples().join("tollgate.yaml")).unwrap();
    for (broken, expect) in [
        (format!("{good}unknown_field: 1\n"), "unknown_field"),
        (good.replace("tag_path: image.tag, digest_path", "tag_pth: image.tag, digest_path"), "/applications/shop-api/environments/dev/helm"),
        (good.replace("    environments: [prod]\n    config:\n      environments:\n        prod: { required", "    environments: [prod]\n    mode: enforcing\n    config:\n      environments:\n        prod: { required"), "/policies/0/mode"),
        (good.replace("kustomize: {} }", "kustomize: {}, helm: { tag_path: image.tag } }"), "/applications/shop-web/environments"),
        (good.replace("timeout_ms: 3000", "timeout_ms: 0"), "/policies/3/timeout_ms"),
        (good.replace("environments: [dev, test, prod]", "environments: [dev, \"te st\", prod]"), "/environments/1"),
    ] {
        assert_ne!(broken, good, "the replacement for {expect} applies");
        let errors = schema_errors(&validator, &broken);
        assert!(!errors.is_empty(), "{expect}: accepted");
        assert!(errors.iter().any(|error| error.contains(expect)), "{expect}: {errors:#?}");
        // The parser rejects them too.
        assert!(tollgate::config::Config::parse("tollgate.yaml", &broken).is_err(), "{expect}: Config::parse accepted it");
    }
}
