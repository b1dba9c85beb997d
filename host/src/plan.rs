//! Planning a transition: read the branch tip, work out which artifact goes where, and
//! compute the exact file edit, without changing anything.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::history::{PromotionRecord, last_arrival};
use crate::manifest::{read_deployed, write_deployed};
use crate::repo::{GitRepo, Tip};
use crate::transition::{Approval, Artifact, FileChange, Transition, TransitionKind};

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Application.
    pub app: String,
    /// Target environment.
    pub to_env: String,
    /// Source environment when skipping is allowed (default: the previous environment).
    pub from_env: Option<String>,
    /// Version, only for the first environment.
    pub version: Option<String>,
    /// Digest, only with `version`.
    pub digest: Option<String>,
    /// Who asks (the requester recorded in the transition).
    pub actor: String,
    /// Whether `actor` was given explicitly (`--actor`); otherwise the commit author is the
    /// Git identity.
    pub actor_given: bool,
    /// Approvals collected.
    pub approvals: Vec<Approval>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Request time, Unix seconds.
    pub at: i64,
    /// For a rollback: what to roll back to (`None`: a promotion).
    pub rollback: Option<RollbackTarget>,
}

/// What a rollback goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The version that was in the environment before the current one.
    Previous,
    /// A version that ran in the environment, or (a prefix of) the promotion commit that put
    /// an artifact there.
    To(String),
}

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
}

/// Plan `request` on the tip of the configured branch.
pub fn plan(repo: &GitRepo, config: &Config, request: &PlanRequest, history: &[PromotionRecord]) -> Result<Plan, String> {
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
    let read = |env: &str| -> Result<(String, crate::manifest::Deployed), String> {
        let location = &application.environments[env];
        let text = repo
            .read_file(base.tree, &location.file)
            .map_err(|error| error.0)?
            .ok_or_else(|| format!("{} does not exist on {}; create it or fix applications.{}.environments.{env}.file", location.file, config.branch, request.app))?;
        let deployed = read_deployed(&location.file, &text, &location.layout(&application.image)).map_err(|error| error.0)?;
        Ok((text, deployed))
    };
    let (before, current) = read(&request.to_env)?;
    let previous_artifact =
        Artifact { image: application.image.clone(), version: current.version.clone(), digest: current.digest.clone() };

    let mut rollback_of = None;
    let (kind, from_env, artifact) = match &request.rollback {
        None => {
            let (from_env, artifact) = promotion_source(config, application, request, &read)?;
            (TransitionKind::Promote, from_env, artifact)
        }
        Some(target) => {
            if request.version.is_some() || request.from_env.is_some() {
                return Err("a rollback takes --to VERSION|COMMIT, not --version or --from".into());
            }
            let current_record = last_arrival(history, &request.app, &request.to_env, Some(&current.version));
            rollback_of = current_record.map(|record| record.commit.clone());
            let artifact = rollback_artifact(history, request, target, &current.version, &application.image)?;
            (TransitionKind::Rollback, None, artifact)
        }
    };

    let no_op = artifact.version == current.version && (artifact.digest.is_none() || artifact.digest == current.digest);
    let after = if no_op {
        before.clone()
    } else {
        write_deployed(&target.file, &before, &target.layout(&application.image), &artifact.version, artifact.digest.as_deref())
            .map_err(|error| error.0)?
    };
    let from_env_since = from_env
        .as_deref()
        .and_then(|env| last_arrival(history, &request.app, env, Some(&artifact.version)))
        .map(|record| record.time);
    // An approval given without a version approves what is being promoted.
    let approvals = request
        .approvals
        .iter()
        .map(|approval| {
            let mut approval = approval.clone();
            if approval.version.is_empty() {
                approval.version = artifact.version.clone();
            }
            approval
        })
        .collect();
    let transition = Transition {
        id: decision_id(request),
        kind,
        application: request.app.clone(),
        from_env,
        to_env: request.to_env.clone(),
        artifact,
        previous_artifact: Some(previous_artifact),
        requested_by: request.actor.clone(),
        requested_at: request.at,
        approvals,
        changes: vec![FileChange { path: target.file.clone(), before: Some(before.clone()), after: Some(after.clone()) }],
        labels: request.labels.clone(),
        from_env_since,
    };
    Ok(Plan { base, transition, file: target.file.clone(), line: current.line, before, after, no_op, rollback_of })
}

/// Where a promotion's artifact comes from: the previous environment (or an allowed
/// skip), or `--version` for the first environment.
fn promotion_source(
    config: &Config,
    application: &crate::config::Application,
    request: &PlanRequest,
    read: &dyn Fn(&str) -> Result<(String, crate::manifest::Deployed), String>,
) -> Result<(Option<String>, Artifact), String> {
    let previous = config.previous_env(&request.to_env);
    let from_env = match (&request.from_env, previous) {
        (Some(from), _) if from == &request.to_env => return Err(format!("--from {from} is the target environment")),
        (Some(from), Some(previous)) if from == previous => Some(from.clone()),
        (Some(from), _) => {
            if !config.environments.contains(from) {
                return Err(format!("unknown environment {from}; environments are {}", config.environments.join(", ")));
            }
            if !config.skip_allowed(from, &request.to_env) {
                return Err(format!(
                    "promoting from {from} to {} skips environments; allow it with allow_skip: [{{from: {from}, to: {}}}] in tollgate.yaml",
                    request.to_env, request.to_env
                ));
            }
            Some(from.clone())
        }
        (None, previous) => previous.map(str::to_string),
    };
    match from_env {
        None => {
            let version = request.version.clone().ok_or_else(|| {
                format!("{} is the first environment: give the version to promote with --version (and --digest)", request.to_env)
            })?;
            Ok((None, Artifact { image: application.image.clone(), version, digest: request.digest.clone() }))
        }
        Some(from) => {
            if !application.environments.contains_key(&from) {
                return Err(format!(
                    "{} is not configured in {from}, the environment before {}; configure it there or promote with --from",
                    request.app, request.to_env
                ));
            }
            let (_, deployed) = read(&from)?;
            if let Some(version) = &request.version {
                if version != &deployed.version {
                    return Err(format!(
                        "--version only applies to the first environment; {} takes what is in {from} ({}), not {version}",
                        request.to_env, deployed.version
                    ));
                }
            }
            if request.digest.is_some() {
                return Err(format!("--digest only applies to the first environment; {} takes the digest in {from}", request.to_env));
            }
            Ok((Some(from), Artifact { image: application.image.clone(), version: deployed.version, digest: deployed.digest }))
        }
    }
}

fn rollback_artifact(
    history: &[PromotionRecord],
    request: &PlanRequest,
    target: &RollbackTarget,
    current_version: &str,
    image: &str,
) -> Result<Artifact, String> {
    let in_env = || history.iter().filter(|record| record.app == request.app && record.to == request.to_env);
    let record = match target {
        RollbackTarget::Previous => {
            // The promotion that brought the current version recorded what it replaced.
            if let Some(previous) = in_env()
                .find(|record| record.version == current_version)
                .and_then(|record| record.previous_version.as_ref().map(|version| (version, &record.previous_digest)))
            {
                return Ok(Artifact { image: image.to_string(), version: previous.0.clone(), digest: previous.1.clone() });
            }
            in_env().find(|record| record.version != current_version).ok_or_else(|| {
                format!(
                    "no earlier version of {} in {} in the promotion history; give one with --to VERSION",
                    request.app, request.to_env
                )
            })?
        }
        RollbackTarget::To(target) => {
            // A version that ran here: one tollgate put there, or one a promotion replaced.
            let by_version = in_env().find_map(|record| {
                if &record.version == target {
                    Some((record.version.clone(), record.digest.clone()))
                } else if record.previous_version.as_ref() == Some(target) {
                    Some((target.clone(), record.previous_digest.clone()))
                } else {
                    None
                }
            });
            if let Some((version, digest)) = by_version {
                return Ok(Artifact { image: image.to_string(), version, digest });
            }
            let by_commit = (target.len() >= 7).then(|| in_env().find(|record| record.commit.starts_with(target.as_str()))).flatten();
            by_commit.ok_or_else(|| {
                let mut known: Vec<&str> = in_env()
                    .flat_map(|record| std::iter::once(record.version.as_str()).chain(record.previous_version.as_deref()))
                    .collect();
                known.sort_unstable();
                known.dedup();
                format!(
                    "{target} never ran in {} according to the promotion history (known versions: {}); a rollback goes back \
                     to an artifact that ran there. Promote other versions through the pipeline instead",
                    request.to_env,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            })?
        }
    };
    Ok(Artifact { image: image.to_string(), version: record.version.clone(), digest: record.digest.clone() })
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

/// A unified diff of the planned edit (git's format).
pub fn unified_diff(plan: &Plan) -> String {
    let path = std::path::Path::new(&plan.file);
    match git2::Patch::from_buffers(plan.before.as_bytes(), Some(path), plan.after.as_bytes(), Some(path), None)
        .and_then(|mut patch| patch.to_buf())
    {
        Ok(buffer) => buffer.as_str().unwrap_or_default().to_string(),
        Err(_) => String::new(),
    }
}
