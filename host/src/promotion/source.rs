//! Where a promotion's artifact comes from: the target's upstream in the environment graph
//! (never a sibling), the one `--from` names among several, an `allow_skip` pair, or
//! `--version` for a root. With several upstreams, `require: all` needs the same artifact in
//! every one and `require: any` takes the newest version among them. The choice comes with
//! a sentence saying which upstream and why, shown by `plan`.

use super::history::Arrivals;
use super::request::PlanRequest;
use crate::config::{Application, Config, Require};
use crate::manifest::Deployed;
use crate::transition::Artifact;

/// The chosen source of a promotion.
#[derive(Debug, Clone)]
pub struct Source {
    /// The upstream it comes from (`None`: `--version` into a root).
    pub from_env: Option<String>,
    /// What is promoted.
    pub artifact: Artifact,
    /// Since when the artifact has been there (with `require: all`, in all of them): the
    /// verified promotion that brought it, when there is one.
    pub since: Option<i64>,
    /// Which upstream was taken and why, for people.
    pub reason: String,
}

/// What one upstream holds.
struct Candidate {
    env: String,
    version: String,
    digest: Option<String>,
    since: Option<i64>,
}

/// Reads what an environment runs: the manifest's text and the artifact found in it.
pub type ReadDeployed<'a> = dyn Fn(&str) -> Result<(String, Deployed), String> + 'a;

/// Choose the source of promoting `request.app` into `request.to_env`.
pub fn promotion_source(
    config: &Config,
    application: &Application,
    request: &PlanRequest,
    current: &Deployed,
    read: &ReadDeployed<'_>,
    history: &mut dyn Arrivals,
) -> Result<Source, String> {
    let to = request.to_env.as_str();
    let graph = config.graph();
    let upstreams = crate::config::templates::upstreams_for(config, application, to);
    let (chosen, how): (Vec<String>, String) = match &request.from_env {
        Some(from) if from == to => return Err(format!("--from {from} is the target environment")),
        Some(from) if upstreams.contains(from) => (vec![from.clone()], format!("--from {from}, an upstream of {to}")),
        Some(from) => {
            if !config.environments.contains(from) {
                return Err(format!("unknown environment {from}; environments are {}", config.environments.join(", ")));
            }
            if !config.skip_allowed(from, to) {
                let upstream_list =
                    if upstreams.is_empty() { format!("{to} is a root and takes --version") } else { format!("its upstreams: {}", upstreams.join(", ")) };
                return Err(format!(
                    "{from} is not an upstream of {to} ({upstream_list}); a promotion takes its artifact from an upstream. \
                     To promote from {from} anyway, allow it with allow_skip: [{{from: {from}, to: {to}}}] in tollgate.yaml"
                ));
            }
            (vec![from.clone()], format!("--from {from}, allowed by allow_skip"))
        }
        None => (upstreams.to_vec(), String::new()),
    };
    if chosen.is_empty() {
        return root_source(application, request, current);
    }
    if request.digest.is_some() || request.no_digest {
        return Err(format!("--digest and --no-digest only apply to a root environment; {to} takes the digest in its upstream"));
    }
    // With require: all, the rule holds even when --from names one of the upstreams.
    let fan_in_all = upstreams.len() > 1 && graph.require(to) == Require::All && request.from_env.as_ref().is_none_or(|from| upstreams.contains(from));
    let considered: Vec<String> = if fan_in_all { upstreams.to_vec() } else { chosen.clone() };
    let mut candidates = Vec::new();
    for env in &considered {
        if !application.environments.contains_key(env) {
            if considered.len() == 1 {
                return Err(format!(
                    "{} is not configured in {env}, the upstream of {to}; configure it there or promote with --from",
                    request.app
                ));
            }
            continue;
        }
        let (_, deployed) = read(env)?;
        let since = history.last_arrival(&request.app, env, Some(&deployed.version))?.map(|record| record.time);
        candidates.push(Candidate { env: env.clone(), version: deployed.version, digest: deployed.digest, since });
    }
    if candidates.is_empty() {
        return Err(format!("{} is configured in none of the upstreams of {to} ({}); configure it in one of them", request.app, considered.join(", ")));
    }
    let holdings = || candidates.iter().map(|c| format!("{} has {}", c.env, c.version)).collect::<Vec<_>>().join(", ");
    let (source, since, reason) = if fan_in_all {
        if let Some(other) = candidates.iter().find(|c| c.version != candidates[0].version || c.digest != candidates[0].digest) {
            let what = if other.version == candidates[0].version { "the same version with different digests" } else { "different versions" };
            return Err(format!(
                "{to} takes its artifact from all of its upstreams (require: all), but they hold {what}: {}; promote the same artifact into each \
                 of them first, or make {to} require: any",
                holdings()
            ));
        }
        let since = candidates.iter().map(|c| c.since).try_fold(i64::MIN, |latest, since| since.map(|since| latest.max(since)));
        // The source is where it arrived last: from then on it has been in all of them.
        let index = candidates.iter().enumerate().max_by_key(|(index, c)| (c.since, std::cmp::Reverse(*index))).map_or(0, |(index, _)| index);
        let envs: Vec<&str> = candidates.iter().map(|c| c.env.as_str()).collect();
        let mut reason = format!("every upstream of {to} ({}) holds {} (require: all)", envs.join(", "), candidates[0].version);
        if let Some(from) = &request.from_env {
            reason = format!("{how}; {reason}");
            let index = candidates.iter().position(|c| &c.env == from).unwrap_or(index);
            (index, since, reason)
        } else {
            reason.push_str(&format!("; recorded from {}, where it arrived last", candidates[index].env));
            (index, since, reason)
        }
    } else if candidates.len() == 1 {
        let reason = if how.is_empty() { format!("{}, the upstream of {to}", candidates[0].env) } else { how.clone() };
        (0, candidates[0].since, reason)
    } else {
        let mut best = 0;
        for (index, candidate) in candidates.iter().enumerate().skip(1) {
            if newer(candidate, &candidates[best]) {
                best = index;
            }
        }
        let why = if candidates.iter().all(|c| semver_of(&c.version).is_some()) { "the highest version" } else { "the most recent arrival" };
        let reason = format!(
            "{} holds {}, {why} among the upstreams of {to} ({}; require: any)",
            candidates[best].env,
            candidates[best].version,
            holdings()
        );
        (best, candidates[best].since, reason)
    };
    let chosen = candidates.swap_remove(source);
    if let Some(version) = &request.version
        && version != &chosen.version
    {
        return Err(format!(
            "--version only applies to a root environment; {to} takes what is in {} ({}), not {version}",
            chosen.env, chosen.version
        ));
    }
    Ok(Source {
        from_env: Some(chosen.env),
        artifact: Artifact { image: application.image.clone(), version: chosen.version, digest: chosen.digest },
        since,
        reason,
    })
}

/// Whether `candidate` is newer than `best`: by semantic version when both are one (the same
/// version: the one that has been there longer), otherwise by arrival.
fn newer(candidate: &Candidate, best: &Candidate) -> bool {
    match (semver_of(&candidate.version), semver_of(&best.version)) {
        (Some(a), Some(b)) if a != b => a > b,
        (Some(_), Some(_)) => matches!((candidate.since, best.since), (Some(a), Some(b)) if a < b) || (best.since.is_none() && candidate.since.is_some()),
        _ => candidate.since > best.since,
    }
}

/// Two versions by semantic-version order (a leading `v` allowed); `Equal` when either is
/// not a semantic version.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (semver_of(a), semver_of(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => std::cmp::Ordering::Equal,
    }
}

/// How what an environment runs stands against what a promotion from its upstream would bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// The same version and digest.
    Current,
    /// The upstream offers a later semantic version: a promotion would move it forward.
    Behind,
    /// The environment runs a later semantic version than its upstream offers (a promotion
    /// would move it back).
    Ahead,
    /// They differ, but not in a way semantic versions order (a digest alone, or versions that
    /// are not semantic versions).
    Differs,
}

/// The one comparison of what an environment runs (`held`) with what its upstream offers
/// (`offered`), each a version and digest: `status` marks, `plan` and release trains all use it.
pub fn standing(held: (&str, Option<&str>), offered: (&str, Option<&str>)) -> Standing {
    if held == offered {
        return Standing::Current;
    }
    match (semver_of(held.0), semver_of(offered.0)) {
        (Some(held), Some(offered)) if offered > held => Standing::Behind,
        (Some(held), Some(offered)) if offered < held => Standing::Ahead,
        _ => Standing::Differs,
    }
}

fn semver_of(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.strip_prefix('v').unwrap_or(version)).ok()
}

/// A root takes the version (and digest) the requester gives.
fn root_source(application: &Application, request: &PlanRequest, current: &Deployed) -> Result<Source, String> {
    let version = request.version.clone().ok_or_else(|| {
        format!("{} is a root environment (no upstream): give the version to promote with --version (and --digest)", request.to_env)
    })?;
    // An image pinned by digest alone: the version is the digest, and the file holds it as one.
    let pinned_by_digest = crate::input::is_digest_version(&version);
    if pinned_by_digest && (request.no_digest || request.digest.as_ref().is_some_and(|digest| digest != &version)) {
        return Err(format!("--version {version} is a digest (an image pinned by digest alone): give no other --digest and no --no-digest"));
    }
    let given = if pinned_by_digest { Some(&version) } else { request.digest.as_ref() };
    let digest = match (given, request.no_digest) {
        (Some(_), true) => return Err("give --digest or --no-digest, not both".into()),
        (Some(_), false) if !current.has_digest_field => {
            let flag = if pinned_by_digest { format!("--version {version}") } else { "--digest".to_string() };
            return Err(format!(
                "{flag}: the file of {} in {} has no place for a digest; add one (Helm: digest_path; Kustomize: a digest in the images entry) or promote a tag without --digest",
                request.app, request.to_env
            ));
        }
        (Some(digest), false) => Some(digest.clone()),
        (None, false) if current.digest.is_some() => {
            return Err(format!(
                "{} in {} has the digest {} for {}; give --digest for {version}, or --no-digest to clear it",
                request.app,
                request.to_env,
                current.digest.as_deref().unwrap_or_default(),
                current.version
            ));
        }
        (None, _) => None,
    };
    let reason = format!("{version} given with --version: {} is a root environment", request.to_env);
    Ok(Source { from_env: None, artifact: Artifact { image: application.image.clone(), version, digest }, since: None, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(env: &str, version: &str, since: Option<i64>) -> Candidate {
        Candidate { env: env.to_string(), version: version.to_string(), digest: None, since }
    }

    #[test]
    fn versions_compare_as_semantic_versions_not_text() {
        assert!(compare_versions("1.10.0", "1.9.0").is_gt());
        assert!(compare_versions("v2.0.0", "1.99.0").is_gt());
        assert!(compare_versions("1.0.0-rc.1", "1.0.0").is_lt());
        assert!(compare_versions("latest", "1.0.0").is_eq(), "not comparable: equal");
    }

    #[test]
    fn newest_is_the_higher_version_then_the_longer_soaked_then_the_later_arrival() {
        assert!(newer(&candidate("a", "1.10.0", None), &candidate("b", "1.9.0", Some(5))));
        assert!(!newer(&candidate("a", "1.9.0", Some(1)), &candidate("b", "1.10.0", None)));
        // The same version: where it has been longer.
        assert!(newer(&candidate("a", "1.0.0", Some(1)), &candidate("b", "1.0.0", Some(5))));
        assert!(newer(&candidate("a", "1.0.0", Some(9)), &candidate("b", "1.0.0", None)));
        // Not semantic versions: the later arrival.
        assert!(newer(&candidate("a", "build-7", Some(9)), &candidate("b", "build-8", Some(5))));
        assert!(!newer(&candidate("a", "build-7", None), &candidate("b", "build-8", Some(5))));
    }
}
