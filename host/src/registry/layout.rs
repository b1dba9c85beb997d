//! The CNCF TAG Runtime "Wasm OCI artifact" layout: an OCI image manifest whose config has
//! media type `application/vnd.wasm.config.v0+json` and whose single layer is the component,
//! `application/wasm`. `wkg oci push` and `oras` produce and read the same layout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest media type.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config media type of a Wasm artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a Wasm component.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// A manifest larger than this is refused: a Wasm artifact's manifest is well under 4 KiB.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// The manifest media types asked for when pulling (others are answered, then refused by name).
pub const ACCEPTED_MANIFEST_TYPES: &[&str] = &[
    MANIFEST_MEDIA_TYPE,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// `sha256:HEX` of the blob.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Descriptor annotations (e.g. the component's file name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest (only what this layout uses).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST_MEDIA_TYPE`].
    #[serde(default)]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The component.
    pub layers: Vec<Descriptor>,
    /// `org.opencontainers.image.*` annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The Wasm config blob (`application/vnd.wasm.config.v0+json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339 creation time: `SOURCE_DATE_EPOCH` when the pusher sets it, else the Unix
    /// epoch, never the wall clock, so that pushing the same component gives the same digests.
    pub created: String,
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for a component.
    pub os: String,
    /// The layer digests in manifest order (keeps the config's digest unique per content).
    pub layer_digests: Vec<String>,
    /// The component's world.
    pub component: ComponentInfo,
}

/// What the component exports and imports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// Exported interfaces.
    pub exports: Vec<String>,
    /// Imported interfaces.
    pub imports: Vec<String>,
}

/// `sha256:HEX` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The blobs and manifest of a component in the Wasm OCI artifact layout.
pub struct Artifact {
    /// Config blob bytes.
    pub config: Vec<u8>,
    /// Manifest bytes, exactly as pushed (their digest is the artifact's identity).
    pub manifest: Vec<u8>,
    /// The manifest's digest.
    pub manifest_digest: String,
}

/// Lay out `component` with its world, the manifest `annotations` and the config's `created`
/// time; the same inputs give the same bytes.
pub fn artifact(component: &[u8], component_info: ComponentInfo, annotations: BTreeMap<String, String>, created: jiff::Timestamp) -> Artifact {
    let layer_digest = sha256_digest(component);
    let config = WasmConfig {
        created: created.to_string(),
        architecture: "wasm".to_string(),
        os: "wasip2".to_string(),
        layer_digests: vec![layer_digest.clone()],
        component: component_info,
    };
    let config = serde_json::to_vec(&config).expect("the Wasm config serialises");
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.to_string(),
            digest: sha256_digest(&config),
            size: config.len() as u64,
            annotations: BTreeMap::new(),
        },
        layers: vec![Descriptor {
            media_type: LAYER_MEDIA_TYPE.to_string(),
            digest: layer_digest,
            size: component.len() as u64,
            annotations: BTreeMap::new(),
        }],
        annotations,
    };
    let manifest = serde_json::to_vec(&manifest).expect("the manifest serialises");
    Artifact { manifest_digest: sha256_digest(&manifest), config, manifest }
}

/// Check that `bytes` is a manifest in this layout and return its one layer. The message
/// says what was found instead (e.g. a container image's config or layer type).
pub fn component_layer(bytes: &[u8]) -> Result<Descriptor, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| format!("the manifest is not JSON ({error})"))?;
    let media_type = value.get("mediaType").and_then(|media_type| media_type.as_str()).unwrap_or(MANIFEST_MEDIA_TYPE);
    if media_type != MANIFEST_MEDIA_TYPE {
        return Err(format!(
            "it is a {media_type}, not a Wasm component artifact ({MANIFEST_MEDIA_TYPE} with a {CONFIG_MEDIA_TYPE} config)"
        ));
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(|error| format!("the manifest is malformed ({error})"))?;
    if manifest.schema_version != 2 {
        return Err(format!("the manifest has schemaVersion {}, not 2", manifest.schema_version));
    }
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(format!(
            "wrong media type: its config is {}, not {CONFIG_MEDIA_TYPE}; it is not a Wasm component artifact (a container image?)",
            manifest.config.media_type
        ));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(format!("the artifact has {} layers; a Wasm component artifact has exactly one", manifest.layers.len()));
    };
    if layer.media_type != LAYER_MEDIA_TYPE {
        return Err(format!("wrong media type: its layer is {}, not {LAYER_MEDIA_TYPE}", layer.media_type));
    }
    super::reference::parse_digest(&layer.digest).map_err(|error| format!("its layer digest: {error}"))?;
    Ok(layer.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_reads_back_as_its_component_layer() {
        let info = ComponentInfo { exports: vec!["tollgate:policy/policy@0.1.0".to_string()], imports: Vec::new() };
        let artifact = artifact(b"\0asm-component", info.clone(), BTreeMap::new(), jiff::Timestamp::UNIX_EPOCH);
        let layer = component_layer(&artifact.manifest).unwrap();
        assert_eq!(layer.digest, sha256_digest(b"\0asm-component"));
        assert_eq!(layer.size, 14);
        assert_eq!(artifact.manifest_digest, sha256_digest(&artifact.manifest));
        let again = super::artifact(b"\0asm-component", info, BTreeMap::new(), jiff::Timestamp::UNIX_EPOCH);
        assert_eq!((again.config, again.manifest), (artifact.config, artifact.manifest), "the same inputs, the same bytes");
    }

    #[test]
    fn container_images_and_indexes_are_refused_by_media_type() {
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:00","size":2},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:00","size":2}]}"#;
        assert!(component_layer(image).unwrap_err().contains("application/vnd.oci.image.config.v1+json"));
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(component_layer(index).unwrap_err().contains("image.index"));
    }
}
