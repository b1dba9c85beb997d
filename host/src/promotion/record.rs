//! The decision record: the full account of one decision (the transition the policies saw,
//! every policy's configuration, limits and verdict), written as a file into the promotion
//! commit's own tree, so it travels with the commit through `git clone`, squash, rebase
//! and merge commits, and the branch's compare-and-swap covers it.
//!
//! A record lives at `.tollgate/decisions/APP/ENV/DECISION-ID.decision` (JSON text). The
//! `.decision` extension is one that GitOps controllers never read as a manifest: Argo CD
//! directory applications and Flux's generated kustomizations take `.yaml`, `.yml` and
//! `.json` files only.
//!
//! A record in a commit is a claim: `claim` checks a commit against its records, and
//! `verified` says what one that checks out is worth.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::observe::Observation;
use crate::transition::Transition;

/// The folder of the repository holding decision records.
pub const RECORD_DIR: &str = ".tollgate/decisions";
/// The record format written now. 3 added each policy's `observations` (what it saw through
/// the host, for offline replay); a schema-2 record reads as one without them.
pub const SCHEMA_VERSION: u32 = 3;
/// The oldest record format this tollgate reads.
pub const OLDEST_SCHEMA_VERSION: u32 = 2;
/// A record larger than this is not read (records are a few KiB).
pub(super) const MAX_RECORD_BYTES: usize = 4 << 20;

/// One policy in the decision record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedPolicy {
    /// Name in reports.
    pub name: String,
    /// Plugin reference as configured.
    pub plugin: String,
    /// sha256 of the component that ran.
    pub sha256: String,
    /// For an `oci://` plugin, the digest of the artifact manifest it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// Plugin version.
    pub version: String,
    /// `enforce` or `monitor`.
    pub mode: crate::config::Mode,
    /// Config it ran with.
    pub config: serde_json::Value,
    /// The exact config text the plugin was given.
    pub config_json: String,
    /// Time limit in ms.
    pub timeout_ms: u64,
    /// Memory cap in bytes.
    pub memory_bytes: usize,
    /// HTTP origins granted.
    pub http_origins: Vec<String>,
    /// Credentials the host attached, by origin: where each was read from, never the secret.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
    /// Its outcome (`{"outcome": "verdict", "decision": …, "findings": …}` or `{"outcome": "failed", "cause": …}`).
    pub outcome: serde_json::Value,
    /// What it saw through the host, in call order (schema 3; see [`super::observe`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<Observation>,
    /// The approvers whose approvals it counted, as it reported them (WIT 0.1.2; schema 3):
    /// `None` when it did not report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_approvals: Option<Vec<String>>,
}

/// The full decision, stored in the promotion commit's tree at [`DecisionRecord::path`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    /// Format version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// tollgate version that decided.
    pub tollgate_version: String,
    /// The branch tip the decision was made on.
    pub base_commit: String,
    /// The transition policies saw.
    pub transition: Transition,
    /// Whether the decision time was given by the requester (`--at`) instead of "now".
    #[serde(default)]
    pub time_overridden: bool,
    /// For rollbacks: the promotion commit whose artifact is being replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// Every policy that ran.
    pub policies: Vec<RecordedPolicy>,
}

impl DecisionRecord {
    /// Who approved, as the record says: the approvers some enforce-mode policy counted, in the
    /// transition's order (which approvals count is the policies' decision, never the host's).
    /// A schema-2 record predates counted approvals and meant every approval given.
    pub fn approved_by(&self) -> Vec<String> {
        let approvers = self.transition.approvals.iter().map(|approval| approval.approver.clone());
        if self.schema_version < 3 {
            return approvers.collect();
        }
        let counted: Vec<&String> = self
            .policies
            .iter()
            .filter(|policy| policy.mode == crate::config::Mode::Enforce)
            .filter_map(|policy| policy.counted_approvals.as_ref())
            .flatten()
            .collect();
        let mut approved: Vec<String> = approvers.filter(|approver| counted.contains(&approver)).collect();
        approved.dedup();
        approved
    }

    /// The approvals given that no policy counted (schema 3), in the transition's order.
    pub fn presented_not_counted(&self) -> Vec<String> {
        let approved = self.approved_by();
        self.transition.approvals.iter().map(|approval| approval.approver.clone()).filter(|approver| !approved.contains(approver)).collect()
    }

    /// Where the record lives in the tree.
    pub fn path(&self) -> String {
        let t = &self.transition;
        format!("{RECORD_DIR}/{}/{}/{}.decision", t.application, t.to_env, t.id)
    }

    /// The record as stored: pretty JSON with a final newline.
    pub fn to_text(&self) -> String {
        stored_json(self)
    }

    /// Parse a stored record.
    pub fn parse(text: &str) -> Result<DecisionRecord, String> {
        let record: DecisionRecord = serde_json::from_str(text).map_err(|error| format!("the decision record is not valid: {error}"))?;
        if !(OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&record.schema_version) {
            return Err(format!(
                "the decision record has schema version {}, this tollgate reads {OLDEST_SCHEMA_VERSION} to {SCHEMA_VERSION}",
                record.schema_version
            ));
        }
        Ok(record)
    }
}

/// A record as stored in a commit (decision and health records): pretty JSON with a final newline.
pub(super) fn stored_json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("records serialize");
    text.push('\n');
    text
}

/// `label` (`allow`, `deny` or `error`) as reported for a policy in `mode`: prefixed
/// `monitor-` when a monitor-mode policy did not allow.
pub fn mode_label(mode: crate::config::Mode, label: &str) -> String {
    match (mode, label) {
        (crate::config::Mode::Monitor, "deny" | "error") => format!("monitor-{label}"),
        _ => label.to_string(),
    }
}
