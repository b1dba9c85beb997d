//! `tollgate.yaml`: environments, applications and where their versions live, and policies.
//!
//! ```yaml
//! branch: main                       # branch holding desired state (default: main)
//! environments: [dev, test, prod]    # a chain; or a graph, see crate::config::graph
//! allow_skip: [{ from: dev, to: prod }]   # pairs that may skip environments in between
//! defaults: { file: "envs/{env}/{app}/values.yaml", helm: { tag_path: image.tag } }  # see templates
//! applications:
//!   shop-api:
//!     image: registry.example.com/shop/api
//!     skip: [test]                       # environments it does not run in (with a file template)
//!     discover: { semver: ">=1.4, <2" }  # where new versions come from (its registry's tags), see discover
//!     defaults: { … }                    # this application's own file template and/or layout
//!     environments:
//!       dev:  { file: envs/dev/shop-api/values.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
//!       prod: { file: envs/prod/shop-api/deployment.yaml, manifest: { container: api } }
//!       # a location may live on a branch of its own: { branch: environment/prod, file: … }
//!       # (or, for every environment, defaults: { branch: "environment/{env}", … })
//!       # helm/kustomize take `insert: true`: the first promotion adds a missing key (manifest::insert)
//!   shop-web:
//!     image: registry.example.com/shop/web
//!     environments:
//!       dev: { file: envs/dev/shop-web/kustomization.yaml, kustomize: {} }
//!   shop-chart:                          # a Helm chart (or git: { url: … }) instead of an image, see kinds
//!     chart: { repository: oci://registry.example.com/charts, name: shop }
//!     environments:
//!       dev: { file: envs/dev/shop/Chart.yaml, chart_dependency: { name: shop } }
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
//! health:                                 # optional: where `tollgate watch` looks, see health
//!   argocd: { url: https://argocd.example.com, application: "{app}-{env}" }
//!   alertmanager: { url: https://alertmanager.example.com, matchers: ['app="{app}"'] }
//! trust:                                  # optional, see the trust module
//!   allowed_signers: .tollgate/allowed_signers
//!   environments:
//!     prod: { signed_approvals: true, signed_commits: true }
//! ```
//!
//! Every error names the file, line and column, the field, and what is allowed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod graph;
pub mod locator;

pub use graph::{EnvGraph, EnvironmentEntry, EnvironmentSpec, Environments, Require};
pub use locator::{ConfigLocator, ConfigProblem, ConfigText};

use crate::credentials::OriginCredential;
use crate::manifest::Layout;
use crate::runtime::{Limits, PluginRef, PolicyEnvironments, origin_of};

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
    /// Environments: a list of names is a chain in promotion order; an entry may instead
    /// name its upstream(s): `{ name: prod-eu, upstream: staging-eu }`, or several with
    /// `upstreams: [a, b]` and `require: all|any`.
    pub environments: Environments,
    /// Environment pairs that may be promoted directly, skipping those in between.
    #[serde(default)]
    pub allow_skip: Vec<SkipRule>,
    /// Where versions live unless an application or environment says otherwise: a `file`
    /// template (`{app}` and `{env}` are filled in) and a layout. See [`templates`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Location>,
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
    pub trust: Option<trust::TrustConfig>,
    /// Where `tollgate watch` reads a promotion's sync, health and alerts. See [`health`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<health::HealthConfig>,
    /// The text it was read from (set when loading), to place problems plugins find.
    #[serde(skip)]
    pub text: ConfigText,
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
    /// Image repository, e.g. `registry.example.com/shop/api` (with `artifacts`: the primary's;
    /// with `chart` or `git`: their identifier, see [`kinds`]).
    #[serde(default)]
    pub image: String,
    /// A Helm chart, instead of an image. See [`kinds`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<kinds::ChartSource>,
    /// A Git repository's revisions, instead of an image. See [`kinds`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<kinds::GitSource>,
    /// This application's defaults for its environments (a `file` template and/or a layout),
    /// over the top-level `defaults`. See [`templates`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Location>,
    /// Environments it does not run in (when a file template would otherwise place it there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
    /// Where its version lives, per environment. After loading, every environment it runs in
    /// has a complete location here (defaults and templates resolved; with `artifacts`: the
    /// primary's first files).
    #[serde(default)]
    pub environments: BTreeMap<String, Location>,
    /// Several named artifacts (images) promoted together, instead of `image` and `environments`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, artifacts::ArtifactConfig>,
    /// With `artifacts`: the one WIT 0.1.0 plugins see as `artifact` (default: first by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Where new versions come from: the image's registry tags this rule admits
    /// (`tollgate versions`, `promote --latest`). See [`discover`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discover: Option<discover::Discovery>,
    /// What it promotes (with `artifacts`: the primary's), set when loading.
    #[serde(skip)]
    pub source: kinds::ArtifactSource,
}

/// Where an application's version lives in one environment: a file and exactly one layout.
/// As written, either may be left to a `defaults` (see [`templates`]); once loaded, both are set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = kinds::at_most_one_layout)]
pub struct Location {
    /// Repository-relative path of the file; `{app}` and `{env}` are filled in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// The branch that holds the file, for repositories that keep each environment on a
    /// branch of its own (GitOps Promoter's `environment/dev`, …); `{app}` and `{env}` are
    /// filled in. Default: the top-level `branch`. Once loaded, always set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    /// A Helm values file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmLocation>,
    /// A Kustomize `kustomization.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizeLocation>,
    /// A raw manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestLocation>,
    /// A chart's version in a Chart.yaml `dependencies:` entry. See [`kinds`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_dependency: Option<kinds::ChartDependencyLocation>,
    /// A chart's version or a Git revision in an Argo CD `Application`'s
    /// `spec.source.targetRevision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd: Option<kinds::ArgoCdLocation>,
    /// A chart's version in a Flux `HelmRelease`'s `spec.chart.spec.version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_release: Option<kinds::HelmReleaseLocation>,
    /// A Git revision in a kustomization's remote `resources:` entry (`?ref=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize_remote: Option<kinds::KustomizeRemoteLocation>,
    /// Where the file and layout were written in the configuration (set when loading).
    #[serde(skip)]
    pub origin: templates::LocationOrigin,
    /// The artifact whose version it holds: an image, chart or Git repository (set when loading).
    #[serde(skip)]
    pub source: kinds::ArtifactSource,
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
    /// Let the first promotion add the keys when the file does not hold them yet (an overlay
    /// that inherits the tag from a base values file). See [`crate::manifest::insert`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insert: bool,
}

/// Kustomize layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KustomizeLocation {
    /// `name` of the `images:` entry (default: the application's image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Let the first promotion add an `images:` entry when the file has none for the image.
    /// See [`crate::manifest::insert`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insert: bool,
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
    /// What `policy-environments` tells its plugin (set when loading; see [`EnvGraph::policy_environments`]).
    #[serde(skip)]
    pub environment_names: PolicyEnvironments,
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
    /// Whether the first promotion may add the version's place when the file lacks it
    /// (`insert: true` on the Helm or Kustomize layout).
    pub fn inserts_missing(&self) -> bool {
        self.helm.as_ref().is_some_and(|helm| helm.insert) || self.kustomize.as_ref().is_some_and(|kustomize| kustomize.insert)
    }

    /// The layout, once validated to be exactly one.
    pub fn layout(&self, application_image: &str) -> Layout {
        if let Some(helm) = &self.helm {
            Layout::Helm { tag_path: helm.tag_path.clone(), digest_path: helm.digest_path.clone() }
        } else if let Some(kustomize) = &self.kustomize {
            Layout::Kustomize { image: kustomize.image.clone().unwrap_or_else(|| application_image.to_string()) }
        } else if let Some(manifest) = &self.manifest {
            Layout::Manifest { container: manifest.container.clone() }
        } else if let Some(layout) = self.source_layout() {
            layout
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

/// The JSON Schema (draft 2020-12) of `tollgate.yaml`, generated from [`Config`] and the
/// types it holds: doc comments are the descriptions, unknown fields are not allowed
/// (`additionalProperties: false`), and each policy's `config` is free-form.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).expect("a JSON Schema serialises to JSON")
}

impl Config {
    /// Parse and check `text`, the content of `source` (a path for messages).
    ///
    /// Remembers the last few texts it parsed whole: a long-lived process (`serve`,
    /// `plan-batch`) reads the same configuration, at the branch tip and at the commits history
    /// reads (each under a name saying which commit), for every request. A configuration that
    /// parses is a function of its text alone but for the name it carries for messages
    /// (`text.name`), which is set to `source`; a problem names `source` in its message, so it
    /// is not remembered.
    pub fn parse(source: &str, text: &str) -> Result<Config, ConfigError> {
        Config::parse_shared(source, text).map(Arc::unwrap_or_clone)
    }

    /// [`Config::parse`], shared: a remembered configuration read again under the name it
    /// was remembered with is not copied.
    pub fn parse_shared(source: &str, text: &str) -> Result<Arc<Config>, ConfigError> {
        static PARSED: crate::repo::memo::Memo<String, Arc<Config>> = crate::repo::memo::Memo::new(8);
        let key = text.to_string();
        if let Some(mut config) = PARSED.get(&key) {
            if config.text.name != source {
                Arc::make_mut(&mut config).text.name = source.to_string();
            }
            return Ok(config);
        }
        let config = Arc::new(Config::parse_located(source, text).map_err(ConfigError::from)?);
        PARSED.put(key, Arc::clone(&config));
        Ok(config)
    }

    /// [`Config::parse`], with the place of the problem as data.
    pub fn parse_located(source: &str, text: &str) -> Result<Config, ConfigProblem> {
        let config: Config = serde_yaml::from_str(text).map_err(|error| {
            let message = error.to_string();
            let location = error.location();
            // The parser places problems found at the end of a file without a final line break
            // on the line after it (found by fuzzing): name the end of the last line instead.
            let (line, column) = match &location {
                Some(location) => {
                    // Lines as YAML counts them: CR LF, a lone CR and LF each end one.
                    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
                    let lines: Vec<&str> = normalized.split('\n').collect();
                    match lines.len() {
                        count if location.line() > count => (Some(count), Some(lines[count - 1].chars().count() + 1)),
                        _ => (Some(location.line()), Some(location.column())),
                    }
                }
                None => (None, None),
            };
            ConfigProblem {
                file: source.to_string(),
                line,
                column,
                field: None,
                message: match &location {
                    Some(_) => {
                        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                        message + &templates::flow_hint(text, line.unwrap_or(1))
                    }
                    None => message,
                },
            }
        })?;
        let locator = ConfigLocator::new(source, text);
        let at = |path: &[&str], message| locator.problem(path, message);
        let mut config = config;
        templates::resolve(&mut config, &at)?;
        config.check_and_fill_artifacts(&at)?;
        config.check(&at)?;
        templates::fill_branches(&mut config);
        let graph = config.environments.graph();
        for policy in &mut config.policies {
            policy.environment_names = graph.policy_environments(|env| policy.applies_to(env));
        }
        config.text = ConfigText { name: source.to_string(), text: text.into() };
        Ok(config)
    }

    fn check(&self, at: &dyn Fn(&[&str], String) -> ConfigProblem) -> Result<(), ConfigProblem> {
        graph::check(&self.environments).map_err(|(path, message)| at(&path.iter().map(String::as_str).collect::<Vec<_>>(), message))?;
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
            let kind = application.source.kind();
            if kind.is_image() && (application.image.is_empty() || !image_valid) {
                return Err(at(
                    &["applications", name, "image"],
                    "give the image repository without tag or digest, e.g. registry.example.com/shop/api".into(),
                ));
            }
            if let Some(discovery) = &application.discover {
                if !application.artifacts.is_empty() {
                    return Err(at(
                        &["applications", name, "discover"],
                        format!("an application of several artifacts discovers each one's versions on its own: put `discover:` on each artifact under applications.{name}.artifacts"),
                    ));
                }
                discovery.compile_for(kind).map_err(|(key, message)| at(&["applications", name, "discover", key], message))?;
            }
            for (env, location) in &application.environments {
                if !known(env) {
                    return Err(at(
                        &["applications", name, "environments", env],
                        format!("unknown environment {env}; environments are {}", allowed()),
                    ));
                }
                if kinds::layout_key(location).is_none() {
                    return Err(at(&["applications", name, "environments", env], kinds::ONE_LAYOUT.into()));
                }
                kinds::check_layout_kind(location, kind).map_err(|(key, message)| at(&["applications", name, "environments", env, key], message))?;
                if let Some(helm) = &location.helm {
                    for path in std::iter::once(&helm.tag_path).chain(&helm.digest_path) {
                        crate::manifest::yaml::parse_path(path)
                            .map_err(|error| at(&["applications", name, "environments", env, "helm"], error))?;
                    }
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
                    crate::input::literal_principal(principal).map_err(|error| at(&signers_path, error))?;
                }
            }
        }
        if let Some(trust) = &self.trust {
            trust.check(&self.environments, at)?;
        }
        if let Some(health) = &self.health {
            health.check(self, at)?;
        }
        Ok(())
    }

    /// The environment graph: upstreams, downstreams, roots, topological order.
    pub fn graph(&self) -> &EnvGraph {
        self.environments.graph()
    }

    /// The (first) upstream of `env`: in a chain, the environment before it; `None` for a root.
    pub fn previous_env(&self, env: &str) -> Option<&str> {
        self.graph().upstreams(env).first().map(String::as_str)
    }

    /// Whether `location`'s file lives on an environment branch of its own rather than on the
    /// configured `branch` (where promotions commit and their history is read).
    pub fn on_environment_branch(&self, location: &Location) -> bool {
        location.branch != self.branch
    }

    /// Whether promoting directly from `from` to `to` is allowed by `allow_skip`.
    pub fn skip_allowed(&self, from: &str, to: &str) -> bool {
        self.allow_skip.iter().any(|rule| rule.from == from && rule.to == to)
    }
}

#[cfg(test)]
mod tests;

pub mod artifacts;
pub mod discover;
pub mod kinds;
pub mod health;
pub mod templates;
pub mod trust;

#[cfg(test)]
mod mutations;
