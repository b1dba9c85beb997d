//! The proposed change a policy decides on, as the host models it.
//!
//! This mirrors the `transition` record of `wit/policy.wit`, with serde support so it can be
//! read from a cases file, recorded in a decision log, and replayed later. Times are Unix
//! seconds; in YAML/JSON they may also be written as RFC 3339 text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Promotion or rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransitionKind {
    /// Move an artifact forward.
    #[default]
    Promote,
    /// Put back an earlier artifact.
    Rollback,
}

/// What kind of thing an artifact is (Kargo's Freight holds all three): a container image, a
/// Helm chart or a Git revision. Policies see it through WIT 0.1.3's
/// `host.transition-artifact-kinds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A container image: a tag (or a digest alone), and a digest where the files have one.
    #[default]
    Image,
    /// A Helm chart: a chart version (semver); no digest.
    HelmChart,
    /// A Git revision: a tag or a full 40-hex commit id; no digest.
    GitRevision,
}

impl ArtifactKind {
    /// The word for it in messages and `status`.
    pub fn word(self) -> &'static str {
        match self {
            ArtifactKind::Image => "image",
            ArtifactKind::HelmChart => "helm-chart",
            ArtifactKind::GitRevision => "git-revision",
        }
    }

    /// Whether it is an image (kept out of records written before kinds, so they read and
    /// write as before).
    pub fn is_image(&self) -> bool {
        *self == ArtifactKind::Image
    }

    /// Check `version` is one this kind can have: an image's as [`crate::input::version`]
    /// says, without build metadata; a chart's a semantic version (a leading `v` and `+BUILD`
    /// metadata allowed, as Helm allows them); a Git revision's a tag that is one valid
    /// ref-name component without `+`, or a full 40-hex commit id.
    pub fn check_version(self, version: &str) -> Result<(), String> {
        crate::input::version("version", version).map_err(|error| error.message)?;
        // Build metadata (`+…`) is a chart version's only: an OCI tag has no `+`, and in a
        // kustomize remote's `?ref=` a `+` would be read as a space.
        if version.contains('+') && self != ArtifactKind::HelmChart {
            return Err(format!("{version:?} is not a valid {} version: only a Helm chart's version takes +BUILD metadata", self.word()));
        }
        match self {
            ArtifactKind::Image => Ok(()),
            ArtifactKind::HelmChart => semver::Version::parse(version.strip_prefix('v').unwrap_or(version))
                .map(drop)
                .map_err(|error| format!("{version:?} is not a chart version: a Helm chart's version is a semantic version such as 1.4.2 ({error})")),
            ArtifactKind::GitRevision => {
                let commit = is_commit_id(version);
                let tag = !version.contains('/') && git2::Reference::is_valid_name(&format!("refs/tags/{version}"));
                if commit || tag {
                    Ok(())
                } else {
                    Err(format!("{version:?} is not a Git revision: give a tag (one ref-name component) or a full 40-hex commit id"))
                }
            }
        }
    }
}

/// Whether `text` is a full Git commit id: 40 hex digits.
pub fn is_commit_id(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// An immutable, deployable build. Each field has its default of [`Artifact::default`] on its
/// own, so a cases file can give just the version (`artifact: { version: 1.5.0-rc }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Artifact {
    /// Image repository without tag or digest.
    pub image: String,
    /// Version (usually the image tag).
    pub version: String,
    /// `sha256:…` digest, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Default for Artifact {
    fn default() -> Self {
        Artifact { image: "registry.example.com/app".into(), version: "1.0.0".into(), digest: None }
    }
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Who approved.
    pub approver: String,
    /// When, Unix seconds (RFC 3339 accepted on input). Defaults to the request time.
    #[serde(default, with = "optional_timestamp", skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// The version approved.
    pub version: String,
    /// Role or group the approver acted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// For a signed approval: the statement and signature it was verified from (recorded so
    /// `verify` can re-check it offline). Never given to plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<ApprovalEvidence>,
}

/// The evidence behind a signed approval (see `trust::statement`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalEvidence {
    /// The canonical statement text that was signed.
    pub statement: String,
    /// The armored SSHSIG signature.
    pub signature: String,
    /// `SHA256:…` fingerprint of the key that verified.
    pub key: String,
}

/// One file edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileChange {
    /// Repository-relative path.
    pub path: String,
    /// Content before (`None`: new file).
    #[serde(default)]
    pub before: Option<String>,
    /// Content after (`None`: deleted file).
    #[serde(default)]
    pub after: Option<String>,
}

/// The proposed change. Every field has a default so a test case only states what matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Transition {
    /// Unique decision id.
    pub id: String,
    /// Promotion or rollback.
    pub kind: TransitionKind,
    /// Application name.
    pub application: String,
    /// Source environment.
    pub from_env: Option<String>,
    /// Target environment.
    pub to_env: String,
    /// Artifact going into `to_env`.
    pub artifact: Artifact,
    /// Artifact in `to_env` before.
    pub previous_artifact: Option<Artifact>,
    /// Requester.
    pub requested_by: String,
    /// Request time, Unix seconds (RFC 3339 accepted on input).
    #[serde(with = "timestamp")]
    pub requested_at: i64,
    /// Approvals.
    pub approvals: Vec<Approval>,
    /// File edits.
    pub changes: Vec<FileChange>,
    /// Labels (key → value).
    pub labels: BTreeMap<String, String>,
    /// When the artifact landed in `from_env`, Unix seconds (RFC 3339 accepted on input).
    #[serde(with = "optional_timestamp", skip_serializing_if = "Option::is_none")]
    pub from_env_since: Option<i64>,
    /// For a multi-artifact application: every artifact of the unit, by name (empty for the
    /// single-image form). `artifact` then carries the primary artifact's image and the
    /// set's version (see [`set_version`]), so approvals bind to the whole set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<NamedArtifact>,
    /// What kind `artifact` is (a single-artifact application's chart or Git revision; a
    /// multi-artifact application's primary). Left out when it is an image.
    #[serde(skip_serializing_if = "ArtifactKind::is_image")]
    pub artifact_kind: ArtifactKind,
}

/// One artifact of a multi-artifact transition, with what ran before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedArtifact {
    /// Artifact name as configured (e.g. `worker`).
    pub name: String,
    /// Image, Helm chart or Git revision (records written before kinds read as images).
    #[serde(default)]
    pub kind: ArtifactKind,
    /// Image repository without tag or digest.
    pub image: String,
    /// Version going in.
    pub version: String,
    /// Digest going in, when the files hold one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Version in the target environment before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    /// Digest in the target environment before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<String>,
}

/// The version of a set of artifacts (name, version): the shared version when all have the
/// same one, else `set-` and the first 16 hex digits of the SHA-256 of `name=version` lines
/// in name order. An approval names this version, so it counts only for exactly this set.
pub fn set_version<'a>(versions: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    use sha2::{Digest, Sha256};
    let mut pairs: Vec<(&str, &str)> = versions.into_iter().collect();
    pairs.sort();
    match pairs.first() {
        Some((_, first)) if pairs.iter().all(|(_, version)| version == first) => first.to_string(),
        _ => {
            let mut hasher = Sha256::new();
            for (name, version) in &pairs {
                hasher.update(format!("{name}={version}\n").as_bytes());
            }
            format!("set-{}", &hex::encode(hasher.finalize())[..16])
        }
    }
}

impl Default for Transition {
    /// A promotion of `app` 1.0.0 from `staging` to `prod` by `alice` at
    /// 2026-01-05T10:00:00Z (a Monday), with no approvals: the same defaults as the SDK's
    /// test builder.
    fn default() -> Self {
        Transition {
            id: "test-decision".into(),
            kind: TransitionKind::Promote,
            application: "app".into(),
            from_env: Some("staging".into()),
            to_env: "prod".into(),
            artifact: Artifact::default(),
            previous_artifact: None,
            requested_by: "alice".into(),
            requested_at: 1_767_607_200,
            approvals: Vec::new(),
            changes: Vec::new(),
            labels: BTreeMap::new(),
            from_env_since: None,
            artifacts: Vec::new(),
            artifact_kind: ArtifactKind::Image,
        }
    }
}

/// Parse a time given as Unix seconds or RFC 3339 text.
fn parse_time<E: serde::de::Error>(value: TimeInput) -> Result<i64, E> {
    match value {
        TimeInput::Seconds(seconds) => Ok(seconds),
        TimeInput::Text(text) => text
            .parse::<jiff::Timestamp>()
            .map(|timestamp| timestamp.as_second())
            .map_err(|error| E::custom(format!("{text:?} is not an RFC 3339 time such as 2026-01-05T10:00:00Z ({error})"))),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TimeInput {
    Seconds(i64),
    Text(String),
}

mod timestamp {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(seconds: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(*seconds)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        super::parse_time(super::TimeInput::deserialize(deserializer)?)
    }
}

/// Deserialize an optional time given as Unix seconds or RFC 3339 text.
pub fn deserialize_optional_time<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    optional_timestamp::deserialize(deserializer)
}

mod optional_timestamp {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(seconds: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match seconds {
            Some(seconds) => serializer.serialize_some(seconds),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        Option::<super::TimeInput>::deserialize(deserializer)?.map(super::parse_time).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_accept_rfc3339_and_seconds() {
        let t: Transition = serde_yaml::from_str("requested_at: 2026-03-29T01:45:00+01:00\nfrom_env_since: 10").unwrap();
        assert_eq!(t.requested_at, 1_774_745_100);
        assert_eq!(t.from_env_since, Some(10));
        assert_eq!(t.to_env, "prod", "unspecified fields keep their defaults");
    }

    #[test]
    fn cases_artifact_with_only_a_version_takes_the_default_image() {
        let t: Transition = serde_yaml::from_str("artifact: { version: 1.5.0-rc }\nprevious_artifact: { version: 1.4.0 }").unwrap();
        assert_eq!(t.artifact, Artifact { version: "1.5.0-rc".into(), ..Artifact::default() });
        assert_eq!(t.previous_artifact, Some(Artifact { version: "1.4.0".into(), ..Artifact::default() }));
        let t: Transition = serde_yaml::from_str("artifact: { image: registry.example.com/api }").unwrap();
        assert_eq!(t.artifact.version, "1.0.0", "the version keeps its default too");
        let error = serde_yaml::from_str::<Transition>("artifact: { versoin: 1.5.0 }").unwrap_err().to_string();
        assert!(error.contains("unknown field `versoin`"), "a typo is still an error: {error}");
    }

    #[test]
    fn a_set_version_is_the_shared_version_or_a_digest_of_every_version() {
        assert_eq!(set_version([("api", "1.2.3"), ("worker", "1.2.3")]), "1.2.3");
        let mixed = set_version([("worker", "1.2.4"), ("api", "1.2.3")]);
        assert!(mixed.starts_with("set-") && mixed.len() == 20, "{mixed}");
        assert_eq!(mixed, set_version([("api", "1.2.3"), ("worker", "1.2.4")]), "order does not matter");
        assert_ne!(mixed, set_version([("api", "1.2.4"), ("worker", "1.2.3")]), "which artifact has which version does");
        crate::input::version("version", &mixed).unwrap();
    }

    proptest::proptest! {
        /// Any set: its version is a valid tag, independent of order, and changes when any
        /// one artifact's version changes (unless all then share one version).
        #[test]
        fn a_set_version_binds_every_artifact(
            versions in proptest::collection::btree_map("[a-z][a-z0-9-]{0,8}", "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}", 1..6),
            pick in 0usize..6,
            bump in "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
        ) {
            let pairs: Vec<(&str, &str)> = versions.iter().map(|(name, version)| (name.as_str(), version.as_str())).collect();
            let set = set_version(pairs.iter().copied());
            crate::input::version("version", &set).unwrap();
            proptest::prop_assert_eq!(&set, &set_version(pairs.iter().rev().copied()));
            let index = pick % pairs.len();
            let mut changed = pairs.clone();
            changed[index].1 = &bump;
            if bump != pairs[index].1 {
                proptest::prop_assert_ne!(&set, &set_version(changed.iter().copied()));
            }
        }
    }

    #[test]
    fn a_bad_time_says_what_is_expected() {
        let error = serde_yaml::from_str::<Transition>("requested_at: friday").unwrap_err().to_string();
        assert!(error.contains("\"friday\" is not an RFC 3339 time"), "{error}");
    }
}
