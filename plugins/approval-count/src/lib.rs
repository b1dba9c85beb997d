//! # approval-count: enough of the right people approved this exact artifact
//!
//! A tollgate policy plugin. For the target environment of a transition it counts the
//! approvals that are valid and denies when there are fewer than the configured number,
//! or fewer than a group's minimum ("2 approvals, at least 1 from sre").
//!
//! An approval counts only when all of these hold (checked in this order; the first one
//! that fails is the reason given for ignoring it):
//!
//! 1. it names an approver,
//! 2. it is for the version being put into the environment (`artifact.version`),
//! 3. the approver is not the requester, unless `allow_self_approval: true`,
//! 4. the approver is in `allowed_approvers`, when that list is configured,
//! 5. it is not dated after `requested_at`,
//! 6. it is not older than `max_age` at `requested_at`, when that is configured,
//! 7. its approver has not already been counted: each person counts once.
//!
//! ## Who is the same person
//!
//! Requesters and approvers arrive as a login (`bob`), an e-mail address (`bob@example.com`)
//! or a Git identity (`Bob <bob@example.com>`). Each is reduced to an identity: a Git
//! identity to its e-mail address, everything NFKC-normalised and case-folded (invisible
//! code points such as a zero-width space dropped), then mapped through the
//! environment's `identities` (`bob: [bob@example.com, bob@users.noreply.github.com]`
//! makes all three one person, `bob`).
//!
//! - Where treating two people as one can only refuse more (self-approval, counting each
//!   person once), an identity also matches an e-mail address whose local part equals it,
//!   on any domain: `bob` and `bob@users.noreply.github.com` are one person, so a requester
//!   cannot approve their own promotion under another spelling of their name.
//! - Where a match grants something (`allowed_approvers`, `groups`), identities must be
//!   equal: `bob@evil.example` is not the `bob` of a group unless `identities` says so.
//!
//! Group membership comes only from the configured `groups` lists (also case-insensitive);
//! the `group` an approval declares for itself is shown in findings but never trusted,
//! because anyone can type any group name into an approval.
//!
//! Configuration is per target environment with an optional `default` for environments
//! not listed; an environment entry replaces the default entirely (no field-by-field
//! merge), so what applies to an environment is always written in one place. Every key under
//! `environments` must be an environment the policy runs for, and every environment it runs
//! for needs an entry or the default: anything else is a configuration error, so a misspelt
//! name can never mean "no approvals needed". An environment with neither (which validation
//! refuses) fails the policy rather than allow.
//!
//! The verdict names the approvals that counted (WIT 0.1.2, `report-counted-approvals`), so
//! the host records only those as approving: a self-approval or a stale one is not.
//!
//! Rollbacks follow the same rules unless the environment says `rollbacks: exempt`.
//!
//! `max_age` is parsed with [`jiff`]'s duration parser: the friendly format (`90m`, `24h`,
//! `7d`, `1w`, `1h 30m`, `2 days`) or ISO 8601 (`PT24H`, `P7D`). Days are 24 hours and weeks
//! 7 days; months and years are rejected because their length depends on the date.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{Span, SpanRound, SpanTotal, Timestamp, Unit};
use serde::Deserialize;
use tollgate_sdk::{
    Decision, Error, Finding, PerEnvironment, PluginInfo, Policy, Result, Transition, TransitionKind, Verdict,
    export_policy,
};

/// Configuration, as written under the policy's `config:` in tollgate.yaml: [`Rules`] per
/// target environment, with a `default` for environments not listed.
pub type Config = PerEnvironment<Rules>;

/// What approvals one environment needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// How many distinct people must approve (at least 1; default 1).
    #[serde(default = "default_required")]
    pub required: u32,
    /// Whether the requester's own approval counts (default: it does not).
    #[serde(default)]
    pub allow_self_approval: bool,
    /// When set, only approvals by these people count (case-insensitive).
    #[serde(default)]
    pub allowed_approvers: Option<Vec<String>>,
    /// Named groups of approvers, e.g. `sre: [alice, bob]` (names case-insensitive).
    /// The only source of group membership.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Minimum number of counted approvals from members of a configured group,
    /// e.g. `sre: 1`. One person in two groups counts toward both.
    #[serde(default)]
    pub group_minimums: BTreeMap<String, u32>,
    /// Oldest an approval may be at `requested_at`, e.g. `24h` or `7d`.
    #[serde(default)]
    pub max_age: Option<MaxAge>,
    /// Whether rollbacks need the same approvals (`same`, the default) or none (`exempt`).
    #[serde(default)]
    pub rollbacks: Rollbacks,
    /// Other spellings of the same person: `bob: [bob@example.com, Bob <bob@corp.example>]`.
    #[serde(default)]
    pub identities: BTreeMap<String, Vec<String>>,
}

fn default_required() -> u32 {
    1
}

/// How rollbacks are treated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rollbacks {
    /// A rollback needs the same approvals as a promotion (of the version rolled back to).
    #[default]
    Same,
    /// A rollback needs no approvals: getting back to a known-good version should not wait.
    Exempt,
}

/// A maximum approval age: the text as configured (shown in findings) and its length.
///
/// Parsed while deserializing, so a bad value is reported with its field path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct MaxAge {
    /// The duration as written in the configuration, e.g. `24h`.
    pub text: String,
    /// The duration in seconds.
    pub seconds: i64,
}

impl TryFrom<String> for MaxAge {
    type Error = String;

    fn try_from(text: String) -> std::result::Result<Self, String> {
        let span: Span = text
            .parse()
            .map_err(|_| format!("{text:?} is not a duration; write it like 90m, 24h, 7d or 1w"))?;
        // Days as 24 hours (and weeks as 7 days) is what people mean by "approved within 7d";
        // months and years still fail here, which is what we want: their length varies.
        let seconds = span
            .total(SpanTotal::from(Unit::Second).days_are_24_hours())
            .map_err(|_| format!("{text:?} uses months or years; use weeks (w), days (d), hours (h) or minutes (m)"))?;
        if seconds <= 0.0 {
            return Err(format!("{text:?} must be longer than zero"));
        }
        Ok(MaxAge { text, seconds: seconds.ceil() as i64 })
    }
}

/// The policy.
pub struct ApprovalCount;

impl Policy for ApprovalCount {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "approval-count",
            env!("CARGO_PKG_VERSION"),
            "Enough distinct, allowed people (and enough from each required group) approved the exact version being deployed, recently enough",
        )
    }

    fn validate(config: &Config) -> Result<()> {
        config.require_rules(
            "config: no rules; add a `default` or at least one entry under `environments`, e.g. environments: { prod: { required: 2 } }",
        )?;
        config.validate_each(validate_rules)?;
        config.require_rules_where_it_runs()
    }

    fn evaluate(config: &Config, t: &Transition) -> Result<Verdict> {
        let env = &t.to_env;
        let version = &t.artifact.version;
        let (_, rules) = config.rules_for(env)?;
        if t.kind == TransitionKind::Rollback && rules.rollbacks == Rollbacks::Exempt {
            let none: [&str; 0] = [];
            return Ok(Verdict::allow()
                .with_finding(format!("rollback of {env} to {version} needs no approvals (rollbacks: exempt)"))
                .with_counted_approvals(none));
        }

        let tally = Tally::of(rules, t);
        let have = tally.describe_counted();
        let mut violations = Vec::new();

        let count = tally.counted.len() as u32;
        if count < rules.required {
            let have = if count == 0 { "have none".to_string() } else { format!("have {count}: {have}") };
            violations.push(format!("{env} needs {} of {version}; {have}", approvals(rules.required)));
        }
        let mut group_notes = Vec::new();
        for (group, &minimum) in &rules.group_minimums {
            let from_group = tally.counted.iter().filter(|c| c.groups.contains(group)).count() as u32;
            group_notes.push(format!("{from_group} of {minimum} from group {group}"));
            if from_group < minimum {
                let members = rules.groups.get(group).map(|m| m.join(", ")).unwrap_or_default();
                let have = if have.is_empty() { "none" } else { have.as_str() };
                violations.push(format!(
                    "{env} needs {} more approval{} of {version} from group {group} ({members}); have: {have}",
                    minimum - from_group,
                    if minimum - from_group == 1 { "" } else { "s" },
                ));
            }
        }

        let decision = if violations.is_empty() { Decision::Allow } else { Decision::Deny };
        let mut findings: Vec<Finding> = violations.into_iter().map(Finding::new).collect();
        if decision == Decision::Allow {
            let mut summary = format!("{version} is approved for {env} by {have}: {count} of {} required", rules.required);
            for note in group_notes {
                summary.push_str(", ");
                summary.push_str(&note);
            }
            findings.push(Finding::new(summary));
        }
        findings.extend(tally.notes.into_iter().map(Finding::new));
        Ok(Verdict::new(decision, findings).with_counted_approvals(tally.counted.into_iter().map(|counted| counted.name)))
    }
}

export_policy!(ApprovalCount);

/// Semantic checks of one environment's rules; `path` is `default` or `environments.<env>`.
fn validate_rules(path: &str, rules: &Rules) -> Result<()> {
    let fail = |field: &str, message: String| Err(Error::new(format!("config.{path}.{field}: {message}")));
    if rules.required == 0 {
        return fail(
            "required",
            "must be at least 1; leave an environment that needs no approvals out of the policy's environments in tollgate.yaml".to_string(),
        );
    }
    if let Some(allowed) = &rules.allowed_approvers {
        if allowed.is_empty() {
            return fail("allowed_approvers", "is empty, so no approval could ever count; list the approvers or remove the field".to_string());
        }
        let distinct: BTreeSet<String> = allowed.iter().map(|name| rules.identity(name)).collect();
        if rules.required as usize > distinct.len() {
            return fail(
                "required",
                format!(
                    "{} can never be met by the {} distinct allowed_approvers; lower it or allow more approvers",
                    approvals(rules.required),
                    distinct.len()
                ),
            );
        }
    }
    for (group, members) in &rules.groups {
        if members.is_empty() {
            return fail(&format!("groups.{group}"), "has no members; list at least one approver or remove the group".to_string());
        }
        // A group member who may not approve at all would silently make the group minimum
        // harder (or impossible) to meet; make the two lists agree instead.
        if let Some(allowed) = &rules.allowed_approvers {
            for (index, member) in members.iter().enumerate() {
                if !allowed.iter().any(|a| rules.same_person(a, member)) {
                    return fail(
                        &format!("groups.{group}[{index}]"),
                        format!("{member} is not in allowed_approvers, so their approvals would be ignored; add them there or remove them from the group"),
                    );
                }
            }
        }
    }
    for (group, &minimum) in &rules.group_minimums {
        let field = format!("group_minimums.{group}");
        let Some(members) = rules.groups.get(group) else {
            let configured: Vec<&str> = rules.groups.keys().map(String::as_str).collect();
            let configured = if configured.is_empty() { "none".to_string() } else { configured.join(", ") };
            return fail(
                &field,
                format!("no group {group} is configured; add its members under config.{path}.groups.{group} (configured groups: {configured})"),
            );
        };
        if minimum == 0 {
            return fail(&field, "must be at least 1; remove the entry if the group needs no approvals".to_string());
        }
        if minimum > rules.required {
            return fail(
                &field,
                format!("{minimum} is more than required ({}); raise required to at least {minimum} or lower the minimum", rules.required),
            );
        }
        let distinct: BTreeSet<String> = members.iter().map(|name| rules.identity(name)).collect();
        if minimum as usize > distinct.len() {
            return fail(
                &field,
                format!("{minimum} can never be met: group {group} has {} distinct member(s)", distinct.len()),
            );
        }
    }
    Ok(())
}

/// One approver whose approval counts.
struct Counted {
    /// The name as written in their (first counted) approval.
    name: String,
    /// Configured groups they are a member of (configuration spelling of the group name).
    groups: Vec<String>,
    /// The group their approval declared, shown only when no configured group applies.
    declared: Option<String>,
    /// Whether they are also the requester (only counted with `allow_self_approval`).
    requester: bool,
}

/// The approvals of a transition sorted into those that count and notes on those that don't.
struct Tally {
    counted: Vec<Counted>,
    notes: Vec<String>,
}

impl Tally {
    fn of(rules: &Rules, t: &Transition) -> Tally {
        let version = &t.artifact.version;
        let action = match t.kind {
            TransitionKind::Promote => "promotion",
            TransitionKind::Rollback => "rollback",
        };
        let mut counted: Vec<Counted> = Vec::new();
        let mut notes = Vec::new();
        for approval in &t.approvals {
            let who = approval.approver.as_str();
            let ignored = if who.trim().is_empty() {
                Some("an approval without an approver name".to_string())
            } else if &approval.version != version {
                Some(format!("{who} approved {}, not {version}", approval.version))
            } else if !rules.allow_self_approval && rules.maybe_same_person(who, &t.requested_by) {
                Some(format!("{who} approved their own {action}"))
            } else if rules.allowed_approvers.as_ref().is_some_and(|allowed| !allowed.iter().any(|a| rules.same_person(a, who))) {
                Some(format!("{who} is not an allowed approver for {}", t.to_env))
            } else if approval.at > t.requested_at {
                Some(format!(
                    "{who}'s approval is dated {}, after the request at {}",
                    timestamp(approval.at),
                    timestamp(t.requested_at)
                ))
            } else if let Some(max_age) = rules.max_age.as_ref().filter(|m| t.requested_at.saturating_sub(approval.at) > m.seconds) {
                Some(format!(
                    "{who}'s approval is {} old (max {})",
                    age(t.requested_at.saturating_sub(approval.at)),
                    max_age.text
                ))
            } else {
                counted.iter().find(|c| rules.maybe_same_person(&c.name, who)).map(|first| {
                    format!("another approval by {who} ({} is already counted; each person counts once)", first.name)
                })
            };
            if let Some(reason) = ignored {
                notes.push(format!("ignored: {reason}"));
                continue;
            }
            let groups: Vec<String> = rules
                .groups
                .iter()
                .filter(|(_, members)| members.iter().any(|m| rules.same_person(m, who)))
                .map(|(group, _)| group.clone())
                .collect();
            // The approval's own group is not trusted for a configured group: say so, since
            // the approver probably believes it counts.
            if let Some(declared) = &approval.group
                && let Some(configured) = rules.groups.keys().find(|g| identity_key(g) == identity_key(declared))
                && !groups.contains(configured)
            {
                notes.push(format!(
                    "{who}'s approval says group {declared}, but {who} is not listed in group {configured}, so it does not count toward {configured}"
                ));
            }
            counted.push(Counted {
                name: who.to_string(),
                groups,
                declared: approval.group.clone(),
                requester: rules.maybe_same_person(who, &t.requested_by),
            });
        }
        Tally { counted, notes }
    }

    /// `bob (sre), carol (dev, self-declared), alice (requester)`.
    fn describe_counted(&self) -> String {
        let describe = |c: &Counted| {
            let mut tags: Vec<String> = c.groups.clone();
            if tags.is_empty()
                && let Some(declared) = &c.declared
            {
                tags.push(format!("{declared}, self-declared"));
            }
            if c.requester {
                tags.push("requester".to_string());
            }
            if tags.is_empty() { c.name.clone() } else { format!("{} ({})", c.name, tags.join(", ")) }
        };
        self.counted.iter().map(describe).collect::<Vec<_>>().join(", ")
    }
}

impl Rules {
    /// The identity `name` stands for: a Git identity's e-mail address, lower-cased, mapped
    /// through `identities` to the person's configured name.
    fn identity(&self, name: &str) -> String {
        let key = identity_key(name);
        self.identities
            .iter()
            .find(|(person, aliases)| identity_key(person) == key || aliases.iter().any(|alias| identity_key(alias) == key))
            .map_or(key, |(person, _)| identity_key(person))
    }

    /// Strictly the same person: equal identities (for what a match grants).
    fn same_person(&self, a: &str, b: &str) -> bool {
        self.identity(a) == self.identity(b)
    }

    /// Possibly the same person: equal identities, or equal up to an e-mail domain (for
    /// what a match refuses: self-approval, counting a person twice).
    fn maybe_same_person(&self, a: &str, b: &str) -> bool {
        let (a, b) = (self.identity(a), self.identity(b));
        let local = |identity: &str| identity.split_once('@').map_or(identity.to_string(), |(local, _)| local.to_string());
        a == b || local(&a) == local(&b)
    }
}

/// `Name <email>` → `email`; trimmed, NFKC-normalised and case-folded, without invisible
/// code points (the host refuses them in identities; here a look-alike such as
/// `b\u{200b}ob` still counts as `bob`, so it can only refuse more).
fn identity_key(name: &str) -> String {
    let name = name.trim();
    let email = name.rsplit_once('<').and_then(|(_, rest)| rest.strip_suffix('>'));
    let identity = email.unwrap_or(name).trim();
    // ASCII has no invisible code points, is its own NFKC form and case-folds to ASCII: most
    // identities need none of the Unicode tables (the same key, cheaper).
    if identity.is_ascii() {
        return identity.to_ascii_lowercase();
    }
    unicode_identity_key(identity)
}

/// [`identity_key`] of a trimmed identity (its address, if it had one): without invisible code
/// points, NFKC-normalised, case-folded and normalised again.
fn unicode_identity_key(identity: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let visible: String = identity.chars().filter(|c| !is_invisible(*c)).collect();
    let folded = visible.nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

/// Unicode's default-ignorable code points and the bidirectional formatting characters.
fn is_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E
            | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF
    )
}

/// `1 approval`, `2 approvals`.
fn approvals(n: u32) -> String {
    if n == 1 { "1 approval".to_string() } else { format!("{n} approvals") }
}

/// An approval's age for people: `3d 2h`, `5h 30m`, `45s`.
fn age(seconds: i64) -> String {
    let smallest = match seconds {
        ..60 => Unit::Second,
        60..86_400 => Unit::Minute,
        _ => Unit::Hour,
    };
    Span::new()
        .try_seconds(seconds)
        .and_then(|span| span.round(SpanRound::new().largest(Unit::Day).smallest(smallest).days_are_24_hours()))
        .map(|span| format!("{span:#}"))
        .unwrap_or_else(|_| format!("{seconds}s"))
}

/// RFC 3339 UTC, e.g. `2026-01-05T10:00:00Z`.
fn timestamp(unix_seconds: i64) -> String {
    Timestamp::from_second(unix_seconds).map(|t| t.to_string()).unwrap_or_else(|_| format!("unix time {unix_seconds}"))
}

#[cfg(test)]
mod tests;
