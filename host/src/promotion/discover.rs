//! Discovery: the candidate versions of an application, read from its image's registry
//! (Kargo's Warehouse), and the one place a request takes its version and digest from there
//! (`--latest`, and checking a typed `--digest`). The registry is not trusted: tags outside
//! the version grammar are dropped, digests are computed from the bytes received, and an
//! unreachable registry is an error (exit 2), never a silent fallback.

use serde::Serialize;

use super::request::PlanRequest;
use super::workspace::Workspace;
use crate::config::discover::{NewestBy, TagFilter};
use crate::config::kinds::ArtifactSource;
use crate::exit::Failure;
use crate::manifest::normalize_image;
use crate::registry::client::RegistryClient;
use crate::registry::reference::OciReference;

/// With `newest_by: created`, at most this many tags are looked at (one manifest and one
/// configuration read each).
const MAX_CREATED_CANDIDATES: usize = 200;

/// A version the registry (chart repository, Git remote) offers and the discovery rule admits.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The tag (an image's or OCI chart's), chart version, or Git tag.
    pub version: String,
    /// The manifest digest the tag points at now (an image, a chart in an OCI repository), or
    /// the chart archive's digest an HTTP repository's index names; none for a Git tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// For a Git tag, the commit it names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The image configuration's creation time (read with `newest_by: created`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "rfc3339")]
    pub created: Option<jiff::Timestamp>,
}

fn rfc3339<S: serde::Serializer>(time: &Option<jiff::Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&time.map(|time| time.to_string()).unwrap_or_default())
}

/// Where an application's versions are listed.
#[allow(clippy::large_enum_variant)] // one per discovery call; a box would buy nothing
enum Offer {
    /// An OCI registry's tags: an image's, or a chart's in an OCI repository.
    Registry(RegistryClient, OciReference),
    /// An HTTP chart repository's `index.yaml`: (repository URL, chart name).
    ChartIndex(String, String),
    /// A Git remote's tags.
    GitRemote(String),
}

impl Workspace {
    /// Where `app`'s versions are listed (for an image, its registry with Docker Hub names
    /// normalised as Docker does; for a chart, its OCI or HTTP repository; for a Git
    /// revision, its remote), and its discovery rule; an error when `app` has none.
    fn discovery(&self, app: &str) -> Result<(Offer, TagFilter), Failure> {
        let application = self.config.applications.get(app).ok_or_else(|| Failure::bad_input(format!("unknown application {app}")))?;
        let rule = application.discover.as_ref().ok_or_else(|| {
            Failure::bad_input(format!("application {app} has no `discover:` rule in tollgate.yaml, so tollgate cannot ask its registry for versions; add one (see README, Where new versions come from)"))
        })?;
        let filter = rule.compile().map_err(|(key, message)| Failure::bad_input(format!("applications.{app}.discover.{key}: {message}")))?;
        let oci = |address: &str| -> Result<Offer, Failure> {
            let (registry, repository) = address.split_once('/').ok_or_else(|| Failure::bad_input(format!("{address}: name a repository on the registry")))?;
            let registry = if registry == "docker.io" { "registry-1.docker.io" } else { registry };
            let reference = OciReference { registry: registry.to_string(), repository: repository.to_string(), tag: None, digest: None };
            let client = self.runtime.registry().client(&reference).map_err(Failure::bad_input)?;
            Ok(Offer::Registry(client, reference))
        };
        let offer = match &application.source {
            ArtifactSource::Image => oci(&normalize_image(&application.image))?,
            ArtifactSource::Chart(chart) => match chart.repository.strip_prefix("oci://") {
                Some(_) => oci(application.image.trim_start_matches("oci://"))?,
                None => Offer::ChartIndex(chart.repository.clone(), chart.name.clone()),
            },
            ArtifactSource::Git(git) => Offer::GitRemote(git.url.clone()),
        };
        Ok((offer, filter))
    }

    /// The candidate versions of `app`, newest first, at most `limit` of them, each with the
    /// digest its tag points at now (a Git tag: the commit it names).
    pub fn candidates(&self, app: &str, limit: usize) -> Result<Vec<Candidate>, Failure> {
        let (offer, filter) = self.discovery(app)?;
        let (client, reference) = match offer {
            Offer::Registry(client, reference) => (client, reference),
            Offer::ChartIndex(repository, name) => {
                let listed = crate::registry::client::chart_index::chart_versions(&repository, &name).map_err(Failure::bad_input)?;
                let listed = listed.into_iter().map(|entry| Candidate { version: entry.version, digest: entry.digest, commit: None, created: None });
                return Ok(newest_by_semver(&filter, listed, limit));
            }
            Offer::GitRemote(url) => {
                let tags = crate::registry::client::git_tags::remote_tags(&url).map_err(Failure::bad_input)?;
                let tags = tags.into_iter().map(|tag| Candidate { version: tag.name, digest: None, commit: Some(tag.commit), created: None });
                return Ok(newest_by_semver(&filter, tags, limit));
            }
        };
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
                    candidates.push(Candidate { version: tag, digest: Some(image.digest), commit: None, created: None });
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
                    candidates.push(Candidate { version: tag, digest: Some(image.digest), commit: None, created: image.created });
                }
                candidates.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.version.cmp(&a.version)));
                candidates.truncate(limit);
            }
        }
        Ok(candidates)
    }

    /// Whether `app`'s repository offers `version` now, whether or not its discovery rule
    /// admits it: a tag of its OCI repository, a version in its chart index, a tag of its Git
    /// remote. A full commit id is not listed by a remote, so it is taken as typed.
    fn offers(&self, app: &str, version: &str) -> Result<bool, Failure> {
        Ok(match self.discovery(app)?.0 {
            Offer::Registry(client, reference) => client.tags(&reference).map_err(Failure::bad_input)?.iter().any(|tag| tag == version),
            Offer::ChartIndex(repository, name) => crate::registry::client::chart_index::chart_versions(&repository, &name)
                .map_err(Failure::bad_input)?
                .iter()
                .any(|entry| entry.version == version),
            Offer::GitRemote(_) if crate::transition::is_commit_id(version) => true,
            Offer::GitRemote(url) => crate::registry::client::git_tags::remote_tags(&url).map_err(Failure::bad_input)?.iter().any(|tag| tag.name == version),
        })
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
        if self.config.applications.get(&request.app).is_some_and(|application| !application.source.kind().is_image()) {
            // A chart or Git revision has no digest: --latest takes the newest version alone,
            // and a typed version must be one the repository offers (as a typed image tag must
            // be one its registry holds).
            match &request.version {
                None => {
                    let newest = self.candidates(&request.app, 1)?.into_iter().next().ok_or_else(|| {
                        Failure::bad_input(format!("--latest: {} offers no version that applications.{}.discover admits", request.app, request.app))
                    })?;
                    request.version = Some(newest.version);
                }
                Some(version) if !self.offers(&request.app, version)? => {
                    return Err(Failure::bad_input(format!(
                        "--version {version}: the repository of {} does not offer it (`tollgate versions {}` lists what it offers); refusing it",
                        request.app, request.app
                    )));
                }
                Some(_) => {}
            }
            return Ok(());
        }
        let (version, digest) = match &request.version {
            Some(version) => {
                let Offer::Registry(client, reference) = self.discovery(&request.app)?.0 else { unreachable!("an image's versions come from its registry") };
                (version.clone(), client.image_tag(&reference, version, false).map_err(Failure::bad_input)?.digest)
            }
            None => {
                let newest = self.candidates(&request.app, 1)?.into_iter().next().ok_or_else(|| {
                    Failure::bad_input(format!("--latest: the registry has no tag of {} that applications.{}.discover admits", request.app, request.app))
                })?;
                (newest.version, newest.digest.expect("an image's candidates have digests"))
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

/// The `listed` versions `filter` admits, newest first by semantic version (of two of one
/// version, `1.2.0` and `v1.2.0`, the plain one first), at most `limit`.
fn newest_by_semver(filter: &TagFilter, listed: impl Iterator<Item = Candidate>, limit: usize) -> Vec<Candidate> {
    let mut admitted: Vec<(Option<semver::Version>, Candidate)> =
        listed.filter_map(|candidate| filter.admits(&candidate.version).map(|version| (version, candidate))).collect();
    admitted.sort_by(|(a, a_candidate), (b, b_candidate)| b.cmp(a).then_with(|| a_candidate.version.len().cmp(&b_candidate.version.len())));
    admitted.into_iter().take(limit).map(|(_, candidate)| candidate).collect()
}
