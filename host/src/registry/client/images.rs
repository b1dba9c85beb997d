//! Container images for discovery: an image repository's tags, and one tag's manifest digest
//! and creation time (a chart in an OCI repository too: its versions' tags, `+` as `_`). Everything read is bounded (pages, tags, bytes) and checked (digests,
//! tag grammar): the registry is not trusted.

use serde::Deserialize;

use super::{RegistryClient, pull_scope};
use crate::registry::layout::{Descriptor, MAX_MANIFEST_BYTES, sha256_digest};
use crate::registry::reference::{OciReference, valid_tag};
use crate::registry::transport::{BodyError, Method, read_bounded};

/// At most this many tags are read from one repository.
pub const MAX_TAGS: usize = 10_000;
/// A page of the tag list larger than this is refused.
const MAX_TAG_PAGE_BYTES: u64 = 1024 * 1024;
/// An image configuration larger than this is refused (they are a few KiB).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// The manifest types of an image (and of an index of images, one per platform).
const IMAGE_MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The OCI tag Helm stores a chart version under: `+` (semantic-version build metadata)
/// becomes `_`, which a tag may hold and a semantic version may not.
pub fn chart_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// The chart version an OCI tag holds: the inverse of [`chart_tag`].
pub fn chart_version(tag: &str) -> String {
    tag.replace('_', "+")
}

/// One tag of an image repository as the registry holds it.
#[derive(Debug, Clone)]
pub struct ImageTag {
    /// The manifest digest the tag points at (computed from the bytes, checked against the
    /// registry's `Docker-Content-Digest`).
    pub digest: String,
    /// The image configuration's `created` time (of the first platform of an index).
    pub created: Option<jiff::Timestamp>,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(default)]
    created: Option<String>,
}

impl RegistryClient {
    /// Every tag of `repository` (the `tags/list` pages, following `Link: rel="next"` on the
    /// same registry), at most [`MAX_TAGS`]; tags outside the distribution grammar are dropped.
    pub fn tags(&self, reference: &OciReference) -> Result<Vec<String>, String> {
        let mut tags = Vec::new();
        let mut next = Some(self.transport.url(&format!("{}/tags/list?n=1000", reference.repository)));
        while let Some(url) = next.take() {
            let mut response = self
                .transport
                .send(Method::Get, &url, &pull_scope(reference), &[("Accept", "application/json".to_string())], &[])
                .map_err(|error| self.failed(reference, "list the tags of", error))?;
            if response.status().as_u16() != 200 {
                return Err(self.error_answer(reference, "list the tags of", &mut response));
            }
            let link = response.headers().get("link").and_then(|value| value.to_str().ok()).map(str::to_string);
            let bytes = read_bounded(&mut response, MAX_TAG_PAGE_BYTES).map_err(|error| match error {
                BodyError::TooLarge => format!("{reference}: a page of the tag list is more than {MAX_TAG_PAGE_BYTES} bytes; refusing it"),
                BodyError::Failed(error) => self.failed(reference, "list the tags of", self.transport.io_error(error)),
            })?;
            let page: TagList = serde_json::from_slice(&bytes).map_err(|error| format!("{reference}: the registry's tag list is not valid JSON ({error})"))?;
            tags.extend(page.tags.unwrap_or_default().into_iter().filter(|tag| valid_tag(tag)));
            if tags.len() > MAX_TAGS {
                return Err(format!("{reference}: the repository has more than {MAX_TAGS} tags; narrow it with a repository of its own"));
            }
            next = link.as_deref().and_then(next_page).map(|path| self.transport.url(path.trim_start_matches("/v2/")));
        }
        Ok(tags)
    }

    /// The manifest digest `tag` points at, and (when `with_created`) its configuration's
    /// creation time.
    pub fn image_tag(&self, reference: &OciReference, tag: &str, with_created: bool) -> Result<ImageTag, String> {
        let tagged = OciReference { tag: Some(tag.to_string()), digest: None, ..reference.clone() };
        let (digest, manifest) = self.image_manifest(&tagged, tag)?;
        let created = if with_created { self.created(&tagged, &manifest)? } else { None };
        Ok(ImageTag { digest, created })
    }

    /// GET one image manifest (by tag or digest), bounded, its digest computed and checked.
    fn image_manifest(&self, reference: &OciReference, target: &str) -> Result<(String, ImageManifest), String> {
        let url = self.transport.url(&format!("{}/manifests/{target}", reference.repository));
        let accept = [("Accept", IMAGE_MANIFEST_TYPES.join(", "))];
        let mut response = self
            .transport
            .send(Method::Get, &url, &pull_scope(reference), &accept, &[])
            .map_err(|error| self.failed(reference, "fetch the manifest of", error))?;
        if response.status().as_u16() != 200 {
            return Err(self.error_answer(reference, "fetch the manifest of", &mut response));
        }
        let said = response.headers().get("docker-content-digest").and_then(|value| value.to_str().ok()).map(str::to_string);
        let bytes = read_bounded(&mut response, MAX_MANIFEST_BYTES as u64).map_err(|error| match error {
            BodyError::TooLarge => format!("{reference}: the manifest is more than {MAX_MANIFEST_BYTES} bytes; refusing it"),
            BodyError::Failed(error) => self.failed(reference, "fetch the manifest of", self.transport.io_error(error)),
        })?;
        let digest = sha256_digest(&bytes);
        if said.as_ref().is_some_and(|said| said != &digest) || (target.starts_with("sha256:") && target != digest) {
            return Err(format!("{reference}: digest mismatch: the registry sent a manifest with digest {digest}; refusing it"));
        }
        let manifest = serde_json::from_slice(&bytes).map_err(|error| format!("{reference}: the manifest is not an image manifest ({error})"))?;
        Ok((digest, manifest))
    }

    /// The `created` time of an image (of an index: its first platform's).
    fn created(&self, reference: &OciReference, manifest: &ImageManifest) -> Result<Option<jiff::Timestamp>, String> {
        let config = match (&manifest.config, &manifest.manifests) {
            (Some(config), _) => config.clone(),
            (None, Some(platforms)) => {
                let Some(first) = platforms.first() else { return Ok(None) };
                match self.image_manifest(reference, &first.digest)?.1.config {
                    Some(config) => config,
                    None => return Ok(None),
                }
            }
            (None, None) => return Ok(None),
        };
        if config.size > MAX_CONFIG_BYTES {
            return Err(format!("{reference}: the image configuration is {} bytes, more than {MAX_CONFIG_BYTES}; refusing it", config.size));
        }
        let bytes = self.blob(reference, &config, "image configuration")?;
        let parsed: ImageConfig = serde_json::from_slice(&bytes).map_err(|error| format!("{reference}: the image configuration is not valid JSON ({error})"))?;
        parsed
            .created
            .map(|text| text.parse::<jiff::Timestamp>().map_err(|error| format!("{reference}: the image configuration's created time {text:?}: {error}")))
            .transpose()
    }
}

/// The path of the next page from a `Link` header (`</v2/…>; rel="next"`), only when it is a
/// path on the same registry.
fn next_page(link: &str) -> Option<&str> {
    let (target, params) = link.split_once(';')?;
    let path = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    (params.contains("rel=\"next\"") && path.starts_with("/v2/") && !path.contains("..")).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn only_a_next_page_on_the_same_registry_is_followed() {
        assert_eq!(next_page("</v2/shop/api/tags/list?last=b&n=2>; rel=\"next\""), Some("/v2/shop/api/tags/list?last=b&n=2"));
        assert_eq!(next_page("<https://elsewhere.example/v2/x>; rel=\"next\""), None);
        assert_eq!(next_page("</v2/x>; rel=\"prev\""), None);
    }
}
