//! The `trust:` section of `tollgate.yaml`: who may sign what the rules require, and where
//! (read from the protected branch like the rest of the configuration; the signatures
//! themselves are checked by `tollgate::trust`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `trust:` section of `tollgate.yaml`.
///
/// ```yaml
/// trust:
///   allowed_signers: .tollgate/allowed_signers   # in the repository, read from the branch
///   environments:
///     prod: { signed_approvals: true, signed_commits: true }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Repository-relative path of the allowed-signers file (Git's `gpg.ssh.allowedSignersFile`
    /// format, see ssh-keygen(1) "ALLOWED SIGNERS"), read from the configured branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<String>,
    /// The principals (of the allowed signers, namespace `git`) whose signature on a promotion
    /// commit makes it *verified*; a consistent record in a commit none of them signed is an
    /// *unsigned* record, a claim anyone with push access could have written. Empty: every
    /// principal the allowed signers accept for commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promoters: Vec<String>,
    /// Commits that change the configuration (`tollgate.yaml`, `tollgate.lock`, the
    /// allowed-signers file) must be signed by a promoter: the branch guard refuses others.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signed_configuration: bool,
    /// What each target environment requires (default: nothing).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, EnvironmentTrust>,
}

/// What promotions into one environment require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentTrust {
    /// Only signed approval statements that verify against the allowed signers count;
    /// approvals typed on the command line are refused.
    #[serde(default)]
    pub signed_approvals: bool,
    /// The promotion commit must carry an SSH signature (Git's `gpgsig`) by an allowed signer.
    #[serde(default)]
    pub signed_commits: bool,
}

impl TrustConfig {
    /// What `env` requires.
    pub fn environment(&self, env: &str) -> EnvironmentTrust {
        self.environments.get(env).copied().unwrap_or_default()
    }

    /// Semantic checks: `at(path, message)` places a problem in the configuration file.
    pub fn check<E>(&self, environments: &[String], at: &dyn Fn(&[&str], String) -> E) -> Result<(), E> {
        if let Some(path) = &self.allowed_signers
            && (path.is_empty() || path.starts_with('/') || path.chars().any(char::is_control) || path.split('/').any(|part| part == ".." || part.is_empty()))
        {
            return Err(at(&["trust", "allowed_signers"], format!("{path:?} must be a path relative to the repository root, without control characters")));
        }
        for (env, required) in &self.environments {
            if !environments.contains(env) {
                return Err(at(
                    &["trust", "environments", env],
                    format!("unknown environment {env}; environments are {}", environments.join(", ")),
                ));
            }
            if (required.signed_approvals || required.signed_commits) && self.allowed_signers.is_none() {
                return Err(at(
                    &["trust", "environments", env],
                    "requires signatures, so name the allowed-signers file: trust: { allowed_signers: .tollgate/allowed_signers }".into(),
                ));
            }
        }
        Ok(())
    }
}

