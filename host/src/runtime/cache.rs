//! On-disk cache of compiled plugins, so a second run skips Cranelift.
//!
//! A cache entry is native code that tollgate runs as this user, so the cache is used only
//! when nobody else could have written it (the rules of OpenSSH's `StrictModes`):
//!
//! - the cache root is owned by this user (or root) and not writable by group or others; its
//!   ancestors are owned by this user or root and are not group/other-writable unless they
//!   are sticky (like `/tmp`), so no one else can swap the root;
//! - below the root, the engine directory is this user's, mode 0700, and entries are this
//!   user's regular files, mode 0600; nothing below the root is reached through a symlink
//!   (every component is opened with `O_NOFOLLOW` and what was opened is checked);
//! - every entry starts with a sha256 of the compiled code behind it, checked before the code
//!   is loaded, so a corrupted (or truncated) entry is rebuilt rather than run.
//!
//! When any check fails the cache is not used at all: tollgate warns once and compiles in
//! memory. Key: the plugin's sha256 in a directory named after
//! `Engine::precompile_compatibility_hash` (the wasmtime version and every code-generation
//! setting). Entries are written to a temporary file and renamed into place.

use crate::platform::effective_uid;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// First bytes of every entry: the format, then the sha256 of the compiled code.
const MAGIC: &[u8; 16] = b"tollgate-cwasm\x00\x01";
/// Entries larger than this are not read (a compiled 64 MiB plugin is far smaller).
const MAX_ENTRY_BYTES: u64 = 1024 * 1024 * 1024;

/// Where compiled plugins live.
pub struct CompileCache {
    root: PathBuf,
    dir: PathBuf,
    warned: AtomicBool,
}

/// What looking a plugin up in the cache found.
pub enum Lookup {
    /// A verified entry.
    Hit(Component),
    /// No entry (or an unusable one that was removed): compile and store.
    Miss,
    /// The cache is not trustworthy: compile in memory, do not store.
    Untrusted,
}

impl CompileCache {
    /// A cache under `root`, in a sub-directory specific to this engine's configuration.
    pub fn new(root: &Path, engine: &Engine) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache { root: root.to_path_buf(), dir: root.join(format!("{:016x}", hasher.finish())), warned: AtomicBool::new(false) }
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

    /// Say once, on stderr, why the cache is not used.
    fn warn(&self, message: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!("warning: {message}");
        }
    }

    /// The cached compilation of the plugin with this digest, if there is a trustworthy one.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Lookup {
        if let Err(problem) = self.trusted_dir() {
            self.warn(&format!("not using the compile cache: {problem}; compiling in memory"));
            return Lookup::Untrusted;
        }
        let path = self.entry(sha256);
        let bytes = match read_entry(&path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Lookup::Miss,
            Err(problem) => {
                self.warn(&format!("not using the compile cache: {problem}; compiling in memory"));
                return Lookup::Untrusted;
            }
        };
        let Some(code) = verified_code(&bytes) else {
            self.warn(&format!("compile cache entry {} is corrupt (checksum mismatch); rebuilding it", path.display()));
            let _ = std::fs::remove_file(&path);
            return Lookup::Miss;
        };
        // SAFETY: compiled code is trusted native code. This entry was read from a regular
        // file owned by this user, mode 0600, in a 0700 directory of this user's under a root
        // no one else can write (checked above, symlinks refused), and its checksum matches:
        // it is what `store` wrote from `Component::serialize`. wasmtime still checks that it
        // was compiled by this version and configuration.
        match unsafe { Component::deserialize(engine, code) } {
            Ok(component) => Lookup::Hit(component),
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                Lookup::Miss
            }
        }
    }

    /// Store a compilation. Failing to cache is not an error for the caller: the next run
    /// just compiles again.
    pub fn store(&self, sha256: &str, compiled: &[u8]) -> std::io::Result<PathBuf> {
        self.trusted_dir().map_err(std::io::Error::other)?;
        // NamedTempFile creates the file 0600 with O_EXCL.
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut file, MAGIC)?;
        std::io::Write::write_all(&mut file, &Sha256::digest(compiled))?;
        std::io::Write::write_all(&mut file, compiled)?;
        let path = self.entry(sha256);
        file.persist(&path).map_err(|error| error.error)?;
        Ok(path)
    }

    /// Check (creating what is missing) the root, its ancestors and the engine directory.
    fn trusted_dir(&self) -> Result<(), String> {
        let uid = effective_uid();
        if !self.root.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)
                .map_err(|error| format!("cannot create {} ({error})", self.root.display()))?;
        }
        let parent = match self.root.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            Some(parent) => parent.canonicalize(),
            None => std::env::current_dir(),
        }
        .map_err(|error| format!("cannot resolve the parent of {} ({error})", self.root.display()))?;
        for ancestor in parent.ancestors() {
            let meta = std::fs::symlink_metadata(ancestor).map_err(|error| format!("cannot inspect {} ({error})", ancestor.display()))?;
            let sticky = meta.mode() & libc::S_ISVTX != 0;
            if meta.uid() != uid && meta.uid() != 0 {
                return Err(format!("{} (above the cache) belongs to uid {}", ancestor.display(), meta.uid()));
            }
            if meta.mode() & 0o022 != 0 && !sticky {
                return Err(format!("{} (above the cache) is writable by group or others", ancestor.display()));
            }
        }
        let root = open_dir(&self.root)?;
        check_owner(&self.root, &root, uid, 0o022, true)?;
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(format!("cannot create {} ({error})", self.dir.display())),
        }
        let dir = open_dir(&self.dir)?;
        check_owner(&self.dir, &dir, uid, 0o077, false)
    }
}


/// Open a directory without following a symlink in its last component.
fn open_dir(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => format!("{} is a symlink or not a directory", path.display()),
            _ => format!("cannot open {} ({error})", path.display()),
        })
}

/// What was opened belongs to this user (or root, when `root_ok`) and has none of the
/// `forbidden` permission bits.
fn check_owner(path: &Path, file: &File, uid: u32, forbidden: u32, root_ok: bool) -> Result<(), String> {
    let meta = file.metadata().map_err(|error| format!("cannot inspect {} ({error})", path.display()))?;
    if meta.uid() != uid && !(root_ok && meta.uid() == 0) {
        return Err(format!("{} belongs to uid {}, not to this user (uid {uid})", path.display(), meta.uid()));
    }
    if meta.mode() & forbidden != 0 {
        return Err(format!("{} has mode {:o}; it must not be accessible to group or others", path.display(), meta.mode() & 0o7777));
    }
    Ok(())
}

/// An entry's bytes: `Ok(None)` when there is none, `Err` when something other than this
/// user's private regular file is in its place.
fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC).open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => return Err(format!("{} is a symlink", path.display())),
        Err(error) => return Err(format!("cannot open {} ({error})", path.display())),
    };
    let meta = file.metadata().map_err(|error| format!("cannot inspect {} ({error})", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    check_owner(path, &file, effective_uid(), 0o077, false)?;
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes).map_err(|error| format!("cannot read {} ({error})", path.display()))?;
    Ok(Some(bytes))
}

/// The compiled code of an entry whose header and checksum are intact.
fn verified_code(entry: &[u8]) -> Option<&[u8]> {
    let rest = entry.strip_prefix(MAGIC.as_slice())?;
    let (digest, code) = rest.split_at_checked(32)?;
    (Sha256::digest(code).as_slice() == digest).then_some(code)
}

#[cfg(test)]
mod tests;
