//! The Rust-friendly types a policy works with (mirrors of `wit/policy.wit`).

/// What a transition does to the target environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionKind {
    /// Move an artifact forward.
    Promote,
    /// Put back an artifact that was in the environment before.
    Rollback,
}

/// An immutable, deployable build.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Artifact {
    /// Image repository without tag or digest.
    pub image: String,
    /// Version (usually the image tag).
    pub version: String,
    /// Content digest (`sha256:…`), when known.
    pub digest: Option<String>,
}

/// One artifact of a multi-artifact application, as [`crate::host::transition_artifacts`]
/// returns it (WIT 0.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamedArtifact {
    /// Its name in the tollgate configuration, e.g. `worker`.
    pub name: String,
    /// What goes into the target environment.
    pub artifact: Artifact,
    /// What ran there before, when known.
    pub previous: Option<Artifact>,
}

/// One person's approval of a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Who approved.
    pub approver: String,
    /// When, in Unix seconds UTC.
    pub at: i64,
    /// The version they approved.
    pub version: String,
    /// The role or group they approved in, when known.
    pub group: Option<String>,
}

/// One file the transition changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Repository-relative path.
    pub path: String,
    /// Content before; `None` for a new file.
    pub before: Option<String>,
    /// Content after; `None` for a deleted file.
    pub after: Option<String>,
}

/// A key/value annotation on a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Label key, e.g. `break-glass`.
    pub key: String,
    /// Label value, e.g. `INC-1234`.
    pub value: String,
}

/// The proposed change a policy decides on. See `wit/policy.wit` for each field's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Unique decision id.
    pub id: String,
    /// Promotion or rollback.
    pub kind: TransitionKind,
    /// Application name.
    pub application: String,
    /// Environment the artifact comes from, if any.
    pub from_env: Option<String>,
    /// Environment being changed.
    pub to_env: String,
    /// Artifact that will run in `to_env` afterwards.
    pub artifact: Artifact,
    /// Artifact running in `to_env` before, if any.
    pub previous_artifact: Option<Artifact>,
    /// Who asked for the transition.
    pub requested_by: String,
    /// When, in Unix seconds UTC (also what the sandbox clock reads).
    pub requested_at: i64,
    /// Approvals collected.
    pub approvals: Vec<Approval>,
    /// File edits the transition would commit.
    pub changes: Vec<FileChange>,
    /// Labels from the requester or pipeline.
    pub labels: Vec<Label>,
    /// When the artifact landed in `from_env`, in Unix seconds UTC.
    pub from_env_since: Option<i64>,
}

impl Transition {
    /// The value of the first label named `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|label| label.key == key).map(|label| label.value.as_str())
    }
}

/// Whether a transition may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It may.
    Allow,
    /// It must not.
    Deny,
}

/// One observation reported to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A sentence a person understands.
    pub message: String,
    /// The file (optionally `file#yaml.path`) it is about.
    pub path: Option<String>,
}

impl Finding {
    /// A finding not tied to a file.
    pub fn new(message: impl Into<String>) -> Self {
        Finding { message: message.into(), path: None }
    }

    /// Attach the file (or `file#yaml.path`) this finding is about.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Allow or deny.
    pub decision: Decision,
    /// Findings that explain the decision (an allow may carry notes too).
    pub findings: Vec<Finding>,
    /// The approvers whose approvals the policy counted, each as written in
    /// `transition.approvals` (WIT 0.1.2); `None` when the policy does not say. The host
    /// records only counted approvals as approving the promotion. Set it with
    /// [`Verdict::with_counted_approvals`].
    pub counted_approvals: Option<Vec<String>>,
}

impl Verdict {
    /// A verdict with these findings, saying nothing about approvals.
    pub fn new(decision: Decision, findings: Vec<Finding>) -> Self {
        Verdict { decision, findings, counted_approvals: None }
    }

    /// Allow, with no findings.
    pub fn allow() -> Self {
        Verdict::new(Decision::Allow, Vec::new())
    }

    /// Deny, with one finding.
    pub fn deny(message: impl Into<String>) -> Self {
        Verdict::new(Decision::Deny, vec![Finding::new(message)])
    }

    /// Deny when there is at least one finding, allow otherwise: the usual shape of a
    /// policy that collects every violation before answering.
    pub fn deny_if_any(findings: Vec<Finding>) -> Self {
        let decision = if findings.is_empty() { Decision::Allow } else { Decision::Deny };
        Verdict::new(decision, findings)
    }

    /// Add a finding.
    pub fn with_finding(mut self, finding: impl Into<Finding>) -> Self {
        self.findings.push(finding.into());
        self
    }

    /// Say which approvals counted: their approvers, each exactly as in
    /// `transition.approvals` (an empty list: none counted). Naming anyone who did not
    /// approve the transition is malformed output and fails the policy closed.
    pub fn with_counted_approvals<I, S>(mut self, approvers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.counted_approvals = Some(approvers.into_iter().map(Into::into).collect());
        self
    }

    /// Whether the decision is allow.
    pub fn is_allow(&self) -> bool {
        self.decision == Decision::Allow
    }
}

impl From<&str> for Finding {
    fn from(message: &str) -> Self {
        Finding::new(message)
    }
}

impl From<String> for Finding {
    fn from(message: String) -> Self {
        Finding::new(message)
    }
}

/// A capability a plugin asks the host for; granted per policy in the tollgate configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Read files of the proposed repository tree.
    ReadFile,
    /// HTTP GET to granted origins.
    HttpGet,
}

/// Self-description of a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Short name, e.g. `change-window`.
    pub name: String,
    /// Version, usually `env!("CARGO_PKG_VERSION")`.
    pub version: String,
    /// One sentence on what the policy enforces.
    pub description: String,
    /// Capabilities the plugin needs.
    pub capabilities: Vec<Capability>,
}

impl PluginInfo {
    /// Describe a plugin that needs no capabilities.
    pub fn new(name: impl Into<String>, version: impl Into<String>, description: impl Into<String>) -> Self {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            capabilities: Vec::new(),
        }
    }

    /// Ask for a capability.
    pub fn with_capability(mut self, capability: Capability) -> Self {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
        }
        self
    }
}
