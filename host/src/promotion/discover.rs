//! Discovery: the candidate versions of an application, read from its image's registry
//! (Kargo's Warehouse), and the one place a request takes its version and digest from there
//! (`--latest`, and checking a typed `--digest`). The registry is not trusted: tags outside
//! the version grammar are dropped, digests are computed from the bytes received, and an
//! unreachable registry is an error (exit 2), never a silent fallback.

use serde::Serialize;

use super::request::PlanRequest;
use super::workspace::Workspace;
use crate::config::discover::{NewestBy, TagFilter};
use crate::exit::Failure;
use crate::manifest::normalize_image;
use crate::registry::client::RegistryClient;
use crate::registry::reference::OciReference;

/// With `newest_by: created`, at most this many tags are looked at (one manifest and one
/// configuration read each).
const MAX_CREATED_CANDIDATES: usize = 200;

/// A version the registry offers and the discovery rule admits.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The tag.
    pub version: String,
    /// The manifest digest the tag points at now.
    pub digest: String,
    /// The image configuration's creation time (read with `newest_by: created`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "rfc3339")]
    pub created: Option<jiff::Timestamp>,
}

fn rfc3339<S: serde::Serializer>(time: &Option<jiff::Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&time.map(|time| time.to_string()).unwrap_or_default())
}

impl Workspace {
    /// A client for the registry of `app`'s image, the image repository as a reference (Docker
    /// Hub names normalised as Docker does), and its discovery rule; an error when `app` has none.
    fn discovery(&self, app: &str) -> Result<(RegistryClient, OciReference, TagFilter), Failure> {
        let application = self.config.applications.get(app).ok_or_else(|| Failure::bad_input(format!("unknown application {app}")))?;
        let rule = application.discover.as_ref().ok_or_else(|| {
            Failure::bad_input(format!("application {app} has no `discover:` rule in tollgate.yaml, so tollgate cannot ask its registry for versions; add one (see README, Where new versions come from)"))
        })?;
        let filter = rule.compile().map_err(|(key, message)| Failure::bad_input(format!("applications.{app}.discover.{key}: {message}")))?;
        let normalized = normalize_image(&application.image);
        let (registry, repository) = normalized.split_once('/').expect("a normalised image has a registry");
        let registry = if registry == "docker.io" { "registry-1.docker.io" } else { registry };
        let reference = OciReference { registry: registry.to_string(), repository: repository.to_string(), tag: None, digest: None };
        let client = self.runtime.registry().client(&reference).map_err(Failure::bad_input)?;
        Ok((client, reference, filter))
    }

    /// The candidate versions of `app`, newest first, at most `limit` of them, each with the
    /// digest its tag points at now.
    pub fn candidates(&self, app: &str, limit: usize) -> Result<Vec<Candidate>, Failure> {
        let (client, reference, filter) = self.discovery(app)?;
        let mut admitted: Vec<(String, Option<semver::Version>)> = client
            .tags(&reference)
            .map_err(Failure::bad_input)?
            .into_iter()
            .filter(|tag| crate::input::version("tag", tag).is_ok())
            .filter_map(|tag| filter.admits(&tag).map(|version| (tag, version)))
            .collect();
        let mut candidates = Vec::new();
        match filter.newest_by {
            NewestBy::Semver => {
                // Newest first; of two tags of one version (`1.2.0`, `v1.2.0`) the plain one first.
                admitted.sort_by(|(a_tag, a), (b_tag, b)| b.cmp(a).then_with(|| a_tag.len().cmp(&b_tag.len())));
                for (tag, _) in admitted.into_iter().take(limit) {
                    let image = client.image_tag(&reference, &tag, false).map_err(Failure::bad_input)?;
                    candidates.push(Candidate { version: tag, digest: image.digest, created: None });
                }
            }
            NewestBy::Created => {
                if admitted.len() > MAX_CREATED_CANDIDATES {
                    return Err(Failure::bad_input(format!(
                        "{} tags of {reference} match applications.{app}.discover, more than the {MAX_CREATED_CANDIDATES} ordered by creation time; narrow tag_regex",
                        admitted.len()
                    )));
                }
                for (tag, _) in admitted {
                    let image = client.image_tag(&reference, &tag, true).map_err(Failure::bad_input)?;
                    candidates.push(Candidate { version: tag, digest: image.digest, created: image.created });
                }
                candidates.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.version.cmp(&a.version)));
                candidates.truncate(limit);
            }
        }
        Ok(candidates)
    }

    /// Take a request's version and digest from the registry where the configuration says
    /// where versions come from: with `latest`, the newest candidate (into a root environment
    /// only); otherwise, for a version typed into a root environment of an application with a
    /// `discover:` rule, the digest its tag points at. A typed `--digest` that differs from the
    /// registry's is refused.
    pub fn take_from_registry(&self, request: &mut PlanRequest, latest: bool) -> Result<(), Failure> {
        let discovers = self.config.applications.get(&request.app).is_some_and(|application| application.discover.is_some());
        let root = self.config.graph().is_root(&request.to_env);
        if latest {
            if request.version.is_some() || !request.artifact_versions.is_empty() || request.no_digest || request.rollback.is_some() {
                return Err(Failure::bad_input("--latest takes the version and digest from the registry: give it without --version, --no-digest or a rollback".to_string()));
            }
            if !root {
                return Err(Failure::bad_input(format!(
                    "--latest: {} takes its version from its upstream environment, not from the registry; use --latest for a first environment of the graph",
                    request.to_env
                )));
            }
        } else if !(discovers && root && request.version.is_some() && !request.no_digest && request.rollback.is_none()) {
            return Ok(());
        }
        let (version, digest) = match &request.version {
            Some(version) => {
                let (client, reference, _) = self.discovery(&request.app)?;
                (version.clone(), client.image_tag(&reference, version, false).map_err(Failure::bad_input)?.digest)
            }
            None => {
                let newest = self.candidates(&request.app, 1)?.into_iter().next().ok_or_else(|| {
                    Failure::bad_input(format!("--latest: the registry has no tag of {} that applications.{}.discover admits", request.app, request.app))
                })?;
                (newest.version, newest.digest)
            }
        };
        if let Some(typed) = &request.digest
            && typed != &digest
        {
            return Err(Failure::bad_input(format!(
                "--digest {typed} is not what the registry holds for {}:{version} ({digest}); refusing it (omit --digest to take the registry's)",
                request.app
            )));
        }
        request.version = Some(version);
        request.digest = Some(digest);
        Ok(())
    }
}
