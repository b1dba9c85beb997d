//! Signed plugins: `FILE.wasm.sig` is an SSHSIG signature (namespace `tollgate-plugin`) over
//! the component's exact bytes. A policy that names `signers:` loads its plugin only when the
//! signature verifies, by a key the allowed signers list for one of those principals, and the
//! bytes signed are the bytes loaded (same sha256). An `oci://` plugin's signature is the
//! same SSHSIG, pushed by `tollgate plugin push` as an artifact under the tag
//! `sha256-<manifest hex>.sig` (see `registry::signature`) and checked the same way.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::allowed_signers::{AllowedSigners, VerifiedSigner};
use super::sshsig::{self, SigningKey};
use super::NAMESPACE_PLUGIN;

/// Where the signature of `plugin` lives: `plugin` with `.sig` appended.
pub fn signature_path(plugin: &Path) -> PathBuf {
    let mut path = plugin.as_os_str().to_owned();
    path.push(".sig");
    PathBuf::from(path)
}

/// Sign the plugin at `path` with `key` and write `path.sig`. Returns the signature's path.
pub fn sign(path: &Path, key: &SigningKey, program: Option<&str>) -> Result<PathBuf, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("{}: cannot read it ({error})", path.display()))?;
    let armored = sshsig::sign(key, NAMESPACE_PLUGIN, &bytes, program)?;
    let signature = signature_path(path);
    std::fs::write(&signature, armored).map_err(|error| format!("{}: cannot write it ({error})", signature.display()))?;
    Ok(signature)
}

/// Who signed the plugin at `path`, whose loaded bytes have `loaded_sha256`: one of
/// `principals` (all when empty) as the allowed signers say, valid at `time`.
pub fn verify(path: &Path, loaded_sha256: &str, signers: &AllowedSigners, principals: &[String], time: i64) -> Result<VerifiedSigner, String> {
    let signature_file = signature_path(path);
    let armored = std::fs::read_to_string(&signature_file).map_err(|error| {
        format!(
            "{}: no readable signature ({error}); sign the plugin with `tollgate plugin sign {}`",
            signature_file.display(),
            path.display()
        )
    })?;
    let bytes = std::fs::read(path).map_err(|error| format!("{}: cannot read it ({error})", path.display()))?;
    if hex::encode(Sha256::digest(&bytes)) != loaded_sha256 {
        return Err(format!("{} changed while it was being loaded; try again", path.display()));
    }
    let signature = sshsig::parse(&armored).map_err(|error| format!("{}: {error}", signature_file.display()))?;
    verify_bytes(&path.display().to_string(), &bytes, &signature, signers, principals, time)
}

/// Who signed `bytes` (named `source` in messages) with the parsed `signature`: one of
/// `principals` (all when empty) as the allowed signers say, valid at `time`.
fn verify_bytes(
    source: &str,
    bytes: &[u8],
    signature: &ssh_key::SshSig,
    signers: &AllowedSigners,
    principals: &[String],
    time: i64,
) -> Result<VerifiedSigner, String> {
    let key = sshsig::check_signature(signature, NAMESPACE_PLUGIN, bytes).map_err(|error| format!("{source}: {error}"))?;
    if principals.is_empty() {
        let found = signers.find_principals(&key, NAMESPACE_PLUGIN, time).map_err(|error| format!("{source}: {error}"))?;
        return Ok(found.into_iter().next().expect("find_principals returns at least one signer"));
    }
    let mut reasons = Vec::new();
    for principal in principals {
        match signers.authorize(&key, principal, NAMESPACE_PLUGIN, &[time]) {
            Ok(signer) => return Ok(signer),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(format!(
        "{source} is not signed by any of the policy's signers ({}): {}",
        principals.join(", "),
        reasons.join("; ")
    ))
}

/// The allowed signers from the files a decision sees (the branch tip), for policies that
/// name `signers:`.
pub fn signers_from(config: &crate::config::Config, files: &dyn crate::runtime::FileSource) -> Result<AllowedSigners, String> {
    let path = config.trust.as_ref().and_then(|trust| trust.allowed_signers.as_ref()).ok_or(
        "a policy names signers: but tollgate.yaml names no allowed-signers file; add trust: { allowed_signers: .tollgate/allowed_signers }",
    )?;
    let text = files.read(path)?.ok_or_else(|| format!("{path} (trust.allowed_signers) does not exist on the branch; commit it"))?;
    AllowedSigners::parse(path, &text)
}

/// Who signed the registry plugin `reference`, loaded through `registry` with sha256
/// `loaded_sha256`: its signature artifact (pulled with it or kept in the local store) over
/// the component's exact bytes.
pub fn verify_oci(
    registry: &crate::registry::Resolver,
    reference: &crate::registry::OciReference,
    loaded_sha256: &str,
    signers: &AllowedSigners,
    principals: &[String],
    time: i64,
) -> Result<VerifiedSigner, String> {
    let signed = registry.signed_component(reference).map_err(|error| format!("{reference}: {error}"))?;
    if hex::encode(Sha256::digest(signed.component.as_slice())) != loaded_sha256 {
        return Err(format!("{reference}: the component checked is not the one loaded; try again"));
    }
    verify_fetched(reference, &signed.component, &signed.manifest_digest, &signed.signature, signers, principals, time)
}

/// Who signed the registry plugin `reference` as fetched: `component` from manifest
/// `manifest_digest`, with the signature found under that manifest's signature tag.
pub fn verify_fetched(
    reference: &crate::registry::OciReference,
    component: &[u8],
    manifest_digest: &str,
    signature: &crate::registry::SignatureLookup,
    signers: &AllowedSigners,
    principals: &[String],
    time: i64,
) -> Result<VerifiedSigner, String> {
    let tag = crate::registry::OciReference::signature_tag(manifest_digest);
    let armored = match signature {
        crate::registry::SignatureLookup::Found(armored) => armored,
        crate::registry::SignatureLookup::Absent => {
            return Err(format!(
                "{reference}: no signature: the registry has no tag {tag} for manifest {manifest_digest}; sign the plugin with \
                 `tollgate plugin sign FILE.wasm` and push it again"
            ));
        }
        crate::registry::SignatureLookup::Unknown(reason) => return Err(format!("{reference}: no signature: {reason}")),
    };
    let armored = std::str::from_utf8(armored).map_err(|_| format!("{reference}: its signature ({tag}) is not text"))?;
    let signature = sshsig::parse(armored).map_err(|error| format!("{reference}: its signature ({tag}): {error}"))?;
    verify_bytes(&reference.to_string(), component, &signature, signers, principals, time)
}

/// For a policy that names `signers:`: check the signature of its plugin (a `.wasm` file's
/// `.sig`, or an `oci://` plugin's signature artifact), loaded as `plugin`, against the
/// allowed signers on the branch (`files`).
pub fn check_policy(
    config: &crate::config::Config,
    files: &dyn crate::runtime::FileSource,
    registry: &crate::registry::Resolver,
    reference: &crate::runtime::PluginRef,
    plugin: &crate::runtime::Plugin,
    principals: &[String],
) -> Result<VerifiedSigner, String> {
    let now = jiff::Timestamp::now().as_second();
    match &reference.source {
        crate::runtime::PluginSource::File(path) => verify(path, plugin.sha256(), &signers_from(config, files)?, principals, now),
        crate::runtime::PluginSource::Oci(oci) => verify_oci(registry, oci, plugin.sha256(), &signers_from(config, files)?, principals, now),
        crate::runtime::PluginSource::Builtin(_) => {
            Err("builtin plugins are part of the tollgate binary; signers: applies to .wasm files and oci:// plugins".into())
        }
    }
}
