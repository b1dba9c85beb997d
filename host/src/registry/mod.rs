//! Plugins shared through OCI registries: `oci://` references, `tollgate plugin push/pull/lock`,
//! the local store that makes later runs work offline, and `tollgate.lock`.
//!
//! - [`reference`], parsing `oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`;
//! - [`credentials`], Docker config files and credential helpers;
//! - [`layout`], the CNCF Wasm OCI artifact layout (manifest, config, one `application/wasm` layer);
//! - [`client`], blocking pull and push, with size limits and digest checks, over
//!   [`transport`]: HTTP to one registry (ureq), its token flow, one deadline per operation
//!   and every response body bounded;
//! - [`store`], the content-addressed local store in the user's cache directory;
//! - [`lockfile`], `tollgate.lock`;
//!
//! - [`signature`], the artifact that carries a plugin's `tollgate plugin sign` signature.
//!
//! Signatures: `tollgate plugin push FILE.wasm` also pushes `FILE.wasm.sig` when it exists,
//! as its own small artifact under the tag [`OciReference::signature_tag`]
//! (`sha256-<manifest hex>.sig`, the convention cosign and others use) in the same
//! repository. Every pull (explicit, `plugin lock`, or implicit) looks for that tag, fetches
//! it bounded and digest-checked, and keeps it in the local store next to the component
//! (`<cache>/oci/signatures/`), so offline runs have it. A policy with `signers:` then checks
//! it over the component's exact bytes ([`Resolver::signed_component`] and
//! `trust::plugin_signature::check_policy`), exactly as for a `.wasm` file.

pub mod client;
pub mod credentials;
pub mod layout;
pub mod lockfile;
pub mod reference;
pub mod signature;
pub mod store;
pub mod transport;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use client::{Pulled, RegistryClient};
pub use lockfile::{LOCK_FILE, LockedPlugin, Lockfile};
pub use reference::OciReference;
pub use store::Store;

use crate::platform::MAX_PLUGIN_BYTES;
use layout::MAX_MANIFEST_BYTES;

/// Where a registry plugin's bytes came from, for records and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The manifest digest.
    pub manifest_digest: String,
    /// `sha256:HEX` of the component.
    pub component_digest: String,
    /// Whether it was read from the local store (no network).
    pub from_store: bool,
}

/// A resolved plugin: its bytes and where they came from.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The component.
    pub component: Vec<u8>,
    /// Digests and origin.
    pub resolution: Resolution,
    /// The signature found under the manifest's signature tag (or kept in the store with it).
    pub signature: SignatureLookup,
}

/// How this process resolves `oci://` references: the local store, the lockfile that goes
/// with the configuration, `--locked` and `--insecure-registry`.
#[derive(Debug, Default)]
pub struct Resolver {
    store: Option<Store>,
    insecure: Vec<String>,
    locked: bool,
    lock: Mutex<Option<Lockfile>>,
    resolved: Mutex<HashMap<String, Resolution>>,
    signed: Mutex<HashMap<String, SignedComponent>>,
}

/// A fetched component's bytes with the signature found for it, for `signers:` checks.
#[derive(Debug, Clone)]
pub struct SignedComponent {
    /// The component's exact bytes.
    pub component: Arc<Vec<u8>>,
    /// The manifest digest the signature tag is named after.
    pub manifest_digest: String,
    /// The armored signature, or why there is none.
    pub signature: SignatureLookup,
}

/// What looking for an artifact's signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureLookup {
    /// The armored signature (not yet verified).
    Found(Vec<u8>),
    /// The registry has no signature tag for the manifest.
    Absent,
    /// Not known: not in the local store, or the registry could not be asked (why).
    Unknown(String),
}

impl SignatureLookup {
    /// The signature, if one was found.
    pub fn found(&self) -> Option<&[u8]> {
        match self {
            SignatureLookup::Found(armored) => Some(armored),
            _ => None,
        }
    }
}

impl Resolver {
    /// A resolver storing pulled artifacts under `cache_root` (no store: every run pulls).
    pub fn new(cache_root: Option<PathBuf>, insecure: Vec<String>, locked: bool) -> Self {
        Resolver { store: cache_root.map(|root| Store::new(&root)), insecure, locked, ..Resolver::default() }
    }

    /// The local store, if there is one.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Use `lock` (read from next to the configuration) for references it covers.
    pub fn set_lockfile(&self, lock: Option<Lockfile>) {
        *self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = lock;
    }

    /// Where a reference resolved to, once [`Resolver::fetch`] has loaded it.
    pub fn resolution(&self, reference: &OciReference) -> Option<Resolution> {
        self.resolved.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&reference.to_string()).cloned()
    }

    /// The bytes `reference` loaded as (after [`Resolver::fetch`]) and its signature: the one
    /// kept in the local store or pulled with it, else looked up in the registry now.
    pub fn signed_component(&self, reference: &OciReference) -> Result<SignedComponent, String> {
        let key = reference.to_string();
        let known = self.signed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&key).cloned();
        let mut signed = match known {
            Some(signed) => signed,
            None => {
                let fetched = self.fetch(reference)?;
                self.signed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&key).cloned().unwrap_or(SignedComponent {
                    component: Arc::new(fetched.component),
                    manifest_digest: fetched.resolution.manifest_digest,
                    signature: SignatureLookup::Unknown("not looked up".to_string()),
                })
            }
        };
        if matches!(signed.signature, SignatureLookup::Unknown(_)) {
            // Stored before a signature was pushed, or not looked up: ask the registry once.
            signed.signature = self.pull_signature(reference, &signed.manifest_digest);
            self.signed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key, signed.clone());
        }
        Ok(signed)
    }

    /// The signature tag of manifest `digest`, pulled and kept in the local store.
    fn pull_signature(&self, reference: &OciReference, digest: &str) -> SignatureLookup {
        let tag = OciReference::signature_tag(digest);
        match self.client(reference).and_then(|client| client.pull_signature(reference, digest)) {
            Err(error) => SignatureLookup::Unknown(format!("cannot fetch its signature ({tag}): {error}")),
            Ok(None) => SignatureLookup::Absent,
            Ok(Some(armored)) => {
                if let Some(store) = &self.store
                    && let Err(error) = store.put_signature(digest, &armored)
                {
                    eprintln!("tollgate: warning: cannot keep the signature of {reference} in the local store: {error}");
                }
                SignatureLookup::Found(armored)
            }
        }
    }

    /// A client for the reference's registry.
    pub fn client(&self, reference: &OciReference) -> Result<RegistryClient, String> {
        RegistryClient::new(reference, &self.insecure)
    }

    /// The component `reference` names, as the lockfile pins it: from the local store when
    /// it is there, else pulled by digest. A reference the lockfile lacks is resolved now
    /// (with a warning), unless `--locked`, which also fails when a tag has moved.
    pub fn fetch(&self, reference: &OciReference) -> Result<Fetched, String> {
        let key = reference.to_string();
        let locked = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref().map(|lock| lock.entry(&key).cloned());
        let entry = match locked {
            Some(Some(entry)) => Some(entry),
            Some(None) if self.locked => {
                return Err(format!("{key}: {LOCK_FILE} has no entry for it; run `tollgate plugin lock` and commit {LOCK_FILE}"));
            }
            None if self.locked => {
                return Err(format!("{key}: --locked, but there is no {LOCK_FILE} next to tollgate.yaml; run `tollgate plugin lock` and commit it"));
            }
            _ => None,
        };
        if let (Some(entry), Some(pinned)) = (&entry, &reference.digest)
            && &entry.manifest != pinned
        {
            return Err(format!("{key}: {LOCK_FILE} locks manifest {} but the reference pins {pinned}; run `tollgate plugin lock`", entry.manifest));
        }
        if self.locked
            && let (Some(entry), None) = (&entry, &reference.digest)
        {
            let (now, _, _) = self.client(reference)?.manifest(reference)?;
            if now != entry.manifest {
                return Err(format!(
                    "{key}: {LOCK_FILE} is out of date: the tag now points at {now}, locked {}; run `tollgate plugin lock` \
                     (and review the new plugin) to move to it",
                    entry.manifest
                ));
            }
        }
        let target = reference.digest.clone().or_else(|| entry.as_ref().map(|entry| entry.manifest.clone()));
        let fetched = match &target {
            Some(digest) => match self.stored(digest) {
                Some(fetched) => fetched,
                None => self.pull(&reference.pinned(digest))?,
            },
            None => {
                let fetched = self.pull(reference)?;
                eprintln!(
                    "tollgate: warning: {key} is not in {LOCK_FILE}; using {} as the tag resolves now. \
                     Run `tollgate plugin lock` to pin it",
                    fetched.resolution.manifest_digest
                );
                fetched
            }
        };
        if let Some(entry) = &entry
            && entry.component != fetched.resolution.component_digest
        {
            return Err(format!(
                "{key}: digest mismatch: {LOCK_FILE} locks component {} but manifest {} names {}; refusing it",
                entry.component, fetched.resolution.manifest_digest, fetched.resolution.component_digest
            ));
        }
        self.resolved.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key.clone(), fetched.resolution.clone());
        let signature = fetched.signature.clone();
        self.signed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(
            key,
            SignedComponent {
                component: Arc::new(fetched.component.clone()),
                manifest_digest: fetched.resolution.manifest_digest.clone(),
                signature,
            },
        );
        Ok(fetched)
    }

    /// Pull `reference` from its registry and keep it in the local store.
    pub fn pull(&self, reference: &OciReference) -> Result<Fetched, String> {
        let pulled = self.client(reference)?.pull(reference)?;
        if let Some(store) = &self.store {
            // The store is a convenience: failing to write it only costs a later download.
            for bytes in [&pulled.manifest, &pulled.component] {
                if let Err(error) = store.put(bytes) {
                    eprintln!("tollgate: warning: cannot keep {reference} in the local store {}: {error}", store.dir().display());
                    break;
                }
            }
        }
        // A missing signature is normal; one that cannot be fetched is only a warning here,
        // because a policy that requires it refuses the plugin with the reason.
        let signature = self.pull_signature(reference, &pulled.manifest_digest);
        if let SignatureLookup::Unknown(error) = &signature {
            eprintln!("tollgate: warning: {reference}: {error}");
        }
        Ok(Fetched {
            component: pulled.component,
            resolution: Resolution {
                manifest_digest: pulled.manifest_digest,
                component_digest: pulled.component_digest,
                from_store: false,
            },
            signature,
        })
    }

    /// The artifact with manifest `digest`, from the local store (checked again on read).
    fn stored(&self, digest: &str) -> Option<Fetched> {
        let store = self.store.as_ref()?;
        let manifest = store.get(digest, MAX_MANIFEST_BYTES as u64)?;
        let layer = layout::component_layer(&manifest).ok()?;
        let component = store.get(&layer.digest, MAX_PLUGIN_BYTES as u64)?;
        let signature = match store.signature(digest, signature::MAX_SIGNATURE_BYTES as u64) {
            Some(armored) => SignatureLookup::Found(armored),
            None => SignatureLookup::Unknown("no signature in the local store".to_string()),
        };
        Some(Fetched {
            component,
            resolution: Resolution { manifest_digest: digest.to_string(), component_digest: layer.digest, from_store: true },
            signature,
        })
    }
}
