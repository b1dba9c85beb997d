//! `health:`: where `tollgate watch` asks whether a promotion is running well after it landed
//! (Argo CD's sync and health, Kargo's verification).
//!
//! ```yaml
//! health:
//!   argocd:
//!     url: https://argocd.example.com            # or per environment: https://argocd-{env}.example.com
//!     application: "{app}-{env}"                 # the Argo CD application (default "{app}-{env}")
//!   alertmanager:                                # optional
//!     url: https://alertmanager.example.com
//!     matchers: ['app="{app}"', 'env="{env}"']   # the default
//!   credentials:                                 # host-held, as for policies (crate::credentials)
//!     https://argocd.example.com: { bearer: { env: ARGOCD_TOKEN } }
//!   environments:                                # optional, per environment
//!     prod: { application: "{app}-production", matchers: ['app="{app}"', 'cluster="prod-eu"'] }
//! ```
//!
//! `{app}` and `{env}` are the only placeholders; application and environment names are
//! identifiers, so a filled-in value cannot break out of a URL path or a matcher's quotes.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Config, ConfigProblem};
use crate::credentials::OriginCredential;
use crate::runtime::origin_of;

/// The `health:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Argo CD: where the application's sync and health are read.
    pub argocd: ArgoCd,
    /// Alertmanager: alerts that must not fire during the soak period (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<Alertmanager>,
    /// Credentials the host sends to these origins (origin → where to read the secret).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, OriginCredential>,
    /// Per-environment overrides of the application name and the matchers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, EnvironmentHealth>,
}

/// Where Argo CD is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgoCd {
    /// Base URL of Argo CD's API server; `{app}` and `{env}` are filled in.
    pub url: String,
    /// The Argo CD application's name (default `{app}-{env}`).
    #[serde(default = "default_application")]
    pub application: String,
}

/// Where Alertmanager is and which alerts count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alertmanager {
    /// Base URL of Alertmanager; `{app}` and `{env}` are filled in.
    pub url: String,
    /// Label matchers (`name="value"`, `!=`, `=~`, `!~`); an active, unsilenced, uninhibited
    /// alert matching all of them fails the health check. Default `['app="{app}"', 'env="{env}"']`.
    #[serde(default = "default_matchers")]
    pub matchers: Vec<String>,
}

/// One environment's overrides.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentHealth {
    /// The Argo CD application's name in this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// The Alertmanager matchers in this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Option<Vec<String>>,
}

fn default_application() -> String {
    "{app}-{env}".to_string()
}

fn default_matchers() -> Vec<String> {
    vec!["app=\"{app}\"".to_string(), "env=\"{env}\"".to_string()]
}

/// Where one application in one environment is checked, every template filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTarget {
    /// Argo CD's base URL (no trailing slash).
    pub argocd_url: String,
    /// The Argo CD application.
    pub application: String,
    /// Alertmanager's base URL and the matchers, when configured.
    pub alertmanager: Option<(String, Vec<String>)>,
}

/// `template` with `{app}` and `{env}` filled in (checked when loading, so it always fills).
fn fill(template: &str, app: &str, env: &str) -> String {
    super::templates::fill(template, app, env).unwrap_or_else(|_| template.to_string())
}

/// A template may hold `{app}` and `{env}`, and no other placeholder: the one check file
/// templates have too.
fn check_placeholders(template: &str) -> Result<(), String> {
    super::templates::fill(template, "app", "env").map(drop)
}

/// A base URL: http or https, an origin and an optional path, no query or fragment.
fn check_base_url(url: &str) -> Result<String, String> {
    check_placeholders(url)?;
    let filled = fill(url, "app", "env");
    origin_of(&filled)?;
    if filled.contains(['?', '#']) || filled.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} must be a base URL without query, fragment or spaces, e.g. https://argocd.example.com"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// An Argo CD application name (after filling in): DNS-label characters only.
fn check_application(name: &str) -> Result<(), String> {
    check_placeholders(name)?;
    let filled = fill(name, "app", "env");
    let valid = !filled.is_empty() && filled.len() <= 253 && filled.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if valid { Ok(()) } else { Err(format!("{name:?} is not an Argo CD application name (letters, digits, -, . and _)")) }
}

/// An Alertmanager matcher: `label OP "value"` with OP one of `=`, `!=`, `=~`, `!~`.
fn check_matcher(matcher: &str) -> Result<(), String> {
    check_placeholders(matcher)?;
    let problem = || format!("{matcher:?} is not a matcher; write label=\"value\" (or !=, =~, !~), e.g. app=\"{{app}}\"");
    let name_end = matcher.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).ok_or_else(problem)?;
    let (name, rest) = matcher.split_at(name_end);
    let value = ["=~", "!~", "!=", "="].iter().find_map(|op| rest.strip_prefix(op)).ok_or_else(problem)?;
    let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
    let inner = if quoted { &value[1..value.len() - 1] } else { "" };
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) || !quoted || inner.contains(['"', '\\']) || inner.chars().any(char::is_control) {
        return Err(problem());
    }
    Ok(())
}

impl HealthConfig {
    /// Check the section; `at` places a problem in the file.
    pub(super) fn check(&self, config: &Config, at: &dyn Fn(&[&str], String) -> ConfigProblem) -> Result<(), ConfigProblem> {
        check_base_url(&self.argocd.url).map_err(|message| at(&["health", "argocd", "url"], message))?;
        check_application(&self.argocd.application).map_err(|message| at(&["health", "argocd", "application"], message))?;
        if let Some(alertmanager) = &self.alertmanager {
            check_base_url(&alertmanager.url).map_err(|message| at(&["health", "alertmanager", "url"], message))?;
            check_matchers(&alertmanager.matchers).map_err(|message| at(&["health", "alertmanager", "matchers"], message))?;
        }
        for (env, overrides) in &self.environments {
            if !config.environments.iter().any(|known| known == env) {
                return Err(at(&["health", "environments", env], format!("unknown environment {env}; environments are {}", config.environments.join(", "))));
            }
            if let Some(application) = &overrides.application {
                check_application(application).map_err(|message| at(&["health", "environments", env, "application"], message))?;
            }
            if let Some(matchers) = &overrides.matchers {
                if self.alertmanager.is_none() {
                    return Err(at(&["health", "environments", env, "matchers"], "matchers need health.alertmanager: { url: … }".into()));
                }
                check_matchers(matchers).map_err(|message| at(&["health", "environments", env, "matchers"], message))?;
            }
        }
        let origins = self.origins(config);
        for (origin, credential) in &self.credentials {
            crate::credentials::check(origin, credential, &origins).map_err(|(field, message)| {
                let mut place = vec!["health", "credentials", origin.as_str()];
                place.extend((!field.is_empty()).then_some(field));
                let message = message.replace("is not in http_origins", "is not where health.argocd or health.alertmanager point");
                at(&place, message)
            })?;
        }
        Ok(())
    }

    /// Every origin the section's URLs reach, for every application and environment.
    fn origins(&self, config: &Config) -> Vec<String> {
        let urls = std::iter::once(&self.argocd.url).chain(self.alertmanager.as_ref().map(|alertmanager| &alertmanager.url));
        let mut origins: Vec<String> = urls
            .flat_map(|url| config.applications.keys().flat_map(move |app| config.environments.iter().map(move |env| fill(url, app, env))))
            .filter_map(|url| origin_of(&url).ok())
            .collect();
        origins.sort();
        origins.dedup();
        origins
    }

    /// Where `app` in `env` is checked.
    pub fn target(&self, app: &str, env: &str) -> HealthTarget {
        let overrides = self.environments.get(env).cloned().unwrap_or_default();
        let application = overrides.application.as_deref().unwrap_or(&self.argocd.application);
        HealthTarget {
            argocd_url: fill(&self.argocd.url, app, env).trim_end_matches('/').to_string(),
            application: fill(application, app, env),
            alertmanager: self.alertmanager.as_ref().map(|alertmanager| {
                let matchers = overrides.matchers.as_ref().unwrap_or(&alertmanager.matchers);
                (fill(&alertmanager.url, app, env).trim_end_matches('/').to_string(), matchers.iter().map(|matcher| fill(matcher, app, env)).collect())
            }),
        }
    }
}

fn check_matchers(matchers: &[String]) -> Result<(), String> {
    if matchers.is_empty() {
        return Err("is empty, so every alert would fail the check; give at least one matcher, e.g. ['app=\"{app}\"']".into());
    }
    matchers.iter().try_for_each(|matcher| check_matcher(matcher))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(health: &str) -> Result<Config, String> {
        let text = format!(
            "environments: [dev, prod]\napplications:\n  shop-api:\n    image: r.example.com/shop/api\n    environments:\n      prod: {{ file: prod.yaml, helm: {{ tag_path: image.tag }} }}\nhealth:\n{health}"
        );
        Config::parse("tollgate.yaml", &text).map_err(|error| error.0)
    }

    #[test]
    fn a_health_section_fills_in_app_and_env_with_per_environment_overrides() {
        let config = parse("  argocd: { url: 'https://argocd-{env}.example.com/' }\n  alertmanager: { url: 'http://am.example.com:9093' }\n  environments:\n    prod: { application: '{app}', matchers: ['team=\"shop\"'] }\n").unwrap();
        let health = config.health.unwrap();
        let dev = health.target("shop-api", "dev");
        assert_eq!(dev.argocd_url, "https://argocd-dev.example.com");
        assert_eq!(dev.application, "shop-api-dev");
        assert_eq!(dev.alertmanager.unwrap().1, vec!["app=\"shop-api\"", "env=\"dev\""]);
        let prod = health.target("shop-api", "prod");
        assert_eq!(prod.application, "shop-api");
        assert_eq!(prod.alertmanager.unwrap().1, vec!["team=\"shop\""]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

        /// Any text as the Argo CD application or an Alertmanager matcher is either accepted,
        /// and then fills in to a URL path segment or a matcher that cannot break out of its
        /// place, or an error on that field's line.
        #[test]
        fn any_application_or_matcher_is_safe_once_filled_or_an_error_on_its_field(
            text in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[a-z{}\"=~!/?#%. -]{0,24}",
                proptest::strategy::Just("{app}-{env}".to_string()),
                proptest::strategy::Just("app=\"{app}\"".to_string()),
            ],
            matcher in proptest::prelude::any::<bool>(),
        ) {
            let quoted = serde_json::to_string(&text).unwrap();
            let health = match matcher {
                true => format!("  argocd: {{ url: 'https://a.example.com' }}\n  alertmanager:\n    url: 'https://b.example.com'\n    matchers: [{quoted}]\n"),
                false => format!("  argocd:\n    url: 'https://a.example.com'\n    application: {quoted}\n"),
            };
            match parse(&health) {
                Ok(config) => {
                    let target = config.health.unwrap().target("shop-api", "prod");
                    if matcher {
                        let filled = &target.alertmanager.unwrap().1[0];
                        proptest::prop_assert!(!filled.contains(['{', '}', '\n', '\\']) && filled.ends_with('"'), "{:?} gave {:?}", text, filled);
                    } else {
                        proptest::prop_assert!(target.application.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')), "{:?} gave {:?}", text, target.application);
                    }
                }
                Err(error) => {
                    let field = if matcher { "tollgate.yaml:11:" } else { "tollgate.yaml:10:" };
                    proptest::prop_assert!(error.starts_with(field), "{:?}: {}", text, error);
                }
            }
        }
    }

    #[test]
    fn health_mistakes_are_errors_naming_the_field_and_line() {
        for (health, field) in [
            ("  argocd: { url: 'ftp://argocd.example.com' }\n", "health.argocd.url"),
            ("  argocd: { url: 'https://a.example.com?x=1' }\n", "health.argocd.url"),
            ("  argocd: { url: 'https://a.example.com', application: '{team}' }\n", "health.argocd.application"),
            ("  argocd: { url: 'https://a.example.com' }\n  alertmanager: { url: 'https://b.example.com', matchers: [] }\n", "health.alertmanager.matchers"),
            ("  argocd: { url: 'https://a.example.com' }\n  alertmanager: { url: 'https://b.example.com', matchers: ['app=\"x'] }\n", "health.alertmanager.matchers"),
            ("  argocd: { url: 'https://a.example.com' }\n  environments: { staging: {} }\n", "health.environments.staging"),
            ("  argocd: { url: 'https://a.example.com' }\n  credentials: { 'https://c.example.com': { bearer: { env: T } } }\n", "health.credentials"),
        ] {
            let error = parse(health).unwrap_err();
            assert!(error.contains(field) && error.contains("tollgate.yaml:"), "{health}: {error}");
        }
    }
}
