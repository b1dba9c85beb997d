//! Which signed approvals a promotion may count: those whose statement names exactly this
//! application, environment, image, version and digest, dated no later than the decision,
//! whose signature verifies (namespace `tollgate-approval`) by a key the allowed signers list
//! for the statement's approver, valid both when it was signed and when the decision is made.
//! The approver the policies see is that verified principal.

use std::path::PathBuf;

use serde::Serialize;

use super::allowed_signers::{AllowedSigners, VerifiedSigner};
use super::statement::{SignedApproval, Statement};
use super::{NAMESPACE_APPROVAL, sshsig, store};
use crate::config::Config;
use crate::repo::GitRepo;
use crate::transition::{Approval, ApprovalEvidence, Artifact};

/// What a promotion would take: the statement must name exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Application.
    pub application: String,
    /// Target environment.
    pub environment: String,
    /// The artifact.
    pub artifact: Artifact,
}

/// A signed approval and whether it counts.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedApproval {
    /// Where it was found: `refs/tollgate/approvals:NAME` or a file path.
    pub source: String,
    /// The statement, when it parsed.
    pub statement: Option<Statement>,
    /// The verified signer, when it counts.
    pub signer: Option<VerifiedSigner>,
    /// Why it does not count.
    pub problem: Option<String>,
    #[serde(skip)]
    signed: Option<SignedApproval>,
}

impl CheckedApproval {
    /// Whether it counts.
    pub fn counts(&self) -> bool {
        self.signer.is_some()
    }

    /// The approval the policies see (approver: the verified principal).
    pub fn approval(&self) -> Option<Approval> {
        let (signer, statement, signed) = (self.signer.as_ref()?, self.statement.as_ref()?, self.signed.as_ref()?);
        Some(Approval {
            approver: signer.principal.clone(),
            at: Some(statement.time),
            version: statement.version.clone(),
            group: None,
            signed: Some(ApprovalEvidence {
                statement: signed.text.clone(),
                signature: signed.signature.clone(),
                key: signer.fingerprint.clone(),
            }),
        })
    }
}

/// Check one signed approval against `target` (when given) and the allowed signers, at
/// `decision_time`.
pub fn check(signers: &AllowedSigners, source: String, signed: SignedApproval, target: Option<&Target>, decision_time: i64) -> CheckedApproval {
    let mut checked = CheckedApproval { source, statement: None, signer: None, problem: None, signed: Some(signed.clone()) };
    let statement = match Statement::parse(&signed.text) {
        Ok(statement) => statement,
        Err(error) => {
            checked.problem = Some(format!("not a valid approval statement: {error}"));
            return checked;
        }
    };
    checked.statement = Some(statement.clone());
    let mismatch = target.and_then(|target| {
        let expected_digest = target.artifact.digest.as_deref().unwrap_or("none");
        let digest = statement.digest.as_deref().unwrap_or("none");
        [
            ("application", statement.application.as_str(), target.application.as_str()),
            ("environment", statement.environment.as_str(), target.environment.as_str()),
            ("image", statement.image.as_str(), target.artifact.image.as_str()),
            ("version", statement.version.as_str(), target.artifact.version.as_str()),
            ("digest", digest, expected_digest),
        ]
        .into_iter()
        .find(|(_, stated, expected)| stated != expected)
        .map(|(field, stated, expected)| format!("it approves {field} {stated}, but this promotion is {field} {expected}"))
    });
    if let Some(mismatch) = mismatch {
        checked.problem = Some(mismatch);
        return checked;
    }
    if statement.time > decision_time {
        checked.problem = Some(format!(
            "it is dated {}, after the decision time {}",
            show(statement.time),
            show(decision_time)
        ));
        return checked;
    }
    match sshsig::verify_for(signers, NAMESPACE_APPROVAL, &statement.approver, signed.text.as_bytes(), &signed.signature, &[statement.time, decision_time]) {
        Ok(signer) => checked.signer = Some(signer),
        Err(error) => checked.problem = Some(format!("approver {}: {error}", statement.approver)),
    }
    checked
}

fn show(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}

/// A signed approval found somewhere (`refs/tollgate/approvals:NAME` or `FILE#N`), or why
/// what was found there is not one.
pub type Found = (String, Result<SignedApproval, String>);

/// Every signed approval available: those stored in `refs/tollgate/approvals` and those in
/// `files`, each with where it came from.
pub fn collect(repo: &GitRepo, files: &[PathBuf]) -> Result<Vec<Found>, String> {
    let mut found: Vec<Found> = store::read_all(repo.git())?
        .into_iter()
        .map(|stored| (format!("{}:{}", store::APPROVALS_REF, stored.name), stored.content))
        .collect();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|error| format!("{}: cannot read it ({error})", path.display()))?;
        let all = SignedApproval::parse_all(&text).map_err(|error| format!("{}: {error}", path.display()))?;
        found.extend(all.into_iter().enumerate().map(|(index, signed)| (format!("{}#{}", path.display(), index + 1), Ok(signed))));
    }
    Ok(found)
}

/// Check every available approval for `app` into `env` (others are left out); with `target`,
/// against exactly what a promotion would take.
pub fn check_all(
    repo: &GitRepo,
    config: &Config,
    app: &str,
    env: &str,
    target: Option<&Target>,
    decision_time: i64,
    files: &[PathBuf],
) -> Result<Vec<CheckedApproval>, String> {
    let signers = super::load_allowed_signers(repo, config)?
        .ok_or("tollgate.yaml names no allowed-signers file; add trust: { allowed_signers: .tollgate/allowed_signers }")?;
    let mut checked = Vec::new();
    for (source, content) in collect(repo, files)? {
        let one = match content {
            Ok(signed) => check(&signers, source, signed, target, decision_time),
            Err(problem) => CheckedApproval { source, statement: None, signer: None, problem: Some(problem), signed: None },
        };
        // Statements for other applications or environments are not this listing's business.
        if one.statement.as_ref().is_some_and(|statement| statement.application != app || statement.environment != env) {
            continue;
        }
        checked.push(one);
    }
    // Oldest first, then by approver: the storage's order (blob names) means nothing.
    checked.sort_by_key(|one| one.statement.as_ref().map(|statement| (statement.time, statement.approver.clone())));
    Ok(checked)
}

/// The approvals a promotion of `target` decided at `decision_time` may count: only signed
/// statements that verify, with the approver set to the verified principal.
pub fn verified_approvals(repo: &GitRepo, config: &Config, target: &Target, decision_time: i64, files: &[PathBuf]) -> Result<Vec<Approval>, String> {
    let checked = check_all(repo, config, &target.application, &target.environment, Some(target), decision_time, files)?;
    Ok(checked.iter().filter_map(CheckedApproval::approval).collect())
}

/// Re-check the signed approvals recorded in a decision (offline, against `signers`):
/// one problem per approval that no longer verifies.
pub fn recheck_recorded(signers: &AllowedSigners, target: &Target, decision_time: i64, approvals: &[Approval]) -> Vec<String> {
    let mut problems = Vec::new();
    for approval in approvals {
        let Some(evidence) = &approval.signed else { continue };
        let signed = SignedApproval { text: evidence.statement.clone(), signature: evidence.signature.clone() };
        let checked = check(signers, "decision record".into(), signed, Some(target), decision_time);
        match (&checked.signer, &checked.problem) {
            (Some(signer), _) if signer.principal == approval.approver => {}
            (Some(signer), _) => problems.push(format!("approval by {} was verified as {}", approval.approver, signer.principal)),
            (None, problem) => problems.push(format!("approval by {}: {}", approval.approver, problem.clone().unwrap_or_default())),
        }
    }
    problems
}
