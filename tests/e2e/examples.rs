//! The CI examples under `examples/` and the JSON Schema of `tollgate.yaml`: every YAML file
//! parses, the workflows have the jobs, triggers and report wiring they promise, every
//! `tollgate …` command in them is accepted by the real command line, and `tollgate schema`
//! validates the demo's and the examples' configurations and rejects broken ones.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_yaml::Value;

use crate::support::{tollgate, workspace};

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

#[test]
fn the_github_plan_workflow_plans_pull_requests_and_wires_every_report() {
    let workflow = load("github-actions/tollgate-plan.yml");
    assert!(workflow["on"]["pull_request"].is_mapping(), "plans pull requests");
    assert!(workflow["jobs"]["check-config"].is_mapping() && workflow["jobs"]["plan"].is_mapping());
    assert!(tollgate_commands(&github_job_lines(&workflow, "check-config")).iter().any(|command| command == "tollgate check-config"));

    let lines = github_job_lines(&workflow, "plan");
    let commands = tollgate_commands(&lines);
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
    assert_eq!(workflow["permissions"]["contents"], "write", "pushes the commit and the notes");

    let commands = tollgate_commands(&github_job_lines(&workflow, "promote"));
    let promote: Vec<_> = commands.iter().filter(|command| command.starts_with("tollgate promote ")).collect();
    assert_eq!(promote.len(), 1, "{commands:#?}");
    assert!(promote[0].contains(" --push") && promote[0].contains(" -o github") && promote[0].contains(" --decision-log "), "{}", promote[0]);
    assert_locked(&commands);
    for command in commands {
        assert_parses("tollgate-promote.yml", &command);
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

    let plan = tollgate_commands(&gitlab_job_lines(&pipeline, "plan"));
    assert!(plan.iter().any(|command| command.starts_with("tollgate plan ") && command.contains(" -o junit")), "{plan:#?}");
    assert_eq!(pipeline["plan"]["artifacts"]["reports"]["junit"], "tollgate-plan.xml");
    assert!(gitlab_job_lines(&pipeline, "plan").iter().any(|line| line.contains("> tollgate-plan.xml")));

    let promote = tollgate_commands(&gitlab_job_lines(&pipeline, "promote"));
    assert!(promote.iter().any(|command| command.starts_with("tollgate promote ") && command.contains(" --push") && command.contains(" -o junit")), "{promote:#?}");
    assert_eq!(pipeline["promote"]["artifacts"]["reports"]["junit"], "tollgate-promote.xml");
    let rules = pipeline["promote"]["rules"].as_sequence().unwrap();
    assert!(!rules.is_empty() && rules.iter().all(|rule| rule["when"] == "manual"), "promote is a manual job: {rules:?}");

    assert_locked(&plan);
    assert_locked(&promote);
    let check = tollgate_commands(&gitlab_job_lines(&pipeline, "check-config"));
    assert!(check.iter().any(|command| command.starts_with("tollgate check-config")), "{check:#?}");

    for command in [plan, promote, check].concat() {
        assert_parses(".gitlab-ci.yml", &command);
    }
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
    tollgate::demo::create_repository(&dir.path().join("repo"), tollgate::demo::SECRET_SCOPE_CONFIG).unwrap();
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
