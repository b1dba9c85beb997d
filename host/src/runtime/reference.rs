//! Plugin references as users write them: `builtin:NAME` for a standard plugin embedded in
//! the binary, or a path to a `.wasm` component; either optionally pinned to exact bytes
//! with `@sha256:<64 hex>`. Or `oci://…`, a plugin in an OCI registry (see
//! [`crate::registry`]), where `@sha256:` pins the artifact's manifest.

use std::fmt;
use std::path::PathBuf;

use crate::registry::OciReference;

/// Where a plugin's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// A standard plugin embedded in the binary (`builtin:change-window`).
    Builtin(String),
    /// A component file.
    File(PathBuf),
    /// A Wasm component artifact in an OCI registry.
    Oci(OciReference),
}

/// Where a plugin comes from and, optionally, which exact bytes it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    /// The bytes' origin.
    pub source: PluginSource,
    /// Required sha256 (lower-case hex) of the component, when pinned.
    pub sha256: Option<String>,
}

impl PluginRef {
    /// Parse `builtin:NAME`, `PATH`, or either followed by `@sha256:HEX`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with(crate::registry::reference::SCHEME) {
            return Ok(PluginRef { source: PluginSource::Oci(OciReference::parse(text)?), sha256: None });
        }
        let (location, sha256) = match text.rsplit_once("@sha256:") {
            Some((location, hex)) => {
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "plugin reference {text:?}: the pin after @sha256: must be 64 hex digits (see `tollgate plugin info` for a plugin's sha256)"
                    ));
                }
                (location, Some(hex.to_ascii_lowercase()))
            }
            None => (text, None),
        };
        let source = match location.strip_prefix("builtin:") {
            Some(name) => PluginSource::Builtin(name.to_string()),
            None if location.is_empty() => {
                return Err("empty plugin reference; give `builtin:NAME` or a path to a .wasm component".to_string());
            }
            None => PluginSource::File(PathBuf::from(location)),
        };
        Ok(PluginRef { source, sha256 })
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            PluginSource::Builtin(name) => write!(f, "builtin:{name}")?,
            PluginSource::File(path) => write!(f, "{}", path.display())?,
            PluginSource::Oci(reference) => write!(f, "{reference}")?,
        }
        if let Some(sha256) = &self.sha256 {
            write!(f, "@sha256:{sha256}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_pinned_and_builtin_references() {
        assert_eq!(
            PluginRef::parse("p.wasm").unwrap(),
            PluginRef { source: PluginSource::File("p.wasm".into()), sha256: None }
        );
        let hex = "AB".repeat(32);
        let pinned = PluginRef::parse(&format!("dir/p.wasm@sha256:{hex}")).unwrap();
        assert_eq!(pinned.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert!(PluginRef::parse("p.wasm@sha256:abc").unwrap_err().contains("64 hex digits"));
        let builtin = PluginRef::parse("builtin:change-window").unwrap();
        assert_eq!(builtin.source, PluginSource::Builtin("change-window".into()));
        assert_eq!(builtin.to_string(), "builtin:change-window");
        let oci = PluginRef::parse(&format!("oci://registry.example.com/freeze:1@sha256:{hex}")).unwrap();
        assert!(matches!(&oci.source, PluginSource::Oci(reference) if reference.tag.as_deref() == Some("1")));
        assert_eq!(oci.sha256, None, "an oci:// pin is the manifest's, not the component's");
    }
}
