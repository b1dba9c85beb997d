//! The promotion log, read back from the trailers of tollgate's commits.

use git2::{Oid, Repository, Sort};
use serde::Serialize;

use crate::transition::TransitionKind;

/// One promotion or rollback commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromotionRecord {
    /// Commit id.
    pub commit: String,
    /// Commit time, Unix seconds.
    pub time: i64,
    /// Promotion or rollback.
    pub kind: TransitionKind,
    /// Application.
    pub app: String,
    /// Source environment, if any.
    pub from: Option<String>,
    /// Target environment.
    pub to: String,
    /// Version promoted.
    pub version: String,
    /// Digest promoted.
    pub digest: Option<String>,
    /// Requester.
    pub requested_by: String,
    /// Approvers.
    pub approved_by: Vec<String>,
    /// `name@version sha256:… verdict` per policy.
    pub policies: Vec<String>,
    /// Decision id.
    pub decision: String,
    /// For rollbacks: the commit being rolled back.
    pub rollback_of: Option<String>,
    /// The version that was in `to` before.
    pub previous_version: Option<String>,
    /// The digest that was in `to` before.
    pub previous_digest: Option<String>,
}

/// Trailer keys tollgate writes.
pub mod trailer {
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
    /// Requester.
    pub const REQUESTED_BY: &str = "Tollgate-Requested-By";
    /// One per approver.
    pub const APPROVED_BY: &str = "Tollgate-Approved-By";
    /// One per policy.
    pub const POLICY: &str = "Tollgate-Policy";
    /// Decision id.
    pub const DECISION: &str = "Tollgate-Decision";
    /// The commit a rollback undoes.
    pub const ROLLBACK_OF: &str = "Tollgate-Rollback-Of";
    /// The version that was in the target environment before.
    pub const PREVIOUS_VERSION: &str = "Tollgate-Previous-Version";
    /// The digest that was in the target environment before.
    pub const PREVIOUS_DIGEST: &str = "Tollgate-Previous-Digest";
}

/// Parse a commit message's tollgate trailers; `None` for other commits.
pub fn parse_record(commit: &str, time: i64, message: &str) -> Option<PromotionRecord> {
    let trailers = git2::message_trailers_strs(message).ok()?;
    let mut record = PromotionRecord {
        commit: commit.to_string(),
        time,
        kind: TransitionKind::Promote,
        app: String::new(),
        from: None,
        to: String::new(),
        version: String::new(),
        digest: None,
        requested_by: String::new(),
        approved_by: Vec::new(),
        policies: Vec::new(),
        decision: String::new(),
        rollback_of: None,
        previous_version: None,
        previous_digest: None,
    };
    for (key, value) in trailers.iter() {
        let value = value.to_string();
        match key {
            trailer::APP => record.app = value,
            trailer::FROM => record.from = Some(value),
            trailer::TO => record.to = value,
            trailer::VERSION => record.version = value,
            trailer::DIGEST => record.digest = Some(value),
            trailer::REQUESTED_BY => record.requested_by = value,
            trailer::APPROVED_BY => record.approved_by.push(value),
            trailer::POLICY => record.policies.push(value),
            trailer::DECISION => record.decision = value,
            trailer::PREVIOUS_VERSION => record.previous_version = Some(value),
            trailer::PREVIOUS_DIGEST => record.previous_digest = Some(value),
            trailer::ROLLBACK_OF => {
                record.rollback_of = Some(value);
                record.kind = TransitionKind::Rollback;
            }
            _ => {}
        }
    }
    (!record.app.is_empty() && !record.to.is_empty() && !record.version.is_empty()).then_some(record)
}

/// The promotion log reachable from `tip` (promotions merged from review branches
/// included), newest first.
pub fn read_history(repo: &Repository, tip: Oid) -> Result<Vec<PromotionRecord>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    let mut records = Vec::new();
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        let message = commit.message().unwrap_or_default();
        if !message.contains("Tollgate-App:") {
            continue;
        }
        if let Some(record) = parse_record(&commit.id().to_string(), commit.time().seconds(), message) {
            records.push(record);
        }
    }
    Ok(records)
}

/// The newest record of `app` arriving in `env` (optionally with that exact version).
pub fn last_arrival<'a>(history: &'a [PromotionRecord], app: &str, env: &str, version: Option<&str>) -> Option<&'a PromotionRecord> {
    history
        .iter()
        .find(|record| record.app == app && record.to == env && version.is_none_or(|version| record.version == version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_round_trip_into_a_record() {
        let message = "promote shop-api 1.4.2 to prod (from test)\n\nbody\n\nTollgate-App: shop-api\nTollgate-From: test\nTollgate-To: prod\nTollgate-Version: 1.4.2\nTollgate-Requested-By: alice\nTollgate-Approved-By: bob\nTollgate-Approved-By: carol\nTollgate-Policy: change-window@0.1.0 sha256:0123456789ab allow\nTollgate-Decision: d-1\n";
        let record = parse_record("abc", 10, message).unwrap();
        assert_eq!(record.app, "shop-api");
        assert_eq!(record.from.as_deref(), Some("test"));
        assert_eq!(record.approved_by, ["bob", "carol"]);
        assert_eq!(record.kind, TransitionKind::Promote);
        assert!(parse_record("abc", 10, "fix typo\n").is_none());
    }
}
