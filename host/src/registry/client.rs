//! Blocking registry operations (OCI distribution API) over [`Transport`]: size limits,
//! digest checks, one deadline per operation, and errors that name the reference and say
//! what to do.

use super::credentials;
use super::layout::{self, ACCEPTED_MANIFEST_TYPES, Descriptor, MAX_MANIFEST_BYTES, sha256_digest};
use super::reference::OciReference;
use super::signature;
use super::transport::{self, BodyError, Method, TIMEOUT_VARIABLE, Transport, TransportError, read_bounded};
use crate::platform::{MAX_PLUGIN_BYTES, describe_bytes};

pub mod chart_index;
pub mod git_tags;
pub mod images;

/// An artifact pulled and checked: the manifest and the component, both digest-verified.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest digest.
    pub manifest_digest: String,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// The component bytes.
    pub component: Vec<u8>,
    /// `sha256:HEX` of the component.
    pub component_digest: String,
}

/// A manifest's bytes as received and the digest the registry gave for it (Docker-Content-Digest).
type RawManifest = (Vec<u8>, Option<String>);

/// A client for one registry; everything it does shares one deadline, counted from
/// [`RegistryClient::new`] ([`transport::operation_timeout`]).
pub struct RegistryClient {
    transport: Transport,
}

impl RegistryClient {
    /// A client for the registry of `reference`: HTTPS, or plain HTTP for a loopback registry
    /// or one named in `insecure` (`--insecure-registry`).
    pub fn new(reference: &OciReference, insecure: &[String]) -> Result<Self, String> {
        let plain_http = uses_plain_http(reference, insecure);
        let credentials = credentials::for_registry(&reference.registry).map_err(|error| format!("{reference}: {error}"))?;
        let timeout = transport::operation_timeout()?;
        Ok(RegistryClient { transport: Transport::new(&reference.registry, plain_http, insecure, credentials, timeout) })
    }

    /// Fetch the manifest `reference` names (by digest when pinned, else by tag), reading at
    /// most [`MAX_MANIFEST_BYTES`], check its digest and that it is a Wasm component
    /// artifact; returns (digest, bytes, layer).
    pub fn manifest(&self, reference: &OciReference) -> Result<(String, Vec<u8>, Descriptor), String> {
        let (bytes, digest) = self.bounded_manifest(reference)?;
        let actual = sha256_digest(&bytes);
        if let Some(pinned) = &reference.digest
            && &actual != pinned
        {
            return Err(format!("{reference}: digest mismatch: the registry sent a manifest with digest {actual}; refusing it"));
        }
        if digest.as_ref().is_some_and(|digest| digest != &actual) {
            return Err(format!(
                "{reference}: digest mismatch: the registry says {} but the manifest it sent is {actual}",
                digest.unwrap_or_default()
            ));
        }
        let layer = layout::component_layer(&bytes).map_err(|error| format!("{reference}: {error}"))?;
        Ok((actual, bytes, layer))
    }

    /// GET the manifest, reading at most [`MAX_MANIFEST_BYTES`] of it. Returns the bytes and
    /// the registry's Docker-Content-Digest.
    fn bounded_manifest(&self, reference: &OciReference) -> Result<RawManifest, String> {
        self.bounded_manifest_if_any(reference)?.ok_or_else(|| not_found(reference))
    }

    /// [`Self::bounded_manifest`], with `None` when the registry has no such manifest (404).
    fn bounded_manifest_if_any(&self, reference: &OciReference) -> Result<Option<RawManifest>, String> {
        let target = reference.digest.as_deref().or(reference.tag.as_deref()).unwrap_or_default();
        let url = self.transport.url(&format!("{}/manifests/{target}", reference.repository));
        let accept = [("Accept", ACCEPTED_MANIFEST_TYPES.join(", "))];
        let mut response = self
            .transport
            .send(Method::Get, &url, &pull_scope(reference), &accept, &[])
            .map_err(|error| self.failed(reference, "fetch the manifest of", error))?;
        let status = response.status().as_u16();
        if !matches!(status, 200 | 401 | 403)
            && let Some(digest) = &reference.digest
            && let Some(blob) = self.blob_kind(reference, digest)
        {
            return Err(format!(
                "{reference}: {digest} is the digest of {blob}, not of the manifest; pin the manifest digest instead \
                 (`tollgate plugin pull oci://{}/{}:TAG` prints it as `manifest`, with the `plugin:` line to write)",
                reference.registry, reference.repository
            ));
        }
        match status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.error_answer(reference, "fetch the manifest of", &mut response)),
        }
        let digest = response.headers().get("docker-content-digest").and_then(|value| value.to_str().ok()).map(str::to_string);
        let bytes = read_bounded(&mut response, MAX_MANIFEST_BYTES as u64).map_err(|error| match error {
            BodyError::TooLarge => format!(
                "{reference}: the manifest is more than {MAX_MANIFEST_BYTES} bytes, over the {} limit for a plugin artifact; refusing it",
                describe_bytes(MAX_MANIFEST_BYTES)
            ),
            BodyError::Failed(error) => self.failed(reference, "fetch the manifest of", self.transport.io_error(error)),
        })?;
        Ok(Some((bytes, digest)))
    }

    /// What the blob `digest` of the reference's repository is, when there is one: a digest
    /// pinned as a manifest that names a blob instead is most often the component layer's (what
    /// `plugin push` and `plugin info` print as the component). Reads at most its first 8 bytes.
    /// When a pinned manifest cannot be fetched: what the registry holds under that digest as a
    /// blob, if anything (only the first 8 bytes are read): the component layer is named as such.
    fn blob_kind(&self, reference: &OciReference, digest: &str) -> Option<&'static str> {
        let url = self.transport.url(&format!("{}/blobs/{digest}", reference.repository));
        let mut response = self.transport.get_blob(&url, &pull_scope(reference)).ok()?;
        if response.status().as_u16() != 200 {
            return None;
        }
        let mut start = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(response.body_mut().as_reader(), 8), &mut start).ok()?;
        // `\0asm` and the component encoding's version (a core module's is 1).
        Some(if start == b"\0asm\x0d\x00\x01\x00" { "the component layer" } else { "a blob (a layer or a config)" })
    }

    fn refused(&self, reference: &OciReference, status: &str) -> String {
        let registry = &reference.registry;
        format!(
            "{reference}: registry {registry} refused access ({status}) with {}; log in with `docker login {registry}` \
             or fix the credentials in $DOCKER_CONFIG/config.json (~/.docker/config.json)",
            self.transport.credentials.described
        )
    }

    /// Pull `reference`: its manifest, then its one layer, refusing a layer the manifest says
    /// is over the plugin size limit before asking for it, and stopping a download that runs
    /// past the size the manifest gave.
    pub fn pull(&self, reference: &OciReference) -> Result<Pulled, String> {
        let (manifest_digest, manifest, layer) = self.manifest(reference)?;
        let component = self.layer(&reference.pinned(&manifest_digest), &layer)?;
        Ok(Pulled { manifest_digest, manifest, component_digest: layer.digest, component })
    }

    /// Download the layer `descriptor` and check its size and digest.
    pub fn layer(&self, reference: &OciReference, descriptor: &Descriptor) -> Result<Vec<u8>, String> {
        if descriptor.size > MAX_PLUGIN_BYTES as u64 {
            return Err(format!(
                "{reference}: the component layer is {} bytes, over the {} plugin size limit; refusing it without downloading",
                descriptor.size,
                describe_bytes(MAX_PLUGIN_BYTES)
            ));
        }
        self.blob(reference, descriptor, "component")
    }

    /// Download the blob `descriptor` (its size already checked against a limit), stopping
    /// at the size the descriptor gives (with or without a Content-Length), and check its
    /// digest; `what` names it in messages.
    fn blob(&self, reference: &OciReference, descriptor: &Descriptor, what: &str) -> Result<Vec<u8>, String> {
        let doing = format!("download the {what} of");
        let url = self.transport.url(&format!("{}/blobs/{}", reference.repository, descriptor.digest));
        let mut response = self.transport.get_blob(&url, &pull_scope(reference)).map_err(|error| self.failed(reference, &doing, error))?;
        if response.status().as_u16() != 200 {
            return Err(self.error_answer(reference, &doing, &mut response));
        }
        let bytes = read_bounded(&mut response, descriptor.size).map_err(|error| match error {
            BodyError::TooLarge => format!(
                "{reference}: the registry sent more than the {} bytes the manifest gives for the {what}; refusing it",
                descriptor.size
            ),
            BodyError::Failed(error) => match self.transport.io_error(error) {
                TransportError::Unreachable(cause) => format!("{reference}: the download of the {what} broke off ({cause})"),
                other => self.failed(reference, &doing, other),
            },
        })?;
        let actual = sha256_digest(&bytes);
        if actual != descriptor.digest {
            return Err(format!(
                "{reference}: digest mismatch: the manifest names the {what} {} but the registry sent {actual}; refusing it",
                descriptor.digest
            ));
        }
        Ok(bytes)
    }

    /// Push an artifact (config, component, then the manifest under the reference's tag);
    /// returns the manifest digest the registry accepted.
    pub fn push(&self, reference: &OciReference, component: &[u8], artifact: &layout::Artifact) -> Result<String, String> {
        self.push_raw(reference, &[&artifact.config, component], &artifact.manifest, layout::MANIFEST_MEDIA_TYPE)
            .map_err(|error| self.failed(reference, "push", error))?;
        Ok(artifact.manifest_digest.clone())
    }

    /// Push blobs (those the registry lacks) and then `manifest` under the reference's tag,
    /// with the content type `media_type`; the registry must store it under its own digest.
    pub fn push_raw(&self, reference: &OciReference, blobs: &[&[u8]], manifest: &[u8], media_type: &str) -> Result<(), TransportError> {
        let scope = format!("repository:{}:pull,push", reference.repository);
        for blob in blobs {
            self.push_blob(reference, &scope, blob)?;
        }
        let target = reference.tag.as_deref().or(reference.digest.as_deref()).unwrap_or_default();
        let url = self.transport.url(&format!("{}/manifests/{target}", reference.repository));
        let mut response = self.transport.send(Method::Put, &url, &scope, &[("Content-Type", media_type.to_string())], manifest)?;
        if !matches!(response.status().as_u16(), 200 | 201) {
            return Err(self.answer_error(&mut response, "the manifest upload"));
        }
        let digest = response.headers().get("docker-content-digest").and_then(|value| value.to_str().ok()).unwrap_or_default();
        let expected = sha256_digest(manifest);
        // Some registries answer without a digest; ours is the content's.
        if digest.starts_with("sha256:") && digest != expected {
            return Err(TransportError::Other(format!(
                "the registry stored the manifest as {}, not {expected}; it changed what was pushed",
                crate::input::escape_untrusted(digest, 100)
            )));
        }
        Ok(())
    }

    /// One blob, monolithically (POST for an upload location, then PUT with the digest),
    /// unless the registry already has it.
    fn push_blob(&self, reference: &OciReference, scope: &str, blob: &[u8]) -> Result<(), TransportError> {
        let digest = sha256_digest(blob);
        let head = self.transport.url(&format!("{}/blobs/{digest}", reference.repository));
        if self.transport.send(Method::Head, &head, scope, &[], &[])?.status().as_u16() == 200 {
            return Ok(());
        }
        let start = self.transport.url(&format!("{}/blobs/uploads/", reference.repository));
        let mut response = self.transport.send(Method::Post, &start, scope, &[], &[])?;
        if response.status().as_u16() != 202 {
            return Err(self.answer_error(&mut response, "the blob upload"));
        }
        let location = response.headers().get("location").and_then(|value| value.to_str().ok()).unwrap_or_default();
        let mut upload = url::Url::parse(&start)
            .and_then(|base| base.join(location))
            .map_err(|_| TransportError::Other("the registry gave no usable upload location".into()))?;
        if transport::authority(&upload) != self.transport.registry || upload.scheme() != self.transport.scheme {
            return Err(TransportError::Other(format!(
                "the registry gave an upload location on another server ({}); refusing to send it the credentials or the plugin",
                upload.origin().ascii_serialization()
            )));
        }
        upload.query_pairs_mut().append_pair("digest", &digest);
        let headers = [("Content-Type", "application/octet-stream".to_string())];
        let mut response = self.transport.send(Method::Put, upload.as_str(), scope, &headers, blob)?;
        if !matches!(response.status().as_u16(), 201 | 204) {
            return Err(self.answer_error(&mut response, "the blob upload"));
        }
        Ok(())
    }

    /// An unexpected answer to an upload, as an error (its body read bounded).
    fn answer_error(&self, response: &mut ureq::http::Response<ureq::Body>, what: &str) -> TransportError {
        let status = response.status().as_u16();
        let (codes, said) = transport::error_codes(response);
        match status {
            401 => TransportError::Other("401 Unauthorized".into()),
            403 => TransportError::Other("403 Forbidden".into()),
            _ if codes.iter().any(|code| code == "UNAUTHORIZED" || code == "DENIED") => TransportError::Other("401 Unauthorized".into()),
            _ => TransportError::Other(format!("the registry answered HTTP {status} to {what}{}", if said.is_empty() { String::new() } else { format!(": {said}") })),
        }
    }

    /// Push `armored` (a `tollgate plugin sign` signature) as the signature artifact of the
    /// manifest `signed`, under [`OciReference::signature_tag`] in the same repository;
    /// returns that tag's reference and the signature manifest's digest.
    pub fn push_signature(&self, reference: &OciReference, signed: &str, armored: &[u8]) -> Result<(OciReference, String), String> {
        let target = OciReference { tag: Some(OciReference::signature_tag(signed)), digest: None, ..reference.clone() };
        let (manifest, manifest_digest) = signature::manifest(armored, signed);
        self.push_raw(&target, &[signature::EMPTY_CONFIG, armored], &manifest, layout::MANIFEST_MEDIA_TYPE)
            .map_err(|error| self.failed(&target, "push the signature to", error))?;
        Ok((target, manifest_digest))
    }

    /// The armored signature pushed for the manifest `signed` of `reference`'s repository, if
    /// its signature tag exists: manifest and layer bounded in size and digest-checked.
    pub fn pull_signature(&self, reference: &OciReference, signed: &str) -> Result<Option<Vec<u8>>, String> {
        let target = OciReference { tag: Some(OciReference::signature_tag(signed)), digest: None, ..reference.clone() };
        let Some((bytes, digest)) = self.bounded_manifest_if_any(&target)? else {
            return Ok(None);
        };
        let actual = sha256_digest(&bytes);
        if digest.as_ref().is_some_and(|digest| digest != &actual) {
            return Err(format!(
                "{target}: digest mismatch: the registry says {} but the signature manifest it sent is {actual}",
                digest.unwrap_or_default()
            ));
        }
        let layer = signature::signature_layer(&bytes).map_err(|error| format!("{target}: {error}"))?;
        self.blob(&target.pinned(&actual), &layer, "signature").map(Some)
    }

    /// An error status from the registry, as a message a person can act on (the body read
    /// only up to [`transport::MAX_ERROR_BYTES`]).
    fn error_answer(&self, reference: &OciReference, doing: &str, response: &mut ureq::http::Response<ureq::Body>) -> String {
        let status = response.status().as_u16();
        let (codes, said) = transport::error_codes(response);
        let has = |wanted: &[&str]| codes.iter().any(|code| wanted.contains(&code.as_str()));
        match status {
            401 => self.refused(reference, "401 Unauthorized"),
            403 => self.refused(reference, "403 Forbidden"),
            404 => not_found(reference),
            _ if has(&["UNAUTHORIZED"]) => self.refused(reference, "401 Unauthorized"),
            _ if has(&["DENIED"]) => self.refused(reference, "403 Forbidden"),
            _ if has(&["MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND", "BLOB_UNKNOWN"]) => not_found(reference),
            _ if said.is_empty() => format!("{reference}: the registry answered HTTP {status} when asked to {doing} it"),
            _ => format!("{reference}: the registry refused to {doing} it (HTTP {status}): {said}"),
        }
    }

    /// A request that got no usable answer, as a message naming the reference.
    fn failed(&self, reference: &OciReference, doing: &str, error: TransportError) -> String {
        let registry = &reference.registry;
        match error {
            TransportError::Unreachable(cause) => format!(
                "{reference}: cannot reach the registry {registry} ({cause}); check the address and the network, \
                 or use the locked plugins already in the local store"
            ),
            TransportError::TimedOut(limit) => format!(
                "{reference}: the registry {registry} did not finish within {} s (the deadline of one registry operation); \
                 check the network, or set {TIMEOUT_VARIABLE} to a longer deadline in seconds",
                limit.as_secs()
            ),
            TransportError::Other(cause) if cause == "401 Unauthorized" || cause == "403 Forbidden" => self.refused(reference, &cause),
            TransportError::Other(cause) if cause.starts_with("the token realm") => {
                format!("{} ({cause})", self.refused(reference, "401 Unauthorized"))
            }
            TransportError::Other(cause) => format!("{reference}: cannot {doing} it: {cause}"),
        }
    }
}

/// The token scope of a pull from `reference`'s repository.
fn pull_scope(reference: &OciReference) -> String {
    format!("repository:{}:pull", reference.repository)
}

/// Plain HTTP only for a loopback registry or one named with `--insecure-registry`.
pub fn uses_plain_http(reference: &OciReference, insecure: &[String]) -> bool {
    reference.is_loopback() || insecure.iter().any(|registry| registry == &reference.registry)
}

/// The reference's tag or digest is not in the registry.
fn not_found(reference: &OciReference) -> String {
    let registry = &reference.registry;
    match (&reference.tag, &reference.digest) {
        (_, Some(digest)) => format!("{reference}: manifest {digest} not found in {registry}/{}", reference.repository),
        (Some(tag), None) => format!("{reference}: tag {tag:?} not found in {registry}/{}", reference.repository),
        (None, None) => format!("{reference}: not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_or_named_registries() {
        let parse = |text: &str| OciReference::parse(text).unwrap();
        assert!(uses_plain_http(&parse("oci://127.0.0.1:5000/p:1"), &[]));
        assert!(uses_plain_http(&parse("oci://localhost:5000/p:1"), &[]));
        assert!(uses_plain_http(&parse("oci://[::1]:5000/p:1"), &[]));
        assert!(!uses_plain_http(&parse("oci://registry.example.com/p:1"), &[]));
        assert!(!uses_plain_http(&parse("oci://10.0.0.1:5000/p:1"), &[]), "private is not loopback");
        let insecure = vec!["registry.lan:5000".to_string()];
        assert!(uses_plain_http(&parse("oci://registry.lan:5000/p:1"), &insecure));
        assert!(!uses_plain_http(&parse("oci://registry.lan/p:1"), &insecure), "the port is part of the name");
    }
}
