//! Defaults and path templates for application locations, resolved once at load.
//!
//! A repository whose files follow a pattern needs one line:
//!
//! ```yaml
//! environments: [dev, test, load, prod]
//! defaults: { file: "envs/{env}/{app}/values.yaml", helm: { tag_path: image.tag } }
//! applications:
//!   shop-api: { image: registry.example.com/shop/api }          # every environment
//!   shop-web:
//!     image: registry.example.com/shop/web
//!     skip: [load]                                              # does not run in load
//!     defaults: { kustomize: {}, file: "kustomize/{env}/web/kustomization.yaml" }
//!     environments:
//!       prod: { file: kustomize/prod/web-eu/kustomization.yaml } # one environment differs
//! ```
//!
//! Each environment's location is taken field by field from the most specific place that
//! gives it: the application's `environments.ENV` entry, then the application's `defaults`,
//! then the top-level `defaults`. `file` and the layout (`helm`, `kustomize` or `manifest`,
//! taken whole, never merged) are looked up separately. When a file template applies to an
//! application (its own `defaults.file` or the top-level one), it runs in every environment
//! except those in its `skip` list; otherwise only in the environments listed under it.
//!
//! `{app}` and `{env}` in any `file` are replaced by the application and environment names;
//! any other `{…}` is an error. The result must be a normalised repository-relative path (no
//! leading `/`, no empty, `.` or `..` parts, no backslashes). Each resolved location keeps the
//! configuration field its file and layout came from ([`LocationOrigin`]), so messages about a
//! resolved file (such as check-config's missing files) point at the template's line.
//!
//! A promotion's default source passes over the environments an application skips
//! ([`upstreams_for`]): `shop-web` above goes from `test` to `prod`.

use std::collections::BTreeMap;

use super::{Config, ConfigProblem, Location};

/// Where a resolved location's `file` and layout were written in the configuration, as field
/// paths such as `["defaults", "file"]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocationOrigin {
    /// The field that gave the file (a template or a literal path).
    pub file: Vec<String>,
    /// The field that gave the layout (`…helm`, `…kustomize` or `…manifest`).
    pub layout: Vec<String>,
    /// The field that gave the branch (empty: the top-level `branch`).
    pub branch: Vec<String>,
}

impl LocationOrigin {
    /// The file's field as `&str` segments, for [`super::ConfigLocator::problem`].
    pub fn file_path(&self) -> Vec<&str> {
        self.file.iter().map(String::as_str).collect()
    }

    /// The layout's field as `&str` segments.
    pub fn layout_path(&self) -> Vec<&str> {
        self.layout.iter().map(String::as_str).collect()
    }

    /// The field to fix when the location's branch is wrong.
    pub fn branch_field(&self) -> String {
        if self.branch.is_empty() { "branch".to_string() } else { self.branch.join(".") }
    }

    /// Whether the file came from a template shared by several environments (a `defaults`).
    pub fn from_defaults(&self) -> bool {
        self.file.iter().any(|segment| segment == "defaults")
    }
}

type At<'a> = &'a dyn Fn(&[&str], String) -> ConfigProblem;

/// Fill every application's `environments` from the defaults and templates, so the rest of
/// the code sees complete locations. Names that are not valid are left for
/// [`Config::check`] to report.
pub(super) fn resolve(config: &mut Config, at: At) -> Result<(), ConfigProblem> {
    let valid_name = |name: &str| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !config.environments.iter().all(|env| valid_name(env)) {
        return Ok(());
    }
    if let Some(defaults) = &config.defaults {
        check_defaults(defaults, &["defaults"], at)?;
    }
    let environments = config.environments.clone();
    let top = config.defaults.clone();
    for (name, application) in config.applications.iter_mut() {
        // Application names are checked as identifiers by Config::check (a `.` is allowed).
        if crate::input::identifier("applications", name).is_err() {
            continue;
        }
        // A multi-artifact application gives each artifact's files itself (config::artifacts).
        if application.is_multi_artifact() {
            if top.as_ref().is_some_and(|defaults| !defaults.branch.is_empty()) {
                return Err(at(
                    &["defaults", "branch"],
                    format!("a default branch does not apply to applications with artifacts: ({name}); give branch: on each of its artifacts' locations instead"),
                ));
            }
            continue;
        }
        let app_path = ["applications", name.as_str()];
        if let Some(defaults) = &application.defaults {
            check_defaults(defaults, &[&app_path[..], &["defaults"]].concat(), at)?;
        }
        for (index, env) in application.skip.iter().enumerate() {
            let skip_path = [&app_path[..], &["skip"]].concat();
            if !environments.contains(env) {
                return Err(at(&skip_path, format!("unknown environment {env}; environments are {}", environments.join(", "))));
            }
            if application.skip[..index].contains(env) {
                return Err(at(&skip_path, format!("{env} is listed twice")));
            }
            if application.environments.contains_key(env) {
                return Err(at(
                    &[&app_path[..], &["environments", env.as_str()]].concat(),
                    format!("{env} is also in skip: [{env}]; remove one of them"),
                ));
            }
        }
        let levels: [(Vec<&str>, Option<&Location>); 2] = [
            ([&app_path[..], &["defaults"]].concat(), application.defaults.as_ref()),
            (vec!["defaults"], top.as_ref()),
        ];
        let templated = levels.iter().any(|(_, defaults)| defaults.is_some_and(|defaults| !defaults.file.is_empty()));
        let runs_in: Vec<&String> = if templated {
            environments.iter().filter(|env| !application.skip.contains(env)).collect()
        } else {
            environments.iter().filter(|env| application.environments.contains_key(*env)).collect()
        };
        let mut resolved = application.environments.clone();
        for env in runs_in {
            let env_path = [&app_path[..], &["environments", env.as_str()]].concat();
            let mut location = application.environments.get(env).cloned().unwrap_or_default();
            let file_source = std::iter::once((env_path.clone(), Some(&location)))
                .chain(levels.iter().map(|(path, defaults)| (path.clone(), *defaults)))
                .find_map(|(path, level)| level.filter(|level| !level.file.is_empty()).map(|level| (path, level.file.clone())));
            let Some((mut file_field, template)) = file_source else {
                return Err(at(
                    &env_path,
                    format!(
                        "no file for {name} in {env}: write file: here, or a template such as defaults: {{ file: \"envs/{{env}}/{{app}}/values.yaml\" }} (top level or under the application)"
                    ),
                ));
            };
            file_field.push("file");
            let file = fill(&template, name, env).map_err(|message| at(&file_field, message))?;
            check_path(&file).map_err(|message| {
                at(&file_field, format!("for {name} in {env}, {template:?} gives {file:?}, which {message}"))
            })?;
            let mut layout_field = env_path.clone();
            if !has_layout(&location) {
                let inherited = levels.iter().find_map(|(path, level)| level.filter(|level| has_layout(level)).map(|level| (path, level)));
                let Some((path, level)) = inherited else {
                    return Err(at(
                        &env_path,
                        format!("no layout for {name} in {env}: give one of helm: {{tag_path: …}}, kustomize: {{…}} or manifest: {{container: …}} here or in a defaults:"),
                    ));
                };
                layout_field = path.clone();
                super::kinds::copy_layout(&mut location, level);
            }
            layout_field.push(layout_name(&location));
            let branch_source = std::iter::once((env_path.clone(), Some(&location)))
                .chain(levels.iter().map(|(path, defaults)| (path.clone(), *defaults)))
                .find_map(|(path, level)| level.filter(|level| !level.branch.is_empty()).map(|level| (path, level.branch.clone())));
            let mut branch_field = Vec::new();
            if let Some((mut field, template)) = branch_source {
                field.push("branch");
                location.branch = fill_branch(&template, Some((name, env))).map_err(|message| at(&field, message))?;
                branch_field = field;
            }
            location.file = file;
            location.origin = LocationOrigin {
                file: file_field.iter().map(|segment| segment.to_string()).collect(),
                layout: layout_field.iter().map(|segment| segment.to_string()).collect(),
                branch: branch_field.iter().map(|segment| segment.to_string()).collect(),
            };
            resolved.insert(env.clone(), location);
        }
        application.environments = resolved;
    }
    Ok(())
}

/// A `defaults` (top level or under an application) gives at most one layout, a well-formed
/// file template and nothing that only makes sense for one environment.
fn check_defaults(defaults: &Location, path: &[&str], at: At) -> Result<(), ConfigProblem> {
    if super::kinds::has_layout(defaults) && super::kinds::layout_key(defaults).is_none() {
        return Err(at(path, "give at most one of helm: {tag_path: …}, kustomize: {…} or manifest: {container: …}".into()));
    }
    if !defaults.file.is_empty() {
        let file_path = [path, &["file"]].concat();
        // Checked with stand-in names, so a template no application uses yet is still checked.
        let sample = fill(&defaults.file, "app", "env").map_err(|message| at(&file_path, message))?;
        check_path(&sample).map_err(|message| at(&file_path, format!("{:?} {message}", defaults.file)))?;
    }
    if !defaults.branch.is_empty() {
        fill_branch(&defaults.branch, None).map_err(|message| at(&[path, &["branch"]].concat(), message))?;
    }
    Ok(())
}

/// A location's `branch` with `{app}` and `{env}` filled in (`names`; `None` checks a
/// template with stand-ins), checked to be a branch name.
pub(super) fn fill_branch(template: &str, names: Option<(&str, &str)>) -> Result<String, String> {
    let (app, env) = names.unwrap_or(("app", "env"));
    let branch = fill(template, app, env)?;
    crate::input::branch("branch", &branch).map_err(|_| {
        let gives = if branch == template || names.is_none() { String::new() } else { format!(" (for {app} in {env} it gives {branch:?})") };
        format!("{template:?}{gives} is not a branch name Git accepts: write it as environment/{{env}} or environment/prod, without spaces, `..`, `~`, `^`, `:` or a leading `-`")
    })?;
    Ok(branch)
}

/// Give every location that names no branch of its own the top-level `branch`, so that
/// each location knows where it lives (see [`Location::branch`]).
pub(super) fn fill_branches(config: &mut Config) {
    let branch = config.branch.clone();
    for application in config.applications.values_mut() {
        let artifact_locations = application.artifacts.values_mut().flat_map(|artifact| artifact.environments.values_mut()).flat_map(|locations| locations.all_mut());
        for location in application.environments.values_mut().chain(artifact_locations) {
            if location.branch.is_empty() {
                location.branch = branch.clone();
            }
        }
    }
}

use super::kinds::has_layout;

fn layout_name(location: &Location) -> &'static str {
    // Several layouts are reported by Config::check, naming the environment.
    super::kinds::layout_key(location).unwrap_or("helm")
}

/// For a YAML syntax error on `line` (1-based) of `text`: when that line has an unquoted
/// placeholder inside `{ … }`, where `{` and `}` are YAML's own, the way out.
pub(super) fn flow_hint(text: &str, line: usize) -> String {
    let Some(written) = text.lines().nth(line.saturating_sub(1)) else { return String::new() };
    let unquoted = ["{app}", "{env}"].iter().any(|placeholder| {
        written.match_indices(placeholder).any(|(at, _)| written[..at].matches(['"', '\'']).count() % 2 == 0)
    });
    if unquoted && written.contains(": {") {
        " (inside { … } a file template must be quoted: file: \"envs/{env}/{app}/values.yaml\")".to_string()
    } else {
        String::new()
    }
}

/// `template` with `{app}` and `{env}` replaced.
pub fn fill(template: &str, app: &str, env: &str) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(&rest[..open]);
        if rest[open..].starts_with('}') {
            return Err(format!("{template:?} has a `}}` without `{{`; the placeholders are {{app}} and {{env}}"));
        }
        let close = rest[open..].find('}').ok_or_else(|| format!("{template:?} has a `{{` without `}}`; the placeholders are {{app}} and {{env}}"))?;
        match &rest[open + 1..open + close] {
            "app" => out.push_str(app),
            "env" => out.push_str(env),
            other => return Err(format!("{template:?}: unknown placeholder {{{other}}}; the placeholders are {{app}} and {{env}}")),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A normalised repository-relative path: not empty, no leading `/`, no empty, `.` or `..`
/// parts, no backslashes or control characters. The error completes "… which …".
pub fn check_path(path: &str) -> Result<(), String> {
    let bad_part = path.split('/').find(|part| part.is_empty() || *part == "." || *part == "..");
    if path.is_empty() || path.starts_with('/') {
        return Err("must be a path relative to the repository root, e.g. envs/prod/app/values.yaml".into());
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Err("must use / between parts and no backslashes or control characters".into());
    }
    if let Some(part) = bad_part {
        return Err(format!("must be a normalised path relative to the repository root (it has a {part:?} part); write it without empty, . or .. parts"));
    }
    Ok(())
}

/// The environments an application's promotion into `env` may come from: `env`'s upstreams
/// in the graph, passing over those the application lists in `skip:` to their own upstreams
/// (it does not run there, so they cannot be its source).
pub fn upstreams_for(config: &Config, application: &super::Application, env: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for upstream in config.graph().upstreams(env) {
        let reached = if application.skip.contains(upstream) { upstreams_for(config, application, upstream) } else { vec![upstream.clone()] };
        for candidate in reached {
            if !found.contains(&candidate) {
                found.push(candidate);
            }
        }
    }
    found
}

impl Config {
    /// The branch that holds `app`'s file in `env`: its location's (resolved at load), else
    /// the protected branch.
    pub fn branch_of(&self, app: &str, env: &str) -> &str {
        self.applications.get(app).and_then(|application| application.environments.get(env)).map_or(self.branch.as_str(), |location| location.branch.as_str())
    }

    /// The protected branch, then every other branch a configured location lives on, once each.
    pub fn location_branches(&self) -> Vec<&str> {
        let mut branches = vec![self.branch.as_str()];
        for location in self.applications.values().flat_map(|application| application.environments.values()) {
            if !branches.contains(&location.branch.as_str()) {
                branches.push(location.branch.as_str());
            }
        }
        branches
    }
}

/// Every application's resolved locations, for tests and tools: application → environment →
/// file.
pub fn resolved_files(config: &Config) -> BTreeMap<String, BTreeMap<String, String>> {
    config
        .applications
        .iter()
        .map(|(name, application)| {
            (name.clone(), application.environments.iter().map(|(env, location)| (env.clone(), location.file.clone())).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Layout;

    const TEMPLATED: &str = "environments: [dev, test, load, prod]\ndefaults: { file: \"envs/{env}/{app}/values.yaml\", helm: { tag_path: image.tag } }\napplications:\n  api:\n    image: registry.example.com/shop/api\n  web:\n    image: registry.example.com/shop/web\n    skip: [load]\n    defaults:\n      kustomize: {}\n      file: \"kustomize/{env}/web/kustomization.yaml\"\n    environments:\n      prod: { file: kustomize/prod/web-eu/kustomization.yaml }\n  legacy:\n    image: registry.example.com/shop/legacy\n    environments:\n      prod: { file: \"legacy/{app}.yaml\", manifest: { container: legacy } }\n";

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse("tollgate.yaml", text).map_err(|error| error.0)
    }

    #[test]
    fn one_template_line_resolves_every_application_and_environment() {
        let config = parse(TEMPLATED).unwrap();
        let files = resolved_files(&config);
        assert_eq!(files["api"].len(), 4);
        assert_eq!(files["api"]["load"], "envs/load/api/values.yaml");
        assert_eq!(files["web"].keys().collect::<Vec<_>>(), ["dev", "prod", "test"], "load is skipped");
        assert_eq!(files["web"]["dev"], "kustomize/dev/web/kustomization.yaml");
        assert_eq!(files["web"]["prod"], "kustomize/prod/web-eu/kustomization.yaml", "the environment's own file wins");
        // With a top-level file template every application runs everywhere unless skipped.
        assert_eq!(files["legacy"]["prod"], "legacy/legacy.yaml");
        assert_eq!(files["legacy"]["dev"], "envs/dev/legacy/values.yaml");
        let api = &config.applications["api"].environments["prod"];
        assert_eq!(api.layout("x"), Layout::Helm { tag_path: "image.tag".into(), digest_path: None });
        assert_eq!(api.origin.file_path(), ["defaults", "file"]);
        assert_eq!(api.origin.layout_path(), ["defaults", "helm"]);
        let web = &config.applications["web"].environments["prod"];
        assert_eq!(web.layout("registry.example.com/shop/web"), Layout::Kustomize { image: "registry.example.com/shop/web".into() });
        assert_eq!(web.origin.file_path(), ["applications", "web", "environments", "prod", "file"]);
        assert_eq!(web.origin.layout_path(), ["applications", "web", "defaults", "kustomize"]);
        assert_eq!(config.applications["legacy"].environments["prod"].origin.layout_path(), ["applications", "legacy", "environments", "prod", "manifest"]);
        // web skips load: its promotions into prod come from test; api's from load.
        assert_eq!(upstreams_for(&config, &config.applications["web"], "prod"), ["test"]);
        assert_eq!(upstreams_for(&config, &config.applications["api"], "prod"), ["load"]);
        assert!(upstreams_for(&config, &config.applications["web"], "dev").is_empty());
    }

    #[test]
    fn the_readme_example_resolves_as_it_says() {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme.find("### Defaults and file templates").unwrap()..];
        let block = &section[section.find("```yaml\n").unwrap() + 8..];
        let config = parse(&block[..block.find("```").unwrap()]).unwrap();
        let files = resolved_files(&config);
        assert_eq!(files["shop-api"].len(), 4);
        assert_eq!(files["shop-worker"].keys().collect::<Vec<_>>(), ["dev", "prod", "test"]);
        assert_eq!(files["shop-web"]["test"], "web/overlays/test/kustomization.yaml");
        assert_eq!(files["shop-web"]["prod"], "web/overlays/production/kustomization.yaml");
    }

    #[test]
    fn application_names_with_dots_fill_templates_too() {
        let config = parse("environments: [dev]\ndefaults: { file: \"envs/{env}/{app}/values.yaml\", helm: { tag_path: image.tag } }\napplications:\n  shop.api: { image: r/api }\n").unwrap();
        assert_eq!(resolved_files(&config)["shop.api"]["dev"], "envs/dev/shop.api/values.yaml");
    }

    #[test]
    fn without_a_file_template_only_listed_environments_run() {
        let text = "environments: [dev, prod]\ndefaults: { helm: { tag_path: image.tag } }\napplications:\n  api:\n    image: r/api\n    environments:\n      prod: { file: envs/prod/api.yaml }\n";
        let config = parse(text).unwrap();
        assert_eq!(resolved_files(&config)["api"].keys().collect::<Vec<_>>(), ["prod"]);
        assert_eq!(config.applications["api"].environments["prod"].origin.layout_path(), ["defaults", "helm"]);
    }

    #[test]
    fn template_mistakes_name_the_template_line_and_column() {
        let error = parse(&TEMPLATED.replace("envs/{env}/{app}", "envs/{environment}/{app}")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:2:13: defaults.file: \"envs/{environment}/{app}/values.yaml\": unknown placeholder {environment}"), "{error}");
        let error = parse(&TEMPLATED.replace("envs/{env}/{app}", "envs/{env/{app}")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:2:13: defaults.file:"), "{error}");
        let error = parse(&TEMPLATED.replace("envs/{env}/{app}", "../{env}/{app}")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:2:13: defaults.file: \"../{env}/{app}/values.yaml\" must be a normalised path"), "{error}");
        let error = parse(&TEMPLATED.replace("envs/{env}/{app}", "/envs/{env}/{app}")).unwrap_err();
        assert!(error.contains("must be a path relative to the repository root"), "{error}");
        let error = parse(&TEMPLATED.replace("envs/{env}/{app}", "envs//{env}/{app}")).unwrap_err();
        assert!(error.contains("\"\" part"), "{error}");
        let error = parse(&TEMPLATED.replace("kustomize/{env}/web", "kustomize/{env}/./web")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:11:7: applications.web.defaults.file:"), "{error}");
        let error = parse(&TEMPLATED.replace("legacy/{app}.yaml", "legacy/{app}/../x.yaml")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:17:15: applications.legacy.environments.prod.file: for legacy in prod"), "{error}");
    }

    #[test]
    fn skips_and_missing_pieces_are_precise_errors() {
        let error = parse(&TEMPLATED.replace("skip: [load]", "skip: [loadtest]")).unwrap_err();
        assert_eq!(error, "tollgate.yaml:8:5: applications.web.skip: unknown environment loadtest; environments are dev, test, load, prod");
        let error = parse(&TEMPLATED.replace("skip: [load]", "skip: [prod]")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:13:7: applications.web.environments.prod: prod is also in skip: [prod]"), "{error}");
        let error = parse(&TEMPLATED.replace(", helm: { tag_path: image.tag }", "")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:4:3: applications.api: no layout for api in dev") || error.contains("no layout for api in dev"), "{error}");
        let text = "environments: [dev]\napplications:\n  api:\n    image: r/api\n    environments:\n      dev: { helm: { tag_path: image.tag } }\n";
        let error = parse(text).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:6:7: applications.api.environments.dev: no file for api in dev"), "{error}");
        let error = parse(&TEMPLATED.replace("helm: { tag_path: image.tag } }", "helm: { tag_path: image.tag }, manifest: { container: a } }")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:2:1: defaults: give at most one of"), "{error}");
    }

    #[test]
    fn an_unquoted_template_in_flow_style_says_to_quote_it() {
        let error = parse(&TEMPLATED.replace("\"envs/{env}/{app}/values.yaml\"", "envs/{env}/{app}/values.yaml")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:2:"), "{error}");
        assert!(error.ends_with(" (inside { … } a file template must be quoted: file: \"envs/{env}/{app}/values.yaml\")"), "{error}");
        // In block style it needs no quotes.
        let text = "environments: [dev]\ndefaults:\n  file: envs/{env}/{app}/values.yaml\n  helm: { tag_path: image.tag }\napplications:\n  api: { image: r/api }\n";
        assert_eq!(resolved_files(&parse(text).unwrap())["api"]["dev"], "envs/dev/api/values.yaml");
    }

    const BRANCHES: &str = "environments: [dev, prod]\ndefaults: { branch: \"environment/{env}\", file: \"{app}/manifest.yaml\", manifest: { container: app } }\napplications:\n  api: { image: r/api }\n  web:\n    image: r/web\n    environments:\n      prod: { branch: main, file: web/prod.yaml }\n";

    #[test]
    fn environment_branches_resolve_per_location_and_default_to_the_configured_branch() {
        let config = parse(BRANCHES).unwrap();
        let api = &config.applications["api"].environments;
        assert_eq!((api["dev"].branch.as_str(), api["prod"].branch.as_str()), ("environment/dev", "environment/prod"));
        assert_eq!(api["prod"].file, "api/manifest.yaml");
        assert_eq!(api["prod"].origin.branch_field(), "defaults.branch");
        let web = &config.applications["web"].environments;
        assert_eq!(web["prod"].branch, "main", "the environment's own branch wins");
        assert_eq!(web["prod"].origin.branch_field(), "applications.web.environments.prod.branch");
        // Without a branch anywhere, every location is on the top-level one.
        let config = parse(TEMPLATED).unwrap();
        assert!(config.applications.values().flat_map(|application| application.environments.values()).all(|location| location.branch == "main"));
        assert_eq!(config.applications["api"].environments["dev"].origin.branch_field(), "branch");
    }

    #[test]
    fn an_environment_branch_that_git_refuses_is_an_error_on_its_line() {
        let error = parse(&BRANCHES.replace("environment/{env}", "environment {env}")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:2:13: defaults.branch: \"environment {env}\" is not a branch name Git accepts"), "{error}");
        let error = parse(&BRANCHES.replace("environment/{env}", "environment/{stage}")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:2:13: defaults.branch:") && error.contains("unknown placeholder {stage}"), "{error}");
        let error = parse(&BRANCHES.replace("branch: main", "branch: \"prod..x\"")).unwrap_err();
        assert!(error.starts_with("tollgate.yaml:8:15: applications.web.environments.prod.branch: \"prod..x\" is not a branch name"), "{error}");
        let error = parse(&BRANCHES.replace("branch: main", "branch: \"-prod\"")).unwrap_err();
        assert!(error.contains("applications.web.environments.prod.branch"), "{error}");
    }

    #[test]
    fn environment_branches_are_given_per_artifact_location_not_by_a_default() {
        let artifacts = "environments: [dev]\napplications:\n  shop:\n    artifacts:\n      api:\n        image: r/api\n        environments:\n          dev: { branch: \"environment/{env}\", file: api.yaml, manifest: { container: api } }\n";
        let config = parse(artifacts).unwrap();
        assert_eq!(config.applications["shop"].environments["dev"].branch, "environment/dev");
        assert_eq!(config.branch_of("shop", "dev"), "environment/dev");
        let error = parse(&artifacts.replace("environment/{env}", "environment/{env}..x")).unwrap_err();
        assert!(error.contains("applications.shop.artifacts.api.environments.dev.branch: \"environment/{env}..x\""), "{error}");
        let error = parse(&format!("{}defaults: {{ branch: \"environment/{{env}}\" }}\n", artifacts.replace("branch: \"environment/{env}\", ", ""))).unwrap_err();
        assert!(error.contains("defaults.branch: a default branch does not apply to applications with artifacts: (shop)"), "{error}");
    }

    #[test]
    fn placeholders_fill_and_paths_check() {
        assert_eq!(fill("envs/{env}/{app}-{env}.yaml", "api", "prod").unwrap(), "envs/prod/api-prod.yaml");
        assert!(fill("envs/}", "a", "b").is_err());
        for bad in ["", "/a", "a//b", "a/./b", "a/../b", "a\\b", "a/", "..", "a/\u{1}"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        check_path("envs/prod/api/values.yaml").unwrap();
    }
}
