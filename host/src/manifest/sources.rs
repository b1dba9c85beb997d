//! Where a Helm chart's version or a Git revision lives (see [`crate::config::kinds`]):
//!
//! - a Chart.yaml `dependencies:` entry's `version` (`Layout::ChartDependency`);
//! - an Argo CD `Application`'s `spec.source.targetRevision`, its `repoURL` (and for a chart
//!   its `chart`) naming the artifact (`Layout::ArgoCd`);
//! - a Flux `HelmRelease`'s `spec.chart.spec.version`, its `spec.chart.spec.chart` the chart's
//!   name (`Layout::HelmRelease`);
//! - a kustomization's remote `resources:` entry's `?ref=` (`Layout::KustomizeRemote`): the
//!   whole entry is one scalar, so the edit rewrites it with only the `ref` value changed.

use super::yaml::{Node, Scalar};
use super::{Layout, ManifestError, Target};

/// The scalar holding the version for a chart or Git layout in `documents` of `file`.
pub(super) fn find(file: &str, documents: &[Node], layout: &Layout) -> Result<Target, ManifestError> {
    let fail = |message: String| ManifestError(format!("{file}: {message}"));
    let plain = |node: &Node, what: &str| node.as_scalar().cloned().ok_or_else(|| fail(format!("{what} is not a plain value")));
    let target = |version: Scalar| Target { version, digest: None, whole_image: false, url_ref: false, image: None };
    match layout {
        Layout::ChartDependency { name, repository } => {
            for document in documents {
                for entry in document.get("dependencies").map(Node::as_sequence).unwrap_or_default() {
                    if entry.get("name").and_then(Node::as_scalar).is_none_or(|found| &found.value != name) {
                        continue;
                    }
                    let version = plain(entry.get("version").ok_or_else(|| fail(format!("the dependency {name} has no version; add one")))?, "version")?;
                    let written = entry.get("repository").and_then(Node::as_scalar);
                    if let (Some(configured), Some(written)) = (repository, written)
                        && !same_repository(configured, &written.value)
                    {
                        return Err(ManifestError(format!(
                            "{file}:{}: the dependency {name} comes from {}, but tollgate.yaml configures the chart's repository as {configured}; fix one of them",
                            written.line, written.value
                        )));
                    }
                    return Ok(target(version));
                }
            }
            Err(fail(format!("no `dependencies:` entry with name {name}; add one with a version")))
        }
        Layout::ArgoCd { repository, chart } => {
            let sources: Vec<&Node> = documents.iter().filter_map(|document| document.at_path("spec.source")).filter(|source| source.get("targetRevision").is_some()).collect();
            if sources.is_empty() {
                return Err(fail("no Argo CD Application with spec.source.targetRevision; add one".into()));
            }
            let mut seen = Vec::new();
            for source in &sources {
                let repo_url = source.get("repoURL").and_then(Node::as_scalar).map(|url| url.value.clone()).unwrap_or_default();
                let chart_name = source.get("chart").and_then(Node::as_scalar).map(|name| name.value.clone());
                if same_repository(&repo_url, repository) && chart_name == *chart {
                    return Ok(target(plain(source.get("targetRevision").expect("filtered above"), "spec.source.targetRevision")?));
                }
                seen.push(match &chart_name {
                    Some(found) => format!("repoURL {repo_url} with chart {found}"),
                    None => format!("repoURL {repo_url} without chart"),
                });
            }
            let wanted = match chart {
                Some(name) => format!("repoURL {repository} with chart {name}"),
                None => format!("repoURL {repository} (a Git source, no chart)"),
            };
            Err(fail(format!("spec.source names {}, but tollgate.yaml configures {wanted}; fix one of them", seen.join("; "))))
        }
        Layout::HelmRelease { chart } => {
            let mut seen = Vec::new();
            for document in documents {
                let Some(spec) = document.at_path("spec.chart.spec") else { continue };
                let name = spec.get("chart").and_then(Node::as_scalar).map(|name| name.value.clone()).unwrap_or_default();
                if name == *chart {
                    let version = spec.get("version").ok_or_else(|| fail(format!("the HelmRelease of chart {chart} has no spec.chart.spec.version; add one")))?;
                    return Ok(target(plain(version, "spec.chart.spec.version")?));
                }
                seen.push(name);
            }
            match seen.is_empty() {
                true => Err(fail("no HelmRelease with spec.chart.spec; add one".into())),
                false => Err(fail(format!("its HelmRelease is for chart {}, but tollgate.yaml configures {chart}; fix one of them", seen.join(", ")))),
            }
        }
        Layout::KustomizeRemote { url } => {
            let mut found = Vec::new();
            for document in documents {
                for entry in document.get("resources").map(Node::as_sequence).unwrap_or_default() {
                    if let Some(scalar) = entry.as_scalar()
                        && names_remote(&scalar.value, url)
                    {
                        found.push(scalar.clone());
                    }
                }
            }
            match found.len() {
                0 => Err(fail(format!("no `resources:` entry for {url}; add one such as {url}//PATH?ref=TAG"))),
                1 => Ok(Target { url_ref: true, ..target(found.remove(0)) }),
                count => Err(fail(format!("{count} `resources:` entries name {url}; tollgate cannot tell which one to change"))),
            }
        }
        Layout::Helm { .. } | Layout::Kustomize { .. } | Layout::Manifest { .. } => unreachable!("image layouts are found in manifest::find_target"),
    }
}

/// Two repository addresses name the same repository: `oci://` (Argo CD writes OCI
/// repositories with or without it), a trailing `/` and a trailing `.git` aside.
fn same_repository(a: &str, b: &str) -> bool {
    let plain = |address: &str| {
        let address = address.strip_prefix("oci://").unwrap_or(address).trim_end_matches('/');
        address.strip_suffix(".git").unwrap_or(address).to_string()
    };
    plain(a) == plain(b)
}

/// Whether a kustomize remote resource `entry` is `url`, or a path inside it (`url//path`,
/// `url/path`), whatever its query.
fn names_remote(entry: &str, url: &str) -> bool {
    let address = entry.split_once('?').map_or(entry, |(address, _)| address);
    let url = url.trim_end_matches('/');
    match address.strip_prefix(url) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The `ref` of a remote resource's query, when it has one.
pub(super) fn remote_ref(entry: &str) -> Option<&str> {
    let (_, query) = entry.split_once('?')?;
    query.split('&').find_map(|pair| pair.strip_prefix("ref="))
}

/// `text` with the remote resource `entry`'s `ref` set to `version`. Only the bytes of the old
/// ref change when they are written as they read (a plain or quoted scalar on one line, a
/// version of tag characters); otherwise the scalar is rewritten in its own style.
pub(super) fn edit_remote_ref(file: &str, text: &str, entry: &Scalar, version: &str) -> Result<String, ManifestError> {
    let fail = |error: super::yaml::EditError| ManifestError(format!("{file}:{}: {}", entry.line, error.0));
    let new_entry = with_remote_ref(file, entry.line, &entry.value, version)?;
    let old_ref = remote_ref(&entry.value).unwrap_or_default();
    let written = &text[entry.span.clone()];
    let tag_characters = |value: &str| value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if let Some(at) = written.find(&format!("?ref={old_ref}")).or_else(|| written.find(&format!("&ref={old_ref}")))
        && tag_characters(version)
        && tag_characters(old_ref)
    {
        let start = entry.span.start + at + "?ref=".len();
        let edited = format!("{}{version}{}", &text[..start], &text[start + old_ref.len()..]);
        if super::yaml::verify_edit(text, &edited, entry, &new_entry).is_ok() {
            return Ok(edited);
        }
    }
    super::yaml::replace_scalar(text, entry, &new_entry).map_err(fail)
}

/// `entry` with its `ref` set to `version`, every other byte as it was.
fn with_remote_ref(file: &str, line: usize, entry: &str, version: &str) -> Result<String, ManifestError> {
    let Some((address, query)) = entry.split_once('?') else {
        return Err(ManifestError(format!("{file}:{line}: the resource {entry} has no ?ref=; add one (…?ref=TAG)")));
    };
    let mut replaced = false;
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.strip_prefix("ref=") {
            Some(_) if !replaced => {
                replaced = true;
                format!("ref={version}")
            }
            _ => pair.to_string(),
        })
        .collect();
    if !replaced {
        return Err(ManifestError(format!("{file}:{line}: the resource {entry} has no ref= in its query; add one (…?ref=TAG)")));
    }
    Ok(format!("{address}?{}", pairs.join("&")))
}

#[cfg(test)]
mod tests;
