//! Glue between the wit-bindgen types and the SDK's types, used by [`crate::export_policy!`].

use std::any::Any;
use std::cell::RefCell;

use crate::bindings::tollgate::policy::types as wit;
use crate::policy::parse_config;
use crate::{
    Approval, Artifact, Capability, Decision, FileChange, Finding, Label, Policy, Transition,
    TransitionKind, Verdict,
};

pub fn info<P: Policy>() -> wit::PluginInfo {
    let info = P::info();
    wit::PluginInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        capabilities: info
            .capabilities
            .into_iter()
            .map(|capability| match capability {
                Capability::ReadFile => wit::Capability::ReadFile,
                Capability::HttpGet => wit::Capability::HttpGet,
            })
            .collect(),
    }
}

std::thread_local! {
    /// The configuration validate-config last accepted in this instance, with its text: the
    /// host asks evaluate next, in the same instance and with the same text, which then needs
    /// no second parse. An instance serves one decision, so nothing here outlives it.
    static ACCEPTED: RefCell<Option<(String, Box<dyn Any>)>> = const { RefCell::new(None) };
}

pub fn validate_config<P: Policy>(config: &str) -> Result<(), String> {
    let parsed = parse_config::<P>(config).map_err(|error| error.to_string())?;
    ACCEPTED.with(|accepted| *accepted.borrow_mut() = Some((config.to_string(), Box::new(parsed))));
    Ok(())
}

/// The configuration validate-config accepted for exactly this text, or a fresh parse.
fn accepted_config<P: Policy>(config: &str) -> Result<P::Config, String> {
    let accepted = ACCEPTED.with(|accepted| accepted.borrow_mut().take());
    if let Some((text, parsed)) = accepted
        && text == config
        && let Ok(parsed) = parsed.downcast::<P::Config>()
    {
        return Ok(*parsed);
    }
    parse_config::<P>(config).map_err(|error| error.to_string())
}

pub fn evaluate<P: Policy>(config: &str, transition: wit::Transition) -> Result<wit::Verdict, String> {
    let config = accepted_config::<P>(config)?;
    let verdict = P::evaluate(&config, &transition_from_wit(transition)).map_err(|error| error.to_string())?;
    if let Some(counted) = &verdict.counted_approvals {
        crate::bindings::tollgate::policy::host::report_counted_approvals(counted);
    }
    Ok(verdict_to_wit(verdict))
}

fn artifact_from_wit(artifact: wit::Artifact) -> Artifact {
    Artifact { image: artifact.image, version: artifact.version, digest: artifact.digest }
}

fn transition_from_wit(t: wit::Transition) -> Transition {
    Transition {
        id: t.id,
        kind: match t.kind {
            wit::TransitionKind::Promote => TransitionKind::Promote,
            wit::TransitionKind::Rollback => TransitionKind::Rollback,
        },
        application: t.application,
        from_env: t.from_env,
        to_env: t.to_env,
        artifact: artifact_from_wit(t.artifact),
        previous_artifact: t.previous_artifact.map(artifact_from_wit),
        requested_by: t.requested_by,
        requested_at: t.requested_at,
        approvals: t
            .approvals
            .into_iter()
            .map(|a| Approval { approver: a.approver, at: a.at, version: a.version, group: a.group })
            .collect(),
        changes: t
            .changes
            .into_iter()
            .map(|c| FileChange { path: c.path, before: c.before, after: c.after })
            .collect(),
        labels: t.labels.into_iter().map(|l| Label { key: l.key, value: l.value }).collect(),
        from_env_since: t.from_env_since,
    }
}

fn verdict_to_wit(verdict: Verdict) -> wit::Verdict {
    wit::Verdict {
        decision: match verdict.decision {
            Decision::Allow => wit::Decision::Allow,
            Decision::Deny => wit::Decision::Deny,
        },
        findings: verdict
            .findings
            .into_iter()
            .map(|Finding { message, path }| wit::Finding { message, path })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{PluginInfo, Result};

    static VALIDATED: AtomicUsize = AtomicUsize::new(0);

    #[derive(serde::Deserialize)]
    struct Config {
        limit: u32,
    }

    struct Counting;

    impl Policy for Counting {
        type Config = Config;
        fn info() -> PluginInfo {
            PluginInfo::new("counting", "0.1.0", "counts parses")
        }
        fn validate(_config: &Config) -> Result<()> {
            VALIDATED.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn evaluate(_config: &Config, _transition: &Transition) -> Result<Verdict> {
            Ok(Verdict::allow())
        }
    }

    #[test]
    fn evaluate_reuses_the_configuration_validate_config_parsed_for_the_same_text_only() {
        let parses = || VALIDATED.load(Ordering::SeqCst);
        validate_config::<Counting>(r#"{"limit": 1}"#).unwrap();
        assert_eq!(parses(), 1);
        // The same text: the parsed configuration, taken once.
        assert_eq!(accepted_config::<Counting>(r#"{"limit": 1}"#).unwrap().limit, 1);
        assert_eq!(parses(), 1);
        // Taken means gone: asked again, it is parsed again.
        assert_eq!(accepted_config::<Counting>(r#"{"limit": 1}"#).unwrap().limit, 1);
        assert_eq!(parses(), 2);
        // Another text than the one validated is parsed, never answered with the old one.
        validate_config::<Counting>(r#"{"limit": 1}"#).unwrap();
        assert_eq!(accepted_config::<Counting>(r#"{"limit": 2}"#).unwrap().limit, 2);
        assert_eq!(parses(), 4);
        // A refused configuration is not kept.
        assert!(validate_config::<Counting>(r#"{"limit": "x"}"#).is_err());
        assert!(accepted_config::<Counting>(r#"{"limit": "x"}"#).is_err());
    }
}
