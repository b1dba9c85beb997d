//! Plugin references as users write them: `path/to/policy.wasm`, optionally pinned as
//! `path/to/policy.wasm@sha256:<64 hex>`.

use std::fmt;
use std::path::PathBuf;

/// Where a plugin comes from and, optionally, which exact bytes it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    /// The component file.
    pub path: PathBuf,
    /// Required sha256 (lower-case hex) of the file, when pinned.
    pub sha256: Option<String>,
}

impl PluginRef {
    /// Parse `PATH` or `PATH@sha256:HEX`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty plugin reference; give a path to a .wasm component".to_string());
        }
        match text.rsplit_once("@sha256:") {
            Some((path, hex)) => {
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "plugin reference {text:?}: the pin after @sha256: must be 64 hex digits (see `tollgate plugin info` for a plugin's sha256)"
                    ));
                }
                Ok(PluginRef { path: PathBuf::from(path), sha256: Some(hex.to_ascii_lowercase()) })
            }
            None => Ok(PluginRef { path: PathBuf::from(text), sha256: None }),
        }
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
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
    fn parses_plain_and_pinned_references() {
        assert_eq!(PluginRef::parse("p.wasm").unwrap(), PluginRef { path: "p.wasm".into(), sha256: None });
        let hex = "AB".repeat(32);
        let pinned = PluginRef::parse(&format!("dir/p.wasm@sha256:{hex}")).unwrap();
        assert_eq!(pinned.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert!(PluginRef::parse("p.wasm@sha256:abc").unwrap_err().contains("64 hex digits"));
    }
}
