//! # change-window: promote only inside change windows, never during a freeze
//!
//! Each target environment (or a `default` for environments not listed) has
//!
//! - an IANA time zone (`timezone`), resolved with jiff's bundled tz database because the
//!   sandbox has no `/usr/share/zoneinfo`;
//! - recurring `windows` (weekdays plus a local start and end time; a window whose end is
//!   before its start runs past midnight into the next day; any number per day);
//! - `freezes`: local date-time ranges with a reason, during which nothing may be promoted;
//! - a `rollbacks` rule (`same` | `outside-windows` | `always`);
//! - a `break_glass` rule (`never` | `outside-windows` | `always`) for transitions carrying
//!   the break-glass label (`break-glass=<ticket>` unless `break_glass_label` says otherwise).
//!
//! The time of a transition is its `requested_at` (never a clock), so a verdict is
//! reproducible.
//!
//! ## DST semantics
//!
//! - **Windows follow the local wall clock.** The request instant is converted to local time
//!   in the environment's zone; a window is open while the local weekday and `HH:MM` fall
//!   inside it (start inclusive, end exclusive). On a spring-forward day the skipped local
//!   times simply never happen (a 01:30–02:30 window in Europe/Berlin on 2026-03-29 is open
//!   for 30 real minutes, 01:30–02:00 CET). On a fall-back day the repeated hour happens twice
//!   and a window covering it is open during both passes (02:00–03:00 on 2026-10-25 is open
//!   for two real hours).
//! - **Freezes are instants.** `from` and `until` are local date-times resolved to instants
//!   with jiff's `compatible` disambiguation (the same as RFC 5545 and Temporal): a time
//!   inside a spring-forward gap moves forward by the gap (02:30 becomes 03:30 CEST); a time
//!   in a repeated hour means its first occurrence (02:30 CEST, not 02:30 CET). A freeze covers
//!   `from <= requested_at < until`.
//!
//! ## Configuration lookup
//!
//! `environments.<to_env>` if present, else `default`. An environment entry replaces the
//! default entirely (no field-by-field merging), so what applies to an environment is always
//! one readable block. Every key under `environments` must be an environment the policy runs
//! for, and every environment it runs for needs an entry or the default: anything else is a
//! configuration error, so a misspelt name cannot switch the windows off. An environment with
//! neither (which validation refuses) fails the policy rather than allow.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::{DateTime, Time, Weekday};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use tollgate_sdk::host::{self, LogLevel};
use tollgate_sdk::{
    Decision, Error, Finding, PerEnvironment, PluginInfo, Policy, Result, Transition, TransitionKind, Verdict,
    export_policy,
};

mod zone;

pub use zone::Zone;

/// Configuration, as written under the policy's `config:` in tollgate.yaml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rules for environments that have no entry under `environments`.
    #[serde(default)]
    pub default: Option<Rules>,
    /// Rules per target environment (the transition's `to_env`); an entry replaces `default`.
    /// Keys are environments the policy runs for.
    #[serde(default, deserialize_with = "tollgate_sdk::environment_names::map")]
    pub environments: BTreeMap<String, Rules>,
    /// Key of the transition label that carries a break-glass ticket.
    #[serde(default = "default_break_glass_label")]
    pub break_glass_label: String,
}

fn default_break_glass_label() -> String {
    "break-glass".to_string()
}

/// The rules for one environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// IANA time zone that windows and freezes are written in. Required when there are
    /// windows or freezes.
    #[serde(default)]
    pub timezone: Option<Zone>,
    /// When changes are allowed. Left out: at any time (only freezes apply). An empty list
    /// is a config error, since it would block every change forever.
    #[serde(default)]
    pub windows: Option<Vec<Window>>,
    /// Periods during which no change is allowed, window or not.
    #[serde(default)]
    pub freezes: Vec<Freeze>,
    /// What rollbacks may do.
    #[serde(default)]
    pub rollbacks: Rollbacks,
    /// What the break-glass label may override.
    #[serde(default)]
    pub break_glass: BreakGlass,
}

/// A recurring weekly window, e.g. Mon–Thu 09:00–16:00.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Days the window opens on (`mon`..`sun` or `monday`..`sunday`, any case).
    pub days: Vec<Day>,
    /// Local opening time, inclusive.
    pub start: TimeOfDay,
    /// Local closing time, exclusive. Before `start`: the window closes on the next day.
    /// `24:00` means the end of the day.
    pub end: TimeOfDay,
}

/// A freeze: no changes from `from` until `until` (local date-times in the environment's zone).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// First frozen local date-time, `YYYY-MM-DD HH:MM` (or with `T`).
    pub from: LocalDateTime,
    /// First local date-time after the freeze.
    pub until: LocalDateTime,
    /// Why; shown to whoever is blocked.
    pub reason: String,
}

/// What rollbacks (transitions of kind `rollback`) may do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rollbacks {
    /// Rollbacks follow the same windows and freezes as promotions.
    Same,
    /// Rollbacks may happen outside windows, but not during a freeze (the default: undoing a
    /// bad release should not wait for office hours, a freeze is still a freeze).
    #[default]
    OutsideWindows,
    /// Rollbacks are never blocked by this policy, not even by a freeze.
    Always,
}

impl Rollbacks {
    fn as_str(self) -> &'static str {
        match self {
            Rollbacks::Same => "same",
            Rollbacks::OutsideWindows => "outside-windows",
            Rollbacks::Always => "always",
        }
    }
}

/// What a transition labelled with a break-glass ticket may override.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakGlass {
    /// Break-glass is not allowed: the label does not let anything through (the default).
    #[default]
    Never,
    /// Break-glass lets a change through outside the windows, but not during a freeze.
    OutsideWindows,
    /// Break-glass lets a change through outside the windows and during freezes.
    Always,
}

impl BreakGlass {
    fn as_str(self) -> &'static str {
        match self {
            BreakGlass::Never => "never",
            BreakGlass::OutsideWindows => "outside-windows",
            BreakGlass::Always => "always",
        }
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Zone::get(&name).ok_or_else(|| {
            D::Error::custom(format!(
                "{name:?} is not a known IANA time zone (use a name such as Europe/Berlin, America/New_York or UTC)"
            ))
        })
    }
}

/// A weekday as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(Weekday);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let day = match text.to_ascii_lowercase().as_str() {
            "mon" | "monday" => Weekday::Monday,
            "tue" | "tuesday" => Weekday::Tuesday,
            "wed" | "wednesday" => Weekday::Wednesday,
            "thu" | "thursday" => Weekday::Thursday,
            "fri" | "friday" => Weekday::Friday,
            "sat" | "saturday" => Weekday::Saturday,
            "sun" | "sunday" => Weekday::Sunday,
            _ => {
                return Err(D::Error::custom(format!(
                    "{text:?} is not a weekday (use mon, tue, wed, thu, fri, sat, sun or monday..sunday)"
                )));
            }
        };
        Ok(Day(day))
    }
}

/// A local time of day, `HH:MM`, kept as minutes since midnight (`24:00` = 1440, end of day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

const END_OF_DAY: u16 = 24 * 60;

impl TimeOfDay {
    fn of(time: Time) -> Self {
        // Seconds are ignored: 15:59:59 is still inside a window ending at 16:00, 16:00:00 is not.
        TimeOfDay(time.hour() as u16 * 60 + time.minute() as u16)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "24:00" {
            return Ok(TimeOfDay(END_OF_DAY));
        }
        // jiff checks the ranges; the shape check keeps the config to one spelling (HH:MM).
        let shaped = text.len() == 5 && text.as_bytes()[2] == b':';
        match Time::strptime("%H:%M", &text) {
            Ok(time) if shaped => Ok(TimeOfDay::of(time)),
            _ => Err(D::Error::custom(format!("{text:?} is not a time of day (HH:MM)"))),
        }
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A local date-time without zone, `YYYY-MM-DD HH:MM` or `YYYY-MM-DDTHH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDateTime(DateTime);

impl<'de> Deserialize<'de> for LocalDateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::strptime("%Y-%m-%d %H:%M", &text)
            .or_else(|_| DateTime::strptime("%Y-%m-%dT%H:%M", &text))
            .map(LocalDateTime)
            .map_err(|_| D::Error::custom(format!("{text:?} is not a local date-time (YYYY-MM-DD HH:MM)")))
    }
}

impl LocalDateTime {
    /// The instant this local date-time names in `tz`, resolving DST gaps and folds the
    /// `compatible` way (gap: shifted forward; fold: the earlier of the two).
    fn instant(self, zone: &Zone) -> Result<Timestamp> {
        let tz = zone.at_local(self.0).ok_or_else(|| Error::new(format!("{self}: the time zone {} cannot be read", zone.name())))?;
        tz.to_ambiguous_timestamp(self.0)
            .compatible()
            .map_err(|error| Error::new(format!("{self} cannot be placed in time: {error}")))
    }
}

impl fmt::Display for LocalDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.strftime("%Y-%m-%d %H:%M"))
    }
}

impl Window {
    fn has(&self, day: Weekday) -> bool {
        self.days.iter().any(|d| d.0 == day)
    }

    /// Whether the window is open at this local weekday and time of day.
    fn is_open(&self, day: Weekday, now: TimeOfDay) -> bool {
        if self.start < self.end {
            self.has(day) && self.start <= now && now < self.end
        } else {
            // Crosses midnight: the evening part belongs to the listed day, the early-morning
            // part to the day after a listed day.
            (self.has(day) && now >= self.start) || (self.has(day.previous()) && now < self.end)
        }
    }

    /// e.g. `Mon–Thu 09:00–16:00` or `Sat 22:00–02:00 (next day)`.
    fn describe(&self) -> String {
        let end = if self.end == TimeOfDay(END_OF_DAY) { "24:00".to_string() } else { self.end.to_string() };
        let next_day = if self.end < self.start { " (next day)" } else { "" };
        format!("{} {}–{end}{next_day}", describe_days(&self.days), self.start)
    }
}

const SHORT_DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Day lists as people write them: `Mon–Thu`, `Sat, Sun`, `Mon, Wed, Fri`, `every day`.
fn describe_days(days: &[Day]) -> String {
    let mut present = [false; 7];
    for day in days {
        present[day.0.to_monday_zero_offset() as usize] = true;
    }
    if present.iter().all(|&p| p) {
        return "every day".to_string();
    }
    let mut parts = Vec::new();
    let mut index = 0;
    while index < 7 {
        if !present[index] {
            index += 1;
            continue;
        }
        let first = index;
        while index + 1 < 7 && present[index + 1] {
            index += 1;
        }
        match index - first {
            0 => parts.push(SHORT_DAY_NAMES[first].to_string()),
            1 => parts.push(format!("{}, {}", SHORT_DAY_NAMES[first], SHORT_DAY_NAMES[index])),
            _ => parts.push(format!("{}–{}", SHORT_DAY_NAMES[first], SHORT_DAY_NAMES[index])),
        }
        index += 1;
    }
    parts.join(", ")
}

impl Config {
    /// The rules for `env` and where they come from (`environments.<env>` or `default`);
    /// `Err` where there are none.
    fn rules_for(&self, env: &str) -> Result<(&Rules, String)> {
        PerEnvironment::rules_in(self.default.as_ref(), &self.environments, env).map(|(scope, rules)| (rules, scope.to_string()))
    }
}

/// The policy.
pub struct ChangeWindow;

impl Policy for ChangeWindow {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "change-window",
            env!("CARGO_PKG_VERSION"),
            "Changes to an environment happen only inside its change windows and never during a freeze, with rules for rollbacks and break-glass",
        )
    }

    fn validate(config: &Config) -> Result<()> {
        if config.default.is_none() && config.environments.is_empty() {
            return Err(Error::new(
                "config: there are no rules; add `default` and/or `environments.<env>` with a timezone and windows or freezes",
            ));
        }
        if config.break_glass_label.trim().is_empty() {
            return Err(Error::new(
                "config.break_glass_label: must not be empty; it is the key of the transition label that carries a break-glass ticket (default break-glass)",
            ));
        }
        if let Some(rules) = &config.default {
            validate_rules(rules, "config.default")?;
        }
        for (env, rules) in &config.environments {
            validate_rules(rules, &format!("config.environments.{env}"))?;
        }
        PerEnvironment::require_rules_in(config.default.as_ref(), &config.environments)
    }

    fn evaluate(config: &Config, transition: &Transition) -> Result<Verdict> {
        let env = transition.to_env.as_str();
        let (rules, origin) = config.rules_for(env)?;
        // validate() guarantees a zone whenever there are windows or freezes; without one
        // there is nothing that could block.
        let Some(zone) = &rules.timezone else {
            return Ok(Verdict::allow());
        };
        let now = Timestamp::from_second(transition.requested_at).map_err(|error| {
            Error::new(format!("requested_at {} is not a usable time: {error}", transition.requested_at))
        })?;
        let tz = zone.at(now).ok_or_else(|| Error::new(format!("the time zone {} cannot be read", zone.name())))?;
        let local = now.to_zoned_datetime(tz.clone());
        let local_text = local.strftime("%A %Y-%m-%d %H:%M %Z").to_string();
        host::log(LogLevel::Debug, &format!("{env}: rules from {origin}; local time {local_text} ({})", zone.name()));

        let rollback = transition.kind == TransitionKind::Rollback;
        let mut blocks = Vec::new();
        let mut notes = Vec::new();

        // Windows: judged on the local wall clock (see the module docs on DST).
        let mut window_blocks = false;
        if let Some(windows) = &rules.windows {
            let time = TimeOfDay::of(local.time());
            if !windows.iter().any(|window| window.is_open(local.weekday(), time)) {
                let allowed = windows.iter().map(Window::describe).collect::<Vec<_>>().join(", ");
                let closed = format!("{env} changes are allowed {allowed} {}; it is {local_text}", zone.name());
                if rollback && rules.rollbacks != Rollbacks::Same {
                    notes.push(format!(
                        "rollback allowed outside the change window of {env} (rollbacks: {}): {closed}",
                        rules.rollbacks.as_str()
                    ));
                } else {
                    blocks.push(closed);
                    window_blocks = true;
                }
            }
        }

        // Freezes: judged on instants.
        let mut freeze_reasons = Vec::new();
        for freeze in &rules.freezes {
            let (from, until) = (freeze.from.instant(zone)?, freeze.until.instant(zone)?);
            if !(from <= now && now < until) {
                continue;
            }
            let frozen = format!("{env} is frozen until {} {} ({})", freeze.until, zone.name(), freeze.reason);
            match (rollback, rules.rollbacks) {
                (true, Rollbacks::Always) => {
                    notes.push(format!("rollback allowed during a freeze (rollbacks: always): {frozen}"));
                }
                (true, Rollbacks::OutsideWindows) => {
                    blocks.push(format!(
                        "{frozen}; rollbacks may go outside change windows but not into a freeze (rollbacks: outside-windows)"
                    ));
                    freeze_reasons.push(freeze.reason.as_str());
                }
                _ => {
                    blocks.push(frozen);
                    freeze_reasons.push(freeze.reason.as_str());
                }
            }
        }

        if blocks.is_empty() {
            return Ok(Verdict::new(Decision::Allow, notes.into_iter().map(Finding::new).collect()));
        }

        // Break-glass only matters when something blocks; a label on a change that is
        // allowed anyway overrides nothing and is not reported.
        if let Some(ticket) = transition.label(&config.break_glass_label) {
            let label = &config.break_glass_label;
            let ticket = ticket.trim();
            let freeze_blocks = !freeze_reasons.is_empty();
            if ticket.is_empty() {
                blocks.push(format!(
                    "the {label} label has no ticket; set {label}=<ticket> (e.g. the incident id) to break glass"
                ));
            } else if rules.break_glass == BreakGlass::Never {
                blocks.push(format!(
                    "break-glass {ticket} is not allowed for {env} (break_glass: {} in {origin}); wait until changes are allowed or have break_glass enabled for {env}",
                    rules.break_glass.as_str()
                ));
            } else if freeze_blocks && rules.break_glass == BreakGlass::OutsideWindows {
                blocks.push(format!(
                    "break-glass {ticket} cannot override the freeze of {env}: break-glass there only covers time outside change windows (break_glass: {})",
                    rules.break_glass.as_str()
                ));
            } else {
                let verb = if rollback { "roll back" } else { "promote" };
                let reasons = freeze_reasons.join(", ");
                let overridden = match (window_blocks, freeze_blocks) {
                    (true, true) => format!("outside the change window and during the freeze of {env} ({reasons})"),
                    (false, true) => format!("during the freeze of {env} ({reasons})"),
                    _ => format!("outside the change window of {env}"),
                };
                // The recorded ticket comes first; what it overrode follows as context.
                let mut findings = vec![Finding::new(format!("break-glass {ticket} used to {verb} {overridden}"))];
                findings.extend(blocks.into_iter().chain(notes).map(Finding::new));
                return Ok(Verdict::new(Decision::Allow, findings));
            }
        }

        Ok(Verdict::deny_if_any(blocks.into_iter().map(Finding::new).collect()))
    }
}

/// Semantic checks of one environment's rules; `path` is e.g. `config.environments.prod`.
fn validate_rules(rules: &Rules, path: &str) -> Result<()> {
    if rules.windows.as_ref().is_some_and(Vec::is_empty) {
        return Err(Error::new(format!(
            "{path}.windows: an empty list would block every change; list at least one window, or leave windows out to allow changes at any time outside freezes"
        )));
    }
    let Some(zone) = &rules.timezone else {
        if rules.windows.is_some() || !rules.freezes.is_empty() {
            return Err(Error::new(format!(
                "{path}.timezone: missing; windows and freezes need an IANA time zone such as Europe/Berlin"
            )));
        }
        return Ok(());
    };
    for (index, window) in rules.windows.iter().flatten().enumerate() {
        let at = format!("{path}.windows[{index}]");
        if window.days.is_empty() {
            return Err(Error::new(format!("{at}.days: list at least one weekday (mon..sun)")));
        }
        if window.start == TimeOfDay(END_OF_DAY) {
            return Err(Error::new(format!(
                "{at}.start: \"24:00\" is the end of a day; a window cannot start there (use 00:00)"
            )));
        }
        if window.start == window.end {
            return Err(Error::new(format!(
                "{at}.end: \"{}\" equals start; a window needs a length (for a whole day use 00:00 to 24:00)",
                window.end
            )));
        }
    }
    for (index, freeze) in rules.freezes.iter().enumerate() {
        let at = format!("{path}.freezes[{index}]");
        if freeze.reason.trim().is_empty() {
            return Err(Error::new(format!(
                "{at}.reason: must not be empty; say why the environment is frozen (it is shown to whoever is blocked)"
            )));
        }
        let from = freeze.from.instant(zone).map_err(|e| Error::new(format!("{at}.from: {e}")))?;
        let until = freeze.until.instant(zone).map_err(|e| Error::new(format!("{at}.until: {e}")))?;
        if until <= from {
            return Err(Error::new(format!(
                "{at}.until: \"{}\" is not after from \"{}\"; a freeze must end after it starts",
                freeze.until, freeze.from
            )));
        }
    }
    Ok(())
}

export_policy!(ChangeWindow);

#[cfg(test)]
mod tests;
