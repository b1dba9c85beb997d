//! Values crossing the sandbox boundary: the transition lowered into WIT types, and the
//! plugin's answers lifted back and checked (sizes, counts, printable text) before the host
//! keeps them.

use super::bindings::wit;
use super::sandbox::{bounded_copy, printable};
use super::{Capability, MAX_CAPABILITIES, MAX_FINDINGS, MAX_TEXT_BYTES, PluginInfo};
use crate::decision::{Decision, Finding, Verdict};
use crate::transition::{Transition, TransitionKind};

/// Plugin text cut to [`MAX_TEXT_BYTES`] and made printable.
pub(super) fn bounded(message: String) -> String {
    bounded_copy(&message, MAX_TEXT_BYTES)
}

fn checked_text(what: &str, text: String) -> Result<String, String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!("returned malformed output: {what} is {} bytes (limit {MAX_TEXT_BYTES})", text.len()));
    }
    Ok(printable(&text))
}

/// A verdict checked against the output limits.
pub(super) fn verdict_from_wit(verdict: wit::Verdict) -> Result<Verdict, String> {
    if verdict.findings.len() > MAX_FINDINGS {
        return Err(format!(
            "returned malformed output: {} findings (limit {MAX_FINDINGS})",
            verdict.findings.len()
        ));
    }
    let findings = verdict
        .findings
        .into_iter()
        .map(|finding| {
            Ok(Finding {
                message: checked_text("a finding message", finding.message)?,
                path: finding.path.map(|path| checked_text("a finding path", path)).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let decision = match verdict.decision {
        wit::Decision::Allow => Decision::Allow,
        wit::Decision::Deny => Decision::Deny,
    };
    Ok(Verdict { decision, findings })
}

/// A self-description checked against the output limits.
pub(super) fn info_from_wit(info: wit::PluginInfo) -> Result<PluginInfo, String> {
    Ok(PluginInfo {
        name: checked_text("the plugin name", info.name)?,
        version: checked_text("the plugin version", info.version)?,
        description: checked_text("the plugin description", info.description)?,
        capabilities: checked_capabilities(&info.capabilities)?,
    })
}

/// The capabilities a plugin asks for, each once, in the order first asked; a list longer
/// than [`MAX_CAPABILITIES`] is malformed output rather than something to print or store.
fn checked_capabilities(asked: &[wit::Capability]) -> Result<Vec<Capability>, String> {
    if asked.len() > MAX_CAPABILITIES {
        return Err(format!("returned malformed output: {} capabilities (limit {MAX_CAPABILITIES})", asked.len()));
    }
    let mut capabilities = Vec::new();
    for capability in asked {
        let capability = match capability {
            wit::Capability::ReadFile => Capability::ReadFile,
            wit::Capability::HttpGet => Capability::HttpGet,
        };
        if !capabilities.contains(&capability) {
            capabilities.push(capability);
        }
    }
    Ok(capabilities)
}

fn artifact_to_wit(artifact: &crate::transition::Artifact) -> wit::Artifact {
    wit::Artifact { image: artifact.image.clone(), version: artifact.version.clone(), digest: artifact.digest.clone() }
}

/// A multi-artifact transition's artifacts, as `transition-artifacts` returns them.
pub(super) fn named_artifacts_to_wit(artifacts: &[crate::transition::NamedArtifact]) -> Vec<super::bindings::host_imports::NamedArtifact> {
    artifacts
        .iter()
        .map(|named| super::bindings::host_imports::NamedArtifact {
            name: named.name.clone(),
            artifact: wit::Artifact { image: named.image.clone(), version: named.version.clone(), digest: named.digest.clone() },
            previous: named.previous_version.as_ref().map(|version| wit::Artifact {
                image: named.image.clone(),
                version: version.clone(),
                digest: named.previous_digest.clone(),
            }),
        })
        .collect()
}

/// Every artifact's kind, as `transition-artifact-kinds` returns them: one per named artifact,
/// or the application's one.
pub(super) fn artifact_kinds_to_wit(t: &Transition) -> Vec<(String, super::bindings::host_imports::ArtifactKind)> {
    use super::bindings::host_imports::ArtifactKind as Wit;
    use crate::transition::ArtifactKind;
    let wit = |kind: ArtifactKind| match kind {
        ArtifactKind::Image => Wit::Image,
        ArtifactKind::HelmChart => Wit::HelmChart,
        ArtifactKind::GitRevision => Wit::GitRevision,
    };
    match t.artifacts.is_empty() {
        true => vec![(t.application.clone(), wit(t.artifact_kind))],
        false => t.artifacts.iter().map(|named| (named.name.clone(), wit(named.kind))).collect(),
    }
}

/// The transition as the plugin sees it.
pub(super) fn transition_to_wit(t: &Transition) -> wit::Transition {
    wit::Transition {
        id: t.id.clone(),
        kind: match t.kind {
            TransitionKind::Promote => wit::TransitionKind::Promote,
            TransitionKind::Rollback => wit::TransitionKind::Rollback,
        },
        application: t.application.clone(),
        from_env: t.from_env.clone(),
        to_env: t.to_env.clone(),
        artifact: artifact_to_wit(&t.artifact),
        previous_artifact: t.previous_artifact.as_ref().map(artifact_to_wit),
        requested_by: t.requested_by.clone(),
        requested_at: t.requested_at,
        approvals: t
            .approvals
            .iter()
            .map(|approval| wit::Approval {
                approver: approval.approver.clone(),
                at: approval.at.unwrap_or(t.requested_at),
                version: approval.version.clone(),
                group: approval.group.clone(),
            })
            .collect(),
        changes: t
            .changes
            .iter()
            .map(|change| wit::FileChange { path: change.path.clone(), before: change.before.clone(), after: change.after.clone() })
            .collect(),
        labels: t.labels.iter().map(|(key, value)| wit::Label { key: key.clone(), value: value.clone() }).collect(),
        from_env_since: t.from_env_since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: String) -> wit::PluginInfo {
        wit::PluginInfo { name, version: "1.0.0".into(), description: "d".into(), capabilities: vec![wit::Capability::ReadFile; 3] }
    }

    #[test]
    fn an_over_long_info_string_is_malformed_output() {
        let error = info_from_wit(info("n".repeat(MAX_TEXT_BYTES + 1))).unwrap_err();
        assert_eq!(error, format!("returned malformed output: the plugin name is {} bytes (limit {MAX_TEXT_BYTES})", MAX_TEXT_BYTES + 1));
        let info = info_from_wit(info("n\u{1b}[2J".into())).unwrap();
        assert_eq!(info.name, "n\u{fffd}[2J", "control characters are neutralised");
        assert_eq!(info.capabilities, [Capability::ReadFile], "repeats are folded");
    }

    #[test]
    fn more_capabilities_than_the_limit_are_malformed_output() {
        let mut flood = info("n".into());
        flood.capabilities = vec![wit::Capability::HttpGet; MAX_CAPABILITIES + 1];
        assert_eq!(info_from_wit(flood).unwrap_err(), format!("returned malformed output: 17 capabilities (limit {MAX_CAPABILITIES})"));
    }
}
