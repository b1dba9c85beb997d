//! Blocking registry operations over the ORAS project's `oci-client` (async, on a
//! current-thread tokio runtime owned by each [`RegistryClient`]), with size limits, digest
//! checks and errors that name the reference and say what to do.

use std::time::Duration;

use std::io::Read;

use base64::Engine as _;
use futures_util::StreamExt;
use oci_client::secrets::RegistryAuth;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::{Client, RegistryOperation};

use super::credentials::{self, Credentials};
use super::layout::{self, ACCEPTED_MANIFEST_TYPES, Descriptor, MAX_MANIFEST_BYTES, sha256_digest};
use super::reference::OciReference;
use super::signature;
use crate::runtime::{MAX_PLUGIN_BYTES, describe_bytes};

/// How long to wait for a registry to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read from a registry may stall.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

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

/// A client for one registry.
pub struct RegistryClient {
    client: Client,
    plain_http: bool,
    credentials: Credentials,
    tokio: tokio::runtime::Runtime,
}

impl RegistryClient {
    /// A client for the registry of `reference`: HTTPS, or plain HTTP for a loopback registry
    /// or one named in `insecure` (`--insecure-registry`).
    pub fn new(reference: &OciReference, insecure: &[String]) -> Result<Self, String> {
        // reqwest is built without a bundled crypto provider; use ring, as ureq does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let plain_http = uses_plain_http(reference, insecure);
        let config = ClientConfig {
            protocol: if plain_http { ClientProtocol::Http } else { ClientProtocol::Https },
            // An index (multi-platform image) is not a plugin: refuse it rather than pick one.
            platform_resolver: None,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: concat!("tollgate/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let credentials = credentials::for_registry(&reference.registry).map_err(|error| format!("{reference}: {error}"))?;
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("{reference}: cannot start the network runtime ({error})"))?;
        Ok(RegistryClient { client: Client::new(config), plain_http, credentials, tokio })
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

    /// GET the manifest, reading at most [`MAX_MANIFEST_BYTES`] of it. oci-client reads a
    /// manifest whole, so this one request goes through ureq with the token oci-client's
    /// auth flow obtained. Returns the bytes and the registry's Docker-Content-Digest.
    fn bounded_manifest(&self, reference: &OciReference) -> Result<RawManifest, String> {
        self.bounded_manifest_if_any(reference)?.ok_or_else(|| not_found(reference))
    }

    /// [`Self::bounded_manifest`], with `None` when the registry has no such manifest (404).
    fn bounded_manifest_if_any(&self, reference: &OciReference) -> Result<Option<RawManifest>, String> {
        let image = reference.client_reference();
        let token = self
            .tokio
            .block_on(self.client.auth(&image, &self.credentials.auth, RegistryOperation::Pull))
            .map_err(|error| self.describe(reference, "fetch the manifest of", error))?;
        let authorization = match (token.as_ref(), &self.credentials.auth) {
            (Some(token), _) | (None, RegistryAuth::Bearer(token)) => Some(format!("Bearer {}", token.trim())),
            (None, RegistryAuth::Basic(username, password)) => {
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))))
            }
            (None, RegistryAuth::Anonymous) => None,
        };
        let scheme = if self.plain_http { "http" } else { "https" };
        let target = reference.digest.as_deref().or(reference.tag.as_deref()).unwrap_or_default();
        let url = format!("{scheme}://{}/v2/{}/manifests/{target}", reference.registry, reference.repository);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(READ_TIMEOUT))
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut request = agent.get(&url).header("Accept", ACCEPTED_MANIFEST_TYPES.join(", "));
        if let Some(authorization) = &authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.call().map_err(|error| match error {
            ureq::Error::Timeout(_) | ureq::Error::Io(_) | ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => format!(
                "{reference}: cannot reach the registry {} ({error}); check the address and the network, \
                 or use the locked plugins already in the local store",
                reference.registry
            ),
            other => format!("{reference}: cannot fetch the manifest: {other}"),
        })?;
        let status = response.status().as_u16();
        if !matches!(status, 200 | 401 | 403)
            && let Some(digest) = &reference.digest
            && let Some(blob) = self.blob_kind(&agent, reference, digest, authorization.as_deref())
        {
            return Err(format!(
                "{reference}: {digest} is the digest of {blob}, not of the manifest; pin the manifest digest instead \
                 (`tollgate plugin pull oci://{}/{}:TAG` prints it as `manifest`, with the `plugin:` line to write)",
                reference.registry, reference.repository
            ));
        }
        match status {
            200 => {}
            401 => return Err(self.refused(reference, "401 Unauthorized")),
            403 => return Err(self.refused(reference, "403 Forbidden")),
            404 => return Ok(None),
            status => return Err(format!("{reference}: the registry answered HTTP {status} for the manifest")),
        }
        let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
        let too_big = |size: String| {
            format!(
                "{reference}: the manifest is {size} bytes, over the {} limit for a plugin artifact; refusing it",
                describe_bytes(MAX_MANIFEST_BYTES)
            )
        };
        if let Some(length) = header("content-length").and_then(|length| length.parse::<u64>().ok())
            && length > MAX_MANIFEST_BYTES as u64
        {
            return Err(too_big(length.to_string()));
        }
        let digest = header("docker-content-digest");
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| format!("{reference}: the manifest download broke off ({error})"))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(too_big(format!("more than {MAX_MANIFEST_BYTES}")));
        }
        Ok(Some((bytes, digest)))
    }

    /// What the blob `digest` of the reference's repository is, when there is one: a digest
    /// pinned as a manifest that names a blob instead is most often the component layer's (what
    /// `plugin push` and `plugin info` print as the component). Reads at most its first 8 bytes.
    fn blob_kind(&self, agent: &ureq::Agent, reference: &OciReference, digest: &str, authorization: Option<&str>) -> Option<&'static str> {
        let scheme = if self.plain_http { "http" } else { "https" };
        let url = format!("{scheme}://{}/v2/{}/blobs/{digest}", reference.registry, reference.repository);
        let mut request = agent.get(&url);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.call().ok()?;
        match response.status().as_u16() {
            200 => {}
            // Served from elsewhere (a storage redirect): a blob, of a kind not looked at.
            300..=399 => return Some("a blob (a layer or a config)"),
            _ => return None,
        }
        let mut start = Vec::new();
        response.body_mut().as_reader().take(8).read_to_end(&mut start).ok()?;
        // `\0asm` and the component encoding's version (a core module's is 1).
        Some(if start == b"\0asm\x0d\x00\x01\x00" { "the component layer" } else { "a blob (a layer or a config)" })
    }

    fn refused(&self, reference: &OciReference, status: &str) -> String {
        let registry = &reference.registry;
        format!(
            "{reference}: registry {registry} refused access ({status}) with {}; log in with `docker login {registry}` \
             or fix the credentials in $DOCKER_CONFIG/config.json (~/.docker/config.json)",
            self.credentials.described
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
    /// at the size the descriptor gives, and check its digest; `what` names it in messages.
    fn blob(&self, reference: &OciReference, descriptor: &Descriptor, what: &str) -> Result<Vec<u8>, String> {
        let image = reference.client_reference();
        let wanted = OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: descriptor.size as i64,
            ..OciDescriptor::default()
        };
        let result: Result<Vec<u8>, String> = self.tokio.block_on(async {
            let mut stream =
                self.client.pull_blob_stream(&image, &wanted).await.map_err(|error| self.describe(reference, &format!("download the {what} of"), error))?;
            if stream.content_length.is_some_and(|length| length > descriptor.size) {
                return Err(format!(
                    "{reference}: the registry offers {} bytes for a layer the manifest says is {} bytes; refusing it",
                    stream.content_length.unwrap_or_default(),
                    descriptor.size
                ));
            }
            let mut bytes = Vec::with_capacity(descriptor.size as usize);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|error| {
                    if error.to_string().to_ascii_lowercase().contains("digest") {
                        format!("{reference}: digest mismatch: the {what} the registry sent is not {} ({error}); refusing it", descriptor.digest)
                    } else {
                        format!("{reference}: the download of the {what} broke off ({error})")
                    }
                })?;
                if (bytes.len() + chunk.len()) as u64 > descriptor.size {
                    return Err(format!(
                        "{reference}: the registry sent more than the {} bytes the manifest gives for the {what}; refusing it",
                        descriptor.size
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        });
        let bytes = result?;
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
        let image = reference.client_reference();
        let content_type = http::HeaderValue::from_static(layout::MANIFEST_MEDIA_TYPE);
        let digest = self
            .tokio
            .block_on(async {
                self.client.auth(&image, &self.credentials.auth, RegistryOperation::Push).await?;
                self.client.push_blob(&image, artifact.config.clone(), &sha256_digest(&artifact.config)).await?;
                self.client.push_blob(&image, component.to_vec(), &sha256_digest(component)).await?;
                self.client.push_manifest_raw(&image, artifact.manifest.clone(), content_type).await
            })
            .map_err(|error| self.describe(reference, "push", error))?;
        // Some registries answer with a URL rather than a digest; ours is the content's.
        if digest.starts_with("sha256:") && digest != artifact.manifest_digest {
            return Err(format!(
                "{reference}: the registry stored the manifest as {digest}, not {}; it changed what was pushed",
                artifact.manifest_digest
            ));
        }
        Ok(artifact.manifest_digest.clone())
    }

    /// Push `armored` (a `tollgate plugin sign` signature) as the signature artifact of the
    /// manifest `signed`, under [`OciReference::signature_tag`] in the same repository;
    /// returns that tag's reference and the signature manifest's digest.
    pub fn push_signature(&self, reference: &OciReference, signed: &str, armored: &[u8]) -> Result<(OciReference, String), String> {
        let target = OciReference { tag: Some(OciReference::signature_tag(signed)), digest: None, ..reference.clone() };
        let image = target.client_reference();
        let (manifest, manifest_digest) = signature::manifest(armored, signed);
        let content_type = http::HeaderValue::from_static(layout::MANIFEST_MEDIA_TYPE);
        self.tokio
            .block_on(async {
                self.client.auth(&image, &self.credentials.auth, RegistryOperation::Push).await?;
                self.client.push_blob(&image, signature::EMPTY_CONFIG.to_vec(), &sha256_digest(signature::EMPTY_CONFIG)).await?;
                self.client.push_blob(&image, armored.to_vec(), &sha256_digest(armored)).await?;
                self.client.push_manifest_raw(&image, manifest, content_type).await
            })
            .map_err(|error| self.describe(&target, "push the signature to", error))?;
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

    /// An error a person can act on, naming the reference.
    fn describe(&self, reference: &OciReference, doing: &str, error: OciDistributionError) -> String {
        let registry = &reference.registry;
        let refused = |status: &str| self.refused(reference, status);
        let not_found = || not_found(reference);
        match &error {
            OciDistributionError::AuthenticationFailure(_) | OciDistributionError::UnauthorizedError { .. } => refused("401 Unauthorized"),
            OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|error| &error.code).collect();
                if codes.iter().any(|code| matches!(code, OciErrorCode::Unauthorized)) {
                    refused("401 Unauthorized")
                } else if codes.iter().any(|code| matches!(code, OciErrorCode::Denied)) {
                    refused("403 Forbidden")
                } else if codes.iter().any(|code| {
                    matches!(code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound | OciErrorCode::BlobUnknown)
                }) {
                    not_found()
                } else {
                    format!("{reference}: the registry refused to {doing} it: {envelope}")
                }
            }
            OciDistributionError::ServerError { code: 401, .. } => refused("401 Unauthorized"),
            OciDistributionError::ServerError { code: 403, .. } => refused("403 Forbidden"),
            OciDistributionError::ServerError { code: 404, .. } => not_found(),
            OciDistributionError::UnsupportedMediaTypeError(media_type) => {
                format!("{reference}: wrong media type: it is a {media_type}, not a Wasm component artifact")
            }
            OciDistributionError::DigestError(digest) => format!("{reference}: digest mismatch: {digest}; refusing it"),
            OciDistributionError::RequestError(request) if request.is_connect() || request.is_timeout() => format!(
                "{reference}: cannot reach the registry {registry} ({}); check the address and the network, \
                 or use the locked plugins already in the local store",
                chain(request)
            ),
            _ => format!("{reference}: cannot {doing} it: {}", chain(&error)),
        }
    }
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

/// An error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
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
