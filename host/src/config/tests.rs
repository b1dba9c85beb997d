use super::*;

const GOOD: &str = "environments: [dev, test, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: { file: envs/dev/values.yaml, helm: { tag_path: image.tag } }\n      prod:\n        file: envs/prod/kustomization.yaml\n        kustomize: {}\npolicies:\n  - plugin: builtin:change-window\n    environments: [prod]\n    config: { default: {} }\n";

#[test]
fn a_problem_at_the_end_of_a_file_without_a_final_line_break_names_a_line_in_it() {
    // Fuzzing input (fuzz/regressions/config_parse-end-without-newline): a one-line file.
    let problem = Config::parse_located("tollgate.yaml", "# yam#$tolerv yame ").unwrap_err();
    assert_eq!((problem.line, problem.column), (Some(1), Some(20)), "{problem:?}");
    assert!(problem.message.contains("missing field `environments`"), "{problem:?}");
    let problem = Config::parse_located("tollgate.yaml", "# a comment\n").unwrap_err();
    assert_eq!(problem.line, Some(2));
    // The same with one CR LF among LF line breaks: 9 lines as YAML counts them.
    let text = include_str!("../../../fuzz/regressions/config_parse-crlf-end-without-newline");
    let problem = Config::parse_located("tollgate.yaml", text).unwrap_err();
    assert!(problem.line.is_some_and(|line| (1..=9).contains(&line)), "{problem:?}");
}

#[test]
fn a_good_config_parses_with_defaults() {
    let config = Config::parse("tollgate.yaml", GOOD).unwrap();
    assert_eq!(config.branch, "main");
    assert_eq!(config.previous_env("prod"), Some("test"));
    assert_eq!(config.previous_env("dev"), None);
    let prod = &config.applications["shop-api"].environments["prod"];
    assert_eq!(prod.layout("registry.example.com/shop/api"), Layout::Kustomize { image: "registry.example.com/shop/api".into() });
    assert!(config.policies[0].applies_to("prod") && !config.policies[0].applies_to("dev"));
    assert_eq!(config.policies[0].config_json(), r#"{"default":{}}"#);
}

#[test]
fn unknown_fields_name_line_column_and_what_is_allowed() {
    let text = GOOD.replace("tag_path: image.tag", "tag_pth: image.tag");
    let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
    assert!(error.starts_with("tollgate.yaml:6:"), "{error}");
    assert!(error.contains("unknown field `tag_pth`, expected one of `tag_path`, `digest_path`, `insert`"), "{error}");
}

#[test]
fn semantic_errors_name_the_line_and_field() {
    let text = GOOD.replace("      dev: {", "      qa: {");
    let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
    assert_eq!(error, "tollgate.yaml:6:7: applications.shop-api.environments.qa: unknown environment qa; environments are dev, test, prod");
    let text = GOOD.replace("        kustomize: {}\n", "");
    let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
    assert!(error.starts_with("tollgate.yaml:7:7: applications.shop-api.environments.prod: no layout for shop-api in prod: give one of"), "{error}");
    let text = GOOD.replace("        kustomize: {}\n", "        kustomize: {}\n        manifest: { container: api }\n");
    let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
    assert!(error.starts_with("tollgate.yaml:7:7: applications.shop-api.environments.prod: give exactly one of"), "{error}");
    let text = GOOD.replace("environments: [prod]", "environments: [production]");
    let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
    assert!(error.starts_with("tollgate.yaml:12:5: policies.0.environments: unknown environment production"), "{error}");
}

#[test]
fn credentials_name_a_source_for_a_granted_origin() {
    let with = |credentials: &str| {
        GOOD.replace(
            "    config: { default: {} }\n",
            &format!("    http_origins: [https://argocd.example.com]\n    credentials:\n{credentials}    config: {{ default: {{}} }}\n"),
        )
    };
    let config = Config::parse("tollgate.yaml", &with("      https://argocd.example.com: { bearer: { env: ARGOCD_TOKEN } }\n")).unwrap();
    let credential = &config.policies[0].credentials["https://argocd.example.com"];
    assert_eq!(crate::credentials::describe(credential), "bearer token from environment variable ARGOCD_TOKEN");
    let error = Config::parse("tollgate.yaml", &with("      https://other.example.com: { bearer: { env: T } }\n")).unwrap_err().0;
    assert!(error.starts_with("tollgate.yaml:15:7: policies.0.credentials.https://other.example.com: https://other.example.com is not in http_origins"), "{error}");
    let error = Config::parse("tollgate.yaml", &with("      https://argocd.example.com: { bearer: { file: token.txt } }\n")).unwrap_err().0;
    assert!(error.contains("policies.0.credentials.https://argocd.example.com.bearer: token.txt is not an absolute path"), "{error}");
    let error = Config::parse("tollgate.yaml", &with("      https://argocd.example.com: { bearer: { value: s3cret } }\n")).unwrap_err().0;
    assert!(error.contains("unknown field `value`, expected `env` or `file`"), "{error}");
}

#[test]
fn problems_carry_their_place_as_data() {
    let text = GOOD.replace("environments: [prod]", "environments: [production]");
    let problem = Config::parse_located("tollgate.yaml", &text).unwrap_err();
    assert_eq!((problem.line, problem.column, problem.field.as_deref()), (Some(12), Some(5), Some("policies.0.environments")));
    let locator = ConfigLocator::new("tollgate.yaml", GOOD);
    assert_eq!(locator.position(&["policies", "0", "config"]), Some((13, 5)));
    assert_eq!(locator.position(&["policies", "0"]), Some((11, 5)));
    // Not written: the nearest enclosing field that is.
    let problem = locator.problem(&["policies", "0", "http_origins"], "grant nothing");
    assert_eq!(problem.to_string(), "tollgate.yaml:11:5: policies.0.http_origins: grant nothing");
    // Columns count characters, not bytes.
    let text = "# ä\nenvironments: [dev]\napplications:\n  \"é\": { image: x, environments: {} }\n";
    assert_eq!(ConfigLocator::new("t", text).position(&["applications", "é"]), Some((4, 3)));
}

#[test]
fn the_json_schema_comes_from_the_types() {
    let schema = json_schema();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["title"], "tollgate.yaml");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["environments", "applications"]));
    assert_eq!(schema["properties"]["branch"]["default"], "main");
    assert!(schema["properties"]["environments"]["description"].as_str().unwrap().starts_with("Environments: a list of names is a chain"));
    let policy = &schema["$defs"]["PolicyConfig"];
    assert_eq!(policy["additionalProperties"], false);
    // The plugin's config is free-form: no type, only a description.
    let config = policy["properties"]["config"].as_object().unwrap();
    assert!(config.keys().all(|key| key == "description" || key == "default"), "{config:?}");
    assert_eq!(schema["$defs"]["HelmLocation"]["additionalProperties"], false);
    // Every pair of the seven layout keys is excluded.
    assert_eq!(schema["$defs"]["Location"]["not"]["anyOf"].as_array().unwrap().len(), 21);
}

#[test]
fn a_remembered_parse_answers_only_for_the_same_text_and_a_problem_names_its_own_source() {
    // Parsed once, then remembered: the same answer, and never another text's; a problem is
    // not remembered, so it names the source it was read under each time.
    let first = Config::parse("tollgate.yaml", GOOD).unwrap();
    assert_eq!(Config::parse("tollgate.yaml", GOOD).unwrap(), first);
    let other_branch = GOOD.replacen("environments:", "branch: release\nenvironments:", 1);
    assert_eq!(Config::parse("tollgate.yaml", &other_branch).unwrap().branch, "release");
    assert_eq!(Config::parse("tollgate.yaml", GOOD).unwrap().branch, "main");
    let broken = GOOD.replace("[dev, test, prod]", "[dev, test, prod, prod]");
    for source in ["tollgate.yaml (commit 0123456789ab)", "other.yaml"] {
        let error = Config::parse(source, &broken).unwrap_err();
        assert!(error.0.starts_with(source) || error.0.contains(source), "{source}: {error}");
    }
    // More texts than are remembered, then the first again: parsed anew, the same.
    for extra in 0..12 {
        let text = GOOD.replace("image.tag", &format!("image.tag{extra}"));
        assert!(Config::parse("tollgate.yaml", &text).is_ok());
    }
    assert_eq!(Config::parse("tollgate.yaml", GOOD).unwrap(), first);
}

/// A text parsed once under one name and again under another (the branch tip's and a commit's
/// configuration in one process): the second answer comes from memory and speaks of its own
/// name, so a message never names the commit the text was first read at.
#[test]
fn a_configuration_read_again_under_another_name_carries_that_name() {
    let text = GOOD.replace("shop-api", "shop-api-named-twice");
    let first = Config::parse("tollgate.yaml (commit 0123456789ab)", &text).unwrap();
    let second = Config::parse("tollgate.yaml", &text).unwrap();
    assert_eq!(first.text.name, "tollgate.yaml (commit 0123456789ab)");
    assert_eq!(second.text.name, "tollgate.yaml");
    let problem = second.text.locator().plugin_refusal(0, "builtin:change-window", "no rules").to_string();
    assert!(problem.starts_with("tollgate.yaml:"), "{problem}");
    assert_eq!(first.applications.keys().collect::<Vec<_>>(), second.applications.keys().collect::<Vec<_>>());
    // A problem names the file it was read under, each time.
    let broken = text.replace("tag_path: image.tag", "tag_pth: image.tag");
    assert!(Config::parse("a.yaml", &broken).unwrap_err().0.starts_with("a.yaml:6:"));
    assert!(Config::parse("b.yaml", &broken).unwrap_err().0.starts_with("b.yaml:6:"));
}
