//! The promotion commit's message: a subject, a short body and `Tollgate-*` trailers, the
//! human-readable index of the decision record. Both are written from the record alone, so
//! [`Trailers::disagreements`] can tell a commit whose trailers were edited or forged.
//!
//! Every value written here was validated where it entered (no control, line-breaking or
//! bidirectional characters; see [`crate::input`]), so no value can start a line of its own.

use super::record::{DecisionRecord, RecordedPolicy};
use crate::transition::TransitionKind;

/// Trailer keys tollgate writes.
pub mod key {
    /// A health record's outcome (`healthy` or `failed`; see `promotion::health`).
    pub const HEALTH: &str = "Tollgate-Health";
    /// The promotion commit a health record is about.
    pub const HEALTH_OF: &str = "Tollgate-Health-Of";
    /// Application.
    pub const APP: &str = "Tollgate-App";
    /// Source environment.
    pub const FROM: &str = "Tollgate-From";
    /// Target environment.
    pub const TO: &str = "Tollgate-To";
    /// Version.
    pub const VERSION: &str = "Tollgate-Version";
    /// Digest.
    pub const DIGEST: &str = "Tollgate-Digest";
    /// The version that was in the target environment before.
    pub const PREVIOUS_VERSION: &str = "Tollgate-Previous-Version";
    /// The digest that was in the target environment before.
    pub const PREVIOUS_DIGEST: &str = "Tollgate-Previous-Digest";
    /// Requester.
    pub const REQUESTED_BY: &str = "Tollgate-Requested-By";
    /// The decision time, when the requester chose it (`--at`).
    pub const REQUESTED_AT: &str = "Tollgate-Requested-At";
    /// One per approver.
    pub const APPROVED_BY: &str = "Tollgate-Approved-By";
    /// One per label, `key=value` (a break-glass label shows here).
    pub const LABEL: &str = "Tollgate-Label";
    /// One per policy.
    pub const POLICY: &str = "Tollgate-Policy";
    /// The commit a rollback undoes.
    pub const ROLLBACK_OF: &str = "Tollgate-Rollback-Of";
    /// Decision id (one per record in a commit of several transitions).
    pub const DECISION: &str = "Tollgate-Decision";
    /// In a commit of several transitions, one per record: `ID KIND APP VERSION to ENV [from ENV]`.
    pub const TRANSITION: &str = "Tollgate-Transition";
}

/// The `Tollgate-*` trailers of a commit message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    /// Application.
    pub app: Option<String>,
    /// Source environment.
    pub from: Option<String>,
    /// Target environment.
    pub to: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Digest.
    pub digest: Option<String>,
    /// Version before.
    pub previous_version: Option<String>,
    /// Digest before.
    pub previous_digest: Option<String>,
    /// Requester.
    pub requested_by: Option<String>,
    /// Decision time chosen by the requester (RFC 3339).
    pub requested_at: Option<String>,
    /// Approvers.
    pub approved_by: Vec<String>,
    /// Labels, `key=value`.
    pub labels: Vec<String>,
    /// `name@version sha256:… verdict` per policy.
    pub policies: Vec<String>,
    /// The commit a rollback undoes.
    pub rollback_of: Option<String>,
    /// Decision id (the last `Tollgate-Decision`).
    pub decision: Option<String>,
    /// Every `Tollgate-Decision`, in order.
    pub decisions: Vec<String>,
    /// Every `Tollgate-Transition` (commits of several transitions).
    pub transitions: Vec<String>,
}

impl Trailers {
    /// The trailers of `record`, as [`commit_message`] writes them.
    pub fn of(record: &DecisionRecord) -> Trailers {
        let t = &record.transition;
        Trailers {
            app: Some(t.application.clone()),
            from: t.from_env.clone(),
            to: Some(t.to_env.clone()),
            version: Some(t.artifact.version.clone()),
            digest: t.artifact.digest.clone(),
            previous_version: t.previous_artifact.as_ref().map(|previous| previous.version.clone()),
            previous_digest: t.previous_artifact.as_ref().and_then(|previous| previous.digest.clone()),
            requested_by: Some(t.requested_by.clone()),
            requested_at: record.time_overridden.then(|| rfc3339(t.requested_at)),
            approved_by: record.approved_by(),
            labels: t.labels.iter().map(|(key, value)| format!("{key}={value}")).collect(),
            policies: record.policies.iter().map(policy_summary).collect(),
            rollback_of: record.rollback_of.clone(),
            decision: Some(t.id.clone()),
            decisions: vec![t.id.clone()],
            transitions: Vec::new(),
        }
    }

    /// The trailers of a commit of several transitions, as [`batch_commit_message`] writes
    /// them: who asked, then one `Tollgate-Transition` and one `Tollgate-Decision` per record.
    pub fn of_batch(records: &[&DecisionRecord]) -> Trailers {
        Trailers {
            requested_by: records.first().map(|record| record.transition.requested_by.clone()),
            decision: records.last().map(|record| record.transition.id.clone()),
            decisions: records.iter().map(|record| record.transition.id.clone()).collect(),
            transitions: records.iter().map(|record| transition_summary(record)).collect(),
            ..Trailers::default()
        }
    }

    /// How these trailers differ from those of a commit adding `records` (several), one
    /// sentence each.
    pub fn batch_disagreements(&self, records: &[DecisionRecord]) -> Vec<String> {
        let mut sorted: Vec<&DecisionRecord> = records.iter().collect();
        sorted.sort_by_key(|record| record.path());
        let expected = Trailers::of_batch(&sorted);
        let mut problems = Vec::new();
        if self.decisions != expected.decisions {
            problems.push(format!(
                "its {} trailers name {}, the commit adds the decision records {}",
                key::DECISION,
                self.decisions.join(", "),
                expected.decisions.join(", ")
            ));
        }
        if self.transitions != expected.transitions {
            problems.push(format!("its {} trailers are not the transitions its decision records hold", key::TRANSITION));
        }
        let strip = |trailers: &Trailers| Trailers { decision: None, decisions: Vec::new(), transitions: Vec::new(), ..trailers.clone() };
        if strip(self) != strip(&expected) {
            problems.push(format!(
                "a commit of several transitions carries only {}, {} and {} trailers; it has others, or another requester",
                key::REQUESTED_BY,
                key::TRANSITION,
                key::DECISION
            ));
        }
        problems
    }

    /// The `Tollgate-*` trailers of `message`; `None` when it has none.
    pub fn parse(message: &str) -> Option<Trailers> {
        let parsed = git2::message_trailers_strs(message).ok()?;
        let mut trailers = Trailers::default();
        let mut any = false;
        for (name, value) in parsed.iter() {
            let value = value.to_string();
            let slot = match name {
                key::APP => &mut trailers.app,
                key::FROM => &mut trailers.from,
                key::TO => &mut trailers.to,
                key::VERSION => &mut trailers.version,
                key::DIGEST => &mut trailers.digest,
                key::PREVIOUS_VERSION => &mut trailers.previous_version,
                key::PREVIOUS_DIGEST => &mut trailers.previous_digest,
                key::REQUESTED_BY => &mut trailers.requested_by,
                key::REQUESTED_AT => &mut trailers.requested_at,
                key::ROLLBACK_OF => &mut trailers.rollback_of,
                key::APPROVED_BY => {
                    trailers.approved_by.push(value);
                    any = true;
                    continue;
                }
                key::LABEL => {
                    trailers.labels.push(value);
                    any = true;
                    continue;
                }
                key::POLICY => {
                    trailers.policies.push(value);
                    any = true;
                    continue;
                }
                key::TRANSITION => {
                    trailers.transitions.push(value);
                    any = true;
                    continue;
                }
                key::DECISION => {
                    trailers.decisions.push(value.clone());
                    trailers.decision = Some(value);
                    any = true;
                    continue;
                }
                // A health record's trailers: checked by `health`, never a promotion's claim.
                key::HEALTH | key::HEALTH_OF => continue,
                other if other.starts_with("Tollgate-") => {
                    any = true;
                    continue;
                }
                _ => continue,
            };
            any = true;
            *slot = Some(value);
        }
        any.then_some(trailers)
    }

    /// How these trailers differ from what `record` says, one sentence each.
    pub fn disagreements(&self, record: &DecisionRecord) -> Vec<String> {
        let expected = Trailers::of(record);
        let mut problems = Vec::new();
        let mut compare = |key: &str, ours: String, theirs: String| {
            if ours != theirs {
                problems.push(format!("its {key} trailer says {ours}, the decision record says {theirs}"));
            }
        };
        let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "nothing".into());
        let list = |values: &[String]| if values.is_empty() { "nothing".to_string() } else { values.join(", ") };
        compare(key::APP, show(&self.app), show(&expected.app));
        compare(key::FROM, show(&self.from), show(&expected.from));
        compare(key::TO, show(&self.to), show(&expected.to));
        compare(key::VERSION, show(&self.version), show(&expected.version));
        compare(key::DIGEST, show(&self.digest), show(&expected.digest));
        compare(key::PREVIOUS_VERSION, show(&self.previous_version), show(&expected.previous_version));
        compare(key::PREVIOUS_DIGEST, show(&self.previous_digest), show(&expected.previous_digest));
        compare(key::REQUESTED_BY, show(&self.requested_by), show(&expected.requested_by));
        compare(key::REQUESTED_AT, show(&self.requested_at), show(&expected.requested_at));
        compare(key::APPROVED_BY, list(&self.approved_by), list(&expected.approved_by));
        compare(key::LABEL, list(&self.labels), list(&expected.labels));
        compare(key::POLICY, list(&self.policies), list(&expected.policies));
        compare(key::ROLLBACK_OF, show(&self.rollback_of), show(&expected.rollback_of));
        problems
    }
}

/// `allow`, `deny` or `error`, prefixed `monitor-` for a monitor-mode policy that did not allow.
pub fn verdict_label(mode: crate::config::Mode, outcome: &serde_json::Value) -> String {
    let label = match (outcome.get("outcome").and_then(|v| v.as_str()), outcome.get("decision").and_then(|v| v.as_str())) {
        (Some("verdict"), Some("allow")) => "allow",
        (Some("verdict"), _) => "deny",
        _ => "error",
    };
    super::record::mode_label(mode, label)
}

/// `name@version sha256:<12 hex> verdict`, as in a `Tollgate-Policy` trailer and `history`.
pub fn policy_summary(policy: &RecordedPolicy) -> String {
    format!("{}@{} sha256:{} {}", policy.name, policy.version, short_hash(&policy.sha256), verdict_label(policy.mode, &policy.outcome))
}

/// The first 12 characters of a hash, for messages and trailers (never panics on short input).
pub fn short_hash(hash: &str) -> String {
    hash.chars().take(12).collect()
}

fn rfc3339(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds).map_or_else(|_| unix_seconds.to_string(), |time| time.to_string())
}

/// The commit message of `record`: subject, a short body, and the trailers.
pub fn commit_message(record: &DecisionRecord) -> String {
    let t = &record.transition;
    let subject = match (t.kind, &t.from_env) {
        (TransitionKind::Rollback, _) => format!(
            "rollback {} in {} to {} (was {})",
            t.application,
            t.to_env,
            t.artifact.version,
            t.previous_artifact.as_ref().map_or("unknown", |previous| previous.version.as_str())
        ),
        (TransitionKind::Promote, Some(from)) => format!("promote {} {} to {} (from {from})", t.application, t.artifact.version, t.to_env),
        (TransitionKind::Promote, None) => format!("promote {} {} to {}", t.application, t.artifact.version, t.to_env),
    };
    let trailers = Trailers::of(record);
    let mut message = format!("{subject}\n\nRequested by {}", t.requested_by);
    if !trailers.approved_by.is_empty() {
        message.push_str(&format!("; approved by {}", trailers.approved_by.join(", ")));
    }
    let files: Vec<&str> = t.changes.iter().map(|change| change.path.as_str()).collect();
    message.push_str(&format!(".\nChanged {}.\n", files.join(", ")));
    if record.time_overridden {
        message.push_str("Decided as of a time the requester chose (--at).\n");
    }
    if !record.policies.is_empty() {
        let verdicts: Vec<String> =
            record.policies.iter().map(|policy| format!("{} {}", policy.name, verdict_label(policy.mode, &policy.outcome))).collect();
        message.push_str(&format!("Policies: {}.\n", verdicts.join(", ")));
    }
    message.push_str(&format!("Decision record: {}\n\n", record.path()));

    let mut lines: Vec<(&str, String)> = vec![(key::APP, t.application.clone())];
    lines.extend(trailers.from.map(|from| (key::FROM, from)));
    lines.push((key::TO, t.to_env.clone()));
    lines.push((key::VERSION, t.artifact.version.clone()));
    lines.extend(trailers.digest.map(|digest| (key::DIGEST, digest)));
    lines.extend(trailers.previous_version.map(|version| (key::PREVIOUS_VERSION, version)));
    lines.extend(trailers.previous_digest.map(|digest| (key::PREVIOUS_DIGEST, digest)));
    lines.push((key::REQUESTED_BY, t.requested_by.clone()));
    lines.extend(trailers.requested_at.map(|at| (key::REQUESTED_AT, at)));
    lines.extend(trailers.approved_by.into_iter().map(|approver| (key::APPROVED_BY, approver)));
    lines.extend(trailers.labels.into_iter().map(|label| (key::LABEL, label)));
    lines.extend(trailers.policies.into_iter().map(|policy| (key::POLICY, policy)));
    lines.extend(trailers.rollback_of.map(|commit| (key::ROLLBACK_OF, commit)));
    lines.push((key::DECISION, t.id.clone()));
    for (key, value) in lines {
        message.push_str(&format!("{key}: {value}\n"));
    }
    message
}

/// `ID KIND APP VERSION to ENV [from ENV]`: one transition of a commit of several.
pub fn transition_summary(record: &DecisionRecord) -> String {
    let t = &record.transition;
    let kind = match t.kind {
        TransitionKind::Promote => "promote",
        TransitionKind::Rollback => "rollback",
    };
    let mut text = format!("{} {kind} {} {} to {}", t.id, t.application, t.artifact.version, t.to_env);
    if let Some(from) = &t.from_env {
        text.push_str(&format!(" from {from}"));
    }
    text
}

/// The message of a commit of several transitions (all or nothing): a subject naming them,
/// one body line per transition with its policies, and per record a `Tollgate-Transition`
/// and a `Tollgate-Decision` trailer (in record path order, as [`Trailers::of_batch`]).
pub fn batch_commit_message(records: &[&DecisionRecord]) -> String {
    let mut sorted: Vec<&DecisionRecord> = records.to_vec();
    sorted.sort_by_key(|record| record.path());
    let mut targets: Vec<String> = Vec::new();
    for record in &sorted {
        let t = &record.transition;
        targets.push(format!("{} {} to {}", t.application, t.artifact.version, t.to_env));
    }
    // A long train is named in the body and the trailers; the subject stays one short line.
    let named = if targets.len() > 4 { format!("{} and {} more", targets[..3].join(", "), targets.len() - 3) } else { targets.join(", ") };
    let mut message = format!("promote {} transitions: {named}\n\n", sorted.len());
    let requested_by = sorted.first().map(|record| record.transition.requested_by.clone()).unwrap_or_default();
    message.push_str(&format!("Requested by {requested_by}; all or nothing: every transition below was allowed.\n"));
    for record in &sorted {
        let t = &record.transition;
        let files: Vec<&str> = t.changes.iter().map(|change| change.path.as_str()).collect();
        let verdicts: Vec<String> =
            record.policies.iter().map(|policy| format!("{} {}", policy.name, verdict_label(policy.mode, &policy.outcome))).collect();
        let approvers = record.approved_by();
        message.push_str(&format!("- {}: changed {}", transition_summary(record), files.join(", ")));
        if !approvers.is_empty() {
            message.push_str(&format!("; approved by {}", approvers.join(", ")));
        }
        if !verdicts.is_empty() {
            message.push_str(&format!("; policies: {}", verdicts.join(", ")));
        }
        message.push_str(&format!("; record {}\n", record.path()));
    }
    message.push('\n');
    let trailers = Trailers::of_batch(&sorted);
    message.push_str(&format!("{}: {requested_by}\n", key::REQUESTED_BY));
    for (transition, decision) in trailers.transitions.iter().zip(&trailers.decisions) {
        message.push_str(&format!("{}: {transition}\n{}: {decision}\n", key::TRANSITION, key::DECISION));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with every field the message carries set.
    fn full_record() -> DecisionRecord {
        serde_json::from_value(serde_json::json!({
            "schema_version": 2,
            "tollgate_version": "0.1.0",
            "base_commit": "1111111111111111111111111111111111111111",
            "time_overridden": true,
            "rollback_of": "2222222222222222222222222222222222222222",
            "transition": {
                "id": "tg-0123456789abcdef",
                "kind": "rollback",
                "application": "shop-api",
                "from_env": "test",
                "to_env": "prod",
                "artifact": { "image": "r/shop/api", "version": "1.4.1", "digest": format!("sha256:{}", "ab".repeat(32)) },
                "previous_artifact": { "image": "r/shop/api", "version": "1.4.2", "digest": format!("sha256:{}", "cd".repeat(32)) },
                "requested_by": "alice@example.com",
                "requested_at": 1767607200,
                "approvals": [ { "approver": "bob", "version": "1.4.1" }, { "approver": "Carol <carol@example.com>", "version": "1.4.1" } ],
                "changes": [ { "path": "envs/prod/values.yaml", "before": "a", "after": "b" } ],
                "labels": { "break-glass": "INC-1234", "ticket": "CHG-9" }
            },
            "policies": [
                { "name": "change-window", "plugin": "builtin:change-window", "sha256": "0123456789abcdef0123", "version": "0.1.0", "mode": "enforce",
                  "config": {}, "config_json": "{}", "timeout_ms": 2000, "memory_bytes": 1, "http_origins": [],
                  "outcome": { "outcome": "verdict", "decision": "allow", "findings": [] } },
                { "name": "erp", "plugin": "builtin:erp-readiness", "sha256": "fedcba9876543210fedc", "version": "0.2.0", "mode": "monitor",
                  "config": {}, "config_json": "{}", "timeout_ms": 2000, "memory_bytes": 1, "http_origins": [],
                  "outcome": { "outcome": "failed", "cause": "timed out" } }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn the_real_message_writer_round_trips_every_field() {
        let record = full_record();
        let message = commit_message(&record);
        assert!(message.starts_with("rollback shop-api in prod to 1.4.1 (was 1.4.2)\n\n"), "{message}");
        let trailers = Trailers::parse(&message).expect("the message has trailers");
        assert_eq!(trailers, Trailers::of(&record));
        assert_eq!(trailers.app.as_deref(), Some("shop-api"));
        assert_eq!(trailers.from.as_deref(), Some("test"));
        assert_eq!(trailers.to.as_deref(), Some("prod"));
        assert_eq!(trailers.version.as_deref(), Some("1.4.1"));
        assert_eq!(trailers.digest, Some(format!("sha256:{}", "ab".repeat(32))));
        assert_eq!(trailers.previous_version.as_deref(), Some("1.4.2"));
        assert_eq!(trailers.previous_digest, Some(format!("sha256:{}", "cd".repeat(32))));
        assert_eq!(trailers.requested_by.as_deref(), Some("alice@example.com"));
        assert_eq!(trailers.requested_at.as_deref(), Some("2026-01-05T10:00:00Z"));
        assert_eq!(trailers.approved_by, ["bob", "Carol <carol@example.com>"]);
        assert_eq!(trailers.labels, ["break-glass=INC-1234", "ticket=CHG-9"]);
        assert_eq!(trailers.policies, ["change-window@0.1.0 sha256:0123456789ab allow", "erp@0.2.0 sha256:fedcba987654 monitor-error"]);
        assert_eq!(trailers.rollback_of.as_deref(), Some("2222222222222222222222222222222222222222"));
        assert_eq!(trailers.decision.as_deref(), Some("tg-0123456789abcdef"));
        assert!(trailers.disagreements(&record).is_empty());
    }

    #[test]
    fn a_commit_of_several_transitions_names_every_record_and_nothing_else() {
        let first = full_record();
        let mut second = full_record();
        second.transition.id = "tg-fedcba9876543210".into();
        second.transition.to_env = "prod-eu".into();
        let message = batch_commit_message(&[&second, &first]);
        assert!(message.starts_with("promote 2 transitions: shop-api 1.4.1 to prod-eu, shop-api 1.4.1 to prod\n\n"), "{message}");
        let trailers = Trailers::parse(&message).expect("the message has trailers");
        let records = [first.clone(), second.clone()];
        assert!(trailers.batch_disagreements(&records).is_empty(), "{:?}", trailers.batch_disagreements(&records));
        assert_eq!(trailers.decisions, ["tg-fedcba9876543210", "tg-0123456789abcdef"], "in record path order");
        // A decision left out, a transition edited, or a single-transition trailer added: each is caught.
        for (from, to) in [
            ("Tollgate-Decision: tg-fedcba9876543210\n", ""),
            ("rollback shop-api 1.4.1 to prod-eu", "rollback shop-api 6.6.6 to prod-eu"),
            ("Tollgate-Requested-By: alice@example.com\n", "Tollgate-Requested-By: alice@example.com\nTollgate-Version: 1.4.1\n"),
        ] {
            let edited = message.replace(from, to);
            assert_ne!(edited, message);
            let problems = Trailers::parse(&edited).unwrap().batch_disagreements(&records);
            assert_eq!(problems.len(), 1, "{from:?}: {problems:?}");
        }
    }

    #[test]
    fn every_edited_trailer_is_a_disagreement() {
        let record = full_record();
        let message = commit_message(&record);
        for (from, to) in [
            ("Tollgate-Version: 1.4.1", "Tollgate-Version: 6.6.6"),
            ("Tollgate-To: prod", "Tollgate-To: dev"),
            ("Tollgate-Approved-By: bob\n", "Tollgate-Approved-By: root\n"),
            ("Tollgate-Label: break-glass=INC-1234\n", ""),
            ("Tollgate-Requested-At: 2026-01-05T10:00:00Z\n", ""),
            ("Tollgate-Requested-By: alice@example.com", "Tollgate-Requested-By: mallory"),
        ] {
            let edited = message.replace(from, to);
            assert_ne!(edited, message);
            let problems = Trailers::parse(&edited).unwrap().disagreements(&record);
            assert_eq!(problems.len(), 1, "{from:?}: {problems:?}");
        }
        assert!(Trailers::parse("fix a typo\n\nSigned-off-by: a <a@b>\n").is_none());
    }
}
