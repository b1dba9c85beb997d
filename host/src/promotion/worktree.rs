//! The working tree and index of a checked-out branch, touched only at the paths a promotion
//! changes. The index is read once; only the touched entries are checked (stat against their
//! index entries, blob ids against the base tree) and updated, so a promotion costs about the
//! same in a checkout of 100 or of 100,000 files. Anything the fast check cannot call clean is
//! left to libgit2's full status of that path, so what is refused stays exactly what was.
//!
//! A plain index (version 2 or 3, no split or sparse index, no filter on the touched paths) is
//! read and written directly (`index_file.rs`: scanned once, the untouched entries' bytes
//! copied, hashed once with a fast SHA-1); any other goes through libgit2 as before.

use std::io::Write;
use std::path::{Path, PathBuf};

use git2::{Index, ObjectType, Oid, Repository, Status, Tree};

use super::index_file::{IndexedFile, ParsedIndex, Situation, Writer, settings, writer_for};
use super::index_lock::IndexLock;
use super::index_writer::{Change, IndexUpdate, cannot_write};

/// The index of a checked-out branch, opened once for one promotion.
pub struct TouchedPaths<'r> {
    git: &'r Repository,
    index: Loaded,
    workdir: PathBuf,
    /// The last update failed on the index lock, before anything was written.
    locked_out: bool,
}

/// The index as read for the dirty check: directly, or by libgit2 when it will write it.
enum Loaded {
    Direct(Box<ParsedIndex>),
    Libgit2(Index),
}

impl<'r> TouchedPaths<'r> {
    /// Open the index of `git`'s working tree (which must have one).
    pub fn open(git: &'r Repository) -> Result<TouchedPaths<'r>, git2::Error> {
        let workdir = git.workdir().ok_or_else(|| git2::Error::from_str("a bare repository has no working tree"))?.to_path_buf();
        let index = match ParsedIndex::read(&git.path().join("index")) {
            Some(parsed) if writer_for(&parsed.situation) == Writer::Direct => Loaded::Direct(Box::new(parsed)),
            _ => Loaded::Libgit2(git.index()?),
        };
        Ok(TouchedPaths { git, index, workdir, locked_out: false })
    }

    /// [`TouchedPaths::open`] with libgit2 reading and writing whatever the index is, as before
    /// `index_file.rs` (its tests compare the two).
    #[cfg(test)]
    pub(super) fn open_with_libgit2(git: &'r Repository) -> Result<TouchedPaths<'r>, git2::Error> {
        let workdir = git.workdir().ok_or_else(|| git2::Error::from_str("a bare repository has no working tree"))?.to_path_buf();
        Ok(TouchedPaths { git, index: Loaded::Libgit2(git.index()?), workdir, locked_out: false })
    }

    /// Whether the index was read directly (and will be written so, unless a touched path needs
    /// libgit2).
    #[cfg(test)]
    pub(super) fn reads_directly(&self) -> bool {
        matches!(self.index, Loaded::Direct(_))
    }

    /// The first of `paths` with uncommitted changes relative to `base` (staged, in the working
    /// tree, in conflict, or an untracked file in the way), if any.
    pub fn first_changed<'p>(&mut self, base: &Tree<'_>, paths: &[&'p str]) -> Result<Option<&'p str>, git2::Error> {
        if let Loaded::Direct(parsed) = &mut self.index {
            // The file as it is now (replaced since it was opened, or by an update of ours).
            parsed.reread_if_replaced(&self.git.path().join("index"));
            if !parsed.is_current() {
                self.index = Loaded::Libgit2(self.git.index()?);
            }
        }
        Ok(paths.iter().copied().find(|path| !self.is_clean(base, path)))
    }

    fn is_clean(&self, base: &Tree<'_>, path: &str) -> bool {
        if self.clean_by_stat(base, path) {
            return true;
        }
        // The slow, exact answer for anything unusual (a change, a racy timestamp, an untracked
        // or ignored file): what the check always was.
        let status = self.git.status_file(Path::new(path)).unwrap_or(Status::CURRENT);
        status.is_empty() || status == Status::CURRENT || status == Status::IGNORED
    }

    /// The index entry of `path` at `stage`, from whichever reader loaded the index.
    fn entry(&self, path: &str, stage: u8) -> Option<IndexedFile> {
        match &self.index {
            Loaded::Direct(parsed) => parsed.entry(path, stage),
            Loaded::Libgit2(index) => index.get_path(Path::new(path), i32::from(stage)).map(|entry| IndexedFile {
                id: entry.id,
                mode: entry.mode,
                size: entry.file_size,
                mtime: (entry.mtime.seconds() as u32, entry.mtime.nanoseconds()),
            }),
        }
    }

    /// Whether `path` is certainly unchanged: its index entry is the base tree's and the file
    /// matches the entry's size and modification time (or, when the time is not to be trusted,
    /// its content hashes to the entry's blob), with no conflict recorded.
    fn clean_by_stat(&self, base: &Tree<'_>, path: &str) -> bool {
        let relative = Path::new(path);
        if (1..=3).any(|stage| self.entry(path, stage).is_some()) || refuse_symlinked_parents(&self.workdir, relative).is_err() {
            return false;
        }
        let entry = self.entry(path, 0);
        let committed = base.get_path(relative).ok().map(|entry| (entry.id(), entry.filemode() as u32));
        let file = self.workdir.join(relative);
        match (entry, committed) {
            (None, None) => std::fs::symlink_metadata(&file).is_err(),
            (Some(entry), Some((id, mode))) if entry.id == id && entry.mode == mode => self.file_matches(&entry, &file),
            _ => false,
        }
    }

    fn file_matches(&self, entry: &IndexedFile, file: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(metadata) = std::fs::symlink_metadata(file) else { return false };
        if !metadata.is_file() || (entry.mode == 0o100755) != (metadata.mode() & 0o100 != 0) {
            return false;
        }
        // Size 0 for a file that is not empty is how Git (and this writer) mark an entry whose
        // stat could not be trusted when the index was written ("racy git", two promotions in
        // one second): its content tells, as Git's own check does, rather than libgit2's full
        // status, which reads the whole index.
        let smudged = entry.size == 0 && metadata.len() != 0;
        if !smudged && u64::from(entry.size) != metadata.len() {
            return false;
        }
        let same_time = entry.mtime == (metadata.mtime() as u32, metadata.mtime_nsec() as u32);
        // A file changed in the same second the index was written may still match its entry's
        // stat ("racy git"): only its content can tell.
        let index_time = std::fs::metadata(self.git.path().join("index")).map(|index| (index.mtime(), index.mtime_nsec()));
        let racy = index_time.is_ok_and(|index| (metadata.mtime(), metadata.mtime_nsec()) >= index);
        if same_time && !racy && !smudged {
            return true;
        }
        Oid::hash_file(ObjectType::Blob, file).is_ok_and(|id| id == entry.id)
    }

    /// Make the working tree and the index hold `tree`'s version of `paths` (a path absent from
    /// it is removed), then write the index.
    pub fn update(&mut self, tree: &Tree<'_>, paths: &[&str]) -> Result<(), git2::Error> {
        // A lock another git holds past the wait is a conflict before any file is written (on
        // either path), and a moment's hold is waited out; one taken later meets the caller's
        // undo.
        self.locked_out = false;
        IndexLock::refuse_if_held(&self.git.path().join("index")).inspect_err(|_| self.locked_out = true)?;
        if matches!(self.index, Loaded::Direct(_)) {
            let (mut situation, skip_hash) = settings(self.git, &self.workdir, paths);
            situation.touched = paths.iter().map(|path| (path.to_string(), tree.get_path(Path::new(path)).ok().map(|entry| entry.filemode() as u32))).collect();
            if self.update_directly(tree, paths, situation, skip_hash)? {
                return Ok(());
            }
            self.index = Loaded::Libgit2(self.git.index()?);
        }
        let Loaded::Libgit2(index) = &mut self.index else { unreachable!("set just above") };
        update_with_libgit2(self.git, &self.workdir, index, tree, paths)
    }

    /// [`TouchedPaths::update`] with the index read and written here. The files are written
    /// first, without the index lock (as libgit2 does: a process killed meanwhile leaves no
    /// lock, and the next promotion finishes its work); then the lock is taken before the index
    /// is read again (so nothing another process wrote in between is lost), and the index is
    /// written. False when the index needs libgit2 after all (which then does the whole
    /// update, files included).
    fn update_directly(&mut self, tree: &Tree<'_>, paths: &[&str], mut situation: Situation, skip_hash: bool) -> Result<bool, git2::Error> {
        let index_path = self.git.path().join("index");
        let TouchedPaths { git, index: Loaded::Direct(loaded), workdir, .. } = self else { unreachable!("called on a directly read index") };
        if !loaded.writes_directly(&mut situation) {
            return Ok(false);
        }
        let mut changes = Vec::with_capacity(paths.len());
        for path in paths {
            changes.push(match check_out(git, workdir, tree, path)? {
                Some((id, mode)) => Change::set(path, id, mode, &workdir.join(path))?,
                None => Change::Remove { path: path.to_string() },
            });
        }
        let lock = IndexLock::acquire(&index_path)?;
        loaded.reread_if_replaced(&index_path);
        if !loaded.is_current() || !loaded.writes_directly(&mut situation) {
            return Ok(false);
        }
        let Some(content) = loaded.content() else { return Ok(false) };
        let mut update = IndexUpdate::new(content);
        for change in &changes {
            update.apply(change);
        }
        lock.commit(update, skip_hash)?;
        loaded.written();
        Ok(true)
    }

    /// Whether the last [`TouchedPaths::update`] failed because another git process held the
    /// index lock, before it wrote anything (so the working tree and index are as they were).
    pub fn locked_out(&self) -> bool {
        self.locked_out
    }

    /// Remove the temporary files a killed [`TouchedPaths::update`] may have left beside
    /// `paths` (see [`write_file`]).
    pub fn remove_leftovers(&self, paths: &[&str]) {
        for path in paths {
            let file = self.workdir.join(path);
            let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else { continue };
            let prefix = format!(".{}.tollgate-", name.to_string_lossy());
            for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// The update through libgit2 (as before the direct writer): each file written, added (its content read back
/// to catch a checkout filter that changes it) or removed, then the whole index written.
fn update_with_libgit2(git: &Repository, workdir: &Path, index: &mut Index, tree: &Tree<'_>, paths: &[&str]) -> Result<(), git2::Error> {
    // Re-read what another process may have written since (a no-op when unchanged).
    index.read(false)?;
    for path in paths {
        let relative = Path::new(path);
        match check_out(git, workdir, tree, path)? {
            Some((id, _)) => {
                index.add_path(relative)?;
                if index.get_path(relative, 0).map(|added| added.id) != Some(id) {
                    return Err(git2::Error::from_str(&format!(
                        "{path} did not read back as committed (a checkout filter changes it?); \
                         nothing was committed"
                    )));
                }
            }
            None => {
                if index.get_path(relative, 0).is_some() {
                    index.remove_path(relative)?;
                }
            }
        }
    }
    index.write()
}

/// Make the working tree hold `tree`'s version of `path`: written (its blob id and mode
/// returned), or removed (`None`) when the tree has no such file.
fn check_out(git: &Repository, workdir: &Path, tree: &Tree<'_>, path: &str) -> Result<Option<(Oid, u32)>, git2::Error> {
    let relative = Path::new(path);
    let file = workdir.join(relative);
    refuse_symlinked_parents(workdir, relative)?;
    match tree.get_path(relative) {
        Ok(entry) => {
            let blob = git.find_blob(entry.id())?;
            write_file(&file, blob.content(), entry.filemode() == 0o100755).map_err(|error| cannot_write(&file, &error))?;
            Ok(Some((entry.id(), entry.filemode() as u32)))
        }
        Err(error) if error.code() == git2::ErrorCode::NotFound => remove_file(&file).map(|()| None),
        Err(error) => Err(error),
    }
}

/// Remove `file` from the working tree (already gone is fine).
fn remove_file(file: &Path) -> Result<(), git2::Error> {
    match std::fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(git2::Error::from_str(&format!("cannot remove {}: {error}", file.display()))),
    }
}

/// Refuse a path whose directories in the working tree include a symbolic link: a file is
/// never written or removed outside the working tree through one (as Git's checkout refuses).
fn refuse_symlinked_parents(workdir: &Path, relative: &Path) -> Result<(), git2::Error> {
    let mut directory = workdir.to_path_buf();
    for part in relative.parent().into_iter().flat_map(Path::components) {
        directory.push(part);
        if std::fs::symlink_metadata(&directory).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
            return Err(git2::Error::from_str(&format!("{} is a symbolic link in the working tree; nothing is written through it", directory.display())));
        }
    }
    Ok(())
}

/// Write `content` to `file` whole or not at all: a temporary file beside it, renamed over it.
fn write_file(file: &Path, content: &[u8], executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let parent = file.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(parent)?;
    let name = file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = parent.join(format!(".{name}.tollgate-{}", std::process::id()));
    let written = (|| {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o777 } else { 0o666 })
            .open(&temporary)?;
        out.write_all(content)?;
        std::fs::rename(&temporary, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The branch HEAD points at in a non-bare repository.
pub fn checked_out_branch(repo: &crate::repo::GitRepo) -> Option<String> {
    if repo.git().is_bare() {
        return None;
    }
    let head = repo.git().find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok()??;
    target.strip_prefix("refs/heads/").map(str::to_string)
}
