//! What a policy said about a transition, and what that means for the transition.

use serde::Serialize;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The transition may go ahead.
    Allow,
    /// The transition must not go ahead.
    Deny,
}

/// One observation a policy reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A sentence for the person reading the report.
    pub message: String,
    /// The file (or `file#yaml.path`) it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A well-formed answer from a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Allow or deny.
    pub decision: Decision,
    /// The findings explaining it.
    pub findings: Vec<Finding>,
}

/// The outcome of running one policy: its verdict, or why it could not give one.
/// A failure is never an allow: the decision fails closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum PolicyOutcome {
    /// The policy gave a verdict.
    Verdict(Verdict),
    /// The policy failed to run; `cause` says why in plain words
    /// ("timed out after 2000 ms", "exceeded memory limit of 64 MiB", …).
    Failed {
        /// Why it failed.
        cause: String,
    },
}

impl PolicyOutcome {
    /// A failure with a cause.
    pub fn failed(cause: impl Into<String>) -> Self {
        PolicyOutcome::Failed { cause: cause.into() }
    }

    /// Short word for reports: `allow`, `deny` or `error`.
    pub fn label(&self) -> &'static str {
        match self {
            PolicyOutcome::Verdict(Verdict { decision: Decision::Allow, .. }) => "allow",
            PolicyOutcome::Verdict(Verdict { decision: Decision::Deny, .. }) => "deny",
            PolicyOutcome::Failed { .. } => "error",
        }
    }

    /// The findings, if there was a verdict.
    pub fn findings(&self) -> &[Finding] {
        match self {
            PolicyOutcome::Verdict(verdict) => &verdict.findings,
            PolicyOutcome::Failed { .. } => &[],
        }
    }
}
