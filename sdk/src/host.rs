//! Functions the tollgate host offers a plugin.
//!
//! Inside the sandbox these call the host; compiled natively they use the test double in
//! [`crate::testing`], so the same policy code runs in unit tests.

use crate::{Error, Result};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Detail for plugin authors.
    Debug,
    /// Normal progress.
    Info,
    /// Something odd but not fatal.
    Warn,
    /// Something failed.
    Error,
}

/// A response from [`http_get`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a status and body (for tests).
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse { status, headers: Vec::new(), body: body.into() }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body).map_err(|_| Error::new("response body is not UTF-8 text"))
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|error| Error::new(format!("response body is not the expected JSON: {error}")))
    }
}

/// The environments of the tollgate configuration a policy runs under (WIT 0.1.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEnvironments {
    /// Every environment the configuration defines, in graph order (upstreams first).
    pub configured: Vec<String>,
    /// Those this policy runs for (its `environments:` in tollgate.yaml, else all), in the same order.
    pub runs_for: Vec<String>,
}

impl PolicyEnvironments {
    /// Whether the host told any: not where no configuration is in play (`tollgate plugin
    /// eval` without `--environment`, a cases file without `environments:`, a native test
    /// that did not call [`crate::testing::set_environments`]).
    pub fn told(&self) -> bool {
        !self.configured.is_empty()
    }
}

/// The environments of the tollgate configuration this policy runs under (WIT 0.1.2), for
/// checking the environment names its configuration uses. [`crate::PerEnvironment`] and
/// [`crate::environment_names`] use it; a plugin that calls it needs a 0.1.2 host.
pub fn policy_environments() -> PolicyEnvironments {
    imp::policy_environments()
}

/// What kind of thing an artifact is (WIT 0.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// A container image: `image` is its repository.
    Image,
    /// A Helm chart: `image` is `REPOSITORY/NAME`, `version` the chart version; no digest.
    HelmChart,
    /// A Git revision: `image` is the repository URL, `version` a tag or a 40-hex commit id.
    GitRevision,
}

/// The kind of every artifact of the transition (WIT 0.1.3), as (name, kind) in name order:
/// one per artifact of a multi-artifact application (named as in [`transition_artifacts`]),
/// or one named after the application for `transition.artifact`. A plugin that calls it
/// needs a 0.1.3 host.
pub fn transition_artifact_kinds() -> Vec<(String, ArtifactKind)> {
    imp::transition_artifact_kinds()
}

/// The kind of the artifact named `name` (an artifact's, or for a single-artifact
/// application the application's), [`ArtifactKind::Image`] when the host names none.
pub fn artifact_kind(name: &str) -> ArtifactKind {
    transition_artifact_kinds().into_iter().find(|(named, _)| named == name).map_or(ArtifactKind::Image, |(_, kind)| kind)
}

/// Write a line to the decision report.
pub fn log(level: LogLevel, message: &str) {
    imp::log(level, message)
}

/// Read a file of the proposed post-change repository tree. `Ok(None)` when it does not
/// exist; `Err` when reading is not granted or the path is invalid.
pub fn read_file(path: &str) -> Result<Option<String>> {
    imp::read_file(path)
}

/// HTTP GET, limited by the host to granted origins, the evaluation deadline and a
/// maximum body size. Any HTTP status is `Ok`; `Err` means no response was had.
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
    imp::http_get(url, headers)
}

/// Every artifact of the transition being evaluated, in name order, when the application
/// has several that move together (WIT 0.1.1; empty for a single-image application, whose
/// one artifact is `transition.artifact`). `transition.artifact` then carries the primary
/// artifact's image and the set's version, the version approvals name; check every image
/// here.
pub fn transition_artifacts() -> Vec<crate::NamedArtifact> {
    imp::transition_artifacts()
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{HttpResponse, LogLevel};
    use crate::bindings::tollgate::policy::host as wit;
    use crate::{Error, Result};

    pub fn log(level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        };
        wit::log(level, message);
    }

    pub fn read_file(path: &str) -> Result<Option<String>> {
        wit::read_file(path).map_err(Error::new)
    }

    pub fn http_get(url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
        let headers: Vec<(String, String)> =
            headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        let response = wit::http_get(url, &headers).map_err(Error::new)?;
        Ok(HttpResponse { status: response.status, headers: response.headers, body: response.body })
    }

    pub fn policy_environments() -> super::PolicyEnvironments {
        let told = wit::policy_environments();
        super::PolicyEnvironments { configured: told.configured, runs_for: told.runs_for }
    }

    pub fn transition_artifact_kinds() -> Vec<(String, super::ArtifactKind)> {
        wit::transition_artifact_kinds()
            .into_iter()
            .map(|(name, kind)| {
                let kind = match kind {
                    wit::ArtifactKind::Image => super::ArtifactKind::Image,
                    wit::ArtifactKind::HelmChart => super::ArtifactKind::HelmChart,
                    wit::ArtifactKind::GitRevision => super::ArtifactKind::GitRevision,
                };
                (name, kind)
            })
            .collect()
    }

    pub fn transition_artifacts() -> Vec<crate::NamedArtifact> {
        let convert = |artifact: crate::bindings::tollgate::policy::types::Artifact| crate::Artifact {
            image: artifact.image,
            version: artifact.version,
            digest: artifact.digest,
        };
        wit::transition_artifacts()
            .into_iter()
            .map(|named| crate::NamedArtifact { name: named.name, artifact: convert(named.artifact), previous: named.previous.map(convert) })
            .collect()
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub use crate::testing::double::{http_get, log, policy_environments, read_file, transition_artifact_kinds, transition_artifacts};
}
