//! Helm chart repositories served over HTTP(S): the chart versions an `index.yaml` lists, for
//! discovery. The repository is not trusted: the index is read within a byte bound and the
//! registry operation deadline, over `https://` (plain `http://` only on the loopback
//! interface, as for registries), without redirects; versions outside the version grammar
//! are dropped.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::registry::reference::parse_digest;
use crate::registry::transport::{BodyError, operation_timeout, read_bounded};

/// An `index.yaml` larger than this is refused (a busy repository's is a few MiB).
pub const MAX_INDEX_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Deserialize)]
struct IndexEntry {
    #[serde(default)]
    version: String,
    /// The chart archive's SHA-256, in hex.
    #[serde(default)]
    digest: Option<String>,
}

/// One version of a chart in a repository's index, with `sha256:` and its archive's digest
/// when the index gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedVersion {
    /// The chart version.
    pub version: String,
    /// `sha256:HEX` of the chart archive, when the index names it.
    pub digest: Option<String>,
}

/// The versions of chart `name` that `repository`'s `index.yaml` lists.
pub fn chart_versions(repository: &str, name: &str) -> Result<Vec<IndexedVersion>, String> {
    let url = format!("{}/index.yaml", repository.trim_end_matches('/'));
    let parsed = url::Url::parse(&url).map_err(|error| format!("{url}: not a URL ({error})"))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback)) {
        return Err(format!("{url}: a chart repository is read over https:// (http:// only on 127.0.0.1)"));
    }
    let timeout = operation_timeout()?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let unreachable = |error: ureq::Error| match error {
        ureq::Error::Timeout(_) => format!("{url}: no answer within {} s (TOLLGATE_REGISTRY_TIMEOUT)", timeout.as_secs()),
        error => format!("{url}: cannot be reached ({error})"),
    };
    let mut response = agent.get(&url).call().map_err(unreachable)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!("{url}: the chart repository answered HTTP {status}"));
    }
    let bytes = read_bounded(&mut response, MAX_INDEX_BYTES).map_err(|error| match error {
        BodyError::TooLarge => format!("{url}: the index is more than {MAX_INDEX_BYTES} bytes; refusing it"),
        BodyError::Failed(error) => format!("{url}: reading the index broke off ({error})"),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{url}: the index is not UTF-8 text"))?;
    let index: Index = serde_yaml::from_str(text).map_err(|error| format!("{url}: the index is not a Helm repository index ({})", crate::input::describe_yaml_error(&error)))?;
    let entries = index.entries.get(name).ok_or_else(|| format!("{url}: the repository has no chart named {name}"))?;
    Ok(entries
        .iter()
        .filter(|entry| crate::input::version("version", &entry.version).is_ok())
        .map(|entry| IndexedVersion {
            version: entry.version.clone(),
            digest: entry.digest.as_ref().and_then(|hex| parse_digest(&format!("sha256:{hex}")).ok()),
        })
        .collect())
}
