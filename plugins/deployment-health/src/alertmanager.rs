//! The Alertmanager check: no active, unsilenced, uninhibited alert matches the configured
//! label matchers for an environment.
//!
//! Asks `GET {url}/api/v2/alerts?active=true&silenced=false&inhibited=false&filter=…` (one
//! `filter` per matcher; Alertmanager's API v2) and reads, of each alert, `labels`,
//! `startsAt` and `status` (`state`, `silencedBy`, `inhibitedBy`). The state is checked again
//! on this side, so only a silenced or inhibited alert is left out, whatever the server's
//! filtering did.

use std::collections::BTreeMap;

use serde::Deserialize;
use tollgate_sdk::host::{self, LogLevel};
use tollgate_sdk::{Error, Finding, Result, Transition};

use crate::template::{base_url, encode};
use tollgate_sdk::placeholders::{check as check_placeholders, fill};
use crate::{excerpt, status_problem, unreadable};

/// At most this many firing alerts are listed one by one; the rest are counted.
const LISTED_ALERTS: usize = 20;

/// Where Alertmanager is and which alerts block a promotion.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alertmanager {
    /// Base URL of Alertmanager, e.g. `https://alertmanager.example.com`. Its origin must be
    /// granted to the policy (`http_origins`); credentials, if any, under `credentials`.
    pub url: String,
    /// Label matchers in Alertmanager's syntax (`name="value"`, `!=`, `=~`, `!~`); `{env}` is
    /// the environment being checked and `{app}` the application. Default
    /// `['env="{env}"', 'app="{app}"']`.
    #[serde(default = "default_matchers")]
    pub matchers: Vec<String>,
    /// Which environments' alerts block: `source` (where the artifact runs now) and/or
    /// `target` (where it goes). Default `[source]`.
    #[serde(default = "default_check")]
    pub check: Vec<Side>,
}

/// An environment of the transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The environment the artifact comes from (`from_env`).
    Source,
    /// The environment being changed (`to_env`).
    Target,
}

fn default_matchers() -> Vec<String> {
    vec!["env=\"{env}\"".to_string(), "app=\"{app}\"".to_string()]
}

fn default_check() -> Vec<Side> {
    vec![Side::Source]
}

impl Alertmanager {
    /// Semantic checks; `at` is the configuration path of this block.
    pub fn validate(&self, at: &str) -> Result<()> {
        base_url(&self.url, "https://alertmanager.example.com").map_err(|problem| Error::new(format!("{at}.url: {problem}")))?;
        if self.matchers.is_empty() {
            return Err(Error::new(format!(
                "{at}.matchers: is empty, so every alert in Alertmanager would block; give at least one matcher, \
                 e.g. ['env=\"{{env}}\"', 'severity=\"critical\"'] (or alertname=~\".+\" to really mean every alert)"
            )));
        }
        for (index, matcher) in self.matchers.iter().enumerate() {
            check_matcher(matcher)
                .and_then(|()| check_placeholders(matcher))
                .map_err(|problem| Error::new(format!("{at}.matchers[{index}]: {problem}")))?;
        }
        if self.check.is_empty() {
            return Err(Error::new(format!("{at}.check: is empty; list source, target or both (the default is [source])")));
        }
        Ok(())
    }

    /// Ask Alertmanager for alerts of `env`. `Ok` is a note for an allow; `Err` the findings
    /// of a deny (one per firing alert, or one saying why Alertmanager gave no answer).
    pub fn check(&self, t: &Transition, env: &str) -> std::result::Result<Finding, Vec<Finding>> {
        let base = base_url(&self.url, "").map_err(|problem| vec![Finding::new(problem)])?;
        let matchers: Vec<String> = self.matchers.iter().map(|matcher| fill(matcher, &t.application, env, escape_label_value)).collect();
        let mut url = format!("{base}/api/v2/alerts?active=true&silenced=false&inhibited=false");
        for matcher in &matchers {
            url.push_str("&filter=");
            url.push_str(&encode(matcher));
        }
        let shown = matchers.join(", ");
        let what = format!("Alertmanager alerts for {env} ({shown})");
        let response = host::http_get(&url, &[("accept", "application/json")])
            .map_err(|error| vec![unreadable(&what, &url, error.message())])?;
        if !response.is_success() {
            return Err(vec![unreadable(&what, &url, &status_problem(&response))]);
        }
        host::log(LogLevel::Debug, &format!("{url} answered HTTP {} ({} bytes)", response.status, response.body.len()));
        let alerts: Vec<Alert> = serde_json::from_slice(&response.body)
            .map_err(|error| vec![unreadable(&what, &url, &format!("the answer is not a list of Alertmanager alerts ({error})"))])?;
        let firing: Vec<&Alert> = alerts.iter().filter(|alert| alert.blocks()).collect();
        if firing.is_empty() {
            return Ok(Finding::new(format!("no active, unsilenced alert in {env} matches {shown} (Alertmanager at {base})")));
        }
        let mut findings: Vec<Finding> = firing
            .iter()
            .take(LISTED_ALERTS)
            .map(|alert| Finding::new(format!("{env}: alert {} (Alertmanager at {base})", alert.describe())))
            .collect();
        if firing.len() > LISTED_ALERTS {
            findings.push(Finding::new(format!(
                "{env}: {} more firing alerts match {shown} (Alertmanager at {base})",
                firing.len() - LISTED_ALERTS
            )));
        }
        Err(findings)
    }
}

/// The parts of an Alertmanager API v2 `gettableAlert` the check reads.
#[derive(Debug, Deserialize)]
struct Alert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(rename = "startsAt", default)]
    starts_at: Option<String>,
    status: AlertStatus,
}

#[derive(Debug, Deserialize)]
struct AlertStatus {
    state: String,
    #[serde(rename = "silencedBy", default)]
    silenced_by: Vec<String>,
    #[serde(rename = "inhibitedBy", default)]
    inhibited_by: Vec<String>,
}

impl Alert {
    /// Not suppressed: neither silenced nor inhibited. An `unprocessed` alert (one
    /// Alertmanager has not yet matched against silences) blocks too, since it may well fire.
    fn blocks(&self) -> bool {
        self.status.state != "suppressed" && self.status.silenced_by.is_empty() && self.status.inhibited_by.is_empty()
    }

    /// `HighErrorRate firing since 2026-01-05T09:12:00Z {app="shop-api", env="staging", severity="critical"}`.
    fn describe(&self) -> String {
        let name = self.labels.get("alertname").map_or("(no alertname)", String::as_str);
        let since = match self.starts_at.as_deref() {
            Some(since) if !since.is_empty() => format!(" since {}", excerpt(since, 40)),
            _ => String::new(),
        };
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(key, _)| key.as_str() != "alertname")
            .map(|(key, value)| format!("{key}={:?}", excerpt(value, 100)))
            .collect();
        excerpt(&format!("{} firing{since} {{{}}}", excerpt(name, 100), labels.join(", ")), 1000)
    }
}

/// A value placed into a matcher: quotes and backslashes escaped, as Alertmanager reads them.
fn escape_label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `name op value`: a label name, one of `=`, `!=`, `=~`, `!~`, and a value (quoted or not).
fn check_matcher(matcher: &str) -> std::result::Result<(), String> {
    let example = "write it as name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\", e.g. severity=~\"critical|warning\"";
    let text = matcher.trim();
    let name_end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    let name = &text[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("{matcher:?} does not start with a label name; {example}"));
    }
    let rest = text[name_end..].trim_start();
    let Some(value) = ["=~", "!~", "!=", "="].iter().find_map(|op| rest.strip_prefix(op)) else {
        return Err(format!("{matcher:?} has no operator after {name}; {example}"));
    };
    let value = value.trim();
    if value.starts_with('"') && (value.len() < 2 || !value.ends_with('"') || value.ends_with("\\\"")) {
        return Err(format!("{matcher:?} opens a quote it does not close; {example}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_are_checked_for_shape() {
        for good in ["env=\"{env}\"", "severity=~\"critical|warning\"", "team != \"x\"", "a!~\"b\"", "env=staging", "x=\"\""] {
            assert!(check_matcher(good).is_ok(), "{good}");
        }
        for (bad, why) in [("=\"x\"", "label name"), ("1a=\"x\"", "label name"), ("env", "no operator"), ("env~\"x\"", "no operator"), ("env=\"x", "quote")] {
            assert!(check_matcher(bad).unwrap_err().contains(why), "{bad}");
        }
    }

    #[test]
    fn placed_values_are_escaped() {
        assert_eq!(fill("app=\"{app}\"", "a\"b\\c", "e", escape_label_value), "app=\"a\\\"b\\\\c\"");
    }

    #[test]
    fn only_unsilenced_uninhibited_alerts_block() {
        let alerts: Vec<Alert> = serde_json::from_str(
            r#"[{"labels": {"alertname": "A"}, "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}},
                {"labels": {"alertname": "B"}, "status": {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}},
                {"labels": {"alertname": "C"}, "status": {"state": "active", "silencedBy": [], "inhibitedBy": ["f"]}},
                {"labels": {"alertname": "D"}, "status": {"state": "unprocessed"}}]"#,
        )
        .unwrap();
        let blocking: Vec<&str> = alerts.iter().filter(|alert| alert.blocks()).map(|alert| alert.labels["alertname"].as_str()).collect();
        assert_eq!(blocking, ["A", "D"]);
    }
}
