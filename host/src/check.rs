//! `tollgate check-config`: validate a configuration without planning anything.
//!
//! In order:
//!
//! 1. the configuration parses (types, unknown fields) and passes the semantic checks of
//!    [`Config::parse`] (environment names, references to environments, layouts, plugin
//!    references, origins, limits); this step stops at the first problem;
//! 2. the branch exists, and each application's file exists on its tip and holds a version
//!    where the layout says;
//! 3. every policy's plugin loads (reference, pin, component, WIT world) and describes itself;
//! 4. every plugin accepts its configuration (`validate-config`);
//! 5. capabilities granted match those requested: origins granted to a plugin that does not
//!    ask for `http-get`, or a plugin asking for `http-get` with no origin granted, are warnings;
//! 6. the trust configuration: the allowed-signers file exists on the branch and parses, and
//!    every plugin whose policy names `signers:` carries a valid signature by one of them.
//!
//! Each problem names the file, line and column of the field where it is written (or of the
//! nearest enclosing field when the field is a default), the field, and what to do.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::{Config, ConfigLocator, ConfigProblem};
use crate::promotion::workspace::{Workspace, read_config};
use crate::promotion::judge::resolve_plugin;
use crate::repo::GitRepo;
use crate::report::JSON_SCHEMA_VERSION;
use crate::runtime::{Capability, Runtime};

mod locations;
pub use locations::MissingFile;

/// Output formats of `check-config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// For people: one line per problem (`file:line:column: error: field: message`).
    Text,
    /// One JSON document with a schema_version.
    Json,
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration is not usable as it is.
    Error,
    /// Usable, but probably not what was meant.
    Warning,
}

/// One problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// File, line, column, field and message.
    #[serde(flatten)]
    pub place: ConfigProblem,
}

/// An application's file that holds a version where the layout says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedLocation {
    /// Application.
    pub application: String,
    /// Environment.
    pub environment: String,
    /// The file.
    pub file: String,
    /// The version it holds.
    pub version: String,
    /// The digest, when it records one.
    pub digest: Option<String>,
}

/// A policy whose plugin loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedPolicy {
    /// Its place in the configuration, e.g. `policies.0`.
    pub field: String,
    /// The plugin reference as configured.
    pub plugin: String,
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// sha256 of the component.
    pub sha256: String,
    /// Capabilities it asks for.
    pub capabilities: Vec<Capability>,
    /// Origins granted to its http-get.
    pub http_origins: Vec<String>,
    /// Credentials the host attaches, by origin: where each is read from, never the secret.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub credentials: std::collections::BTreeMap<String, String>,
    /// Whether `validate-config` accepted its configuration.
    pub config_accepted: bool,
}

/// Everything `check-config` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The configuration checked: a path, or `tollgate.yaml` when read from the repository.
    pub config: String,
    /// The branch holding desired state, once the configuration parsed.
    pub branch: Option<String>,
    /// Its tip, when it exists.
    pub commit: Option<String>,
    /// Every problem, errors and warnings, in the order found.
    pub problems: Vec<Problem>,
    /// The application files that hold a version where the layout says.
    pub locations: Vec<CheckedLocation>,
    /// Every file a location resolves to that does not exist on the branch (each is also an
    /// error in `problems`), with where its template or path is written.
    pub missing_files: Vec<MissingFile>,
    /// The policies whose plugin loaded.
    pub policies: Vec<CheckedPolicy>,
}

impl CheckReport {
    fn new(config: &str) -> Self {
        CheckReport { config: config.to_string(), branch: None, commit: None, problems: Vec::new(), locations: Vec::new(), missing_files: Vec::new(), policies: Vec::new() }
    }

    /// Valid: no errors (warnings allowed).
    pub fn valid(&self) -> bool {
        self.errors() == 0
    }

    /// How many errors.
    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|problem| problem.severity == Severity::Error).count()
    }

    /// How many warnings.
    pub fn warnings(&self) -> usize {
        self.problems.iter().filter(|problem| problem.severity == Severity::Warning).count()
    }

    fn error(&mut self, place: ConfigProblem) {
        self.problems.push(Problem { severity: Severity::Error, place });
    }

    fn warning(&mut self, place: ConfigProblem) {
        self.problems.push(Problem { severity: Severity::Warning, place });
    }
}

/// Open the repository at `repo_path`, read its configuration (`config_path` on disk, else
/// `tollgate.yaml` at HEAD) and [`check_config`] it. Problems opening the repository or
/// reading and parsing the configuration are reported like any other.
pub fn check_repository(repo_path: &Path, config_path: Option<&Path>, protected_branch: Option<&str>, runtime: Runtime) -> CheckReport {
    let name = config_path.map_or_else(|| crate::config::CONFIG_FILE.to_string(), |path| path.display().to_string());
    let unplaced = |message: String| ConfigProblem { file: name.clone(), line: None, column: None, field: None, message };
    let mut report = CheckReport::new(&name);
    let repo = match GitRepo::open(repo_path) {
        Ok(repo) => repo,
        Err(error) => {
            report.error(ConfigProblem { file: repo_path.display().to_string(), ..unplaced(error.0) });
            return report;
        }
    };
    let (source, text) = match read_config(&repo, config_path, protected_branch) {
        Ok(config) => config,
        Err(failure) => {
            report.error(unplaced(failure.message));
            return report;
        }
    };
    let config = match Config::parse_located(&source, &text) {
        Ok(config) => config,
        Err(problem) => {
            report.error(problem);
            return report;
        }
    };
    // The lockfile that goes with this configuration pins its oci:// plugins.
    match crate::registry::Lockfile::at_head(&repo, config_path) {
        Ok(lock) => runtime.registry().set_lockfile(lock),
        Err(message) => {
            report.error(unplaced(message));
            return report;
        }
    }
    let workdir_config = repo.workdir().map(|workdir| workdir.join(crate::config::CONFIG_FILE));
    let branch = protected_branch.map(str::to_string).or_else(|| crate::promotion::workspace::default_protected_branch(&repo).ok());
    let mut report = check_config(&Workspace::new(repo, config, runtime), &source, &text);
    // What is checked is what judges promotions, never the file being edited: say so when they differ.
    if config_path.is_none()
        && let Some(local_path) = workdir_config
        && let Ok(local) = std::fs::read_to_string(&local_path)
        && local != text
    {
        let branch = branch.map_or_else(|| "the protected branch".to_string(), |branch| format!("branch {branch}"));
        report.warning(unplaced(format!(
            "{} in the working tree differs from the one checked here (on {branch}, which judges promotions); \
             to check your edits, run: tollgate check-config --config {}",
            local_path.display(),
            local_path.display()
        )));
    }
    report
}

/// Check an opened workspace whose configuration is `text`, read from `source` (used for
/// the line and column of each problem): application files on the branch tip, plugin
/// loading, each plugin's `validate-config`, and capabilities granted against requested.
pub fn check_config(workspace: &Workspace, source: &str, text: &str) -> CheckReport {
    let locator = ConfigLocator::new(source, text);
    let config = &workspace.config;
    let mut report = CheckReport::new(source);
    report.branch = Some(config.branch.clone());

    match workspace.tip() {
        Err(failure) => report.error(locator.problem(&["branch"], failure.message)),
        Ok(tip) => {
            report.commit = Some(tip.commit.to_string());
            locations::check_locations(workspace, &tip, &locator, &mut report);
        }
    }

    // The allowed signers exist on the branch and parse (principals well-formed, options known).
    if config.trust.as_ref().is_some_and(|trust| trust.allowed_signers.is_some())
        && let Err(error) = crate::trust::load_allowed_signers(&workspace.repo, config)
    {
        report.error(locator.problem(&["trust", "allowed_signers"], error));
    }

    for (position, policy) in config.policies.iter().enumerate() {
        let index = position.to_string();
        let at = |leaf: &'static str| ["policies", index.as_str(), leaf];
        let reference = match resolve_plugin(&policy.plugin, &workspace.base_dir) {
            Ok(reference) => reference,
            Err(error) => {
                report.error(locator.problem(&at("plugin"), error));
                continue;
            }
        };
        let plugin = match workspace.runtime.load(&reference) {
            Ok(plugin) => plugin,
            Err(error) => {
                report.error(locator.problem(&at("plugin"), error.message));
                continue;
            }
        };
        if !policy.signers.is_empty() {
            let signature = workspace
                .tip()
                .map_err(|failure| failure.message)
                .and_then(|tip| workspace.repo.proposed_tree(tip.tree, Default::default()).map_err(|error| error.0))
                .and_then(|files| crate::trust::plugin_signature::check_policy(config, &files, workspace.runtime.registry(), &reference, &plugin, &policy.signers));
            if let Err(error) = signature {
                report.error(locator.problem(&at("signers"), error));
            }
        }
        let info = match plugin.info(policy.limits()) {
            Ok(info) => info,
            Err(cause) => {
                report.error(locator.problem(&at("plugin"), format!("plugin {}: its info() failed: {cause}", plugin.source())));
                continue;
            }
        };
        let accepted = plugin.validate_config(&policy.config_json(), &policy.environment_names, policy.limits());
        if let Err(message) = &accepted {
            report.error(locator.plugin_refusal(position, &info.name, &message.to_string()));
        }
        // A secret the host cannot read now would fail the policy closed at plan time.
        if let Err(cause) = crate::credentials::resolve(&policy.credentials) {
            report.error(locator.problem(&at("credentials"), cause));
        }
        let asks_http = info.capabilities.contains(&Capability::HttpGet);
        if asks_http && policy.http_origins.is_empty() {
            report.warning(locator.problem(
                &at("http_origins"),
                format!(
                    "{} asks for http-get, but no origin is granted, so any request it makes will be refused \
                     (fine if this configuration makes none); to allow some, grant them, e.g. http_origins: [https://erp.example.com]",
                    info.name
                ),
            ));
        }
        if !asks_http && !policy.http_origins.is_empty() {
            report.warning(locator.problem(
                &at("http_origins"),
                format!("{} does not ask for http-get, so the origins granted here are never used; remove them", info.name),
            ));
        }
        report.policies.push(CheckedPolicy {
            field: format!("policies.{index}"),
            plugin: policy.plugin.clone(),
            name: info.name.clone(),
            version: info.version.clone(),
            sha256: plugin.sha256().to_string(),
            capabilities: info.capabilities.clone(),
            http_origins: policy.http_origins.clone(),
            credentials: policy.credentials.iter().map(|(origin, credential)| (origin.clone(), crate::credentials::describe(credential))).collect(),
            config_accepted: accepted.is_ok(),
        });
    }
    // `tollgate watch` reads its credentials as a policy does: one it cannot read now is an error.
    if let Some(health) = &config.health
        && let Err(cause) = crate::credentials::resolve(&health.credentials)
    {
        report.error(locator.problem(&["health", "credentials"], cause));
    }
    report
}

#[derive(Serialize)]
struct CheckDocument<'a> {
    schema_version: u32,
    valid: bool,
    errors: usize,
    warnings: usize,
    #[serde(flatten)]
    report: &'a CheckReport,
}

/// Render a report: `text` ends with `valid`, `valid (N warnings)` or `invalid: N errors, M warnings`.
pub fn render(report: &CheckReport, format: CheckFormat) -> String {
    match format {
        CheckFormat::Json => {
            let document = CheckDocument {
                schema_version: JSON_SCHEMA_VERSION,
                valid: report.valid(),
                errors: report.errors(),
                warnings: report.warnings(),
                report,
            };
            let mut text = serde_json::to_string_pretty(&document).expect("the check report serialises to JSON");
            text.push('\n');
            text
        }
        CheckFormat::Text => {
            let mut out = String::new();
            if let Some(branch) = &report.branch {
                let at = report.commit.as_deref().map(|commit| format!(" at {}", &commit[..12.min(commit.len())])).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "checked {}: branch {branch}{at}, {} application {} with a version, {} {} loaded",
                    report.config,
                    report.locations.len(),
                    plural(report.locations.len(), "file", "files"),
                    report.policies.len(),
                    plural(report.policies.len(), "policy", "policies"),
                );
            }
            for policy in &report.policies {
                let capabilities = crate::report::capability_list(&policy.capabilities);
                let _ = writeln!(
                    out,
                    "  {:<11} {} {} (sha256:{}), capabilities: {capabilities}, config {}",
                    policy.field,
                    policy.name,
                    policy.version,
                    &policy.sha256[..12.min(policy.sha256.len())],
                    if policy.config_accepted { "accepted" } else { "rejected" }
                );
            }
            for problem in &report.problems {
                let _ = writeln!(out, "{}", describe(problem));
            }
            let (errors, warnings) = (report.errors(), report.warnings());
            let _ = match (errors, warnings) {
                (0, 0) => writeln!(out, "valid"),
                (0, warnings) => writeln!(out, "valid ({warnings} {})", plural(warnings, "warning", "warnings")),
                (errors, warnings) => writeln!(
                    out,
                    "invalid: {errors} {}, {warnings} {}",
                    plural(errors, "error", "errors"),
                    plural(warnings, "warning", "warnings")
                ),
            };
            out
        }
    }
}

/// `file:line:column: error: field: message`, the form editors and CI problem matchers read.
pub fn describe(problem: &Problem) -> String {
    let place = &problem.place;
    let mut text = place.file.clone();
    if let Some(line) = place.line {
        let _ = write!(text, ":{line}");
        if let Some(column) = place.column {
            let _ = write!(text, ":{column}");
        }
    }
    let severity = match problem.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = write!(text, ": {severity}: ");
    if let Some(field) = &place.field {
        let _ = write!(text, "{field}: ");
    }
    text.push_str(&place.message);
    text
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> Runtime {
        Runtime::new(None).unwrap()
    }

    /// A repository whose HEAD holds `files`.
    fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("main");
        let repo = git2::Repository::init_opts(dir.path(), &options).unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let mut index = repo.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let signature = git2::Signature::now("t", "t@example.com").unwrap();
        repo.commit(Some("HEAD"), &signature, &signature, "initial", &tree, &[]).unwrap();
        dir
    }

    const VALUES: &str = "image:\n  tag: \"1.4.1\"\n";

    #[test]
    fn a_good_configuration_is_valid_and_lists_what_it_checked() {
        let config = "environments: [dev, prod]\napplications:\n  api:\n    image: r/api\n    environments:\n      dev: { file: dev.yaml, helm: { tag_path: image.tag } }\n      prod: { file: prod.yaml, helm: { tag_path: image.tag } }\npolicies:\n  - plugin: builtin:approval-count\n    environments: [prod]\n    config: { environments: { prod: { required: 2 } } }\n";
        let dir = repository(&[("tollgate.yaml", config), ("dev.yaml", VALUES), ("prod.yaml", VALUES)]);
        let report = check_repository(dir.path(), None, None, runtime());
        assert!(report.valid(), "{report:?}");
        assert_eq!(report.problems, []);
        assert_eq!(report.locations.len(), 2);
        assert_eq!(report.locations[1].version, "1.4.1");
        assert_eq!(report.policies[0].name, "approval-count");
        let text = render(&report, CheckFormat::Text);
        assert!(text.starts_with("checked tollgate.yaml: branch main at "), "{text}");
        assert!(text.ends_with("\nvalid\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&report, CheckFormat::Json)).unwrap();
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["valid"], true);
        assert_eq!(json["policies"][0]["config_accepted"], true);
    }

    #[test]
    fn every_problem_names_file_line_column_and_field() {
        let config = "environments: [dev, prod]\napplications:\n  api:\n    image: r/api\n    environments:\n      dev: { file: dev.yaml, helm: { tag_path: image.tag } }\n      prod: { file: missing.yaml, helm: { tag_path: image.tag } }\n  web:\n    image: r/web\n    environments:\n      dev: { file: dev.yaml, kustomize: {} }\npolicies:\n  - plugin: builtin:approval-count\n    config: { environments: { prod: { required: lots } } }\n  - plugin: builtin:change-window\n    http_origins: [https://erp.example.com]\n  - plugin: builtin:erp-readiness\n  - plugin: policies/nowhere.wasm\n";
        let dir = repository(&[("tollgate.yaml", config), ("dev.yaml", VALUES)]);
        let report = check_repository(dir.path(), None, None, runtime());
        assert!(!report.valid());
        let lines: Vec<String> = report.problems.iter().map(describe).collect();
        let expect = [
            "tollgate.yaml:7:15: error: applications.api.environments.prod.file: missing.yaml does not exist on branch main (",
            "tollgate.yaml:11:30: error: applications.web.environments.dev.kustomize: dev.yaml has no `images:` entry with name r/web; to let the first promotion add one",
            // Placed at the field the plugin names, inside its config.
            "tollgate.yaml:14:39: error: policies.0.config.environments.prod.required: approval-count does not accept this configuration: invalid type: string \"lots\", expected u32",
            // No config: the place is the policy's.
            "tollgate.yaml:15:5: error: policies.1.config: change-window does not accept this configuration: ",
            "tollgate.yaml:16:5: warning: policies.1.http_origins: change-window does not ask for http-get",
            "tollgate.yaml:17:5: error: policies.2.config: erp-readiness does not accept this configuration: ",
            "tollgate.yaml:17:5: warning: policies.2.http_origins: erp-readiness asks for http-get, but no origin is granted",
            "tollgate.yaml:18:5: error: policies.3.plugin: plugin ",
        ];
        assert_eq!(lines.len(), expect.len(), "{lines:#?}");
        for (line, expect) in lines.iter().zip(expect) {
            assert!(line.starts_with(expect), "{line}\n  does not start with\n{expect}");
        }
        assert!(lines[7].contains("nowhere.wasm: cannot read it"), "{}", lines[7]);
        // The missing file is also listed as data, with the place of its (literal) path.
        let missing = &report.missing_files;
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!((missing[0].file.as_str(), missing[0].field.as_str(), missing[0].from_template), ("missing.yaml", "applications.api.environments.prod.file", false));
        assert_eq!((missing[0].line, missing[0].column), (Some(7), Some(15)));
        assert_eq!(report.policies.iter().map(|policy| policy.config_accepted).collect::<Vec<_>>(), [false, false, false]);
        let text = render(&report, CheckFormat::Text);
        assert!(text.ends_with("\ninvalid: 6 errors, 2 warnings\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&report, CheckFormat::Json)).unwrap();
        assert_eq!((json["valid"].clone(), json["errors"].clone(), json["warnings"].clone()), (false.into(), 6.into(), 2.into()));
        assert_eq!(json["problems"][2]["line"], 14);
        assert_eq!(json["problems"][2]["column"], 39);
        assert_eq!(json["problems"][2]["field"], "policies.0.config.environments.prod.required");
        assert_eq!(json["problems"][2]["severity"], "error");
    }

    #[test]
    fn a_typo_in_a_per_environment_key_is_an_error_at_its_line_and_column() {
        let config = "environments: [qa, { name: staging-us, upstream: qa }, prod-us]\napplications:\n  api:\n    image: r/api\n    environments:\n      qa: { file: dev.yaml, helm: { tag_path: image.tag } }\npolicies:\n  - plugin: builtin:approval-count\n    environments: [prod-us]\n    config:\n      environments:\n        prod: { required: 2 }\n  - plugin: builtin:change-window\n    config: { environments: { prod-us: { timezone: UTC, windows: [{ days: [mon], start: \"09:00\", end: \"17:00\" }] } } }\n";
        let dir = repository(&[("tollgate.yaml", config), ("dev.yaml", VALUES)]);
        let report = check_repository(dir.path(), None, None, runtime());
        let lines: Vec<String> = report.problems.iter().map(describe).collect();
        assert_eq!(
            lines,
            [
                "tollgate.yaml:12:9: error: policies.0.config.environments.prod: approval-count does not accept this configuration: \
                 no environment is called prod; the environments of tollgate.yaml are qa, staging-us, prod-us (a misspelt name would switch these rules off)",
                "tollgate.yaml:14:5: error: policies.1.config: change-window does not accept this configuration: no rules for qa, staging-us, \
                 where this policy runs (neither an entry under environments nor a default); add an entry for each (or a default), \
                 or run the policy only where it has rules with `environments: [prod-us]` on the policy in tollgate.yaml",
            ]
        );
    }

    #[test]
    fn a_configuration_that_does_not_parse_is_one_error() {
        let config = "environments: [dev]\napplications:\n  api:\n    image: r/api\n    environments:\n      dev: { file: dev.yaml, helm: { tag_pth: image.tag } }\n";
        let dir = repository(&[("tollgate.yaml", config), ("dev.yaml", VALUES)]);
        let report = check_repository(dir.path(), None, None, runtime());
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.branch, None);
        let text = render(&report, CheckFormat::Text);
        assert!(text.starts_with("tollgate.yaml:6:"), "{text}");
        assert!(text.contains(": error: applications.api.environments.dev.helm: unknown field `tag_pth`"), "{text}");
        assert!(text.ends_with("\ninvalid: 1 error, 0 warnings\n"), "{text}");
    }

    #[test]
    fn a_missing_branch_is_reported_on_the_branch_field() {
        let config = "branch: live\nenvironments: [dev]\napplications:\n  api:\n    image: r/api\n    environments:\n      dev: { file: dev.yaml, helm: { tag_path: image.tag } }\n";
        let dir = repository(&[("tollgate.yaml", config), ("dev.yaml", VALUES)]);
        let report = check_repository(dir.path(), None, None, runtime());
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(describe(&report.problems[0]).starts_with("tollgate.yaml:1:1: error: branch: branch live does not exist"), "{:?}", report.problems);
    }
}
