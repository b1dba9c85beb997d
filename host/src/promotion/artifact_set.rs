//! Planning a multi-artifact application (see [`crate::config::artifacts`]): every
//! artifact moves together, as one transition with one decision and one commit.
//!
//! - The source environment is chosen as for one artifact (by the primary artifact; see
//!   `plan`); every artifact takes what that environment runs. Into the first
//!   environment, `--version NAME=VERSION` per artifact, or one `--version` for all.
//! - A rollback goes back to a set that ran in the environment, as recorded by the verified
//!   promotion that brought it (or the one that replaced it).
//! - The transition policies see carries the primary artifact's image with the set's
//!   version ([`set_version`]: the shared version, or a digest of every name and version),
//!   so an approval names exactly one set; every artifact is listed in `artifacts` and in
//!   the decision record, and every edited file in `changes`.

use std::collections::BTreeMap;

use super::history::{Arrivals, last_arrival, arrivals_in};
use super::planned::{Edited, Moved, Plan, assemble, location_tip, rollback_artifact};
use super::request::PlanRequest;
use super::source::promotion_source;
use crate::config::{Config, Location};
use crate::manifest::{Deployed, check_image, read_deployed, write_deployed};
use crate::repo::GitRepo;
use crate::transition::{Artifact, FileChange, NamedArtifact, TransitionKind, set_version};

/// What one artifact runs in one environment: the same version in every one of its files.
struct Running {
    version: String,
    digest: Option<String>,
    has_digest_field: bool,
    line: usize,
}

/// Plan `request` for a multi-artifact application.
pub fn plan(repo: &GitRepo, config: &Config, request: &PlanRequest, history: &mut dyn Arrivals) -> Result<Plan, String> {
    let application = &config.applications[&request.app];
    let artifacts = application.artifact_list();
    let primary = application.primary_artifact().expect("a multi-artifact application has artifacts").to_string();
    for name in request.artifact_versions.keys() {
        if !application.artifacts.contains_key(name) {
            let names: Vec<&str> = artifacts.iter().map(|artifact| artifact.name).collect();
            return Err(format!("--version {name}=…: {} has no artifact {name}; its artifacts are {}", request.app, names.join(", ")));
        }
    }
    for name in request.artifact_digests.keys() {
        if !application.artifacts.contains_key(name) {
            let names: Vec<&str> = artifacts.iter().map(|artifact| artifact.name).collect();
            return Err(format!("--digest {name}=…: {} has no artifact {name}; its artifacts are {}", request.app, names.join(", ")));
        }
    }
    if !config.environments.contains(&request.to_env) {
        return Err(format!("unknown environment {}; environments are {}", request.to_env, config.environments.join(", ")));
    }
    if !application.environments.contains_key(&request.to_env) {
        return Err(format!("{} has no location configured for {}; add it under applications.{}.artifacts", request.app, request.to_env, request.app));
    }
    // Planned on the tip of the branch that holds the target's files (one branch for all of
    // them, see config::artifacts); every environment's files are read from their own branch.
    let target_location = &application.environments[&request.to_env];
    let base = location_tip(repo, target_location)?;
    let read_text = |location: &Location| -> Result<String, String> {
        let tip = if location.branch == target_location.branch { base } else { location_tip(repo, location)? };
        repo.read_file(tip.tree, &location.file).map_err(|error| error.0)?.ok_or_else(|| {
            format!("{} does not exist on {}; create it or fix the artifacts of applications.{} in tollgate.yaml", location.file, location.branch, request.app)
        })
    };
    // What an artifact runs in `env`: every location must agree.
    let running = |name: &str, image: &str, locations: &[Location], env: &str| -> Result<Running, String> {
        let mut found: Option<(Running, String)> = None;
        for location in locations {
            let deployed: Deployed = read_deployed(&location.file, &read_text(location)?, &location.layout(image)).map_err(|error| error.0)?;
            check_image(&location.file, &deployed, image, &format!("{} artifact {name}", request.app))?;
            if let Some((first, first_file)) = &found {
                if first.version != deployed.version || first.digest != deployed.digest {
                    return Err(format!(
                        "{} artifact {name} runs {} in {first_file} but {} in {} ({env}); make its files agree",
                        request.app, first.version, deployed.version, location.file
                    ));
                }
                continue;
            }
            found = Some((
                Running { version: deployed.version, digest: deployed.digest, has_digest_field: deployed.has_digest_field, line: deployed.line },
                location.file.clone(),
            ));
        }
        found.map(|(running, _)| running).ok_or_else(|| format!("{} artifact {name} has no location in {env}", request.app))
    };
    let mut current = BTreeMap::new();
    for artifact in &artifacts {
        current.insert(artifact.name, running(artifact.name, artifact.image, artifact.environments[request.to_env.as_str()], &request.to_env)?);
    }
    let current_set = set_version(current.iter().map(|(name, running)| (*name, running.version.as_str())));

    // What each artifact becomes: (version, digest).
    let mut target: BTreeMap<&str, (String, Option<String>)> = BTreeMap::new();
    let mut rollback_of = None;
    let mut source_reason = None;
    let (kind, from_env) = match &request.rollback {
        None => {
            // The source environment, chosen by the primary artifact like a single-image
            // application's (its version checks included).
            // Its digest is checked per artifact below, with the NAME=DIGEST form in messages.
            let primary_digest = request.digest.clone().or_else(|| request.artifact_digests.get(&primary).cloned());
            let root = config.graph().is_root(&request.to_env) && request.from_env.is_none();
            let primary_request = PlanRequest {
                version: request.version.clone().or_else(|| request.artifact_versions.get(&primary).cloned()),
                no_digest: request.no_digest || (root && primary_digest.is_none()),
                digest: primary_digest,
                ..request.clone()
            };
            let primary_config = artifacts.iter().find(|artifact| artifact.name == primary).expect("the primary is an artifact");
            let primary_running = &current[primary.as_str()];
            let primary_deployed = Deployed {
                version: primary_running.version.clone(),
                digest: primary_running.digest.clone(),
                line: primary_running.line,
                image: None,
                has_digest_field: primary_running.has_digest_field,
            };
            let read_primary = |env: &str| -> Result<(String, Deployed), String> {
                let locations = primary_config.environments.get(env).ok_or_else(|| format!("{} is not configured in {env}", request.app))?;
                let running = running(&primary, primary_config.image, locations, env)?;
                Ok((String::new(), Deployed { version: running.version, digest: running.digest, line: running.line, image: None, has_digest_field: running.has_digest_field }))
            };
            let chosen = promotion_source(config, application, &primary_request, &primary_deployed, &read_primary, history)?;
            source_reason = Some(chosen.reason);
            let from_env = chosen.from_env;
            if let Some(from) = &from_env
                && !request.artifact_digests.is_empty()
            {
                return Err(format!("--digest NAME=DIGEST only applies to a root environment; {} takes every artifact's digest from {from}", request.to_env));
            }
            for artifact in &artifacts {
                let value = match &from_env {
                    Some(from) => {
                        let running = running(artifact.name, artifact.image, artifact.environments[from.as_str()], from)?;
                        (running.version, running.digest)
                    }
                    None => {
                        let version = request.artifact_versions.get(artifact.name).or(request.version.as_ref()).ok_or_else(|| {
                            format!(
                                "{} is the first environment: give every artifact's version, --version {}=VERSION (or one --version for all)",
                                request.to_env, artifact.name
                            )
                        })?;
                        if request.digest.is_some() {
                            return Err(format!("{} has several artifacts: --digest does not say which one; give --digest NAME=DIGEST per artifact", request.app));
                        }
                        let running = &current[artifact.name];
                        let given = request.artifact_digests.get(artifact.name).cloned();
                        if given.is_some() && request.no_digest {
                            return Err("give --digest or --no-digest, not both".into());
                        }
                        if given.is_some() && !artifact.kind.is_image() {
                            return Err(format!("--digest {}=…: {} artifact {} is a {}, which has no digest", artifact.name, request.app, artifact.name, artifact.kind.word()));
                        }
                        if given.is_some() && !running.has_digest_field {
                            return Err(format!(
                                "--digest {}=…: the file of {} artifact {} in {} has no place for a digest; add one (Helm: digest_path; Kustomize: a digest in the images entry) or promote it without a digest",
                                artifact.name, request.app, artifact.name, request.to_env
                            ));
                        }
                        if given.is_none() && running.digest.is_some() && !request.no_digest {
                            return Err(format!(
                                "{} artifact {} in {} has a digest; give --digest {}=DIGEST, or --no-digest to clear it",
                                request.app, artifact.name, request.to_env, artifact.name
                            ));
                        }
                        (version.clone(), given)
                    }
                };
                target.insert(artifact.name, value);
            }
            (TransitionKind::Promote, from_env)
        }
        Some(rollback) => {
            if request.version.is_some() || !request.artifact_versions.is_empty() || request.from_env.is_some() || request.digest.is_some() || !request.artifact_digests.is_empty() {
                return Err("a rollback takes --to VERSION|REVISION, not --version, --digest or --from".into());
            }
            let history = history.all_in(&request.app, &request.to_env)?;
            rollback_of = last_arrival(history, &request.app, &request.to_env, Some(&current_set)).map(|record| record.commit.clone());
            let set = rollback_artifact(repo, history, request, rollback, &current_set, &application.image)?;
            // The set's artifacts, from the verified record that brought it or replaced it.
            let recorded = arrivals_in(history, &request.app, &request.to_env).find_map(|record| {
                if record.version == set.version {
                    Some(record.artifacts.iter().map(|a| (a.name.clone(), (a.version.clone(), a.digest.clone()))).collect::<Vec<_>>())
                } else if record.previous_version.as_deref() == Some(set.version.as_str()) {
                    record
                        .artifacts
                        .iter()
                        .map(|a| a.previous_version.clone().map(|version| (a.name.clone(), (version, a.previous_digest.clone()))))
                        .collect::<Option<Vec<_>>>()
                } else {
                    None
                }
            });
            let recorded: BTreeMap<String, (String, Option<String>)> = recorded.unwrap_or_default().into_iter().collect();
            for artifact in &artifacts {
                let value = recorded.get(artifact.name).cloned().ok_or_else(|| {
                    format!("the verified history does not say what {} artifact {} ran in {} as part of {}; roll back with --to another version", request.app, artifact.name, request.to_env, set.version)
                })?;
                target.insert(artifact.name, value);
            }
            (TransitionKind::Rollback, None)
        }
    };

    // Edit every file, several artifacts of one file one after the other.
    let mut files: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut named = Vec::new();
    for artifact in &artifacts {
        let (version, digest) = &target[artifact.name];
        let running = &current[artifact.name];
        let digest = digest.clone().filter(|_| running.has_digest_field);
        for location in artifact.environments[request.to_env.as_str()] {
            let entry = match files.get(&location.file) {
                Some(entry) => entry.clone(),
                None => {
                    let text = read_text(location)?;
                    (text.clone(), text)
                }
            };
            let deployed = read_deployed(&location.file, &entry.1, &location.layout(artifact.image)).map_err(|error| error.0)?;
            let after = if deployed.version == *version && deployed.digest == digest {
                entry.1.clone()
            } else {
                write_deployed(&location.file, &entry.1, &location.layout(artifact.image), version, digest.as_deref()).map_err(|error| error.0)?
            };
            files.insert(location.file.clone(), (entry.0, after));
        }
        if version != &running.version {
            artifact.kind.check_version(version).map_err(|message| format!("{} artifact {} is a {}: {message}", request.app, artifact.name, artifact.kind.word()))?;
        }
        named.push(NamedArtifact {
            name: artifact.name.to_string(),
            kind: artifact.kind,
            image: artifact.image.to_string(),
            version: version.clone(),
            digest,
            previous_version: Some(running.version.clone()),
            previous_digest: running.digest.clone(),
        });
    }
    let new_set = set_version(named.iter().map(|artifact| (artifact.name.as_str(), artifact.version.as_str())));
    let changes: Vec<FileChange> = files
        .iter()
        .filter(|(_, (before, after))| before != after)
        .map(|(path, (before, after))| FileChange { path: path.clone(), before: Some(before.clone()), after: Some(after.clone()) })
        .collect();
    let no_op = changes.is_empty();
    let from_env_since = match from_env.as_deref() {
        Some(env) => history.last_arrival(&request.app, env, Some(&new_set))?.map(|record| record.time),
        None => None,
    };
    let primary_file = application.environments[&request.to_env].file.clone();
    let (file, before, after) = changes
        .first()
        .map(|change| (change.path.clone(), change.before.clone().unwrap_or_default(), change.after.clone().unwrap_or_default()))
        .unwrap_or_else(|| {
            let text = files.get(&primary_file).map(|(before, _)| before.clone()).unwrap_or_default();
            (primary_file.clone(), text.clone(), text)
        });
    let moved = Moved {
        kind,
        from_env,
        artifact: Artifact { image: application.image.clone(), version: new_set, digest: None },
        previous_artifact: Some(Artifact { image: application.image.clone(), version: current_set, digest: None }),
        from_env_since,
        artifacts: named,
        changes,
        artifact_kind: application.source.kind(),
    };
    let edited = Edited { file, branch: target_location.branch.clone(), before, after, line: current[primary.as_str()].line, no_op };
    Ok(assemble(request, base, moved, edited, rollback_of, source_reason))
}
