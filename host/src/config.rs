//! `tollgate.yaml`: environments, applications and where their versions live, and policies.
//!
//! ```yaml
//! branch: main                       # branch holding desired state (default: main)
//! environments: [dev, test, prod]    # promotion order
//! allow_skip: [{ from: dev, to: prod }]   # pairs that may skip environments in between
//! applications:
//!   shop-api:
//!     image: registry.example.com/shop/api
//!     environments:
//!       dev:  { file: envs/dev/shop-api/values.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
//!       prod: { file: envs/prod/shop-api/deployment.yaml, manifest: { container: api } }
//!   shop-web:
//!     image: registry.example.com/shop/web
//!     environments:
//!       dev: { file: envs/dev/shop-web/kustomization.yaml, kustomize: {} }
//! policies:
//!   - name: change-window
//!     plugin: builtin:change-window       # or a path to a .wasm, optionally @sha256:<hex>
//!     environments: [prod]                # target environments (default: all)
//!     mode: enforce                       # enforce | monitor (monitor reports, never blocks)
//!     timeout_ms: 2000
//!     memory_mib: 64
//!     http_origins: [https://erp.example.com]
//!     credentials:                        # added by the host; the plugin never sees them
//!       https://erp.example.com: { bearer: { env: ERP_TOKEN } }
//!     config: { … }                       # the plugin's own configuration
//!     signers: [secteam@example.com]      # optional: the .wasm must carry a valid .wasm.sig by one of them
//! trust:                                  # optional, see crate::trust
//!   allowed_signers: .tollgate/allowed_signers
//!   environments:
//!     prod: { signed_approvals: true, signed_commits: true }
//! ```
//!
//! Every error names the file, line and column, the field, and what is allowed.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::credentials::OriginCredential;
use crate::manifest::Layout;
use crate::manifest::yaml::{Node, Scalar, parse_documents};
use crate::runtime::{Limits, PluginRef, origin_of};

/// The default file name at the repository root.
pub const CONFIG_FILE: &str = "tollgate.yaml";

/// A whole `tollgate.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tollgate.yaml")]
pub struct Config {
    /// Branch that holds the desired state.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Environments in promotion order.
    #[schemars(length(min = 1), inner(regex(pattern = r"^[A-Za-z0-9_-]+$")))]
    pub environments: Vec<String>,
    /// Environment pairs that may be promoted directly, skipping those in between.
    #[serde(default)]
    pub allow_skip: Vec<SkipRule>,
    /// Applications by name.
    pub applications: BTreeMap<String, Application>,
    /// Policies, run in this order.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    /// Let `promote` and `rollback` take `--at`, a decision time the requester chooses, more
    /// than five minutes from now (off by default: a requester could pick a time inside a
    /// change window). `plan` always takes `--at`. A chosen time is recorded and shown as
    /// `Tollgate-Requested-At` either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_requested_at: bool,
    /// Signatures required per environment, and the allowed signers that check them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<crate::trust::TrustConfig>,
}

fn default_branch() -> String {
    "main".to_string()
}

/// A pair of environments that may be promoted directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipRule {
    /// Source environment.
    pub from: String,
    /// Target environment.
    pub to: String,
}

/// An application: one image, or several named artifacts promoted together ([`artifacts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Image repository, e.g. `registry.example.com/shop/api` (with `artifacts`: the primary's).
    #[serde(default)]
    pub image: String,
    /// Where its version lives, per environment (with `artifacts`: the primary's first files).
    #[serde(default)]
    pub environments: BTreeMap<String, Location>,
    /// Several named artifacts (images) promoted together, instead of `image` and `environments`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, artifacts::ArtifactConfig>,
    /// With `artifacts`: the one WIT 0.1.0 plugins see as `artifact` (default: first by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
}

/// Where an application's version lives in one environment: a file and exactly one layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    { "required": ["helm"], "properties": { "helm": { "type": "object" } } },
    { "required": ["kustomize"], "properties": { "kustomize": { "type": "object" } } },
    { "required": ["manifest"], "properties": { "manifest": { "type": "object" } } },
]))]
pub struct Location {
    /// Repository-relative path of the file.
    pub file: String,
    /// A Helm values file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmLocation>,
    /// A Kustomize `kustomization.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizeLocation>,
    /// A raw manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestLocation>,
}

/// Helm values layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelmLocation {
    /// YAML path of the tag, e.g. `image.tag`.
    pub tag_path: String,
    /// YAML path of the digest, e.g. `image.digest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_path: Option<String>,
}

/// Kustomize layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KustomizeLocation {
    /// `name` of the `images:` entry (default: the application's image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Raw manifest layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestLocation {
    /// Container name.
    pub container: String,
}

/// Whether a policy's deny blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A deny (or failure) blocks the transition.
    #[default]
    Enforce,
    /// Reported, never blocks.
    Monitor,
}

/// One policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Name in reports (default: the plugin's own name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `builtin:NAME`, or a path to a .wasm (relative to the repository root), optionally `@sha256:HEX`.
    pub plugin: String,
    /// Target environments it applies to (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// enforce or monitor.
    #[serde(default)]
    pub mode: Mode,
    /// Time limit per evaluation in milliseconds (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
    /// Memory cap in MiB (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub memory_mib: Option<u64>,
    /// Origins `http-get` may reach, e.g. `https://erp.example.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_origins: Vec<String>,
    /// Principals (from the allowed signers) one of whom must have signed the plugin file
    /// (`FILE.wasm.sig`, made by `tollgate plugin sign`); empty: no signature required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<String>,
    /// Credentials the host adds to requests to a granted origin (origin → where to read the
    /// secret); the plugin never sees them. See [`crate::credentials`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, OriginCredential>,
    /// The plugin's own configuration (free-form; the plugin's `validate-config` checks it).
    #[serde(default)]
    #[schemars(with = "serde_json::Value")]
    pub config: serde_yaml::Value,
}

impl PolicyConfig {
    /// Whether the policy runs for transitions into `env`.
    pub fn applies_to(&self, env: &str) -> bool {
        self.environments.as_ref().is_none_or(|envs| envs.iter().any(|e| e == env))
    }

    /// The time and memory bounds.
    pub fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            timeout: self.timeout_ms.map_or(defaults.timeout, Duration::from_millis),
            memory_bytes: self
                .memory_mib
                .map_or(defaults.memory_bytes, crate::runtime::mib_to_bytes),
        }
    }

    /// The plugin config as JSON text.
    pub fn config_json(&self) -> String {
        let value = if self.config.is_null() { serde_yaml::Value::Mapping(Default::default()) } else { self.config.clone() };
        serde_json::to_string(&value).expect("Config::parse checked that the plugin config converts to JSON")
    }
}

impl Location {
    /// The layout, once validated to be exactly one.
    pub fn layout(&self, application_image: &str) -> Layout {
        if let Some(helm) = &self.helm {
            Layout::Helm { tag_path: helm.tag_path.clone(), digest_path: helm.digest_path.clone() }
        } else if let Some(kustomize) = &self.kustomize {
            Layout::Kustomize { image: kustomize.image.clone().unwrap_or_else(|| application_image.to_string()) }
        } else if let Some(manifest) = &self.manifest {
            Layout::Manifest { container: manifest.container.clone() }
        } else {
            unreachable!("Config::parse checks that every location has a layout")
        }
    }
}

/// A configuration error: where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ConfigProblem> for ConfigError {
    fn from(problem: ConfigProblem) -> Self {
        ConfigError(problem.to_string())
    }
}

/// A problem at a place in a configuration file, as data: `file:line:column: field: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// The file: the `--config` path, or `tollgate.yaml` when read from the repository.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field as a dotted path such as `policies.0.config`, when known.
    pub field: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Finds where fields are written in a configuration's text, for messages.
pub struct ConfigLocator<'a> {
    source: &'a str,
    text: &'a str,
    tree: Option<Node>,
}

impl<'a> ConfigLocator<'a> {
    /// A locator for `text`, the content of `source` (a path for messages).
    pub fn new(source: &'a str, text: &'a str) -> Self {
        let tree = parse_documents(text).ok().and_then(|documents| documents.into_iter().next());
        ConfigLocator { source, text, tree }
    }

    /// 1-based line and column of the key at `path` (sequence items by index, e.g.
    /// `["policies", "0", "config"]`); `None` when it is not written in the file.
    pub fn position(&self, path: &[&str]) -> Option<(usize, usize)> {
        let scalar = scalar_at(self.tree.as_ref()?, path)?;
        Some((scalar.line, self.column_of(scalar)))
    }

    /// A problem with the field at `path`. When the field is not written (a default), the
    /// place is that of the nearest enclosing field that is.
    pub fn problem(&self, path: &[&str], message: impl Into<String>) -> ConfigProblem {
        let position = (0..=path.len()).rev().find_map(|len| self.position(&path[..len]));
        ConfigProblem {
            file: self.source.to_string(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            field: (!path.is_empty()).then(|| path.join(".")),
            message: message.into(),
        }
    }

    fn column_of(&self, scalar: &Scalar) -> usize {
        let before = &self.text[..scalar.span.start.min(self.text.len())];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        before[line_start..].chars().count() + 1
    }
}

/// The JSON Schema (draft 2020-12) of `tollgate.yaml`, generated from [`Config`] and the
/// types it holds: doc comments are the descriptions, unknown fields are not allowed
/// (`additionalProperties: false`), and each policy's `config` is free-form.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).expect("a JSON Schema serialises to JSON")
}

impl Config {
    /// Parse and check `text`, the content of `source` (a path for messages).
    pub fn parse(source: &str, text: &str) -> Result<Config, ConfigError> {
        Config::parse_located(source, text).map_err(ConfigError::from)
    }

    /// [`Config::parse`], with the place of the problem as data.
    pub fn parse_located(source: &str, text: &str) -> Result<Config, ConfigProblem> {
        let config: Config = serde_yaml::from_str(text).map_err(|error| {
            let message = error.to_string();
            let location = error.location();
            ConfigProblem {
                file: source.to_string(),
                line: location.as_ref().map(|location| location.line()),
                column: location.as_ref().map(|location| location.column()),
                field: None,
                message: match location {
                    Some(_) => message.split(" at line ").next().unwrap_or(&message).to_string(),
                    None => message,
                },
            }
        })?;
        let (locator, mut config) = (ConfigLocator::new(source, text), config);
        config.check_and_fill_artifacts(&|path, message| locator.problem(path, message))?;
        config.check(&|path, message| locator.problem(path, message))?;
        Ok(config)
    }

    fn check(&self, at: &dyn Fn(&[&str], String) -> ConfigProblem) -> Result<(), ConfigProblem> {
        if self.environments.is_empty() {
            return Err(at(&["environments"], "list the environments in promotion order, e.g. [dev, test, prod]".into()));
        }
        for (index, env) in self.environments.iter().enumerate() {
            if env.is_empty() || !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(at(&["environments"], format!("{env:?} is not a valid name (letters, digits, - and _)")));
            }
            if self.environments[..index].contains(env) {
                return Err(at(&["environments"], format!("{env} is listed twice")));
            }
        }
        let known = |env: &str| self.environments.iter().any(|e| e == env);
        let allowed = || self.environments.join(", ");
        for rule in &self.allow_skip {
            for env in [&rule.from, &rule.to] {
                if !known(env) {
                    return Err(at(&["allow_skip"], format!("unknown environment {env}; environments are {}", allowed())));
                }
            }
        }
        crate::input::branch("branch", &self.branch).map_err(|error| at(&["branch"], error.message))?;
        if self.applications.is_empty() {
            return Err(at(&["applications"], "configure at least one application".into()));
        }
        for (name, application) in &self.applications {
            crate::input::identifier("applications", name).map_err(|error| at(&["applications", name], error.message))?;
            let image_valid = application.image.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | ':' | '-'));
            if application.image.is_empty() || !image_valid {
                return Err(at(
                    &["applications", name, "image"],
                    "give the image repository without tag or digest, e.g. registry.example.com/shop/api".into(),
                ));
            }
            for (env, location) in &application.environments {
                if !known(env) {
                    return Err(at(
                        &["applications", name, "environments", env],
                        format!("unknown environment {env}; environments are {}", allowed()),
                    ));
                }
                let layouts = [location.helm.is_some(), location.kustomize.is_some(), location.manifest.is_some()];
                if layouts.iter().filter(|set| **set).count() != 1 {
                    return Err(at(
                        &["applications", name, "environments", env],
                        "give exactly one of helm: {tag_path: …}, kustomize: {…} or manifest: {container: …}".into(),
                    ));
                }
                if let Some(helm) = &location.helm {
                    for path in std::iter::once(&helm.tag_path).chain(&helm.digest_path) {
                        crate::manifest::yaml::parse_path(path)
                            .map_err(|error| at(&["applications", name, "environments", env, "helm"], error))?;
                    }
                }
                if location.file.is_empty() || location.file.starts_with('/') || location.file.split('/').any(|p| p == "..") {
                    return Err(at(
                        &["applications", name, "environments", env, "file"],
                        format!("{:?} must be a path relative to the repository root", location.file),
                    ));
                }
            }
        }
        for (index, policy) in self.policies.iter().enumerate() {
            let index_text = index.to_string();
            let path = ["policies", index_text.as_str()];
            PluginRef::parse(&policy.plugin).map_err(|error| at(&[&path[..], &["plugin"]].concat(), error))?;
            if let Some(name) = &policy.name {
                crate::input::name("name", name, 100).map_err(|error| at(&[&path[..], &["name"]].concat(), error.message))?;
            }
            for env in policy.environments.iter().flatten() {
                if !known(env) {
                    return Err(at(
                        &[&path[..], &["environments"]].concat(),
                        format!("unknown environment {env}; environments are {}", allowed()),
                    ));
                }
            }
            for origin in &policy.http_origins {
                let normalised = origin_of(origin).map_err(|error| at(&[&path[..], &["http_origins"]].concat(), error))?;
                if normalised != origin.trim_end_matches('/') {
                    return Err(at(
                        &[&path[..], &["http_origins"]].concat(),
                        format!("{origin:?} is not a bare origin; write it as {normalised:?}"),
                    ));
                }
            }
            for (origin, credential) in &policy.credentials {
                crate::credentials::check(origin, credential, &policy.http_origins).map_err(|(field, message)| {
                    let mut place = vec![path[0], path[1], "credentials", origin.as_str()];
                    place.extend((!field.is_empty()).then_some(field));
                    at(&place, message)
                })?;
            }
            if let Err(error) = serde_json::to_string(&policy.config) {
                return Err(at(&[&path[..], &["config"]].concat(), format!("cannot be turned into JSON for the plugin ({error}); use string keys")));
            }
            if policy.timeout_ms == Some(0) || policy.memory_mib == Some(0) {
                return Err(at(&path, "timeout_ms and memory_mib must be greater than 0".into()));
            }
            if !policy.signers.is_empty() {
                let signers_path = [&path[..], &["signers"]].concat();
                if policy.plugin.starts_with("builtin:") {
                    return Err(at(&signers_path, "builtin plugins are part of the tollgate binary; signers: applies to .wasm files".into()));
                }
                if self.trust.as_ref().and_then(|trust| trust.allowed_signers.as_ref()).is_none() {
                    return Err(at(&signers_path, "name the allowed-signers file that lists them: trust: { allowed_signers: .tollgate/allowed_signers }".into()));
                }
                for principal in &policy.signers {
                    crate::trust::allowed_signers::check_literal_principal(principal).map_err(|error| at(&signers_path, error))?;
                }
            }
        }
        if let Some(trust) = &self.trust {
            trust.check(&self.environments, at)?;
        }
        Ok(())
    }

    /// The environment before `env` in promotion order.
    pub fn previous_env(&self, env: &str) -> Option<&str> {
        let index = self.environments.iter().position(|e| e == env)?;
        index.checked_sub(1).map(|previous| self.environments[previous].as_str())
    }

    /// Whether promoting directly from `from` to `to` is allowed by `allow_skip`.
    pub fn skip_allowed(&self, from: &str, to: &str) -> bool {
        self.allow_skip.iter().any(|rule| rule.from == from && rule.to == to)
    }
}

/// The key at `path` (for a sequence item: its first scalar), for messages.
fn scalar_at<'t>(tree: &'t Node, path: &[&str]) -> Option<&'t Scalar> {
    let mut node = tree;
    let mut found = None;
    for segment in path {
        match node {
            Node::Sequence(items) => {
                node = items.get(segment.parse::<usize>().ok()?)?;
                found = first_scalar(node).or(found);
            }
            _ => {
                let (key, value) = node.entry(segment)?;
                found = Some(key);
                node = value;
            }
        }
    }
    found
}

fn first_scalar(node: &Node) -> Option<&Scalar> {
    match node {
        Node::Scalar(scalar) => Some(scalar),
        Node::Mapping { entries, .. } => entries.first().and_then(|(key, _)| first_scalar(key)),
        Node::Sequence(items) => items.first().and_then(first_scalar),
        Node::Alias => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "environments: [dev, test, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: { file: envs/dev/values.yaml, helm: { tag_path: image.tag } }\n      prod:\n        file: envs/prod/kustomization.yaml\n        kustomize: {}\npolicies:\n  - plugin: builtin:change-window\n    environments: [prod]\n    config: { default: {} }\n";

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
        assert!(error.contains("unknown field `tag_pth`, expected `tag_path` or `digest_path`"), "{error}");
    }

    #[test]
    fn semantic_errors_name_the_line_and_field() {
        let text = GOOD.replace("      dev: {", "      qa: {");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert_eq!(error, "tollgate.yaml:6:7: applications.shop-api.environments.qa: unknown environment qa; environments are dev, test, prod");
        let text = GOOD.replace("        kustomize: {}\n", "");
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
        assert_eq!(schema["properties"]["environments"]["description"], "Environments in promotion order.");
        let policy = &schema["$defs"]["PolicyConfig"];
        assert_eq!(policy["additionalProperties"], false);
        // The plugin's config is free-form: no type, only a description.
        let config = policy["properties"]["config"].as_object().unwrap();
        assert!(config.keys().all(|key| key == "description" || key == "default"), "{config:?}");
        assert_eq!(schema["$defs"]["HelmLocation"]["additionalProperties"], false);
        assert_eq!(schema["$defs"]["Location"]["oneOf"].as_array().unwrap().len(), 3);
    }
}

pub mod artifacts;

#[cfg(test)]
mod mutations;
