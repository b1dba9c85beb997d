use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use crate::{PluginInfo, Result, Transition, Verdict};

/// A policy: what a plugin author implements.
///
/// Every evaluation runs in a fresh sandbox instance, so a policy keeps no state between
/// decisions; all it knows is its configuration and the transition.
pub trait Policy {
    /// The policy's configuration, deserialized from the `config` the tollgate configuration
    /// gives this policy. Add `#[serde(deny_unknown_fields)]` so a misspelt field is an error.
    /// It owns its data (`'static`): the configuration validate-config parsed is kept for the
    /// evaluate that follows in the same instance.
    type Config: DeserializeOwned + 'static;

    /// Name, version, description and needed capabilities of the plugin.
    fn info() -> PluginInfo;

    /// Checks beyond what deserialization already enforces (e.g. "min must be ≤ max").
    /// Return a message naming the field at fault.
    fn validate(_config: &Self::Config) -> Result<()> {
        Ok(())
    }

    /// Decide on a transition. Return `Err` only when the policy cannot decide
    /// (the host then fails closed); a rule violation is `Ok(Verdict::deny(..))`.
    fn evaluate(config: &Self::Config, transition: &Transition) -> Result<Verdict>;
}

/// Parse and validate a JSON configuration the way the host's `validate-config` call does.
pub(crate) fn parse_config<P: Policy>(config: &str) -> Result<P::Config> {
    // Tracking the field path allocates per key and value; a configuration that parses needs
    // no path, so only a failed parse is repeated with tracking, for its message. (Neither
    // checks for text after the JSON value: the host generates it.)
    let parsed = match P::Config::deserialize(&mut serde_json::Deserializer::from_str(config)) {
        Ok(parsed) => parsed,
        Err(_) => parse_config_tracking_path::<P>(config)?,
    };
    P::validate(&parsed)?;
    Ok(parsed)
}

/// [`parse_config`]'s deserialization with the path of the field at fault in its error.
fn parse_config_tracking_path<P: Policy>(config: &str) -> Result<P::Config> {
    let mut deserializer = serde_json::Deserializer::from_str(config);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        // serde_json appends "at line 1 column N" of the JSON text the host generated,
        // which means nothing to the user; the field path does.
        let message = strip_json_position(&inner.to_string());
        if path.is_empty() || path == "." {
            crate::Error::new(format!("config: {message}"))
        } else {
            crate::Error::new(format!("config.{path}: {message}"))
        }
    })
}

fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde::{Deserialize, Deserializer};

    use super::*;
    use crate::PluginInfo;

    std::thread_local! {
        static DESERIALIZED: Cell<usize> = const { Cell::new(0) };
    }

    /// A field that counts how often it is deserialized.
    struct Counted(u32);

    impl<'de> Deserialize<'de> for Counted {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
            DESERIALIZED.with(|count| count.set(count.get() + 1));
            u32::deserialize(deserializer).map(Counted)
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        rules: std::collections::BTreeMap<String, Rule>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rule {
        limit: Counted,
    }

    struct Limits;

    impl Policy for Limits {
        type Config = Config;
        fn info() -> PluginInfo {
            PluginInfo::new("limits", "0.1.0", "parses")
        }
        fn evaluate(_config: &Config, _transition: &Transition) -> Result<Verdict> {
            Ok(Verdict::allow())
        }
    }

    fn deserialized() -> usize {
        DESERIALIZED.with(Cell::get)
    }

    #[test]
    fn a_valid_configuration_is_parsed_once_and_an_invalid_one_still_names_the_field() {
        let before = deserialized();
        let config = parse_config::<Limits>(r#"{"rules": {"prod": {"limit": 3}}}"#).unwrap();
        assert_eq!(config.rules["prod"].limit.0, 3);
        assert_eq!(deserialized() - before, 1, "a configuration that parses is parsed once");

        let error = parse_config::<Limits>(r#"{"rules": {"prod": {"limit": "three"}}}"#).err().unwrap().to_string();
        assert!(error.starts_with("config.rules.prod.limit: invalid type: string \"three\", expected u32"), "{error}");
        let error = parse_config::<Limits>(r#"{"rules": {"prod": {"limit": 1, "limt": 2}}}"#).err().unwrap().to_string();
        assert!(error.starts_with("config.rules.prod.limt: unknown field `limt`"), "{error}");
        assert!(!error.contains(" at line "), "{error}");
    }
}
