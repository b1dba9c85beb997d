//! A plugin's signature as its own OCI artifact, under the tag
//! [`OciReference::signature_tag`] (`sha256-<manifest hex>.sig`, the convention cosign and
//! others use) in the plugin's repository.
//!
//! Layout: an OCI image manifest with `artifactType` [`SIGNATURE_ARTIFACT_TYPE`], the OCI
//! empty config (`application/vnd.oci.empty.v1+json`, `{}`) and one layer of that same type
//! holding the armored SSHSIG that `tollgate plugin sign` wrote (namespace `tollgate-plugin`,
//! over the component's exact bytes). The signature is checked against the allowed signers
//! where it is used, never trusted because of where it came from.

use std::collections::BTreeMap;

use serde::Serialize;

use super::layout::{Descriptor, MANIFEST_MEDIA_TYPE, sha256_digest};

/// `artifactType` of the signature manifest, and the media type of its one layer.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.tollgate.plugin.signature.v1+sshsig";
/// The OCI empty config's media type.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty config's bytes.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// A signature larger than this is refused: an armored SSHSIG is well under 2 KiB.
pub const MAX_SIGNATURE_BYTES: usize = 16 * 1024;

/// The signature manifest as pushed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignatureManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    artifact_type: &'a str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    annotations: BTreeMap<String, String>,
}

/// The manifest (bytes, digest) carrying `armored` as the signature of manifest `signed`.
pub fn manifest(armored: &[u8], signed: &str) -> (Vec<u8>, String) {
    let manifest = SignatureManifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        artifact_type: SIGNATURE_ARTIFACT_TYPE,
        config: Descriptor {
            media_type: EMPTY_CONFIG_MEDIA_TYPE.to_string(),
            digest: sha256_digest(EMPTY_CONFIG),
            size: EMPTY_CONFIG.len() as u64,
            annotations: BTreeMap::new(),
        },
        layers: vec![Descriptor {
            media_type: SIGNATURE_ARTIFACT_TYPE.to_string(),
            digest: sha256_digest(armored),
            size: armored.len() as u64,
            annotations: BTreeMap::new(),
        }],
        annotations: BTreeMap::from([("dev.tollgate.signed.manifest".to_string(), signed.to_string())]),
    };
    let bytes = serde_json::to_vec(&manifest).expect("the signature manifest serialises");
    let digest = sha256_digest(&bytes);
    (bytes, digest)
}

/// Check that `bytes` is a signature manifest and return its one layer (bounded in size).
pub fn signature_layer(bytes: &[u8]) -> Result<Descriptor, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| format!("the signature manifest is not JSON ({error})"))?;
    let artifact_type = value.get("artifactType").and_then(|value| value.as_str()).unwrap_or_default();
    if artifact_type != SIGNATURE_ARTIFACT_TYPE {
        return Err(format!(
            "the signature tag holds an artifact of type {artifact_type:?}, not {SIGNATURE_ARTIFACT_TYPE}"
        ));
    }
    let layers: Vec<Descriptor> = value
        .get("layers")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|error| format!("the signature manifest is malformed ({error})"))?
        .unwrap_or_default();
    let [layer] = layers.as_slice() else {
        return Err(format!("the signature artifact has {} layers, not one", layers.len()));
    };
    if layer.media_type != SIGNATURE_ARTIFACT_TYPE {
        return Err(format!("the signature layer is {}, not {SIGNATURE_ARTIFACT_TYPE}", layer.media_type));
    }
    if layer.size > MAX_SIGNATURE_BYTES as u64 {
        return Err(format!("the signature layer is {} bytes, over the {MAX_SIGNATURE_BYTES}-byte limit", layer.size));
    }
    super::reference::parse_digest(&layer.digest).map_err(|error| format!("its layer digest: {error}"))?;
    Ok(layer.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_manifest_reads_back_as_its_layer_and_a_plugin_manifest_does_not() {
        let (bytes, digest) = manifest(b"-----BEGIN SSH SIGNATURE-----\n", "sha256:00");
        assert_eq!(digest, sha256_digest(&bytes));
        let layer = signature_layer(&bytes).unwrap();
        assert_eq!(layer.digest, sha256_digest(b"-----BEGIN SSH SIGNATURE-----\n"));
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["config"]["mediaType"], EMPTY_CONFIG_MEDIA_TYPE);
        assert_eq!(value["config"]["digest"], sha256_digest(b"{}"));

        let plugin = super::super::layout::artifact(
            b"\0asm",
            super::super::layout::ComponentInfo { exports: Vec::new(), imports: Vec::new() },
            BTreeMap::new(),
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert!(signature_layer(&plugin.manifest).unwrap_err().contains("not application/vnd.tollgate.plugin.signature"));
    }
}
