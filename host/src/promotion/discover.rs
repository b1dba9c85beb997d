//! Discovery: the candidate versions of an application, read from its image's registry
//! (Kargo's Warehouse), and the one place a request takes its version and digest from there
//! (`--latest`, and checking a typed `--digest`). A multi-artifact application subscribes per
//! artifact (each with its own `discover:` rule), and `--latest` takes every one's newest. The registry is not trusted: tags outside
//! the version grammar are dropped, digests are computed from the bytes received, and an
//! unreachable registry is an error (exit 2), never a silent fallback.

use serde::Serialize;

use super::request::PlanRequest;
use super::workspace::Workspace;
use crate::config::Application;
use crate::config::discover::{Discovery, NewestBy, TagFilter};
use crate::config::kinds::ArtifactSource;
use crate::transition::ArtifactKind;
use crate::exit::Failure;
use crate::manifest::normalize_image;
use crate::registry::client::RegistryClient;
use crate::registry::client::images::{chart_tag, chart_version};
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

/// What an application's repositories offer under its discovery rules.
#[derive(Debug)]
pub enum Offered {
    /// The candidates of an application of one artifact.
    Application(Vec<Candidate>),
    /// Per artifact of a multi-artifact application (those with a `discover:` rule), in name
    /// order.
    Artifacts(Vec<ArtifactOffer>),
}

/// The candidates of one artifact of a multi-artifact application.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactOffer {
    /// Artifact name.
    #[serde(skip)]
    pub name: String,
    /// Image, Helm chart or Git revision.
    pub kind: ArtifactKind,
    /// Its image repository (a chart's or Git repository's identifier).
    pub image: String,
    /// Newest first.
    pub versions: Vec<Candidate>,
}

/// One artifact whose versions may be discovered (Kargo: a Warehouse's subscription): an
/// application's single artifact, or one of its `artifacts:`.
struct Subscription<'a> {
    app: &'a str,
    /// The artifact's name in a multi-artifact application.
    artifact: Option<&'a str>,
    source: &'a ArtifactSource,
    image: &'a str,
    rule: Option<&'a Discovery>,
}

impl Subscription<'_> {
    /// Where its rule is written.
    fn rule_path(&self) -> String {
        match self.artifact {
            None => format!("applications.{}.discover", self.app),
            Some(name) => format!("applications.{}.artifacts.{name}.discover", self.app),
        }
    }

    /// How messages name it.
    fn label(&self) -> String {
        match self.artifact {
            None => self.app.to_string(),
            Some(name) => format!("{} artifact {name}", self.app),
        }
    }

    /// How messages name one of its versions (`api:1.2.0`; `shop artifact api 1.2.0`).
    fn at_version(&self, version: &str) -> String {
        match self.artifact {
            None => format!("{}:{version}", self.app),
            Some(_) => format!("{} {version}", self.label()),
        }
    }

    /// A flag as the requester gives it for this artifact (`--digest D`; `--digest api=D`).
    fn flag(&self, flag: &str, value: &str) -> String {
        match self.artifact {
            None => format!("{flag} {value}"),
            Some(name) => format!("{flag} {name}={value}"),
        }
    }
}

/// Every artifact of `application` that may have a discovery rule, in name order.
fn subscriptions<'a>(app: &'a str, application: &'a Application) -> Vec<Subscription<'a>> {
    if !application.is_multi_artifact() {
        return vec![Subscription { app, artifact: None, source: &application.source, image: &application.image, rule: application.discover.as_ref() }];
    }
    application
        .artifacts
        .iter()
        .map(|(name, artifact)| Subscription { app, artifact: Some(name), source: &artifact.source, image: &artifact.image, rule: artifact.discover.as_ref() })
        .collect()
}

impl Workspace {
    fn application(&self, app: &str) -> Result<&Application, Failure> {
        self.config.applications.get(app).ok_or_else(|| Failure::bad_input(format!("unknown application {app}")))
    }

    /// Where `subscription`'s versions are listed (for an image, its registry with Docker Hub
    /// names normalised as Docker does; for a chart, its OCI or HTTP repository; for a Git
    /// revision, its remote), and its discovery rule; an error when it has none.
    fn discovery(&self, subscription: &Subscription) -> Result<(Offer, TagFilter), Failure> {
        let rule = subscription.rule.ok_or_else(|| match subscription.artifact {
            None => Failure::bad_input(format!(
                "application {} has no `discover:` rule in tollgate.yaml, so tollgate cannot ask its registry for versions; add one (see README, Where new versions come from)",
                subscription.app
            )),
            Some(_) => Failure::bad_input(format!(
                "{} has no `discover:` rule in tollgate.yaml ({}), so tollgate cannot ask its registry for versions; add one, or type every artifact's version with --version NAME=VERSION",
                subscription.label(),
                subscription.rule_path()
            )),
        })?;
        let filter = rule.compile().map_err(|(key, message)| Failure::bad_input(format!("{}.{key}: {message}", subscription.rule_path())))?;
        let oci = |address: &str| -> Result<Offer, Failure> {
            let (registry, repository) = address.split_once('/').ok_or_else(|| Failure::bad_input(format!("{address}: name a repository on the registry")))?;
            let registry = if registry == "docker.io" { "registry-1.docker.io" } else { registry };
            let reference = OciReference { registry: registry.to_string(), repository: repository.to_string(), tag: None, digest: None };
            let client = self.runtime.registry().client(&reference).map_err(Failure::bad_input)?;
            Ok(Offer::Registry(client, reference))
        };
        let offer = match subscription.source {
            ArtifactSource::Image => oci(&normalize_image(subscription.image))?,
            ArtifactSource::Chart(chart) => match chart.repository.strip_prefix("oci://") {
                Some(_) => oci(subscription.image.trim_start_matches("oci://"))?,
                None => Offer::ChartIndex(chart.repository.clone(), chart.name.clone()),
            },
            ArtifactSource::Git(git) => Offer::GitRemote(git.url.clone()),
        };
        Ok((offer, filter))
    }

    /// The candidate versions of `app`, newest first, at most `limit` of each artifact's, each
    /// with the digest its tag points at now (a Git tag: the commit it names). A multi-artifact
    /// application lists each artifact with a `discover:` rule; one with none is an error.
    pub fn candidates(&self, app: &str, limit: usize) -> Result<Offered, Failure> {
        let application = self.application(app)?;
        let subscriptions = subscriptions(app, application);
        if !application.is_multi_artifact() {
            return Ok(Offered::Application(self.candidates_of(&subscriptions[0], limit)?));
        }
        let mut offers = Vec::new();
        for subscription in subscriptions.iter().filter(|subscription| subscription.rule.is_some()) {
            let versions = self.candidates_of(subscription, limit)?;
            let name = subscription.artifact.expect("an artifact of several").to_string();
            offers.push(ArtifactOffer { name, kind: subscription.source.kind(), image: subscription.image.to_string(), versions });
        }
        if offers.is_empty() {
            return Err(Failure::bad_input(format!(
                "none of the artifacts of {app} has a `discover:` rule in tollgate.yaml, so tollgate cannot ask a registry for versions; add one under applications.{app}.artifacts.NAME (see README, Where new versions come from)"
            )));
        }
        Ok(Offered::Artifacts(offers))
    }

    /// The candidate versions of one subscription, newest first, at most `limit`.
    fn candidates_of(&self, subscription: &Subscription, limit: usize) -> Result<Vec<Candidate>, Failure> {
        let (offer, filter) = self.discovery(subscription)?;
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
        // (tag, version): a chart's version is its tag with `_` read as `+`.
        let chart = !subscription.source.kind().is_image();
        let listed: Vec<(String, String)> = client
            .tags(&reference)
            .map_err(Failure::bad_input)?
            .into_iter()
            .map(|tag| if chart { (tag.clone(), chart_version(&tag)) } else { (tag.clone(), tag) })
            .filter(|(_, version)| crate::input::version("tag", version).is_ok())
            .collect();
        let mut candidates = Vec::new();
        match filter.newest_by {
            NewestBy::Semver => {
                // Ordered as every repository's versions are; then the digest of each one kept.
                let listed = listed.into_iter().map(|(_, version)| Candidate { version, digest: None, commit: None, created: None });
                for mut candidate in newest_by_semver(&filter, listed, limit) {
                    let tag = if chart { chart_tag(&candidate.version) } else { candidate.version.clone() };
                    candidate.digest = Some(client.image_tag(&reference, &tag, false).map_err(Failure::bad_input)?.digest);
                    candidates.push(candidate);
                }
            }
            NewestBy::Created => {
                let admitted: Vec<(String, String)> = listed.into_iter().filter(|(_, version)| filter.admits(version).is_some()).collect();
                if admitted.len() > MAX_CREATED_CANDIDATES {
                    return Err(Failure::bad_input(format!(
                        "{} tags of {reference} match {}, more than the {MAX_CREATED_CANDIDATES} ordered by creation time; narrow tag_regex",
                        admitted.len(),
                        subscription.rule_path()
                    )));
                }
                for (tag, version) in admitted {
                    let image = client.image_tag(&reference, &tag, true).map_err(Failure::bad_input)?;
                    candidates.push(Candidate { version, digest: Some(image.digest), commit: None, created: image.created });
                }
                candidates.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.version.cmp(&a.version)));
                candidates.truncate(limit);
            }
        }
        Ok(candidates)
    }

    /// Whether `subscription`'s repository offers `version` now, whether or not its discovery
    /// rule admits it: a tag of its OCI repository (a chart's `+` stored as `_`), a version in its chart index, a tag of its
    /// Git remote. A full commit id is not listed by a remote, so it is taken as typed.
    fn offers(&self, subscription: &Subscription, version: &str) -> Result<bool, Failure> {
        Ok(match self.discovery(subscription)?.0 {
            Offer::Registry(client, reference) => {
                let tag = if subscription.source.kind().is_image() { version.to_string() } else { chart_tag(version) };
                client.tags(&reference).map_err(Failure::bad_input)?.contains(&tag)
            }
            Offer::ChartIndex(repository, name) => crate::registry::client::chart_index::chart_versions(&repository, &name)
                .map_err(Failure::bad_input)?
                .iter()
                .any(|entry| entry.version == version),
            Offer::GitRemote(_) if crate::transition::is_commit_id(version) => true,
            Offer::GitRemote(url) => crate::registry::client::git_tags::remote_tags(&url).map_err(Failure::bad_input)?.iter().any(|tag| tag.name == version),
        })
    }

    /// One artifact's version and digest from its registry: the newest candidate when no
    /// version is typed, else the typed one (an image's digest read for its tag; a chart's or
    /// Git revision's version must be one its repository offers). A typed digest that differs
    /// from the registry's is refused. A chart or Git revision has no digest.
    fn resolve(&self, subscription: &Subscription, typed_version: Option<&str>, typed_digest: Option<&str>) -> Result<(String, Option<String>), Failure> {
        let newest = || -> Result<Candidate, Failure> {
            self.candidates_of(subscription, 1)?.into_iter().next().ok_or_else(|| {
                Failure::bad_input(format!("--latest: {} offers no version that {} admits", subscription.label(), subscription.rule_path()))
            })
        };
        if !subscription.source.kind().is_image() {
            let version = match typed_version {
                None => newest()?.version,
                Some(version) if !self.offers(subscription, version)? => {
                    return Err(Failure::bad_input(format!(
                        "{}: the repository of {} does not offer it (`tollgate versions {}` lists what it offers); refusing it",
                        subscription.flag("--version", version),
                        subscription.label(),
                        subscription.app
                    )));
                }
                Some(version) => version.to_string(),
            };
            return Ok((version, None));
        }
        let (version, digest) = match typed_version {
            Some(version) => {
                let Offer::Registry(client, reference) = self.discovery(subscription)?.0 else { unreachable!("an image's versions come from its registry") };
                (version.to_string(), client.image_tag(&reference, version, false).map_err(Failure::bad_input)?.digest)
            }
            None => {
                let newest = newest()?;
                (newest.version, newest.digest.expect("an image's candidates have digests"))
            }
        };
        if let Some(typed) = typed_digest
            && typed != digest
        {
            return Err(Failure::bad_input(format!(
                "{} is not what the registry holds for {} ({digest}); refusing it (omit {} to take the registry's)",
                subscription.flag("--digest", typed),
                subscription.at_version(&version),
                subscription.flag("--digest", "…").trim_end_matches(" …"),
            )));
        }
        Ok((version, Some(digest)))
    }

    /// Take a request's versions and digests from the registries where the configuration says
    /// where versions come from: with `latest`, each artifact's newest candidate (into a root
    /// environment only; an artifact of several without a rule needs its `--version
    /// NAME=VERSION`, and one typed so is checked as typed); otherwise, for
    /// versions typed into a root environment, each discovered artifact's digest from its
    /// registry (a chart's or Git revision's version checked as offered). A typed `--digest`
    /// that differs from the registry's is refused. Every registry is asked before anything is
    /// planned, so an unreachable one changes nothing.
    pub fn take_from_registry(&self, request: &mut PlanRequest, latest: bool) -> Result<(), Failure> {
        let root = self.config.graph().is_root(&request.to_env);
        let typed = request.version.is_some() || !request.artifact_versions.is_empty();
        if latest {
            // Per artifact of several, NAME=VERSION may pin one (checked as typed) beside the
            // others' newest: the form a multi-artifact application's versions are typed in.
            if request.version.is_some() || request.no_digest || request.rollback.is_some() {
                return Err(Failure::bad_input("--latest takes the version and digest from the registry: give it without --version VERSION, --no-digest or a rollback (--version NAME=VERSION pins one artifact of several)".to_string()));
            }
            if !root {
                return Err(Failure::bad_input(format!(
                    "--latest: {} takes its version from its upstream environment, not from the registry; use --latest for a first environment of the graph",
                    request.to_env
                )));
            }
        } else if !(root && typed && !request.no_digest && request.rollback.is_none()) {
            return Ok(());
        }
        let application = match self.config.applications.get(&request.app) {
            Some(application) => application,
            None if latest => return Err(self.application(&request.app).expect_err("unknown")),
            None => return Ok(()), // planning names the unknown application
        };
        if latest && !application.is_multi_artifact() && !request.artifact_versions.is_empty() {
            return Err(Failure::bad_input(format!("--version NAME=VERSION names an artifact; {} has a single one: give --latest alone", request.app)));
        }
        for subscription in subscriptions(&request.app, application) {
            let (typed_version, typed_digest) = match subscription.artifact {
                None => (request.version.clone(), request.digest.clone()),
                Some(name) => (request.artifact_versions.get(name).or(request.version.as_ref()).cloned(), request.artifact_digests.get(name).cloned()),
            };
            if subscription.rule.is_none() && (typed_version.is_some() || !latest) {
                continue; // typed, with nowhere to check it
            }
            if let (None, Some(name)) = (subscription.rule, subscription.artifact) {
                return Err(Failure::bad_input(format!(
                    "--latest takes each artifact's version from its registry, but {} has no `discover:` rule ({}); add one, or give its version with --version {name}=VERSION",
                    subscription.label(),
                    subscription.rule_path()
                )));
            }
            if typed_version.is_none() && !latest {
                continue; // planning says which artifact's version is missing
            }
            let (version, digest) = self.resolve(&subscription, typed_version.as_deref(), typed_digest.as_deref())?;
            match subscription.artifact {
                None => {
                    request.version = Some(version);
                    request.digest = digest.or(request.digest.take());
                }
                Some(name) => {
                    request.artifact_versions.insert(name.to_string(), version);
                    if let Some(digest) = digest {
                        request.artifact_digests.insert(name.to_string(), digest);
                    }
                }
            }
        }
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
