//! The per-environment configuration shape every standard policy uses: rules per
//! environment under `environments`, and a `default` for environments not listed.
//!
//! ```yaml
//! config:
//!   default: { required: 1 }            # environments without an entry below
//!   environments:
//!     prod: { required: 2 }             # replaces the default for prod, as a whole
//! ```
//!
//! An environment's entry **replaces** the default entirely (no field-by-field merge), so what
//! applies to an environment is always one readable block.
//!
//! A policy whose configuration is nothing but this shape uses `PerEnvironment<Rules>` as its
//! `Config`. `serde(flatten)` does not work together with `deny_unknown_fields`, so a policy
//! with settings beside `default` and `environments` declares the two fields itself and
//! builds the lookup with [`PerEnvironment::lookup`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::{Error, Result};

/// Rules of type `T` per environment name, with an optional `default`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "T: Deserialize<'de>"))]
pub struct PerEnvironment<T> {
    /// Rules for environments that have no entry under `environments`.
    #[serde(default)]
    pub default: Option<T>,
    /// Rules per environment, by exact name; an entry replaces `default`.
    #[serde(default)]
    pub environments: BTreeMap<String, T>,
}

impl<T> Default for PerEnvironment<T> {
    fn default() -> Self {
        PerEnvironment { default: None, environments: BTreeMap::new() }
    }
}

/// Where the rules for an environment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// `default`, because the environment has no entry of its own.
    Default,
    /// `environments.<name>`.
    Environment(&'a str),
}

impl fmt::Display for Scope<'_> {
    /// The configuration path: `default` or `environments.<name>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Default => f.write_str("default"),
            Scope::Environment(name) => write!(f, "environments.{name}"),
        }
    }
}

impl<T> PerEnvironment<T> {
    /// The rules for `env`: its own entry, else the default; `None` when there are neither.
    pub fn for_env(&self, env: &str) -> Option<&T> {
        self.scoped(env).map(|(_, rules)| rules)
    }

    /// [`for_env`](Self::for_env), also saying which entry applied.
    pub fn scoped<'a>(&'a self, env: &str) -> Option<(Scope<'a>, &'a T)> {
        Self::lookup(self.default.as_ref(), &self.environments, env)
    }

    /// The lookup for a configuration that keeps `default` and `environments` as fields of
    /// its own (because it has other settings beside them).
    pub fn lookup<'a>(default: Option<&'a T>, environments: &'a BTreeMap<String, T>, env: &str) -> Option<(Scope<'a>, &'a T)> {
        match environments.get_key_value(env) {
            Some((name, rules)) => Some((Scope::Environment(name), rules)),
            None => default.map(|rules| (Scope::Default, rules)),
        }
    }

    /// Whether there is neither a default nor any environment entry (nothing would be checked).
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.environments.is_empty()
    }

    /// Every entry with its scope: the default first, then environments by name.
    pub fn entries(&self) -> impl Iterator<Item = (Scope<'_>, &T)> {
        let default = self.default.iter().map(|rules| (Scope::Default, rules));
        default.chain(self.environments.iter().map(|(name, rules)| (Scope::Environment(name), rules)))
    }

    /// Run `check` on every entry, stopping at the first error; `check` gets the entry's
    /// configuration path (`default` or `environments.<name>`) for its messages.
    pub fn validate_each(&self, mut check: impl FnMut(&str, &T) -> Result<()>) -> Result<()> {
        for (scope, rules) in self.entries() {
            check(&scope.to_string(), rules)?;
        }
        Ok(())
    }

    /// `Err(message)` when [`is_empty`](Self::is_empty): a policy that checks nothing is
    /// almost certainly misconfigured.
    pub fn require_rules(&self, message: &str) -> Result<()> {
        if self.is_empty() { Err(Error::new(message)) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rules {
        required: u32,
    }

    fn parse(json: &str) -> std::result::Result<PerEnvironment<Rules>, String> {
        serde_json::from_str(json).map_err(|error| error.to_string())
    }

    #[test]
    fn an_entry_replaces_the_default_and_others_fall_back_to_it() {
        let config = parse(r#"{"default": {"required": 1}, "environments": {"prod": {"required": 2}}}"#).unwrap();
        assert_eq!(config.for_env("prod"), Some(&Rules { required: 2 }));
        assert_eq!(config.for_env("dev"), Some(&Rules { required: 1 }));
        assert_eq!(config.scoped("prod").unwrap().0.to_string(), "environments.prod");
        assert_eq!(config.scoped("dev").unwrap().0, Scope::Default);
        let paths: Vec<String> = config.entries().map(|(scope, _)| scope.to_string()).collect();
        assert_eq!(paths, ["default", "environments.prod"]);
    }

    #[test]
    fn without_a_default_unlisted_environments_have_no_rules() {
        let config = parse(r#"{"environments": {"prod": {"required": 2}}}"#).unwrap();
        assert_eq!(config.for_env("staging"), None);
        assert!(!config.is_empty());
        assert!(parse("{}").unwrap().is_empty());
        assert_eq!(parse("{}").unwrap().require_rules("no rules").unwrap_err().to_string(), "no rules");
    }

    #[test]
    fn unknown_fields_are_refused_at_both_levels() {
        assert!(parse(r#"{"defaults": {}}"#).unwrap_err().contains("unknown field `defaults`, expected `default` or `environments`"));
        assert!(parse(r#"{"environments": {"prod": {"requierd": 2}}}"#).unwrap_err().contains("unknown field `requierd`"));
    }

    #[test]
    fn validate_each_names_the_entry() {
        let config = parse(r#"{"default": {"required": 1}, "environments": {"prod": {"required": 0}}}"#).unwrap();
        let error = config
            .validate_each(|path, rules| if rules.required == 0 { Err(Error::new(format!("config.{path}.required: zero"))) } else { Ok(()) })
            .unwrap_err();
        assert_eq!(error.to_string(), "config.environments.prod.required: zero");
    }
}
