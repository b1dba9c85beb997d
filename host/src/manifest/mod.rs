//! Where an application's version lives in an environment's files, for the three common
//! GitOps layouts, and how to change it by editing only the bytes of the target scalars.
//!
//! - Helm values: a YAML path to the tag (`image.tag`), optionally one to the digest.
//! - Kustomize: the `images:` entry of `kustomization.yaml` whose `name` is the image
//!   (`newTag`, and `digest` when the entry has one).
//! - Raw manifest: the `image: repo:tag@sha256:…` of a container selected by name, in any
//!   `containers`/`initContainers` list of any document (Deployment, StatefulSet, CronJob…).
//!
//! A Helm chart's version and a Git revision have layouts of their own ([`sources`]).
//!
//! Multi-document files are searched document by document; the first match is used.

mod image;
pub mod insert;
mod sources;
pub mod yaml;

pub use image::{check_image, normalize_image};

use serde::{Deserialize, Serialize};

use yaml::{Node, Scalar, parse_documents, replace_scalar};

/// How an environment's file records an application's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Layout {
    /// A Helm values file.
    Helm {
        /// YAML path of the tag, e.g. `image.tag`.
        tag_path: String,
        /// YAML path of the digest, e.g. `image.digest`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest_path: Option<String>,
    },
    /// A Kustomize `kustomization.yaml`.
    Kustomize {
        /// The `name` of the `images:` entry.
        image: String,
    },
    /// A raw Kubernetes manifest.
    Manifest {
        /// The container whose `image:` holds the version.
        container: String,
    },
    /// A Chart.yaml `dependencies:` entry's `version`.
    ChartDependency {
        /// The entry's `name`.
        name: String,
        /// The chart repository its `repository:`, when written, must name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repository: Option<String>,
    },
    /// An Argo CD `Application`'s `spec.source.targetRevision`.
    ArgoCd {
        /// What its `repoURL` must name: the chart repository, or the Git repository.
        repository: String,
        /// For a chart, what its `chart` must be; for a Git revision, `None` (no `chart`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chart: Option<String>,
    },
    /// A Flux `HelmRelease`'s `spec.chart.spec.version`.
    HelmRelease {
        /// Its `spec.chart.spec.chart`.
        chart: String,
    },
    /// The `?ref=` of a kustomization's remote `resources:` entry.
    KustomizeRemote {
        /// The entry's address (before `?`), or the repository it is a path of.
        url: String,
    },
}

/// What an environment's file says is deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployed {
    /// The version (tag).
    pub version: String,
    /// The digest, when the file records one.
    pub digest: Option<String>,
    /// 1-based line of the version in the file.
    pub line: usize,
    /// The image repository the file names beside the version (Helm's sibling `repository`,
    /// with `registry` when there is one; Kustomize's `newName`; a raw manifest's image),
    /// when it names one.
    pub image: Option<String>,
    /// Whether the file has a place for a digest.
    pub has_digest_field: bool,
}

/// A file that does not hold the version where the configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(pub String);

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scalars that hold the version and digest in a file.
struct Target {
    /// Scalar written with the version: the tag itself, or a whole `repo:tag@digest` image.
    version: Scalar,
    /// The digest scalar, when separate from the version.
    digest: Option<Scalar>,
    /// For raw manifests: the image string is `repo:tag[@digest]` in one scalar.
    whole_image: bool,
    /// For a kustomize remote resource: the version is the `ref` of the URL in the scalar.
    url_ref: bool,
    /// The image repository written beside the version, if any.
    image: Option<String>,
}

/// Read what `text` (the content of `file`) says is deployed.
pub fn read_deployed(file: &str, text: &str, layout: &Layout) -> Result<Deployed, ManifestError> {
    let target = find_target(file, text, layout)?;
    if target.url_ref {
        let version = sources::remote_ref(&target.version.value).ok_or_else(|| {
            ManifestError(format!("{file}:{}: the resource {} has no ?ref=; add one (…?ref=TAG)", target.version.line, target.version.value))
        })?;
        return Ok(Deployed { version: version.to_string(), digest: None, line: target.version.line, image: None, has_digest_field: false });
    }
    if target.whole_image {
        let reference = ImageRef::parse(&target.version.value);
        // An image pinned by digest alone: its version is the digest.
        let version = reference.tag.or_else(|| reference.digest.clone()).ok_or_else(|| {
            ManifestError(format!("{file}:{}: image {:?} has neither a tag nor a digest", target.version.line, target.version.value))
        })?;
        return Ok(Deployed {
            version,
            digest: reference.digest,
            line: target.version.line,
            image: Some(reference.repository),
            has_digest_field: true,
        });
    }
    let digest = target.digest.as_ref().map(|digest| digest.value.clone()).filter(|digest| !digest.is_empty());
    // An empty tag beside a digest: the image is pinned by digest alone, and that is its version.
    let version = match (&digest, target.version.value.is_empty()) {
        (Some(digest), true) => digest.clone(),
        _ => target.version.value.clone(),
    };
    Ok(Deployed {
        version,
        has_digest_field: target.digest.is_some(),
        digest,
        line: target.version.line,
        image: target.image,
    })
}

/// `text` with the version (and digest, where the file has a place for it) replaced.
/// Only the bytes of those scalars change.
pub fn write_deployed(file: &str, text: &str, layout: &Layout, version: &str, digest: Option<&str>) -> Result<String, ManifestError> {
    let edited = edit_target(file, text, layout, version, digest)?;
    // The edit must read back as exactly what was asked, or it is not written.
    match read_deployed(file, &edited, layout) {
        Ok(deployed) if deployed.version == version && deployed.digest.as_deref() == digest => Ok(edited),
        Ok(deployed) => Err(ManifestError(format!(
            "{file}: after the edit the file would say {}{}, not {version}; nothing was written",
            deployed.version,
            deployed.digest.map(|digest| format!("@{digest}")).unwrap_or_default()
        ))),
        Err(error) => Err(ManifestError(format!("{error} (after the edit); nothing was written"))),
    }
}

fn edit_target(file: &str, text: &str, layout: &Layout, version: &str, digest: Option<&str>) -> Result<String, ManifestError> {
    let target = find_target(file, text, layout)?;
    let fail = |scalar: &Scalar, error: yaml::EditError| ManifestError(format!("{file}:{}: {}", scalar.line, error.0));
    if target.url_ref {
        if digest.is_some() {
            return Err(ManifestError(format!("{file}: a Git revision has no digest; promote without one")));
        }
        return sources::edit_remote_ref(file, text, &target.version, version);
    }
    if target.whole_image {
        let reference = ImageRef::parse(&target.version.value);
        let mut image = match pinned_by_digest_alone(version, digest) {
            true => reference.repository.clone(),
            false => format!("{}:{version}", reference.repository),
        };
        if let Some(digest) = digest {
            image.push('@');
            image.push_str(digest);
        }
        return replace_scalar(text, &target.version, &image).map_err(|error| fail(&target.version, error));
    }
    // Edit the later scalar first so the earlier one's byte range stays valid. An image pinned
    // by digest alone gets an empty tag beside its digest.
    let tag = if pinned_by_digest_alone(version, digest) { "" } else { version };
    let mut edits: Vec<(&Scalar, &str)> = vec![(&target.version, tag)];
    match (&target.digest, digest) {
        (Some(scalar), Some(digest)) => edits.push((scalar, digest)),
        (Some(scalar), None) if !scalar.value.is_empty() => edits.push((scalar, "")),
        (None, Some(_)) if !matches!(layout, Layout::Helm { .. } | Layout::Kustomize { .. }) => {
            return Err(ManifestError(format!("{file}: a Helm chart's version or a Git revision has no digest; promote without one")));
        }
        (None, Some(_)) => {
            return Err(ManifestError(format!(
                "{file}: has no place for a digest; add one (Helm: a digest value and digest_path; Kustomize: `digest:` in the images entry) or promote without one"
            )));
        }
        _ => {}
    }
    edits.sort_by_key(|(scalar, _)| std::cmp::Reverse(scalar.span.start));
    let mut edited = text.to_string();
    for (scalar, value) in edits {
        edited = replace_scalar(&edited, scalar, value).map_err(|error| fail(scalar, error))?;
    }
    Ok(edited)
}

/// Whether `version` is the digest itself: an image pinned by digest alone.
fn pinned_by_digest_alone(version: &str, digest: Option<&str>) -> bool {
    digest == Some(version)
}

fn find_target(file: &str, text: &str, layout: &Layout) -> Result<Target, ManifestError> {
    let documents =
        parse_documents(text).map_err(|error| ManifestError(format!("{file}: not valid YAML: {error}")))?;
    for document in documents.iter() {
        if let Some((key, first, second)) = document.duplicate_key() {
            return Err(ManifestError(format!(
                "{file}:{second}: the key `{key}` is written twice in one mapping (lines {first} and {second}); \
                 YAML readers such as Helm take the last one, so tollgate will not guess: remove one"
            )));
        }
    }
    let scalar_at = |node: &Node, what: &str| -> Result<Scalar, ManifestError> {
        node.as_scalar().cloned().ok_or_else(|| ManifestError(format!("{file}: {what} is not a plain value")))
    };
    match layout {
        Layout::Helm { tag_path, digest_path } => {
            let document = documents.iter().find(|document| document.at_path(tag_path).is_some()).ok_or_else(|| {
                ManifestError(format!("{file}: no value at `{tag_path}`; check tag_path in tollgate.yaml"))
            })?;
            let version = scalar_at(document.at_path(tag_path).expect("found above"), tag_path)?;
            let digest = match digest_path {
                Some(path) => Some(scalar_at(
                    document.at_path(path).ok_or_else(|| {
                        ManifestError(format!("{file}: no value at `{path}`; add it (e.g. `digest: \"\"`) or remove digest_path"))
                    })?,
                    path,
                )?),
                None => None,
            };
            Ok(Target { version, digest, whole_image: false, url_ref: false, image: helm_image(document, tag_path) })
        }
        Layout::Kustomize { image } => {
            for document in documents.iter() {
                for entry in document.get("images").map(Node::as_sequence).unwrap_or_default() {
                    if entry.get("name").and_then(Node::as_scalar).is_some_and(|name| &name.value == image) {
                        let version = entry.get("newTag").ok_or_else(|| {
                            ManifestError(format!("{file}: the images entry for {image} has no newTag; add one"))
                        })?;
                        let version = scalar_at(version, "newTag")?;
                        let digest = entry.get("digest").map(|node| scalar_at(node, "digest")).transpose()?;
                        let new_name = entry.get("newName").and_then(Node::as_scalar).map(|name| name.value.clone());
                        return Ok(Target { version, digest, whole_image: false, url_ref: false, image: new_name });
                    }
                }
            }
            Err(ManifestError(format!("{file}: no `images:` entry with name {image}; add one with newTag")))
        }
        Layout::Manifest { container } => {
            let mut found = Vec::new();
            for document in documents.iter() {
                collect_container_images(document, container, &mut found);
            }
            match found.len() {
                0 => Err(ManifestError(format!("{file}: no container named {container} with an image"))),
                1 => Ok(Target { version: found.remove(0), digest: None, whole_image: true, url_ref: false, image: None }),
                count => Err(ManifestError(format!(
                    "{file}: {count} containers are named {container}; tollgate cannot tell which one to change"
                ))),
            }
        }
        Layout::ChartDependency { .. } | Layout::ArgoCd { .. } | Layout::HelmRelease { .. } | Layout::KustomizeRemote { .. } => sources::find(file, &documents, layout),
    }
}

/// Helm's image repository beside the tag at `tag_path`: the sibling `repository`, prefixed
/// with a sibling `registry` when there is one.
fn helm_image(document: &Node, tag_path: &str) -> Option<String> {
    let parent = match tag_path.rsplit_once('.') {
        Some((parent, _)) => document.at_path(parent)?,
        None => document,
    };
    let repository = parent.get("repository")?.as_scalar()?.value.clone();
    match parent.get("registry").and_then(Node::as_scalar) {
        Some(registry) if !registry.value.is_empty() => Some(format!("{}/{repository}", registry.value.trim_end_matches('/'))),
        _ => Some(repository),
    }
}

/// The `image` scalars of containers named `name` anywhere under `node`.
fn collect_container_images(node: &Node, name: &str, found: &mut Vec<Scalar>) {
    match node {
        Node::Mapping { entries, .. } => {
            for (key, value) in entries {
                let is_container_list =
                    key.as_scalar().is_some_and(|key| key.value == "containers" || key.value == "initContainers");
                if is_container_list {
                    for container in value.as_sequence() {
                        let named = container.get("name").and_then(Node::as_scalar).is_some_and(|n| n.value == name);
                        if let (true, Some(Node::Scalar(image))) = (named, container.get("image")) {
                            found.push(image.clone());
                        }
                    }
                } else {
                    collect_container_images(value, name, found);
                }
            }
        }
        Node::Sequence(items) => items.iter().for_each(|item| collect_container_images(item, name, found)),
        Node::Scalar(_) | Node::Alias => {}
    }
}

/// An image reference `repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Repository, including registry and port.
    pub repository: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Digest, if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Split an image reference; a `:` before the last `/` belongs to a registry port.
    pub fn parse(image: &str) -> ImageRef {
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) => (name, Some(digest.to_string())),
            None => (image, None),
        };
        let last_slash = name.rfind('/').map_or(0, |index| index + 1);
        match name[last_slash..].rfind(':') {
            Some(colon) => ImageRef {
                repository: name[..last_slash + colon].to_string(),
                tag: Some(name[last_slash + colon + 1..].to_string()),
                digest,
            },
            None => ImageRef { repository: name.to_string(), tag: None, digest },
        }
    }
}

#[cfg(test)]
mod tests;
