//! `tollgate check-config`, `tollgate schema` and `tollgate completions` as a user runs them.

use crate::support::{gitops_repo, repo_path, tollgate, tollgate_in, workspace, write};

/// `line:column` (1-based, columns in characters) of the first non-blank of `needle` in `text`.
fn position(text: &str, needle: &str) -> String {
    let start = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the configuration")) + (needle.len() - needle.trim_start().len());
    let line = text[..start].matches('\n').count() + 1;
    let column = text[..start].rsplit('\n').next().unwrap().chars().count() + 1;
    format!("{line}:{column}")
}

#[test]
fn check_config_passes_the_demo_repository_with_a_capability_warning() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let demo = std::fs::read_to_string(dir.path().join("repo/tollgate.yaml")).unwrap();
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("checked tollgate.yaml: branch main at "), "{}", run.stdout);
    assert!(run.stdout.contains(", 6 application files with a version, 4 policies loaded\n"), "{}", run.stdout);
    // erp-readiness asks for http-get; the demo grants it no origin (it reads a file), so
    // the warning points at the policy's first key (http_origins is not written).
    let expected = format!(
        "tollgate.yaml:{}: warning: policies.3.http_origins: erp-readiness asks for http-get, but no origin is granted",
        position(&demo, "plugin: builtin:erp-readiness")
    );
    assert!(run.stdout.contains(&expected), "missing {expected:?} in\n{}", run.stdout);
    assert!(run.stdout.ends_with("\nvalid (1 warning)\n"), "{}", run.stdout);

    let run = tollgate_in(&repo, &["check-config", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["schema_version"], 1);
    assert_eq!(document["valid"], true);
    assert_eq!(document["warnings"], 1);
    assert_eq!(document["problems"][0]["severity"], "warning");
    assert_eq!(document["problems"][0]["field"], "policies.3.http_origins");
    assert_eq!(document["locations"].as_array().unwrap().len(), 6);
    assert_eq!(document["policies"][3]["capabilities"], serde_json::json!(["read-file", "http-get"]));
}

#[test]
fn check_config_accepts_the_example_configuration_on_the_demo_repository() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let config = workspace().join("examples/tollgate.yaml");
    let run = tollgate_in(&repo, &["--config", config.to_str().unwrap(), "check-config"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.ends_with("\nvalid\n"), "{}", run.stdout);
}

#[test]
fn check_config_reports_each_problem_with_its_place_and_exits_2() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let demo = std::fs::read_to_string(dir.path().join("repo/tollgate.yaml")).unwrap();
    let broken = demo
        .replace("prod: { file: envs/prod/shop-web/kustomization.yaml", "prod: { file: envs/prod/shop-web/kustomisation.yaml")
        .replace("required: 2", "required: two")
        .replace("  - plugin: builtin:change-window\n", "  - plugin: builtin:change-window\n    http_origins: [https://erp.example.com]\n");
    let config = write(dir.path(), "broken.yaml", &broken);
    let run = tollgate_in(&repo, &["--config", &config, "check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    for expected in [
        format!(
            "{config}:{}: error: applications.shop-web.environments.prod.file: envs/prod/shop-web/kustomisation.yaml does not exist on branch main (",
            position(&broken, "file: envs/prod/shop-web/kustomisation.yaml")
        ),
        // At the field the plugin names, inside its config.
        format!(
            "{config}:{}: error: policies.0.config.environments.prod.required: approval-count does not accept this configuration: invalid type: string \"two\"",
            position(&broken, "          required: two")
        ),
        format!(
            "{config}:{}: warning: policies.1.http_origins: change-window does not ask for http-get, so the origins granted here are never used; remove them\n",
            position(&broken, "    http_origins: [https://erp.example.com]")
        ),
    ] {
        assert!(run.stdout.contains(&expected), "missing {expected:?} in\n{}", run.stdout);
    }
    assert!(run.stdout.ends_with("\ninvalid: 2 errors, 2 warnings\n"), "{}", run.stdout);

    // A configuration that does not parse: one error, with line and column.
    let config = write(dir.path(), "unknown.yaml", &demo.replace("branch: main\n", "branch: main\nbranches: [main]\n"));
    let run = tollgate_in(&repo, &["--config", &config, "check-config", "-o", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["valid"], false);
    assert_eq!(document["errors"], 1);
    assert_eq!((document["problems"][0]["line"].clone(), document["problems"][0]["column"].clone()), (3.into(), 1.into()));
    assert!(document["problems"][0]["message"].as_str().unwrap().starts_with("unknown field `branches`"), "{}", run.stdout);

    // Not a repository at all.
    let run = tollgate(&["--repo", dir.path().to_str().unwrap(), "check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("not a Git repository"), "{}", run.stdout);
}

#[test]
fn schema_prints_the_json_schema_of_tollgate_yaml() {
    let run = tollgate(&["schema"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(schema["title"], "tollgate.yaml");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["$defs"]["PolicyConfig"]["properties"]["plugin"]["type"], "string");
}

/// Every subcommand path (`["plugin", "test"]`, ...) below `parent`, read from the binary's own
/// `--help` (its `Commands:` section), recursively, so the list cannot go stale.
fn every_subcommand(parent: &[String]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = parent.iter().map(String::as_str).collect();
    args.push("--help");
    let run = tollgate(&args);
    assert_eq!(run.code, 0, "tollgate {}: {}", args.join(" "), run.stderr);
    let mut found = Vec::new();
    let mut lines = run.stdout.lines().skip_while(|line| *line != "Commands:");
    lines.next();
    for line in lines.take_while(|line| !line.trim().is_empty()) {
        let name = line.split_whitespace().next().unwrap().to_string();
        if name == "help" {
            continue;
        }
        let mut path = parent.to_vec();
        path.push(name);
        found.extend(every_subcommand(&path));
        found.push(path);
    }
    found
}

#[test]
fn completions_cover_every_command_for_bash_zsh_and_fish() {
    for (shell, marker) in [("bash", "_tollgate()"), ("zsh", "#compdef tollgate"), ("fish", "complete -c tollgate")] {
        let run = tollgate(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains(marker), "{shell}: {}", &run.stdout[..run.stdout.len().min(500)]);
        let commands = every_subcommand(&[]);
        assert!(commands.len() >= 11, "only {commands:?} found in --help");
        for command in &commands {
            let name = command.last().unwrap();
            let parents = &command[..command.len() - 1];
            // Each shell's own form of "this subcommand is offered here".
            let offered = match shell {
                "bash" => {
                    let parent: String = parents.iter().map(|part| format!("__subcmd__{}", part.replace('-', "__subcmd__"))).collect();
                    run.stdout.contains(&format!("            tollgate{parent},{name})\n"))
                }
                "zsh" => run.stdout.contains(&format!("\n'{name}:")) && run.stdout.lines().any(|line| line.trim() == format!("({name})")),
                _ => run.stdout.lines().any(|line| {
                    let condition = if parents.is_empty() {
                        "-n \"__fish_tollgate_needs_command\"".to_string()
                    } else {
                        format!("-n \"__fish_tollgate_using_subcommand {}; and not __fish_seen_subcommand_from ", parents.join(" "))
                    };
                    line.contains(&condition) && line.contains(&format!(" -a \"{name}\" "))
                }),
            };
            assert!(offered, "{shell} completions do not offer `tollgate {}`", command.join(" "));
        }
    }
    let run = tollgate(&["completions", "tcsh"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
