//! A planned transition: the [`Plan`] both planners (`plan` for one image, `artifact_set` for
//! several) make, assembled in one place from what moves and what
//! the request says, and the rollback target they share.

use sha2::{Digest, Sha256};

use super::history::{PromotionRecord, arrivals_in};
use super::request::{PlanRequest, RollbackTarget};
use crate::repo::{GitRepo, Tip};
use crate::transition::{Approval, Artifact, FileChange, Transition, TransitionKind};

/// A planned transition.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The tip it was planned on.
    pub base: Tip,
    /// The transition the policies see.
    pub transition: Transition,
    /// The file that changes.
    pub file: String,
    /// The branch that holds it (the tip planned on is this branch's).
    pub branch: String,
    /// Its content before.
    pub before: String,
    /// Its content after.
    pub after: String,
    /// 1-based line of the version in the file.
    pub line: usize,
    /// The artifact is already there: nothing to do.
    pub no_op: bool,
    /// For rollbacks: the commit that brought the current version.
    pub rollback_of: Option<String>,
    /// Whether the requester chose the decision time.
    pub time_overridden: bool,
    /// For promotions: which upstream the artifact comes from and why (see [`super::source`]).
    pub source_reason: Option<String>,
}

impl Plan {
    /// Every file the transition changes, with its content after (deleted files are not
    /// something a plan makes).
    pub fn edits(&self) -> impl Iterator<Item = (&str, &str)> {
        self.transition.changes.iter().filter_map(|change| change.after.as_deref().map(|after| (change.path.as_str(), after)))
    }

    /// The paths of [`Plan::edits`].
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.edits().map(|(path, _)| path)
    }
}

/// What a transition moves: everything a planner works out (the rest comes from the request).
pub(super) struct Moved {
    pub kind: TransitionKind,
    pub from_env: Option<String>,
    pub artifact: Artifact,
    pub previous_artifact: Option<Artifact>,
    pub from_env_since: Option<i64>,
    pub artifacts: Vec<crate::transition::NamedArtifact>,
    pub changes: Vec<FileChange>,
    /// What kind `artifact` is (a multi-artifact application's: its primary's).
    pub artifact_kind: crate::transition::ArtifactKind,
}

/// The file a plan reports first (for a multi-artifact application, one of several).
pub(super) struct Edited {
    pub file: String,
    pub branch: String,
    pub before: String,
    pub after: String,
    pub line: usize,
    pub no_op: bool,
}

/// The plan of `request` on `base`: the transition policies see, with the request's
/// requester, time, labels and approvals (bound to the version it moves), whichever planner
/// worked out what moves.
pub(super) fn assemble(request: &PlanRequest, base: Tip, moved: Moved, edited: Edited, rollback_of: Option<String>, source_reason: Option<String>) -> Plan {
    let transition = Transition {
        id: decision_id(request),
        kind: moved.kind,
        application: request.app.clone(),
        from_env: moved.from_env,
        to_env: request.to_env.clone(),
        approvals: bound_approvals(request, &moved.artifact.version),
        artifact: moved.artifact,
        previous_artifact: moved.previous_artifact,
        requested_by: request.actor.identity().to_string(),
        requested_at: request.at,
        changes: moved.changes,
        labels: request.labels.clone(),
        from_env_since: moved.from_env_since,
        artifacts: moved.artifacts,
        artifact_kind: moved.artifact_kind,
    };
    Plan {
        base,
        transition,
        file: edited.file,
        branch: edited.branch,
        line: edited.line,
        before: edited.before,
        after: edited.after,
        no_op: edited.no_op,
        rollback_of,
        time_overridden: request.at_given,
        source_reason,
    }
}

/// The request's approvals, an approval given without a version approving `version` (what is
/// being promoted).
fn bound_approvals(request: &PlanRequest, version: &str) -> Vec<Approval> {
    request
        .approvals
        .iter()
        .map(|approval| {
            let mut approval = approval.clone();
            if approval.version.is_empty() {
                approval.version = version.to_string();
            }
            approval
        })
        .collect()
}

/// What a rollback goes back to: for [`RollbackTarget::Previous`], the newest version that
/// ran in the environment before the current one first arrived, skipping versions already
/// rolled back from (so successive rollbacks walk further back); for
/// [`RollbackTarget::To`], a version that ran there, or any revision Git resolves to a
/// verified promotion into the environment.
pub(super) fn rollback_artifact(
    repo: &GitRepo,
    history: &[PromotionRecord],
    request: &PlanRequest,
    target: &RollbackTarget,
    current_version: &str,
    image: &str,
) -> Result<Artifact, String> {
    let artifact = |version: &str, digest: &Option<String>| Artifact { image: image.to_string(), version: version.to_string(), digest: digest.clone() };
    // Oldest first: what arrived, and what each arrival replaced.
    let mut arrivals: Vec<&PromotionRecord> = arrivals_in(history, &request.app, &request.to_env).collect();
    arrivals.reverse();
    let mut ran: Vec<(String, Option<String>)> = Vec::new();
    if let Some(first) = arrivals.first()
        && let Some(version) = &first.previous_version {
            ran.push((version.clone(), first.previous_digest.clone()));
        }
    ran.extend(arrivals.iter().map(|record| (record.version.clone(), record.digest.clone())));
    match target {
        RollbackTarget::Previous => {
            let rolled_back_from: Vec<&str> = arrivals
                .iter()
                .filter(|record| record.kind == TransitionKind::Rollback)
                .filter_map(|record| record.previous_version.as_deref())
                .collect();
            // Where the current version first ran, counted in `ran` (offset by the initial version).
            let offset = ran.len() - arrivals.len();
            let anchor = arrivals
                .iter()
                .rposition(|record| record.version == current_version && record.kind == TransitionKind::Promote)
                .map_or(ran.len(), |index| index + offset);
            ran[..anchor]
                .iter()
                .rev()
                .find(|(version, _)| version != current_version && !rolled_back_from.contains(&version.as_str()))
                .map(|(version, digest)| artifact(version, digest))
                .ok_or_else(|| {
                    format!(
                        "no earlier version of {} in {} in the promotion history that counts (verified or unsigned promotions){}; give one with --to VERSION",
                        request.app,
                        request.to_env,
                        left_out(history, request, None)
                    )
                })
        }
        RollbackTarget::To(target) => {
            if let Some((version, digest)) = ran.iter().rev().find(|(version, _)| version == target) {
                return Ok(artifact(version, digest));
            }
            let by_revision = repo
                .git()
                .revparse_single(target)
                .and_then(|object| object.peel_to_commit())
                .ok()
                .and_then(|commit| arrivals.iter().find(|record| record.commit == commit.id().to_string()).copied());
            if let Some(record) = by_revision {
                return Ok(artifact(&record.version, &record.digest));
            }
            let mut known: Vec<&str> = ran.iter().map(|(version, _)| version.as_str()).collect();
            known.sort_unstable();
            known.dedup();
            Err(format!(
                "{target} never ran in {} according to the promotion history that counts (verified or unsigned promotions; known versions: {}){}; \
                 a rollback goes back to an artifact that ran there, named by its version or by any revision of its promotion commit. \
                 Promote other versions through the pipeline instead",
                request.to_env,
                if known.is_empty() { "none".to_string() } else { known.join(", ") },
                left_out(history, request, Some(target))
            ))
        }
    }
}

/// The claims of arriving in the request's environment that do not count (with `target`, those
/// of that version or commit), as "; left out: COMMIT (VERSION): WHY, …", or nothing.
fn left_out(history: &[PromotionRecord], request: &PlanRequest, target: Option<&str>) -> String {
    let excluded: Vec<String> = history
        .iter()
        .filter(|record| !record.counts && record.app == request.app && record.to == request.to_env)
        .filter(|record| target.is_none_or(|target| record.version == target || record.commit.starts_with(target)))
        .map(|record| format!("{} ({}): {}", &record.commit[..12.min(record.commit.len())], record.version, record.trust.reasons().join("; ")))
        .collect();
    if excluded.is_empty() { String::new() } else { format!("; left out: {}", excluded.join(", ")) }
}

/// A fresh decision id: `tg-` and 16 hex digits.
fn decision_id(request: &PlanRequest) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let digest = Sha256::new()
        .chain_update(request.app.as_bytes())
        .chain_update(request.to_env.as_bytes())
        .chain_update(now.as_nanos().to_le_bytes())
        .chain_update(std::process::id().to_le_bytes())
        .finalize();
    format!("tg-{}", &hex::encode(digest)[..16])
}

/// A unified diff of the planned edits (git's format), file after file.
pub fn unified_diff(plan: &Plan) -> String {
    let mut diff = String::new();
    let mut changes: Vec<(&str, &str, &str)> = plan
        .transition
        .changes
        .iter()
        .map(|change| (change.path.as_str(), change.before.as_deref().unwrap_or_default(), change.after.as_deref().unwrap_or_default()))
        .collect();
    if changes.is_empty() {
        changes.push((&plan.file, &plan.before, &plan.after));
    }
    for (path, before, after) in changes {
        let path = std::path::Path::new(path);
        if let Ok(buffer) = git2::Patch::from_buffers(before.as_bytes(), Some(path), after.as_bytes(), Some(path), None).and_then(|mut patch| patch.to_buf()) {
            diff.push_str(buffer.as_str().unwrap_or_default());
        }
    }
    diff
}

/// The tip of the branch that holds `location`'s file: an environment branch of its own, or
/// the configured branch (see [`crate::config::Location::branch`]); `origin`'s when there is no local one.
pub fn location_tip(repo: &GitRepo, location: &crate::config::Location) -> Result<Tip, String> {
    repo.tip_or_origin(&location.branch).map_err(|_| {
        format!(
            "branch {} does not exist in {}; create it, or fix {} in tollgate.yaml",
            location.branch,
            repo.path().display(),
            location.origin.branch_field()
        )
    })
}
