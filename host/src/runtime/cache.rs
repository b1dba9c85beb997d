//! On-disk cache of compiled plugins, so a second run skips Cranelift.
//!
//! Key: the plugin's sha256 plus a hash of `Engine::precompile_compatibility_hash` (which
//! covers the wasmtime version and every code-generation setting). Entries are written to
//! a temporary file and renamed into place, so a reader never sees half an entry; an entry
//! that fails to load is deleted and rebuilt.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled plugins live.
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache under `root`, in a sub-directory specific to this engine's configuration.
    pub fn new(root: &Path, engine: &Engine) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache { dir: root.join(format!("{:016x}", hasher.finish())) }
    }

    /// The default location: `$TOLLGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/tollgate`,
    /// else `~/.cache/tollgate`.
    pub fn default_root() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("TOLLGATE_CACHE_DIR").filter(|dir| !dir.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|dir| !dir.is_empty()) {
            return Some(PathBuf::from(dir).join("tollgate"));
        }
        std::env::var_os("HOME").filter(|dir| !dir.is_empty()).map(|home| PathBuf::from(home).join(".cache").join("tollgate"))
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }

    /// The cached compilation of the plugin with this digest, if there is a usable one.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.entry(sha256);
        if !path.is_file() || !private_directory(&self.dir) {
            return None;
        }
        // SAFETY: compiled code is trusted native code. Entries are only written by `store`
        // below (from `Component::serialize`), into a directory only this user can write
        // (created 0700, refused otherwise); a truncated or foreign-version file fails
        // validation in `deserialize_file` and is removed. Whoever can write this directory
        // can run code as this user, so it must not be shared with less trusted parties.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store a compilation. Failing to cache is not an error for the caller: the next run
    /// just compiles again.
    pub fn store(&self, sha256: &str, compiled: &[u8]) -> std::io::Result<PathBuf> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        if !private_directory(&self.dir) {
            return Err(std::io::Error::other(format!("{} is writable by others; not caching there", self.dir.display())));
        }
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut file, compiled)?;
        let path = self.entry(sha256);
        file.persist(&path).map_err(|error| error.error)?;
        Ok(path)
    }
}

/// Whether `dir` belongs to this user and no one else can write it.
fn private_directory(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|meta| meta.uid() == effective_uid() && meta.permissions().mode() & 0o022 == 0)
}

/// The user this process acts as (owner checks of the caches).
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
