//! Environment names in a policy's configuration, checked against the tollgate configuration
//! (WIT 0.1.2, [`crate::host::policy_environments`]) while it is deserialized.
//!
//! A misspelt environment name switches a rule off without a word: `environments: { prod: … }`
//! in a graph whose environments are `prod-us` and `prod-eu` has rules for no environment at
//! all. Deserialize every map keyed by environment and every list of environment names with
//! these functions and such a configuration is refused, naming the key:
//!
//! ```
//! use std::collections::BTreeMap;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     #[serde(default, deserialize_with = "tollgate_sdk::environment_names::map")]
//!     limits: BTreeMap<String, u32>,     // limits: { prod: 3 }
//!     #[serde(default, deserialize_with = "tollgate_sdk::environment_names::list")]
//!     frozen: Vec<String>,               // frozen: [prod]
//! }
//! ```
//!
//! A name is refused when it is not a configured environment, and when it is one the policy
//! does not run for (its rules could never apply: the policy's `environments:` in
//! tollgate.yaml leaves it out). Where the host tells no environments (`tollgate plugin eval`
//! without `--environment`, a cases file without `environments:`, a native test that did not
//! call [`crate::testing::set_environments`]) names are not checked. [`crate::PerEnvironment`]
//! checks its `environments` this way.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::host::{PolicyEnvironments, policy_environments};

/// Deserialize a map keyed by environment name, refusing a key that names no environment this
/// policy runs for; the error is at the key (`config.environments.prod: …`).
pub fn map<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_map(MapVisitor(PhantomData))
}

/// Deserialize a list of environment names, refusing a name that names no environment this
/// policy runs for; the error is at the item (`config.frozen[1]: …`).
pub fn list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_seq(ListVisitor)
}

/// What is wrong with `name` as an environment of this policy, when something is.
pub(crate) fn problem_with(name: &str, told: &PolicyEnvironments) -> Option<String> {
    if told.configured.is_empty() {
        return None;
    }
    if !told.configured.iter().any(|env| env == name) {
        return Some(format!(
            "no environment is called {name}; the environments of tollgate.yaml are {} (a misspelt name would switch these rules off)",
            told.configured.join(", ")
        ));
    }
    if !told.runs_for.iter().any(|env| env == name) {
        let runs_for = if told.runs_for.is_empty() { "none".to_string() } else { told.runs_for.join(", ") };
        return Some(format!(
            "this policy does not run for {name} (its environments in tollgate.yaml: {runs_for}), so these rules would never apply; \
             remove them, or add {name} to the policy's environments"
        ));
    }
    None
}

struct MapVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
    type Value = BTreeMap<String, T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map from environment name to rules")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let told = policy_environments();
        let mut entries = BTreeMap::new();
        while let Some(name) = access.next_key::<String>()? {
            if let Some(problem) = problem_with(&name, &told) {
                // Refused as the entry's value, so the error's path ends in the key.
                return access.next_value_seed(Refuse(problem)).and_then(|()| Err(de::Error::custom("refused")));
            }
            entries.insert(name, access.next_value()?);
        }
        Ok(entries)
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<String>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list of environment names")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let told = policy_environments();
        let mut names = Vec::new();
        while let Some(name) = access.next_element_seed(CheckedName(&told))? {
            names.push(name);
        }
        Ok(names)
    }
}

/// A value that is always an error with this message.
struct Refuse(String);

impl<'de> DeserializeSeed<'de> for Refuse {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _deserializer: D) -> Result<(), D::Error> {
        Err(de::Error::custom(self.0))
    }
}

/// An environment name, checked.
struct CheckedName<'a>(&'a PolicyEnvironments);

impl<'de> DeserializeSeed<'de> for CheckedName<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let name = String::deserialize(deserializer)?;
        match problem_with(&name, self.0) {
            Some(problem) => Err(de::Error::custom(problem)),
            None => Ok(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use crate::testing;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default, deserialize_with = "super::map")]
        limits: BTreeMap<String, u32>,
        #[serde(default, deserialize_with = "super::list")]
        frozen: Vec<String>,
    }

    struct Limits;

    impl crate::Policy for Limits {
        type Config = Config;
        fn info() -> crate::PluginInfo {
            crate::PluginInfo::new("limits", "0.1.0", "test")
        }
        fn evaluate(config: &Config, _t: &crate::Transition) -> crate::Result<crate::Verdict> {
            Ok(crate::Verdict::allow().with_finding(format!("{:?} {:?}", config.limits, config.frozen)))
        }
    }

    #[test]
    fn maps_and_lists_of_environment_names_are_refused_at_the_misspelt_name() {
        testing::set_environments(&["dev", "prod-eu", "prod-us"], Some(&["prod-eu", "prod-us"]));
        let verdict = testing::evaluate::<Limits>(r#"{"limits": {"prod-eu": 3}, "frozen": ["prod-us"]}"#, &testing::transition().build()).unwrap();
        assert_eq!(verdict.findings[0].message, r#"{"prod-eu": 3} ["prod-us"]"#);
        let error = testing::validate::<Limits>(r#"{"limits": {"prod-eu": 3, "prod": 1}}"#).unwrap_err().to_string();
        assert!(error.starts_with("config.limits.prod: no environment is called prod; the environments of tollgate.yaml are dev, prod-eu, prod-us"), "{error}");
        let error = testing::validate::<Limits>(r#"{"frozen": ["prod-us", "dev"]}"#).unwrap_err().to_string();
        assert!(error.starts_with("config.frozen[1]: this policy does not run for dev (its environments in tollgate.yaml: prod-eu, prod-us)"), "{error}");
    }
}
