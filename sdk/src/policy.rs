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
    let mut deserializer = serde_json::Deserializer::from_str(config);
    let parsed: P::Config = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
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
    })?;
    P::validate(&parsed)?;
    Ok(parsed)
}

fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}
