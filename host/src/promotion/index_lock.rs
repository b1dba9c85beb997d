//! `index.lock`, taken as Git takes it, and the new index committed through it.

use std::path::{Path, PathBuf};

use git2::{ErrorClass, ErrorCode};

use super::index_writer::{IndexUpdate, cannot_write};

/// `index.lock`, created exclusively as Git does: while it exists no other git process
/// writes the index. Removed when dropped unless committed.
pub struct IndexLock {
    lock: PathBuf,
    index: PathBuf,
    file: std::fs::File,
    committed: bool,
}

impl IndexLock {
    /// Take the lock of the index at `index`, waiting up to [`LOCK_WAIT`] for another process
    /// to release it (a `git status` an editor runs in the background holds it for a moment);
    /// fails with [`ErrorCode::Locked`] when it is still held then.
    pub fn acquire(index: &Path) -> Result<IndexLock, git2::Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let lock = index.with_file_name("index.lock");
        let waited_from = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o666).open(&lock) {
                Ok(file) => return Ok(IndexLock { lock, index: index.to_path_buf(), file, committed: false }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && waited_from.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(LOCK_POLL);
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Err(held()),
                Err(error) => return Err(cannot_write(&lock, &error)),
            }
        }
    }

    /// Fail as [`IndexLock::acquire`] would if another process holds the lock (waiting up to
    /// [`LOCK_WAIT`] for it to go), without taking it.
    pub fn refuse_if_held(index: &Path) -> Result<(), git2::Error> {
        let lock = index.with_file_name("index.lock");
        let waited_from = std::time::Instant::now();
        while std::fs::symlink_metadata(&lock).is_ok() {
            if waited_from.elapsed() >= LOCK_WAIT {
                return Err(held());
            }
            std::thread::sleep(LOCK_POLL);
        }
        Ok(())
    }

    /// Write the new index with `update` into the lock file, then rename it over the index.
    pub fn commit(mut self, update: IndexUpdate<'_>, skip_hash: bool) -> Result<(), git2::Error> {
        if let Some(length) = update.large_length() {
            preallocate(&self.file, length);
        }
        update.write_to(&mut self.file, skip_hash).map_err(|error| git2::Error::from_str(&format!("cannot write the index: {error}")))?;
        std::fs::rename(&self.lock, &self.index).map_err(|error| cannot_write(&self.index, &error))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.lock);
        }
    }
}

/// Reserve about `length` bytes of disk for `file` (empty, about to be written) without changing
/// its size. On ext4 the pages then written land in blocks already allocated instead of each
/// being reserved for delayed allocation on its own: 24 → 20 ms for a promotion in a checkout
/// of 100,000 files. A hint only: file systems without `fallocate` ignore it, and blocks left
/// over past the end (a few kilobytes when the index shrank) are freed when the file is.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn preallocate(file: &std::fs::File, length: usize) {
    use std::os::fd::AsRawFd;
    let length = libc::off_t::try_from(length).unwrap_or(libc::off_t::MAX);
    // SAFETY: the descriptor is the open file's; fallocate reads no memory of ours.
    let _ = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, length) };
}

/// Elsewhere there is no `fallocate` that keeps the size: nothing is reserved.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn preallocate(_file: &std::fs::File, _length: usize) {}

/// How long taking the index lock waits for another process to release it: long enough for
/// the moment a `git status` holds it (between the files written and the index, a lock taken
/// by another process would otherwise fail the promotion and its undo alike), short enough
/// that a lock left behind by a killed git is reported at once.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// How often a held index lock is looked at again meanwhile.
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// The error for an index lock another process holds.
fn held() -> git2::Error {
    git2::Error::new(ErrorCode::Locked, ErrorClass::Index, "another git process is writing the index")
}

