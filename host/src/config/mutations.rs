//! The `tollgate.yaml` parser on broken input: a valid file mutated at random (characters
//! inserted, ranges deleted, lines repeated) never panics, and every error names its file, a
//! line inside the text (when it has one) and a non-empty message. A property-test stand-in
//! for fuzzing the parser (see SECURITY.md, Fuzzing).

use proptest::prelude::*;

use super::Config;

const VALID: &str = "environments: [dev, test, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    discover: { semver: \">=1.0, <2\", tag_regex: \"[0-9.]+\" }\n    environments:\n      dev: { file: envs/dev/values.yaml, helm: { tag_path: image.tag } }\n      prod:\n        file: envs/prod/kustomization.yaml\n        kustomize: {}\npolicies:\n  - plugin: builtin:change-window\n    environments: [prod]\n    timeout_ms: 500\n    memory_mib: 16\n    http_origins: ['https://erp.example.com']\n    config: { default: {} }\nhealth:\n  argocd: { url: https://argocd.example.com, application: \"{app}-{env}\" }\n  alertmanager: { url: https://alertmanager.example.com, matchers: ['app=\"{app}\"'] }\n";

/// The same with defaults, a file and a branch template, a skip and an override, so mutations
/// reach the template resolver too.
const TEMPLATED: &str = "environments: [dev, test, prod]\ndefaults: { branch: \"environment/{env}\", file: \"envs/{env}/{app}/values.yaml\", helm: { tag_path: image.tag, insert: true } }\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    skip: [test]\n    environments:\n      prod: { file: \"envs/prod/{app}/kustomization.yaml\", kustomize: {} }\n  shop-web:\n    image: registry.example.com/shop/web\n    defaults: { manifest: { container: web } }\n";

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, String),
    Delete(usize, usize),
    RepeatLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let text = prop_oneof![
        Just(":".to_string()), Just("- ".to_string()), Just("{".to_string()), Just("}".to_string()),
        Just("[".to_string()), Just("]".to_string()), Just("\n".to_string()), Just("  ".to_string()),
        Just("&a ".to_string()), Just("*a".to_string()), Just("!!binary ".to_string()), Just("'".to_string()),
        Just("\"".to_string()), Just("#".to_string()), Just("---\n".to_string()), Just("\t".to_string()),
        Just("99999999999999999999".to_string()), Just("~".to_string()), Just("é".to_string()), Just("<<: *a\n".to_string()),
        any::<String>(),
    ];
    prop_oneof![
        (any::<usize>(), text).prop_map(|(at, text)| Mutation::Insert(at, text)),
        (any::<usize>(), 0..40usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        any::<usize>().prop_map(Mutation::RepeatLine),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let boundary = |at: usize| {
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    match mutation {
        Mutation::Insert(at, insert) => {
            let at = boundary(*at);
            format!("{}{insert}{}", &text[..at], &text[at..])
        }
        Mutation::Delete(at, len) => {
            let start = boundary(*at);
            let end = boundary(start + len).max(start);
            format!("{}{}", &text[..start], &text[end..])
        }
        Mutation::RepeatLine(line) => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let index = line % lines.len().max(1);
            let mut out: Vec<&str> = lines.clone();
            if let Some(repeated) = lines.get(index) {
                out.insert(index, repeated);
            }
            out.concat()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn broken_configurations_are_errors_with_a_place_never_panics(templated in any::<bool>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let valid = if templated { TEMPLATED } else { VALID };
        let text = mutations.iter().fold(valid.to_string(), |text, mutation| apply(&text, mutation));
        if let Err(problem) = Config::parse_located("tollgate.yaml", &text) {
            prop_assert_eq!(problem.file.as_str(), "tollgate.yaml");
            prop_assert!(!problem.message.trim().is_empty(), "empty message for {:?}", text);
            if let Some(line) = problem.line {
                prop_assert!(line >= 1 && line <= text.lines().count() + 1, "line {} outside the text {:?}", line, text);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Any text as an environment's `branch:` (a template or not) is either a branch name Git
    /// accepts for every location it gives, or an error on that field's line naming it.
    #[test]
    fn any_environment_branch_is_a_valid_branch_or_an_error_on_its_field(branch in prop_oneof![
        any::<String>(),
        "[a-z{}/.~^:@ -]{0,24}",
        Just("environment/{env}".to_string()),
    ]) {
        let quoted = serde_json::to_string(&branch).unwrap();
        let text = format!("environments: [dev, prod]\napplications:\n  api:\n    image: r/api\n    defaults: {{ helm: {{ tag_path: image.tag }} }}\n    environments:\n      prod:\n        branch: {quoted}\n        file: api.yaml\n");
        match Config::parse_located("tollgate.yaml", &text) {
            Ok(config) => {
                let resolved = &config.applications["api"].environments["prod"].branch;
                prop_assert!(crate::input::branch("branch", resolved).is_ok(), "{:?} gave {:?}", branch, resolved);
                prop_assert!(!resolved.contains(['{', '}']), "{:?} gave {:?}", branch, resolved);
            }
            Err(problem) => {
                prop_assert_eq!(problem.line, Some(8), "{:?}: {}", branch, problem);
                prop_assert_eq!(problem.field.as_deref(), Some("applications.api.environments.prod.branch"), "{:?}: {}", branch, problem);
            }
        }
    }
}

#[test]
fn the_unmutated_file_is_valid() {
    Config::parse("tollgate.yaml", VALID).unwrap();
    let config = Config::parse("tollgate.yaml", TEMPLATED).unwrap();
    assert_eq!(config.applications["shop-api"].environments.len(), 2);
    assert_eq!(config.applications["shop-web"].environments.len(), 3);
}
