//! # deployment-health: promote only what is healthy where it runs now
//!
//! Before an artifact moves on, it must behave in the environment it comes from. For a
//! promotion into an environment that has rules, the policy asks, per environment:
//!
//! - **Argo CD** ([`argocd`]): the Argo CD application of the *source* environment (named by a
//!   template, `{app}-{env}` by default) must be `Healthy` and `Synced`, and its live images
//!   (`status.summary.images`) must include the artifact being promoted
//!   (`GET /api/v1/applications/{name}`).
//! - **Alertmanager** ([`alertmanager`]): no active, unsilenced, uninhibited alert may match
//!   the configured label matchers for the source and/or the target environment
//!   (`GET /api/v2/alerts?filter=…&active=true&silenced=false&inhibited=false`). Each firing
//!   alert is a finding naming it, its labels and since when it fires.
//!
//! Either check is optional per environment. Health that cannot be established is never
//! assumed: an unreachable endpoint, a refused origin, a non-2xx answer, malformed JSON or a
//! timeout is a deny with a finding naming the endpoint.
//!
//! Credentials (the Argo CD token, Alertmanager basic auth) are **not** part of this
//! configuration: tollgate's host attaches them to the granted origin (`credentials:` of the
//! policy in tollgate.yaml), so the plugin never sees them.
//!
//! Rules are per *target* environment ([`PerEnvironment`]): `environments.prod` says what a
//! promotion into prod must show about staging (its source); every environment the policy
//! runs for needs an entry or a `default`, and every key must be one of them (configuration
//! errors otherwise, so a misspelt name cannot switch the checks off). A rollback has no source
//! environment; `rollbacks: exempt` lets it through without asking anything.

pub mod alertmanager;
pub mod argocd;
mod template;

use serde::Deserialize;
use tollgate_sdk::{
    Capability, Error, Finding, PerEnvironment, PluginInfo, Policy, Result, Transition, TransitionKind, Verdict,
    export_policy,
};

use alertmanager::{Alertmanager, Side};
use argocd::ArgoCd;

/// Configuration, as written under the policy's `config:` in tollgate.yaml: [`Rules`] per
/// target environment, with a `default` for environments not listed.
pub type Config = PerEnvironment<Rules>;

/// What a promotion into one environment must show.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The Argo CD check of the source environment.
    #[serde(default)]
    pub argocd: Option<ArgoCd>,
    /// The Alertmanager check of the source and/or target environment.
    #[serde(default)]
    pub alertmanager: Option<Alertmanager>,
    /// Whether rollbacks are checked (`check`, the default) or let through (`exempt`).
    #[serde(default)]
    pub rollbacks: Rollbacks,
}

/// What rollbacks must show.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rollbacks {
    /// The same checks as promotions, as far as they apply (a rollback has no source
    /// environment, so only target-environment alerts are asked).
    #[default]
    Check,
    /// Rollbacks are not checked: undoing a bad release must not wait for its alerts to clear.
    Exempt,
}

/// The policy.
pub struct DeploymentHealth;

impl Policy for DeploymentHealth {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "deployment-health",
            env!("CARGO_PKG_VERSION"),
            "The artifact is deployed, healthy and synced in the environment it comes from (Argo CD), \
             and no matching alert fires there or in the target (Alertmanager)",
        )
        .with_capability(Capability::HttpGet)
    }

    fn validate(config: &Config) -> Result<()> {
        config.require_rules(
            "config: no rules; add an entry under environments (e.g. environments: { prod: { argocd: { url: https://argocd.example.com } } }) or a default",
        )?;
        config.validate_each(|path, rules| {
            let at = format!("config.{path}");
            if rules.argocd.is_none() && rules.alertmanager.is_none() {
                return Err(Error::new(format!(
                    "{at}: set argocd, alertmanager or both, so the policy knows what to check; \
                     an environment that needs no checks should be left out of the policy's environments in tollgate.yaml"
                )));
            }
            if let Some(argocd) = &rules.argocd {
                argocd.validate(&format!("{at}.argocd"))?;
            }
            if let Some(alertmanager) = &rules.alertmanager {
                alertmanager.validate(&format!("{at}.alertmanager"))?;
            }
            Ok(())
        })?;
        config.require_rules_where_it_runs()
    }

    fn evaluate(config: &Config, t: &Transition) -> Result<Verdict> {
        let env = t.to_env.as_str();
        let (_, rules) = config.rules_for(env)?;
        if t.kind == TransitionKind::Rollback && rules.rollbacks == Rollbacks::Exempt {
            return Ok(Verdict::allow().with_finding(format!(
                "rollback of {} in {env} to {} was not checked for deployment health (rollbacks: exempt)",
                t.application, t.artifact.version
            )));
        }

        let mut findings = Vec::new();
        let mut notes = Vec::new();
        if let Some(argocd) = &rules.argocd {
            match &t.from_env {
                Some(source) => match argocd.check(t, source) {
                    Ok(note) => notes.push(note),
                    Err(problems) => findings.extend(problems),
                },
                None => notes.push(Finding::new(format!(
                    "Argo CD was not asked: this {} into {env} has no source environment",
                    if t.kind == TransitionKind::Rollback { "rollback" } else { "promotion" }
                ))),
            }
        }
        if let Some(alertmanager) = &rules.alertmanager {
            for side in &alertmanager.check {
                let checked = match side {
                    Side::Source => t.from_env.as_deref(),
                    Side::Target => Some(env),
                };
                let Some(checked) = checked else {
                    notes.push(Finding::new(format!(
                        "source-environment alerts were not asked: this transition into {env} has no source environment"
                    )));
                    continue;
                };
                match alertmanager.check(t, checked) {
                    Ok(note) => notes.push(note),
                    Err(problems) => findings.extend(problems),
                }
            }
        }

        let mut verdict = Verdict::deny_if_any(findings);
        // Notes only accompany an allow, so a deny lists nothing but its reasons.
        if verdict.is_allow() {
            for note in notes {
                verdict = verdict.with_finding(note);
            }
        }
        Ok(verdict)
    }
}

export_policy!(DeploymentHealth);

/// A finding about an endpoint that gave no usable answer: `what` (e.g. `Argo CD application
/// shop-api-staging`) at `url` could not be read, and `why`.
pub(crate) fn unreadable(what: &str, url: &str, why: &str) -> Finding {
    Finding::new(format!("{what} could not be read from {url}: {why}; health that cannot be established is never assumed"))
}

/// Why a non-2xx response is no answer: its status and a one-line excerpt of its body.
pub(crate) fn status_problem(response: &tollgate_sdk::host::HttpResponse) -> String {
    // One line, and short: an error page can be a whole HTML document.
    let body = String::from_utf8_lossy(&response.body).split_whitespace().collect::<Vec<_>>().join(" ");
    let body = excerpt(&body, 200);
    if body.is_empty() { format!("it answered HTTP {}", response.status) } else { format!("it answered HTTP {}: {body}", response.status) }
}

/// The first `max` characters of `text`, marking a cut with `…`.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests;
