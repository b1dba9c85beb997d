//! # secret-scope: manifests of an environment can only reach that environment's secrets
//!
//! The policy reads the YAML files a transition changes (and, for a changed
//! `kustomization.yaml`, the local files it pulls in), finds every reference to a secret and
//! judges it against the target environment's allowed and denied patterns. It also denies
//! secrets kept in plaintext: values of secret-looking keys, well-known credential shapes,
//! Kubernetes `Secret` manifests that are not SOPS-encrypted, and SOPS files that lost (part
//! of) their encryption.
//!
//! ## References
//!
//! Every reference is written `<kind>:<name>` so one glob covers it unambiguously:
//!
//! | reference | written as | found in |
//! | --- | --- | --- |
//! | Kubernetes Secret | `k8s:<secret-name>` | `secretKeyRef.name`, `secretRef.name` (`envFrom`, Flux), volume `secret.secretName`, projected `sources[].secret.name`, `imagePullSecrets[].name`, any `*secretName` / `existingSecret` key, Flux `valuesFrom` of kind Secret |
//! | Vault path | `vault:<path>` (no leading `/`, no `#key`) | `vault.hashicorp.com/agent-inject-secret-*` annotation values, `secret "<path>"` in `agent-inject-template-*`, inline `vault:<path>#key`, `<path:<path>#key>`, `ref+vault://<path>#key` |
//! | External Secrets key | `external:<key>` | `remoteRef.key`, `dataFrom[].extract.key` |
//!
//! Deny wins over allow; a reference matching no allow pattern is denied. Patterns are
//! globs (`*` matches any run of characters, `/` included; `?` one character; `[abc]` a class).
//!
//! ## Configuration
//!
//! ```yaml
//! default: { allow: ["k8s:*"], deny: ["*prod*"] }   # environments not listed below
//! environments:
//!   prod: { allow: ["vault:secret/data/prod/*", "k8s:prod-*", "external:prod/*"] }
//!   dev:  { allow: ["vault:secret/data/dev/*", "k8s:dev-*"], deny: ["*/prod/*", "k8s:prod-*"] }
//! extra_secret_keys: [dsn]          # more key names whose values are secrets
//! ignore_files: ["charts/*/templates/*"]  # repository paths not to check
//! max_referenced_files: 100         # files read through kustomizations (0: do not follow)
//! ```
//!
//! Every key under `environments` must be an environment the policy runs for, and every
//! environment it runs for needs an entry or the `default`: anything else is a configuration
//! error, so a misspelt name cannot switch the checks off (an environment with neither fails
//! the policy rather than allow). `README.md` lists every finding and limit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer};
use tollgate_sdk::host::{self, LogLevel};
use tollgate_sdk::{
    Capability, Error, Finding, PerEnvironment, PluginInfo, Policy, Result, Scope, Transition, Verdict, export_policy,
};

pub mod kustomize;
pub mod scan;

use scan::{Documents, Reference, Scanner, Seg};

/// Findings beyond this many are summarised in one last finding (the host refuses more
/// than 500, and nobody reads that many).
pub const MAX_FINDINGS: usize = 100;

/// Longest reference shown in a finding, in bytes.
const MAX_SHOWN: usize = 300;

/// Longest finding message or path, in bytes: the host refuses strings over 4 KiB, and names taken
/// from a file (env var names, keys, paths) have no length limit of their own.
const MAX_FINDING_TEXT: usize = 1500;

/// Configuration, as written under the policy's `config:` in tollgate.yaml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rules for environments that have no entry under `environments`.
    #[serde(default)]
    pub default: Option<Rules>,
    /// Rules per target environment; an entry replaces `default` entirely. Keys are
    /// environments the policy runs for.
    #[serde(default, deserialize_with = "tollgate_sdk::environment_names::map")]
    pub environments: BTreeMap<String, Rules>,
    /// More key names whose values are secrets, matched like the built-in ones: case and
    /// punctuation ignored, and a key ending with the name counts (`dsn` covers `DB_DSN`).
    #[serde(default)]
    pub extra_secret_keys: Vec<String>,
    /// Repository paths (globs) of changed files not to check, e.g. Helm chart templates,
    /// which are not YAML before rendering.
    #[serde(default)]
    pub ignore_files: Vec<Glob>,
    /// How many files the policy may read through changed kustomizations in one decision;
    /// 0 turns following kustomizations off.
    #[serde(default = "default_max_referenced_files")]
    pub max_referenced_files: usize,
}

fn default_max_referenced_files() -> usize {
    100
}

/// What one environment's manifests may reference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// References that are allowed (unless denied), e.g. `k8s:prod-*`.
    #[serde(default)]
    pub allow: Vec<RefPattern>,
    /// References that are never allowed, whatever `allow` says, e.g. `*/prod/*`.
    #[serde(default)]
    pub deny: Vec<RefPattern>,
}

/// Options every pattern is matched with: case-sensitive (Vault paths and Secret names
/// are), and `*` crosses `/` so `*/prod/*` reaches into any Vault mount.
const MATCH_OPTIONS: glob::MatchOptions =
    glob::MatchOptions { case_sensitive: true, require_literal_separator: false, require_literal_leading_dot: false };

/// A glob pattern, checked when the configuration is read.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    pattern: glob::Pattern,
}

impl Glob {
    /// Parse a glob; the error says what is wrong with it.
    pub fn new(text: &str) -> std::result::Result<Self, String> {
        if text.trim().is_empty() {
            return Err("an empty pattern matches nothing; remove it or write a glob such as k8s:prod-*".to_string());
        }
        let pattern = glob::Pattern::new(text).map_err(|error| {
            format!("{text:?} is not a valid glob ({error}); use * for any characters (it also matches /), ? for one, [abc] for a class")
        })?;
        Ok(Glob { text: text.to_string(), pattern })
    }

    /// Whether `candidate` matches.
    pub fn matches(&self, candidate: &str) -> bool {
        self.pattern.matches_with(candidate, MATCH_OPTIONS)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Glob::new(&text).map_err(serde::de::Error::custom)
    }
}

/// A pattern over references (`k8s:...`, `vault:...`, `external:...`).
#[derive(Debug, Clone)]
pub struct RefPattern(Glob);

impl RefPattern {
    /// Whether the reference (as [`Reference::id`] writes it) matches.
    pub fn matches(&self, reference: &str) -> bool {
        self.0.matches(reference)
    }
}

impl fmt::Display for RefPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for RefPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let glob = Glob::new(&text).map_err(serde::de::Error::custom)?;
        // `prod-*` (the kind forgotten) would silently match nothing: every reference has a prefix.
        let kind_given = ["k8s:", "vault:", "external:"].iter().any(|prefix| text.starts_with(prefix));
        let starts_wild = text.starts_with(['*', '?', '[']);
        if !kind_given && !starts_wild {
            return Err(serde::de::Error::custom(format!(
                "{text:?} names no reference kind, so it matches nothing; start it with k8s:, vault: or external: (or a wildcard)"
            )));
        }
        Ok(RefPattern(glob))
    }
}

impl Config {
    /// The rules for `env` and where they come from; `Err` when there are none.
    fn rules_for(&self, env: &str) -> Result<(&Rules, String)> {
        PerEnvironment::rules_in(self.default.as_ref(), &self.environments, env).map(|(scope, rules)| match scope {
            Scope::Default => (rules, "the default rules".to_string()),
            Scope::Environment(_) => (rules, scope.to_string()),
        })
    }

    fn normalised_secret_keys(&self) -> Vec<String> {
        self.extra_secret_keys.iter().map(|key| scan::normalise_key(key)).collect()
    }
}

/// The policy.
pub struct SecretScope;

impl Policy for SecretScope {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "secret-scope",
            env!("CARGO_PKG_VERSION"),
            "Manifests of an environment may only reference that environment's secrets, and keep no secret in plaintext",
        )
        .with_capability(Capability::ReadFile)
    }

    fn validate(config: &Config) -> Result<()> {
        if config.default.is_none() && config.environments.is_empty() {
            return Err(Error::new(
                "config: give rules per environment under `environments` (e.g. environments.prod.allow: [\"k8s:prod-*\"]) \
                 or a `default`; without either nothing is checked",
            ));
        }
        let all = config.default.iter().map(|rules| ("default".to_string(), "k8s:*".to_string(), rules));
        let all = all.chain(
            config.environments.iter().map(|(env, rules)| (format!("environments.{env}"), format!("k8s:{env}-*"), rules)),
        );
        for (field, example, rules) in all {
            // An empty allow list denies every reference; say so explicitly rather than by omission.
            if rules.allow.is_empty() && !rules.deny.iter().any(|pattern| pattern.0.text == "*") {
                return Err(Error::new(format!(
                    "config.{field}.allow: list the references this environment may use (e.g. {example}); \
                     to forbid every secret reference write deny: [\"*\"]"
                )));
            }
        }
        for (index, key) in config.extra_secret_keys.iter().enumerate() {
            if scan::normalise_key(key).is_empty() {
                return Err(Error::new(format!(
                    "config.extra_secret_keys[{index}]: {key:?} has no letters or digits; write a key name such as dsn"
                )));
            }
        }
        PerEnvironment::require_rules_in(config.default.as_ref(), &config.environments)
    }

    fn evaluate(config: &Config, transition: &Transition) -> Result<Verdict> {
        let env = &transition.to_env;
        let (rules, rules_name) = config.rules_for(env)?;
        let secret_keys = config.normalised_secret_keys();
        let mut checker = Checker {
            config,
            rules,
            rules_name,
            env,
            secret_keys: &secret_keys,
            changes: transition
                .changes
                .iter()
                .map(|change| (change.path.as_str(), (change.after.as_deref(), change.before.as_deref())))
                .collect(),
            visited: BTreeSet::new(),
            reads: 0,
            limit_reported: false,
            findings: Vec::new(),
            references: 0,
        };
        let mut checked = 0;
        for change in &transition.changes {
            if config.ignore_files.iter().any(|glob| glob.matches(&change.path)) {
                host::log(LogLevel::Debug, &format!("{}: ignored (ignore_files)", change.path));
                continue;
            }
            // Deleted files are skipped: no manifest is left to reach a secret.
            let Some(after) = &change.after else { continue };
            if !is_yaml(&change.path) && !kustomize::is_kustomization(&change.path) {
                continue;
            }
            checked += 1;
            checker.check_file(&change.path, after, change.before.as_deref(), None);
        }
        host::log(
            LogLevel::Info,
            &format!(
                "checked {checked} changed YAML file(s) and {} referenced file(s); {} secret reference(s) judged",
                checker.reads, checker.references
            ),
        );
        Ok(Verdict::deny_if_any(checker.finish()))
    }
}

/// `.yaml` / `.yml` files, the only ones parsed.
fn is_yaml(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml")
}

/// Cut text shown in a finding to at most `max` bytes (plus an ellipsis), on a character
/// boundary.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// One decision's state: the rules in force, the files seen, the findings so far.
struct Checker<'a> {
    config: &'a Config,
    rules: &'a Rules,
    /// `environments.<env>` or `the default rules`, for the sentences.
    rules_name: String,
    env: &'a str,
    secret_keys: &'a [String],
    /// Changed files by path: (after, before). Read before asking the host, which sees the
    /// same post-change tree.
    changes: BTreeMap<&'a str, (Option<&'a str>, Option<&'a str>)>,
    /// Files already checked, so a file reached twice is checked once (and cycles end).
    visited: BTreeSet<String>,
    /// Files read through kustomizations (bounded by `max_referenced_files`).
    reads: usize,
    limit_reported: bool,
    findings: Vec<Finding>,
    references: usize,
}

impl Checker<'_> {
    fn finish(mut self) -> Vec<Finding> {
        if self.findings.len() > MAX_FINDINGS {
            let more = self.findings.len() - (MAX_FINDINGS - 1);
            self.findings.truncate(MAX_FINDINGS - 1);
            self.findings.push(Finding::new(format!("... and {more} more secret-scope findings not shown")));
        }
        self.findings
    }

    fn finding(&mut self, file: &str, yaml_path: &str, message: String) {
        let path = if yaml_path.is_empty() { file.to_string() } else { format!("{file}#{yaml_path}") };
        self.findings.push(Finding::new(clip(&message, MAX_FINDING_TEXT)).at(clip(&path, MAX_FINDING_TEXT)));
    }

    /// Check one YAML file: `via` names the kustomization it was reached through.
    fn check_file(&mut self, path: &str, text: &str, before: Option<&str>, via: Option<&str>) {
        if !self.visited.insert(path.to_string()) {
            return;
        }
        let documents = match scan::parse(text) {
            Ok(documents) => documents,
            Err(error) => {
                let message = format!(
                    "{path} does not parse as YAML at line {} column {}: {}; fix the syntax (a file that cannot be checked is not promoted)",
                    error.line, error.column, error.info
                );
                self.finding(path, "", message);
                return;
            }
        };
        self.check_sops_kept(path, &documents, before);
        let mut scanner = Scanner::new(self.secret_keys);
        for document in &documents {
            scanner.scan_document(document);
        }
        self.report(path, scanner, via);
        if kustomize::is_kustomization(path) {
            for document in &documents {
                self.check_kustomization(path, document, text);
            }
        }
    }

    /// A file that was SOPS-encrypted before the change must still be after it.
    fn check_sops_kept(&mut self, path: &str, after: &Documents<'_>, before: Option<&str>) {
        let Some(before) = before else { return };
        // Cheap test first: most files never mention sops.
        if !before.contains("sops") {
            return;
        }
        let was_encrypted = scan::parse(before).is_ok_and(|documents| documents.iter().any(scan::has_sops_block));
        if was_encrypted && !after.iter().any(scan::has_sops_block) {
            let message = format!(
                "{path} was SOPS-encrypted before this change and is not any more (its sops: block is gone); \
                 encrypt it again with sops before promoting"
            );
            self.finding(path, "", message);
        }
    }

    /// Turn a scanner's references and issues into findings.
    fn report(&mut self, path: &str, scanner: Scanner<'_>, via: Option<&str>) {
        let reached = via.map(|kustomization| format!(" (reached through {kustomization})")).unwrap_or_default();
        for issue in scanner.issues {
            self.finding(path, &issue.yaml_path, format!("{}{reached}", issue.message));
        }
        for reference in scanner.references {
            self.references += 1;
            if let Some(problem) = self.judge(&reference) {
                self.finding(path, &reference.yaml_path, format!("{problem}; {} at line {}{reached}", reference.source, reference.line));
            }
        }
    }

    /// Deny wins over allow; a reference that no allow pattern matches is denied.
    fn judge(&self, reference: &Reference) -> Option<String> {
        let id = reference.id();
        let env = self.env;
        if let Some(pattern) = self.rules.deny.iter().find(|pattern| pattern.matches(&id)) {
            return Some(format!("{env} may not reference {} (matches denied pattern {pattern})", clip(&id, MAX_SHOWN)));
        }
        if self.rules.allow.iter().any(|pattern| pattern.matches(&id)) {
            return None;
        }
        let mut allowed: Vec<String> = self.rules.allow.iter().take(5).map(ToString::to_string).collect();
        if self.rules.allow.len() > 5 {
            allowed.push(format!("and {} more", self.rules.allow.len() - 5));
        }
        let allowed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
        Some(format!(
            "{env} may not reference {}: it matches no allowed pattern of {} ({allowed})",
            clip(&id, MAX_SHOWN),
            self.rules_name
        ))
    }

    /// Follow a changed (or reached) kustomization: plaintext `secretGenerator` literals,
    /// inline patches, and the local files and directories it lists.
    fn check_kustomization(&mut self, path: &str, document: &saphyr::MarkedYaml<'_>, source: &str) {
        for literal in kustomize::secret_literals(document) {
            if scan::is_literal_secret(&literal.value) {
                let message = format!(
                    "secretGenerator {} holds {} as a plaintext literal ({}) at line {}; generate it from a \
                     SOPS-encrypted file or use an ExternalSecret instead",
                    literal.secret,
                    literal.key,
                    scan::mask(&literal.value),
                    literal.line
                );
                self.finding(path, &scan::render_path(&literal.segments), message);
            }
        }
        for entry in kustomize::entries(document, source) {
            match entry.target {
                kustomize::Target::Inline { text, first_line } => {
                    let field = scan::render_path(&entry.segments);
                    match scan::parse(&text) {
                        Ok(documents) => {
                            let mut scanner = Scanner::embedded(self.secret_keys, entry.segments.clone(), first_line);
                            for document in &documents {
                                scanner.scan_document(document);
                            }
                            self.report(path, scanner, None);
                        }
                        Err(error) => {
                            let message = format!(
                                "the inline patch at {field} does not parse as YAML (line {} of the patch): {}; fix its syntax",
                                error.line, error.info
                            );
                            self.finding(path, &field, message);
                        }
                    }
                }
                kustomize::Target::Path(target) => self.follow(path, &entry.segments, entry.line, &target),
            }
        }
    }

    /// Check the file or directory a kustomization entry names.
    fn follow(&mut self, kustomization: &str, segments: &[Seg], line: usize, target: &str) {
        let field = scan::render_path(segments);
        if self.config.max_referenced_files == 0 || kustomize::is_remote(target) {
            return;
        }
        let resolved = match kustomize::resolve(kustomization, target) {
            Ok(resolved) => resolved,
            Err(problem) => {
                let message = format!("{field} at line {line}: {problem}, so the manifests it brings in cannot be checked");
                self.finding(kustomization, &field, message);
                return;
            }
        };
        if self.config.ignore_files.iter().any(|glob| glob.matches(&resolved)) {
            return;
        }
        let name = resolved.rsplit('/').next().unwrap_or(&resolved);
        if is_yaml(&resolved) || kustomize::is_kustomization(&resolved) {
            if let Some((text, before)) = self.read(kustomization, &field, line, &resolved, true) {
                self.check_file(&resolved, &text, before.as_deref(), Some(kustomization));
            }
        } else if name.contains('.') {
            // Some other file type (JSON, an env file): only YAML is checked.
            host::log(LogLevel::Debug, &format!("{resolved}: not YAML, not checked"));
        } else {
            // A directory: kustomize reads its kustomization.
            for candidate in kustomize::KUSTOMIZATION_FILES {
                let file = format!("{resolved}/{candidate}");
                if let Some((text, before)) = self.read(kustomization, &field, line, &file, false) {
                    self.check_file(&file, &text, before.as_deref(), Some(kustomization));
                    return;
                }
                if self.limit_reported {
                    return;
                }
            }
            let message = format!(
                "{field} at line {line} names {resolved}, which is neither a YAML file nor a directory with a \
                 kustomization in the repository, so the manifests it brings in cannot be checked"
            );
            self.finding(kustomization, &field, message);
        }
    }

    /// Read a repository file (a changed file from the transition, else through the host).
    /// Problems become findings; a missing file is only reported when `required`.
    fn read(&mut self, kustomization: &str, field: &str, line: usize, path: &str, required: bool) -> Option<(String, Option<String>)> {
        if self.visited.contains(path) {
            return None;
        }
        if let Some((after, before)) = self.changes.get(path).copied() {
            return match after {
                Some(after) => Some((after.to_string(), before.map(str::to_string))),
                None => {
                    if required {
                        let message = format!("{field} at line {line} names {path}, which this change deletes; remove the entry too");
                        self.finding(kustomization, field, message);
                    }
                    None
                }
            };
        }
        if self.reads >= self.config.max_referenced_files {
            if !self.limit_reported {
                self.limit_reported = true;
                let message = format!(
                    "stopped following kustomizations after {} files (max_referenced_files), so {path} and what comes after \
                     it were not checked; raise max_referenced_files",
                    self.reads
                );
                self.finding(kustomization, field, message);
            }
            return None;
        }
        self.reads += 1;
        match host::read_file(path) {
            Ok(Some(text)) => Some((text, None)),
            Ok(None) => {
                if required {
                    let message = format!("{field} at line {line} names {path}, which is not in the repository, so it cannot be checked");
                    self.finding(kustomization, field, message);
                }
                None
            }
            Err(error) => {
                let message = format!("{path} (named by {field} at line {line}) could not be read ({error}), so it cannot be checked");
                self.finding(kustomization, field, message);
                None
            }
        }
    }
}

export_policy!(SecretScope);

#[cfg(test)]
mod tests;
