//! Planning a transition: read the tip of the branch that holds the target's file, work out
//! which artifact goes where, and compute the exact file edit, without changing anything.

use super::history::{Arrivals, PromotionRecord, last_arrival};
pub use super::planned::location_tip;
use super::planned::{Edited, Moved, Plan, assemble, rollback_artifact};
use super::request::PlanRequest;
use super::source::promotion_source;
use crate::config::Config;
use crate::manifest::insert::insert_target;
use crate::manifest::{Deployed, check_image, read_deployed, write_deployed};
use crate::repo::GitRepo;
use crate::transition::{Artifact, FileChange, TransitionKind};

/// Plan `request` on the tip of the branch that holds the target's file, with the whole history read.
pub fn plan(repo: &GitRepo, config: &Config, request: &PlanRequest, mut history: &[PromotionRecord]) -> Result<Plan, String> {
    plan_with(repo, config, request, &mut history)
}

/// Plan `request` on the tip of the branch that holds the target's file, looking records up in `history`: a
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
    if !request.artifact_digests.is_empty() {
        return Err(format!("--digest NAME=DIGEST names an artifact; {} has a single image: give --digest DIGEST", request.app));
    }
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
    // Planned on the tip of the branch that holds the target's file; every environment's
    // file is read from its own branch.
    let base = location_tip(repo, target)?;
    let read = |env: &str| -> Result<(String, Deployed), String> {
        let location = &application.environments[env];
        let tip = if location.branch == target.branch { base } else { location_tip(repo, location)? };
        let text = repo
            .read_file(tip.tree, &location.file)
            .map_err(|error| error.0)?
            .ok_or_else(|| {
                let field = if location.origin.file.is_empty() {
                    format!("applications.{}.environments.{env}.file", request.app)
                } else {
                    location.origin.file.join(".")
                };
                format!("{} does not exist on {}; create it or fix {field}", location.file, location.branch)
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
            let history = history.all_in(&request.app, &request.to_env)?;
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
    let artifact_kind = application.source.kind();
    if !no_op {
        artifact_kind.check_version(&artifact.version).map_err(|message| format!("{} is a {}: {message}", request.app, artifact_kind.word()))?;
    }
    let moved = Moved { kind, from_env, artifact, previous_artifact, from_env_since, artifacts: Vec::new(), changes, artifact_kind };
    let edited = Edited { file: target.file.clone(), branch: target.branch.clone(), before, after, line, no_op };
    Ok(assemble(request, base, moved, edited, rollback_of, source_reason))
}
