//! # soak-time: an artifact moves on only after it has run upstream long enough
//!
//! A promotion into an environment with rules must bring an artifact that has been in the
//! environment it comes from (its upstream in the environment graph; with `require: all`
//! fan-in, in all of its upstreams) for at least `min`. The host tells the policy when the
//! artifact arrived there (`from-env-since`: the verified tollgate promotion that brought it)
//! and the decision time (`requested-at`); the policy compares the two.
//!
//! ```yaml
//! config:
//!   default: { min: 24h }
//!   environments:
//!     prod-eu: { min: 48h, break_glass: true }   # a ticket may skip the wait
//!     qa: { min: 0s }                            # no wait into qa
//! ```
//!
//! Rules are per *target* environment ([`PerEnvironment`]), with a `default`. An arrival
//! time that is unknown (the upstream's version was not put there by a verified tollgate
//! promotion) cannot prove anything: the policy denies and says so. Rollbacks and promotions
//! into a root (no upstream) have nothing to soak and are allowed with a finding.
//!
//! Break-glass: a transition labelled `break-glass=<ticket>` (the key can be changed with
//! `break_glass_label`) skips the wait when the environment's rules say `break_glass: true`;
//! the ticket is reported first, so the decision record keeps it. Without the permission the
//! label changes nothing and the deny says why.
//!
//! `min` is parsed with [`jiff`]'s duration parser: the friendly format (`90m`, `24h`, `2d`,
//! `1w`, `1h 30m`) or ISO 8601 (`PT24H`). Days are 24 hours and weeks 7 days; months and
//! years are rejected because their length depends on the date.

use jiff::{SpanTotal, Timestamp, Unit};
use serde::Deserialize;
use tollgate_sdk::{Error, Finding, PerEnvironment, PluginInfo, Policy, Result, Transition, TransitionKind, Verdict, export_policy};

/// Configuration, as written under the policy's `config:` in tollgate.yaml: [`Rules`] per
/// target environment, with a `default` for environments not listed.
pub type Config = PerEnvironment<Rules>;

/// How long an artifact must soak before it enters one environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The minimum time in the upstream, e.g. `24h`.
    pub min: Soak,
    /// Whether a break-glass ticket may skip the wait (default: no).
    #[serde(default)]
    pub break_glass: bool,
    /// Key of the transition label that carries a break-glass ticket.
    #[serde(default = "default_break_glass_label")]
    pub break_glass_label: String,
}

fn default_break_glass_label() -> String {
    "break-glass".to_string()
}

/// A soak duration: the text as configured (shown in findings) and its length.
///
/// Parsed while deserializing, so a bad value is reported with its field path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Soak {
    /// The duration as written in the configuration, e.g. `24h`.
    pub text: String,
    /// The duration in seconds.
    pub seconds: i64,
}

impl TryFrom<String> for Soak {
    type Error = String;

    fn try_from(text: String) -> std::result::Result<Self, String> {
        let span: jiff::Span = text.parse().map_err(|_| format!("{text:?} is not a duration; write it like 90m, 24h, 2d or 1w"))?;
        let seconds = span
            .total(SpanTotal::from(Unit::Second).days_are_24_hours())
            .map_err(|_| format!("{text:?} uses months or years; use weeks (w), days (d), hours (h) or minutes (m)"))?;
        if seconds < 0.0 {
            return Err(format!("{text:?} must not be negative"));
        }
        Ok(Soak { text, seconds: seconds.ceil() as i64 })
    }
}

/// `2d 3h 4m`, `5m`, `42s`: a short human length.
fn human(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds % 86_400 / 3_600, seconds % 3_600 / 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "m")]
        .into_iter()
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect();
    if parts.is_empty() { format!("{seconds}s") } else { parts.join(" ") }
}

fn time(unix_seconds: i64) -> String {
    Timestamp::from_second(unix_seconds).map_or_else(|_| format!("{unix_seconds} (Unix seconds)"), |t| t.to_string())
}

/// The policy.
pub struct SoakTime;

impl Policy for SoakTime {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "soak-time",
            env!("CARGO_PKG_VERSION"),
            "The artifact has been in the environment it comes from for at least a configured time, with a break-glass label",
        )
    }

    fn validate(config: &Config) -> Result<()> {
        config.require_rules("config: no rules; add a default (e.g. default: { min: 24h }) and/or environments.<env>: { min: … }")?;
        config.validate_each(|path, rules| {
            if rules.break_glass_label.trim().is_empty() {
                return Err(Error::new(format!(
                    "config.{path}.break_glass_label: must not be empty; it is the key of the transition label that carries a break-glass ticket (default break-glass)"
                )));
            }
            Ok(())
        })?;
        config.require_rules_where_it_runs()
    }

    fn evaluate(config: &Config, t: &Transition) -> Result<Verdict> {
        let env = t.to_env.as_str();
        let (scope, rules) = config.rules_for(env)?;
        if t.kind == TransitionKind::Rollback {
            return Ok(Verdict::allow().with_finding(format!(
                "rollback of {} in {env} to {}: a rollback goes back to what ran there, so no soak time applies",
                t.application, t.artifact.version
            )));
        }
        let Some(from) = &t.from_env else {
            return Ok(Verdict::allow().with_finding(format!(
                "{} enters {env} with --version ({env} has no upstream), so there is no upstream to have soaked in",
                t.artifact.version
            )));
        };
        let version = &t.artifact.version;
        let min = &rules.min;
        let problem = match t.from_env_since {
            None => format!(
                "how long {version} has been in {from} is unknown (no verified tollgate promotion brought it there), so the \
                 soak time of {} for {env} ({scope}) cannot be shown; promote it into {from} with tollgate first",
                min.text
            ),
            Some(since) => {
                let soaked = t.requested_at.saturating_sub(since);
                if soaked >= min.seconds {
                    return Ok(Verdict::allow().with_finding(format!(
                        "{version} has been in {from} for {} (since {}); {env} requires {} ({scope})",
                        human(soaked),
                        time(since),
                        min.text
                    )));
                }
                format!(
                    "{version} has been in {from} for {} (since {}); {env} requires {} ({scope}): wait until {}",
                    human(soaked),
                    time(since),
                    min.text,
                    time(since.saturating_add(min.seconds))
                )
            }
        };
        let label = &rules.break_glass_label;
        let Some(ticket) = t.label(label).map(str::trim) else {
            return Ok(Verdict::deny(problem));
        };
        let findings = if ticket.is_empty() {
            vec![problem, format!("the {label} label has no ticket; set {label}=<ticket> (e.g. the incident id) to break glass")]
        } else if !rules.break_glass {
            vec![problem, format!("break-glass {ticket} is not allowed to skip the soak time of {env} (break_glass: false in {scope})")]
        } else {
            // The recorded ticket comes first; what it overrode follows as context.
            return Ok(Verdict::allow()
                .with_finding(format!("break-glass {ticket} used to skip the soak time of {env}"))
                .with_finding(problem));
        };
        Ok(Verdict::deny_if_any(findings.into_iter().map(Finding::new).collect()))
    }
}

export_policy!(SoakTime);

#[cfg(test)]
mod tests;
