//! The Argo CD check: the source environment's application is Healthy, Synced and runs the
//! artifact being promoted.
//!
//! Asks `GET {url}/api/v1/applications/{name}` (Argo CD's REST API; the answer is a
//! `v1alpha1.Application`) and reads only these fields of it:
//!
//! - `status.health.status` (`Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`,
//!   `Unknown`) and `status.health.message`,
//! - `status.sync.status` (`Synced`, `OutOfSync`, `Unknown`) and `status.sync.revision`,
//! - `status.summary.images`: the images of the application's live resources, e.g.
//!   `registry.example.com/shop/api:1.4.2` or `…/api@sha256:…`.

use serde::Deserialize;
use tollgate_sdk::host::{self, LogLevel};
use tollgate_sdk::{Artifact, Error, Finding, Result, Transition};

use crate::template::{base_url, encode};
use tollgate_sdk::placeholders::{check as check_placeholders, fill};
use crate::{excerpt, status_problem, unreadable};

/// Where Argo CD is and which application belongs to an environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgoCd {
    /// Base URL of the Argo CD API server, e.g. `https://argocd.example.com`. Its origin must
    /// be granted to the policy (`http_origins`), with a bearer token under `credentials`.
    pub url: String,
    /// The application's name; `{app}` is the tollgate application, `{env}` the source
    /// environment. Default `{app}-{env}`.
    #[serde(default = "default_application")]
    pub application: String,
    /// Whether the live images must include the artifact (default true).
    #[serde(default = "yes")]
    pub require_image: bool,
}

fn default_application() -> String {
    "{app}-{env}".to_string()
}

fn yes() -> bool {
    true
}

impl ArgoCd {
    /// Semantic checks; `at` is the configuration path of this block.
    pub fn validate(&self, at: &str) -> Result<()> {
        base_url(&self.url, "https://argocd.example.com").map_err(|problem| Error::new(format!("{at}.url: {problem}")))?;
        if self.application.trim().is_empty() {
            return Err(Error::new(format!("{at}.application: must not be empty; the default is {{app}}-{{env}}")));
        }
        check_placeholders(&self.application).map_err(|problem| Error::new(format!("{at}.application: {problem}")))
    }

    /// Ask Argo CD about the application of `source`. `Ok` is a note for an allow; `Err`
    /// the findings of a deny.
    pub fn check(&self, t: &Transition, source: &str) -> std::result::Result<Finding, Vec<Finding>> {
        let name = fill(&self.application, &t.application, source, str::to_string);
        let base = base_url(&self.url, "").map_err(|problem| vec![Finding::new(problem)])?;
        let url = format!("{base}/api/v1/applications/{}", encode(&name));
        let what = format!("Argo CD application {name} ({source})");
        let response = host::http_get(&url, &[("accept", "application/json")])
            .map_err(|error| vec![unreadable(&what, &url, error.message())])?;
        match response.status {
            200..=299 => {}
            401 | 403 => {
                return Err(vec![unreadable(
                    &what,
                    &url,
                    &format!(
                        "{}; Argo CD did not accept the request: check the token tollgate attaches to {base} \
                         (credentials in tollgate.yaml) and that its account may get this application",
                        status_problem(&response)
                    ),
                )]);
            }
            404 => {
                return Err(vec![unreadable(
                    &what,
                    &url,
                    &format!(
                        "{}; Argo CD has no application {name}: check argocd.application (now {:?})",
                        status_problem(&response),
                        self.application
                    ),
                )]);
            }
            _ => return Err(vec![unreadable(&what, &url, &status_problem(&response))]),
        }
        host::log(LogLevel::Debug, &format!("{url} answered HTTP {} ({} bytes)", response.status, response.body.len()));
        let application: Application = serde_json::from_slice(&response.body)
            .map_err(|error| vec![unreadable(&what, &url, &format!("the answer is not an Argo CD Application ({error})"))])?;
        let status = application.status.unwrap_or_default();

        let mut problems = Vec::new();
        let health = status.health.status.as_deref().unwrap_or("Unknown");
        if health != "Healthy" {
            let message = match status.health.message.as_deref().map(str::trim) {
                Some(message) if !message.is_empty() => format!(": {}", excerpt(message, 300)),
                _ => String::new(),
            };
            problems.push(Finding::new(format!("{what} is {health}, not Healthy{message} (Argo CD at {base})")));
        }
        let sync = status.sync.status.as_deref().unwrap_or("Unknown");
        if sync != "Synced" {
            let revision = status.sync.revision.as_deref().map(|revision| format!(" at revision {}", excerpt(revision, 40)));
            problems.push(Finding::new(format!("{what} is {sync}{}, not Synced (Argo CD at {base})", revision.unwrap_or_default())));
        }
        let wanted = describe_artifact(&t.artifact);
        if self.require_image && !status.summary.images.iter().any(|image| runs_artifact(image, &t.artifact)) {
            let running = if status.summary.images.is_empty() {
                "reports no live images".to_string()
            } else {
                let shown: Vec<String> = status.summary.images.iter().take(10).map(|image| excerpt(image, 200)).collect();
                format!("runs {}", shown.join(", "))
            };
            problems.push(Finding::new(format!(
                "{what} {running}, not {wanted}: the artifact being promoted is not what runs in {source}"
            )));
        }
        if problems.is_empty() {
            Ok(Finding::new(format!("{what} is Healthy and Synced and runs {wanted}")))
        } else {
            Err(problems)
        }
    }
}

/// The parts of a `v1alpha1.Application` the check reads; everything else is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Application {
    status: Option<Status>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    health: Health,
    sync: Sync,
    summary: Summary,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Health {
    status: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Sync {
    status: Option<String>,
    revision: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Summary {
    images: Vec<String>,
}

/// `image:version`, with `@digest` when the artifact has one.
pub fn describe_artifact(artifact: &Artifact) -> String {
    match &artifact.digest {
        Some(digest) => format!("{}:{}@{digest}", artifact.image, artifact.version),
        None => format!("{}:{}", artifact.image, artifact.version),
    }
}

/// Whether the image reference `reference` (as Argo CD reports it) is `artifact`: the same
/// repository, and the same tag and/or digest. When both sides carry a digest, the digests
/// must match; a reference with neither tag nor digest matches nothing.
pub fn runs_artifact(reference: &str, artifact: &Artifact) -> bool {
    let (name_and_tag, digest) = match reference.split_once('@') {
        Some((name_and_tag, digest)) => (name_and_tag, Some(digest)),
        None => (reference, None),
    };
    // A tag follows the last `:` after the last `/` (a `:` before it is a registry port).
    let last_slash = name_and_tag.rfind('/').map_or(0, |index| index + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(colon) => (&name_and_tag[..last_slash + colon], Some(&name_and_tag[last_slash + colon + 1..])),
        None => (name_and_tag, None),
    };
    if normalise(name) != normalise(&artifact.image) {
        return false;
    }
    let tag_matches = tag.map(|tag| tag == artifact.version);
    let digest_matches = match (digest, &artifact.digest) {
        (Some(running), Some(wanted)) => Some(running.eq_ignore_ascii_case(wanted)),
        _ => None,
    };
    match (tag_matches, digest_matches) {
        (Some(false), _) | (_, Some(false)) => false,
        (Some(true), _) | (_, Some(true)) => true,
        (None, None) => false,
    }
}

/// Docker Hub names as Kubernetes resolves them: `nginx` = `docker.io/library/nginx`.
fn normalise(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    let name = name.strip_prefix("index.docker.io/").or_else(|| name.strip_prefix("docker.io/")).unwrap_or(&name).to_string();
    name.strip_prefix("library/").unwrap_or(&name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(image: &str, version: &str, digest: Option<&str>) -> Artifact {
        Artifact { image: image.into(), version: version.into(), digest: digest.map(str::to_string) }
    }

    #[test]
    fn image_references_match_by_repository_and_tag_or_digest() {
        let plain = artifact("registry.example.com:5000/shop/api", "1.4.2", None);
        assert!(runs_artifact("registry.example.com:5000/shop/api:1.4.2", &plain));
        assert!(!runs_artifact("registry.example.com:5000/shop/api:1.4.1", &plain));
        assert!(!runs_artifact("registry.example.com:5000/shop/web:1.4.2", &plain));
        assert!(!runs_artifact("registry.example.com:5000/shop/api", &plain), "no tag, no digest: nothing to match");
        assert!(runs_artifact("registry.example.com:5000/shop/api:1.4.2@sha256:aa", &plain));

        let pinned = artifact("registry.example.com/shop/api", "1.4.2", Some("sha256:aa"));
        assert!(runs_artifact("registry.example.com/shop/api@sha256:AA", &pinned));
        assert!(!runs_artifact("registry.example.com/shop/api:1.4.2@sha256:bb", &pinned), "same tag, other digest");
        assert!(!runs_artifact("registry.example.com/shop/api@sha256:bb", &pinned));

        let hub = artifact("docker.io/library/nginx", "1.27", None);
        assert!(runs_artifact("nginx:1.27", &hub));
        assert!(runs_artifact("index.docker.io/library/nginx:1.27", &hub));
    }
}
