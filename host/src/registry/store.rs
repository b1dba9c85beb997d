//! The local store of pulled artifacts: content-addressed files `<root>/oci/sha256/<hex>`
//! (manifests and components alike), so a plugin pulled once loads offline afterwards, and
//! the signatures pulled with them, `<root>/oci/signatures/sha256-<manifest hex>.sig` (looked
//! up by the manifest they sign; verified where they are used).
//!
//! Same trust rule as the compile cache: the directory must belong to this user and be
//! writable by no one else, and entries must be regular files (no symlinks) owned by this
//! user. Every read is hashed again, so a damaged entry is never used (it is removed and
//! pulled again).

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::layout::sha256_digest;
use crate::platform::effective_uid;

/// The local artifact store.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store under a cache root (the compile cache's root).
    pub fn new(cache_root: &Path) -> Self {
        Store { dir: cache_root.join("oci").join("sha256") }
    }

    /// Where the store lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the blob with `digest` (`sha256:HEX`, already validated).
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(digest.trim_start_matches("sha256:"))
    }

    /// The blob with `digest`, if the store has an intact, trustworthy copy of at most `limit` bytes.
    pub fn get(&self, digest: &str, limit: u64) -> Option<Vec<u8>> {
        if !self.trusted_dir() {
            return None;
        }
        let path = self.path(digest);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.file_type().is_file() || meta.uid() != effective_uid() || meta.len() > limit {
            return None;
        }
        let file = std::fs::OpenOptions::new().read(true).custom_flags(O_NOFOLLOW).open(&path).ok()?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(limit + 1).read_to_end(&mut bytes).ok()?;
        if sha256_digest(&bytes) != digest {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(bytes)
    }

    /// Store `bytes` under their digest (written to a temporary file, then renamed).
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<PathBuf> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        if !self.trusted_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a directory of this user that only it can write; not storing plugins there",
                self.dir.display()
            )));
        }
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut file, bytes)?;
        let path = self.path(&sha256_digest(bytes));
        file.persist(&path).map_err(|error| error.error)?;
        Ok(path)
    }

    /// Where the signature pushed for manifest `digest` is kept: `<root>/oci/signatures/sha256-<hex>.sig`.
    /// Not content-addressed (it is looked up by what it signs); it is verified against the
    /// allowed signers wherever it is used, so the store only has to keep it.
    pub fn signature_path(&self, digest: &str) -> PathBuf {
        self.signatures_dir().join(super::OciReference::signature_tag(digest))
    }

    /// Keep `armored`, the signature of manifest `digest`.
    pub fn put_signature(&self, digest: &str, armored: &[u8]) -> std::io::Result<PathBuf> {
        let dir = self.signatures_dir();
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        if !trusted(&[dir.as_path(), self.dir.parent().unwrap_or(&self.dir)]) {
            return Err(std::io::Error::other(format!("{} is not a directory of this user that only it can write", dir.display())));
        }
        let mut file = tempfile::NamedTempFile::new_in(&dir)?;
        std::io::Write::write_all(&mut file, armored)?;
        let path = self.signature_path(digest);
        file.persist(&path).map_err(|error| error.error)?;
        Ok(path)
    }

    /// The kept signature of manifest `digest`, if there is a trustworthy file of at most `limit` bytes.
    pub fn signature(&self, digest: &str, limit: u64) -> Option<Vec<u8>> {
        let dir = self.signatures_dir();
        if !trusted(&[dir.as_path(), self.dir.parent().unwrap_or(&self.dir)]) {
            return None;
        }
        let path = self.signature_path(digest);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.file_type().is_file() || meta.uid() != effective_uid() || meta.len() > limit {
            return None;
        }
        let file = std::fs::OpenOptions::new().read(true).custom_flags(O_NOFOLLOW).open(&path).ok()?;
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes).ok()?;
        Some(bytes)
    }

    fn signatures_dir(&self) -> PathBuf {
        self.dir.parent().unwrap_or(&self.dir).join("signatures")
    }

    fn trusted_dir(&self) -> bool {
        trusted(&[self.dir.as_path(), self.dir.parent().unwrap_or(&self.dir)])
    }
}

/// Whether every one of `dirs` is a directory of this user that no one else can write.
fn trusted(dirs: &[&Path]) -> bool {
    dirs.iter().all(|dir| {
        std::fs::symlink_metadata(dir).is_ok_and(|meta| {
            meta.file_type().is_dir() && meta.uid() == effective_uid() && meta.permissions().mode() & 0o022 == 0
        })
    })
}

/// `O_NOFOLLOW` on Linux: opening a symlink fails.
const O_NOFOLLOW: i32 = 0o400000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_digest_and_refuses_damaged_or_foreign_entries() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        std::fs::create_dir(root.path().join("oci")).unwrap();
        std::fs::set_permissions(root.path().join("oci"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = store.put(b"component").unwrap();
        let digest = sha256_digest(b"component");
        assert_eq!(path, store.path(&digest));
        assert_eq!(store.get(&digest, 100).as_deref(), Some(&b"component"[..]));
        assert_eq!(store.get(&digest, 3), None, "over the limit");

        std::fs::write(&path, b"tampered!").unwrap();
        assert_eq!(store.get(&digest, 100), None);
        assert!(!path.exists(), "a damaged entry is removed");

        let elsewhere = root.path().join("elsewhere");
        std::fs::write(&elsewhere, b"component").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert_eq!(store.get(&digest, 100), None, "symlinks are not followed");
        std::fs::remove_file(&path).unwrap();

        store.put(b"component").unwrap();
        std::fs::set_permissions(store.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(store.get(&digest, 100), None, "a world-writable store is not trusted");
        assert!(store.put(b"other").is_err());
    }

    #[test]
    fn keeps_signatures_by_the_manifest_they_sign_and_refuses_untrusted_ones() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        std::fs::create_dir(root.path().join("oci")).unwrap();
        std::fs::set_permissions(root.path().join("oci"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let manifest = format!("sha256:{}", "c".repeat(64));
        let path = store.put_signature(&manifest, b"-----BEGIN SSH SIGNATURE-----").unwrap();
        assert_eq!(path, root.path().join(format!("oci/signatures/sha256-{}.sig", "c".repeat(64))));
        assert_eq!(store.signature(&manifest, 100).as_deref(), Some(&b"-----BEGIN SSH SIGNATURE-----"[..]));
        assert_eq!(store.signature(&manifest, 3), None, "over the limit");
        assert_eq!(store.signature(&format!("sha256:{}", "d".repeat(64)), 100), None);

        std::fs::remove_file(&path).unwrap();
        let elsewhere = root.path().join("elsewhere");
        std::fs::write(&elsewhere, b"sig").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert_eq!(store.signature(&manifest, 100), None, "symlinks are not followed");
        std::fs::remove_file(&path).unwrap();

        store.put_signature(&manifest, b"sig").unwrap();
        std::fs::set_permissions(root.path().join("oci/signatures"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(store.signature(&manifest, 100), None, "a world-writable directory is not trusted");
        assert!(store.put_signature(&manifest, b"sig").is_err());
    }
}
