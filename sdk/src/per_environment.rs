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
//! Keys under `environments` are checked against the tollgate configuration while the
//! configuration is deserialized ([`crate::environment_names`]): a key that names no
//! environment the policy runs for is a configuration error at the key, so a typo cannot
//! switch a rule off. [`PerEnvironment::require_rules_where_it_runs`] refuses a configuration
//! that leaves an environment the policy runs for without rules, and
//! [`PerEnvironment::rules_for`] is an error (the policy fails closed) where there are none.
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
    /// Rules per environment, by exact name; an entry replaces `default`. Every key must be
    /// an environment the policy runs for.
    #[serde(default, deserialize_with = "crate::environment_names::map")]
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

    /// `Err` naming every environment the policy runs for (as the host tells,
    /// [`crate::host::policy_environments`]) that has neither an entry nor a default, and both
    /// ways to fix it. Nothing to check where the host tells no environments.
    pub fn require_rules_where_it_runs(&self) -> Result<()> {
        Self::require_rules_in(self.default.as_ref(), &self.environments)
    }

    /// [`require_rules_where_it_runs`](Self::require_rules_where_it_runs) for a configuration
    /// that keeps `default` and `environments` as fields of its own.
    pub fn require_rules_in(default: Option<&T>, environments: &BTreeMap<String, T>) -> Result<()> {
        if default.is_some() {
            return Ok(());
        }
        let told = crate::host::policy_environments();
        let without: Vec<&str> = told.runs_for.iter().map(String::as_str).filter(|env| !environments.contains_key(*env)).collect();
        if without.is_empty() {
            return Ok(());
        }
        let with: Vec<&str> = told.runs_for.iter().map(String::as_str).filter(|env| environments.contains_key(*env)).collect();
        let restrict = if with.is_empty() {
            "remove the policy".to_string()
        } else {
            format!("run the policy only where it has rules with `environments: [{}]` on the policy in tollgate.yaml", with.join(", "))
        };
        Err(Error::new(format!(
            "config: no rules for {}, where this policy runs (neither an entry under environments nor a default); \
             add an entry for each (or a default), or {restrict}",
            without.join(", ")
        )))
    }

    /// The rules for `env` and where they came from; `Err` where there are neither an entry
    /// nor a default: a policy without rules for an environment does not decide there (the
    /// host fails closed) rather than let everything through.
    pub fn rules_for<'a>(&'a self, env: &str) -> Result<(Scope<'a>, &'a T)> {
        Self::rules_in(self.default.as_ref(), &self.environments, env)
    }

    /// [`rules_for`](Self::rules_for) for a configuration that keeps `default` and
    /// `environments` as fields of its own.
    pub fn rules_in<'a>(default: Option<&'a T>, environments: &'a BTreeMap<String, T>, env: &str) -> Result<(Scope<'a>, &'a T)> {
        Self::lookup(default, environments, env).ok_or_else(|| {
            Error::new(format!(
                "no rules for {env} (no entry under environments and no default), so this policy cannot decide there; \
                 add an entry for {env} (or a default), or leave {env} out of the policy's environments in tollgate.yaml"
            ))
        })
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

    /// A policy whose configuration is `PerEnvironment<Rules>` and that wants rules wherever it runs.
    struct Counting;

    impl crate::Policy for Counting {
        type Config = PerEnvironment<Rules>;
        fn info() -> crate::PluginInfo {
            crate::PluginInfo::new("counting", "0.1.0", "test")
        }
        fn validate(config: &Self::Config) -> Result<()> {
            config.require_rules_where_it_runs()
        }
        fn evaluate(config: &Self::Config, t: &crate::Transition) -> Result<crate::Verdict> {
            config.rules_for(&t.to_env).map(|_| crate::Verdict::allow())
        }
    }

    fn refusal(config: &str) -> String {
        crate::testing::validate::<Counting>(config).unwrap_err().to_string()
    }

    #[test]
    fn a_key_that_names_no_configured_environment_is_refused_at_the_key() {
        crate::testing::set_environments(&["qa", "staging-us", "prod-us"], None);
        assert_eq!(
            refusal(r#"{"default": {"required": 1}, "environments": {"prod": {"required": 2}}}"#),
            "config.environments.prod: no environment is called prod; the environments of tollgate.yaml are qa, staging-us, prod-us \
             (a misspelt name would switch these rules off)"
        );
        // A configured one is fine, and nothing is checked where no environments are told.
        assert!(crate::testing::validate::<Counting>(r#"{"default": {"required": 1}, "environments": {"prod-us": {"required": 2}}}"#).is_ok());
        crate::testing::reset();
        assert!(crate::testing::validate::<Counting>(r#"{"environments": {"prod": {"required": 2}}}"#).is_ok());
    }

    #[test]
    fn a_key_for_an_environment_the_policy_does_not_run_for_is_refused() {
        crate::testing::set_environments(&["dev", "test", "prod"], Some(&["prod"]));
        let error = refusal(r#"{"environments": {"prod": {"required": 2}, "test": {"required": 1}}}"#);
        assert!(error.starts_with("config.environments.test: this policy does not run for test (its environments in tollgate.yaml: prod)"), "{error}");
        assert!(crate::testing::validate::<Counting>(r#"{"environments": {"prod": {"required": 2}}}"#).is_ok());
    }

    #[test]
    fn an_environment_the_policy_runs_for_without_rules_is_a_configuration_error_and_no_allow() {
        crate::testing::set_environments(&["dev", "test", "prod"], None);
        assert_eq!(
            refusal(r#"{"environments": {"prod": {"required": 2}}}"#),
            "config: no rules for dev, test, where this policy runs (neither an entry under environments nor a default); \
             add an entry for each (or a default), or run the policy only where it has rules with `environments: [prod]` on the policy in tollgate.yaml"
        );
        assert!(crate::testing::validate::<Counting>(r#"{"default": {"required": 1}, "environments": {"prod": {"required": 2}}}"#).is_ok());
        // Evaluating where there are no rules (which validation refuses) fails rather than allows.
        crate::testing::reset();
        let t = crate::testing::transition().to_env("staging").build();
        let error = crate::testing::evaluate::<Counting>(r#"{"environments": {"prod": {"required": 2}}}"#, &t).unwrap_err().to_string();
        assert!(error.starts_with("no rules for staging (no entry under environments and no default), so this policy cannot decide there"), "{error}");
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
