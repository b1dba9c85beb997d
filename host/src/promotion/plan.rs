//! Planning a transition: read the branch tip, work out which artifact goes where, and
//! compute the exact file edit, without changing anything.

use sha2::{Digest, Sha256};

use super::history::{Arrivals, PromotionRecord, last_arrival, arrivals_in};
use super::request::{PlanRequest, RollbackTarget};
use super::source::promotion_source;
use crate::config::Config;
use crate::manifest::insert::insert_target;
use crate::manifest::{Deployed, check_image, read_deployed, write_deployed};
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

/// Plan `request` on the tip of the configured branch, with the whole history read.
pub fn plan(repo: &GitRepo, config: &Config, request: &PlanRequest, mut history: &[PromotionRecord]) -> Result<Plan, String> {
    plan_with(repo, config, request, &mut history)
}

/// Plan `request` on the tip of the configured branch, looking records up in `history`: a
/// promotion needs only the newest arrival of its version in the source environment, so a
/// [`super::history::HistoryReader`] stops reading there; a rollback reads it all.
pub fn plan_with(repo: &GitRepo, config: &Config, request: &PlanRequest, history: &mut dyn Arrivals) -> Result<Plan, String> {
    request.validate().map_err(|error| error.to_string())?;
    if config.applications.get(&request.app).is_some_and(|application| application.is_multi_artifact()) {
        return super::artifact_set::plan(repo, config, request, history);
    }
    if !request.artifact_versions.is_empty() {
        return Err(format!("--version NAME=VERSION names an artifact; {} has a single image: give --version VERSION", request.app));
    }
    let base = repo.tip(&config.branch).map_err(|error| error.0)?;
    let application = config.applications.get(&request.app).ok_or_else(|| {
        format!(
            "unknown application {}; tollgate.yaml configures {}",
            request.app,
            config.applications.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    if !config.environments.contains(&request.to_env) {
        return Err(format!("unknown environment {}; environments are {}", request.to_env, config.environments.join(", ")));
    }
    let target = application.environments.get(&request.to_env).ok_or_else(|| {
        format!("{} has no location configured for {}; add applications.{}.environments.{}", request.app, request.to_env, request.app, request.to_env)
    })?;
    let read = |env: &str| -> Result<(String, Deployed), String> {
        let location = &application.environments[env];
        let text = repo
            .read_file(base.tree, &location.file)
            .map_err(|error| error.0)?
            .ok_or_else(|| {
                let field = if location.origin.file.is_empty() {
                    format!("applications.{}.environments.{env}.file", request.app)
                } else {
                    location.origin.file.join(".")
                };
                format!("{} does not exist on {}; create it or fix {field}", location.file, config.branch)
            })?;
        let deployed = read_deployed(&location.file, &text, &location.layout(&application.image)).map_err(|error| error.0)?;
        check_image(&location.file, &deployed, &application.image, &request.app)?;
        Ok((text, deployed))
    };
    let (before, current, inserting) = match read(&request.to_env) {
        Ok((text, deployed)) => (text, deployed, false),
        Err(message) => match super::overlay::missing_target(repo, &base, request, target, &application.image) {
            Some(missing) => {
                let (text, nothing_yet) = missing?;
                (text, nothing_yet, true)
            }
            None => return Err(message),
        },
    };
    // A file that does not hold the version yet had nothing of this application before.
    let previous_artifact = (!inserting)
        .then(|| Artifact { image: application.image.clone(), version: current.version.clone(), digest: current.digest.clone() });

    let mut rollback_of = None;
    let mut source = None;
    let (kind, from_env, mut artifact) = match &request.rollback {
        None => {
            let chosen = promotion_source(config, application, request, &current, &read, history)?;
            source = Some((chosen.reason, chosen.since));
            (TransitionKind::Promote, chosen.from_env, chosen.artifact)
        }
        Some(_) if inserting => {
            return Err(format!("{} does not hold a version of {} yet: there is nothing to roll back", target.file, request.app));
        }
        Some(target) => {
            if request.version.is_some() || request.from_env.is_some() || request.digest.is_some() {
                return Err("a rollback takes --to VERSION|REVISION, not --version, --digest or --from".into());
            }
            let history = history.all()?;
            let current_record = last_arrival(history, &request.app, &request.to_env, Some(&current.version));
            rollback_of = current_record.map(|record| record.commit.clone());
            let artifact = rollback_artifact(repo, history, request, target, &current.version, &application.image)?;
            (TransitionKind::Rollback, None, artifact)
        }
    };
    // The transition states what the file will hold: a digest the target has no place for
    // is not claimed.
    if !current.has_digest_field {
        artifact.digest = None;
    }

    let no_op = artifact.version == current.version && artifact.digest == current.digest;
    let layout = target.layout(&application.image);
    let after = if no_op {
        before.clone()
    } else if inserting {
        let prepared = insert_target(&target.file, &before, &layout).map_err(|error| error.0)?;
        write_deployed(&target.file, &prepared, &layout, &artifact.version, artifact.digest.as_deref()).map_err(|error| error.0)?
    } else {
        write_deployed(&target.file, &before, &layout, &artifact.version, artifact.digest.as_deref()).map_err(|error| error.0)?
    };
    let line = if inserting { read_deployed(&target.file, &after, &layout).map_err(|error| error.0)?.line } else { current.line };
    let (source_reason, from_env_since) = source.unzip();
    let from_env_since = from_env_since.flatten();
    let changes = vec![FileChange { path: target.file.clone(), before: Some(before.clone()), after: Some(after.clone()) }];
    let moved = Moved { kind, from_env, artifact, previous_artifact, from_env_since, artifacts: Vec::new(), changes };
    Ok(assemble(request, base, moved, Edited { file: target.file.clone(), before, after, line, no_op }, rollback_of, source_reason))
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
}

/// The file a plan reports first (for a multi-artifact application, one of several).
pub(super) struct Edited {
    pub file: String,
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
    };
    Plan {
        base,
        transition,
        file: edited.file,
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
