//! `oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]` plugin references.
//!
//! The registry host is always explicit (no implied Docker Hub): a policy gate should name
//! where its rules come from. A reference needs a tag, a manifest digest, or both; with both,
//! the digest decides and the tag is documentation.

use std::fmt;
use std::net::IpAddr;

/// The scheme that marks a registry reference in `plugin:` fields and on the command line.
pub const SCHEME: &str = "oci://";

/// A parsed `oci://` reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciReference {
    /// `host[:port]`.
    pub registry: String,
    /// The repository path, e.g. `policies/freeze`.
    pub repository: String,
    /// The tag, if given.
    pub tag: Option<String>,
    /// The manifest digest (`sha256:` + 64 lower-case hex), if pinned.
    pub digest: Option<String>,
}

impl OciReference {
    /// Parse `oci://…`; the message names the reference and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fail = |why: &str| format!("plugin reference {text:?}: {why}; write it as oci://REGISTRY/REPOSITORY:TAG[@sha256:DIGEST]");
        let rest = text.strip_prefix(SCHEME).ok_or_else(|| fail("it does not start with oci://"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest).map_err(|why| fail(&why))?)),
            None => (rest, None),
        };
        let (registry, path) = rest.split_once('/').ok_or_else(|| fail("it has no repository after the registry host"))?;
        if !valid_registry(registry) {
            return Err(fail(&format!("{registry:?} is not a registry host[:port]")));
        }
        // A tag follows the last ':' of the last path component (the registry's port has its own).
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        };
        if !valid_repository(repository) {
            return Err(fail(&format!(
                "{repository:?} is not a repository path (lower-case letters, digits and . _ - separated by /)"
            )));
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(fail(&format!("{tag:?} is not a tag (letters, digits, . _ -, at most 128, not starting with . or -)")));
        }
        if tag.is_none() && digest.is_none() {
            return Err(fail("it has neither a tag nor a digest"));
        }
        Ok(OciReference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The same repository pinned to `digest` (the tag kept for messages).
    pub fn pinned(&self, digest: &str) -> OciReference {
        OciReference { digest: Some(digest.to_string()), ..self.clone() }
    }

    /// Whether the registry is on this machine (plain HTTP is allowed there without a flag).
    pub fn is_loopback(&self) -> bool {
        let host = host_of(&self.registry);
        host.eq_ignore_ascii_case("localhost")
            || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The tag that carries a signature of the manifest `digest`, in the `sha256-<hex>.sig`
    /// convention (cosign and others): where `tollgate plugin push` puts a plugin's signature
    /// and pulls look for it (see [`super::signature`]).
    pub fn signature_tag(digest: &str) -> String {
        format!("{}.sig", digest.replacen(':', "-", 1))
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:` + 64 hex digits, lower-cased.
pub fn parse_digest(text: &str) -> Result<String, String> {
    match text.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(format!("sha256:{}", hex.to_ascii_lowercase())),
        _ => Err(format!("{text:?} is not a digest (sha256: followed by 64 hex digits)")),
    }
}

fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.split_inclusive(']').next().unwrap_or(registry);
    }
    registry.split(':').next().unwrap_or(registry)
}

fn valid_registry(registry: &str) -> bool {
    let (host, port) = if registry.starts_with('[') {
        match registry.split_once(']') {
            Some((host, rest)) => (&registry[..host.len() + 1], rest.strip_prefix(':')),
            None => return false,
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    let host_ok = if host.starts_with('[') {
        host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !label.starts_with('-')
            })
    };
    host_ok && port.is_none_or(|port| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.len() <= 255
        && repository.split('/').all(|component| {
            let bytes = component.as_bytes();
            !bytes.is_empty()
                && bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && bytes.last().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// A tag as the distribution spec allows it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_ports() {
        let reference = OciReference::parse("oci://127.0.0.1:5000/policies/freeze:1.2.0").unwrap();
        assert_eq!(reference.registry, "127.0.0.1:5000");
        assert_eq!(reference.repository, "policies/freeze");
        assert_eq!(reference.tag.as_deref(), Some("1.2.0"));
        assert!(reference.is_loopback());
        assert_eq!(reference.to_string(), "oci://127.0.0.1:5000/policies/freeze:1.2.0");

        let hex = "AB".repeat(32);
        let pinned = OciReference::parse(&format!("oci://registry.example.com/freeze:1@sha256:{hex}")).unwrap();
        assert_eq!(pinned.digest, Some(format!("sha256:{}", "ab".repeat(32))));
        assert!(!pinned.is_loopback());
        let digest_only = OciReference::parse(&format!("oci://localhost:5000/freeze@sha256:{hex}")).unwrap();
        assert_eq!(digest_only.tag, None);
        assert!(digest_only.is_loopback());
    }

    #[test]
    fn refuses_what_a_registry_would_not_take() {
        for (text, why) in [
            ("oci://registry.example.com/freeze", "neither a tag nor a digest"),
            ("oci://freeze:1", "no repository"),
            ("oci://registry.example.com/Freeze:1", "not a repository path"),
            ("oci://registry.example.com/freeze:-1", "not a tag"),
            ("oci://registry.example.com/freeze:1@sha256:abc", "not a digest"),
            ("oci://bad host/freeze:1", "not a registry"),
            ("oci://registry.example.com:x/freeze:1", "not a registry"),
            ("oci://registry.example.com/a//b:1", "not a repository path"),
        ] {
            let error = OciReference::parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    proptest::proptest! {
        /// Any text either parses or is refused with a message naming it; never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "oci://[ -~]{0,80}") {
            match OciReference::parse(&text) {
                Ok(reference) => proptest::prop_assert!(reference.tag.is_some() || reference.digest.is_some()),
                Err(message) => {
                    let quoted = format!("{:?}", text);
                    proptest::prop_assert!(message.contains(&quoted), "{}", message);
                }
            }
        }

        /// Well-formed references read back exactly as written.
        #[test]
        fn well_formed_references_round_trip(
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,5}){0,2}",
            port in proptest::option::of(1u16..),
            repository in "[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?(/[a-z0-9]{1,6}){0,2}",
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9._-]{0,20}"),
            digest in proptest::option::of("[0-9a-f]{64}"),
        ) {
            proptest::prop_assume!(tag.is_some() || digest.is_some());
            let registry = match port { Some(port) => format!("{host}:{port}"), None => host.clone() };
            let mut text = format!("oci://{registry}/{repository}");
            if let Some(tag) = &tag { text.push_str(&format!(":{tag}")); }
            if let Some(digest) = &digest { text.push_str(&format!("@sha256:{digest}")); }
            let reference = OciReference::parse(&text).unwrap();
            proptest::prop_assert_eq!(&reference.registry, &registry);
            proptest::prop_assert_eq!(&reference.repository, &repository);
            proptest::prop_assert_eq!(reference.to_string(), text);
        }
    }

    #[test]
    fn signature_tags_follow_the_sig_convention() {
        let digest = format!("sha256:{}", "0".repeat(64));
        assert_eq!(OciReference::signature_tag(&digest), format!("sha256-{}.sig", "0".repeat(64)));
    }
}
