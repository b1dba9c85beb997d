//! Git's index file read and written directly (with `gix-index`), for the common case: a
//! version 2 or 3 index with only extensions this code keeps right, paths no checkout filter
//! touches. Reading parses the file once without re-hashing it; writing takes `index.lock` the
//! way Git does, serialises once and hashes once with a fast SHA-1. Anything else goes to
//! libgit2 ([`writer_for`] decides), which reads and writes every index Git does.

use std::path::{Path, PathBuf};

use bstr::ByteSlice;
use git2::{ErrorClass, ErrorCode, Oid, Repository};
use gix_index::entry::{Flags, Mode, Stage, Stat};
use gix_index::extension::Signature;
use gix_index::{State, Version};

/// The length of a SHA-1 id, and of the index's checksum trailer.
const HASH_LEN: usize = 20;

/// Who reads and writes the index for one promotion.
#[derive(Debug, PartialEq, Eq)]
pub enum Writer {
    /// This module (`gix-index`).
    Direct,
    /// libgit2, for the given reason.
    Libgit2(String),
}

/// What decides the writer: the index's version and extensions, the repository's settings and
/// the tree entries of the touched paths.
#[derive(Debug, Default)]
pub struct Situation {
    /// The index format version (2, 3 or 4).
    pub version: u32,
    /// The signatures of the index's extensions, in file order.
    pub extensions: Vec<Signature>,
    /// `core.sharedRepository` asks for group-shared files (Git adjusts the index's mode).
    pub shared_repository: bool,
    /// A checkout filter may apply to a touched path (`core.autocrlf`, or an attributes file
    /// that may set `text`, `eol`, `filter`, `ident`, `crlf` or `working-tree-encoding`).
    pub filters_possible: bool,
    /// `core.ignorecase` (a case-insensitive file system): an index path may then name the
    /// file under another case, which only libgit2's lookups allow for.
    pub ignore_case: bool,
    /// The touched paths and their mode in the tree being checked out (`None`: removed).
    pub touched: Vec<(String, Option<u32>)>,
}

/// Extensions written back as they must be: the cache tree (ancestors of touched paths
/// invalidated) and the end-of-index marker. Dropped, because Git rebuilds them by itself and
/// gix-index cannot keep them right: the untracked cache (its invalidation is not public in
/// gix-index; `git status` rebuilds it when `core.untrackedCache` is on; one turned on only by
/// `git update-index --untracked-cache` stays off, as libgit2 leaves it too), the filesystem monitor
/// state (every entry is then stat-checked once more) and the entry offset table (a reading aid
/// Git writes again when `index.threads` asks). A split index (`link`) is read whole
/// (gix-index joins in the shared index) and written whole, as `git update-index
/// --no-split-index` would; Git splits it again on its next write when `core.splitIndex` is
/// set (one split only by `git update-index --split-index` stays whole, its old shared index
/// left for Git to expire). libgit2 cannot read a split index at all (promotions into one used
/// to fail).
const KEPT_OR_REBUILT: [Signature; 6] = [*b"TREE", *b"EOIE", *b"UNTR", *b"FSMN", *b"IEOT", *b"link"];

/// Whether this module may write the index in `situation`, or libgit2 must (and why).
pub fn writer_for(situation: &Situation) -> Writer {
    let libgit2 = |reason: String| Writer::Libgit2(reason);
    if !matches!(situation.version, 2 | 3) {
        // gix-index writes versions 2 and 3 only (version 4's prefix compression would be lost).
        return libgit2(format!("index version {}", situation.version));
    }
    if let Some(other) = situation.extensions.iter().find(|signature| !KEPT_OR_REBUILT.contains(signature)) {
        // Sparse index (`sdir`), resolve-undo (`REUC`), anything unknown.
        return libgit2(format!("index extension {}", String::from_utf8_lossy(other)));
    }
    if situation.shared_repository {
        return libgit2("core.sharedRepository".into());
    }
    if situation.ignore_case {
        return libgit2("core.ignorecase".into());
    }
    if situation.filters_possible {
        return libgit2("a checkout filter may apply".into());
    }
    for (path, mode) in &situation.touched {
        if path.rsplit('/').next() == Some(".gitattributes") {
            return libgit2(format!("{path} changes attributes"));
        }
        if mode.is_some_and(|mode| mode != 0o100644 && mode != 0o100755) {
            return libgit2(format!("{path} is not a regular file in the tree"));
        }
    }
    Writer::Direct
}

/// A parsed index and what [`writer_for`] needs to know of the file.
pub struct ParsedIndex {
    /// The entries and extensions.
    state: State,
    /// Version and extension signatures (no touched paths yet).
    pub situation: Situation,
    /// The file [`ParsedIndex::state`] holds, unless it has been changed since (`None`).
    stamp: Option<FileStamp>,
}

/// What tells one index file from the next: Git replaces the index by renaming a new file
/// over it (a new inode), and libgit2 decides whether to read it again by the same fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: (i64, i64),
    size: u64,
    inode: u64,
}

impl FileStamp {
    fn of(metadata: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp { modified: (metadata.mtime(), metadata.mtime_nsec()), size: metadata.size(), inode: metadata.ino() }
    }
}

/// One index entry, as the dirty check compares it with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedFile {
    /// The blob id.
    pub id: Oid,
    /// The mode (0o100644, 0o100755, …).
    pub mode: u32,
    /// The file size, truncated to 32 bits as Git stores it.
    pub size: u32,
    /// Modification time, seconds (low 32 bits) and nanoseconds.
    pub mtime: (u32, u32),
}

impl ParsedIndex {
    /// Read and parse the index at `path`. The trailing checksum is not verified, as Git itself
    /// does not outside `git fsck` (a torn write cannot happen: index files are replaced by
    /// rename), which saves hashing the whole file. `None` when the file is missing or does not
    /// parse (libgit2 then reads it and reports what is wrong).
    pub fn read(path: &Path) -> Option<ParsedIndex> {
        let file = std::fs::File::open(path).ok()?;
        let metadata = file.metadata().ok()?;
        // Mapped rather than copied (8.8 MB at 100,000 files). SAFETY: Git never changes an
        // index file in place (it renames a new one over it), so the mapped file stays as read.
        let data = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok()?;
        let timestamp = filetime::FileTime::from_last_modification_time(&metadata);
        let (state, _checksum) = State::from_bytes(&data, timestamp, gix_index::hash::Kind::Sha1, Default::default()).ok()?;
        let version = state.version() as u32;
        // Extensions are found by walking them (gix-index skips unknown optional ones, which
        // a write would then lose); version 4 compresses paths, so it is not walked.
        let extensions = match state.version() {
            Version::V4 => Vec::new(),
            _ => extension_signatures(&data, &state)?,
        };
        // A split index: the whole index is this file's entries merged into the shared one's.
        let state = match state.link() {
            Some(_) => gix_index::File::at(path, gix_index::hash::Kind::Sha1, true, Default::default()).ok()?.into_parts().0,
            None => state,
        };
        Some(ParsedIndex { state, situation: Situation { version, extensions, ..Situation::default() }, stamp: Some(FileStamp::of(&metadata)) })
    }

    /// Read the index at `path` again unless it is the file already parsed (as libgit2's
    /// `git_index_read(force = false)`); on failure this no longer [`is_current`](Self::is_current).
    pub fn reread_if_replaced(&mut self, path: &Path) {
        let current = std::fs::metadata(path).ok().map(|metadata| FileStamp::of(&metadata));
        if current.is_none() || current != self.stamp {
            match ParsedIndex::read(path) {
                Some(reread) => *self = reread,
                None => self.stamp = None,
            }
        }
    }

    /// Whether this index may be written directly in the repository and for the touched paths
    /// `settings` describes ([`settings`]; its version and extensions are filled in from here).
    pub fn writes_directly(&self, settings: &mut Situation) -> bool {
        settings.version = self.situation.version;
        settings.extensions.clone_from(&self.situation.extensions);
        writer_for(settings) == Writer::Direct
    }

    /// Whether the parsed state is the index file's, unchanged.
    pub fn is_current(&self) -> bool {
        self.stamp.is_some()
    }

    /// The state, to be changed (it is then no longer the file's until [`ParsedIndex::written`]).
    pub fn changing(&mut self) -> &mut State {
        self.stamp = None;
        &mut self.state
    }

    /// The changed state was written to the index at `path`.
    pub fn written(&mut self, path: &Path) {
        if let Ok(metadata) = std::fs::metadata(path) {
            self.state.set_timestamp(filetime::FileTime::from_last_modification_time(&metadata));
            self.stamp = Some(FileStamp::of(&metadata));
        }
    }

    /// The entry of `path` at `stage` (0 = merged, 1–3 = a conflict's sides).
    pub fn entry(&self, path: &str, stage: u8) -> Option<IndexedFile> {
        let stage = match stage {
            0 => Stage::Unconflicted,
            1 => Stage::Base,
            2 => Stage::Ours,
            _ => Stage::Theirs,
        };
        let entry = self.state.entry_by_path_and_stage(path.as_bytes().as_bstr(), stage)?;
        Some(IndexedFile {
            id: Oid::from_bytes(entry.id.as_bytes()).ok()?,
            mode: entry.mode.bits(),
            size: entry.stat.size,
            mtime: (entry.stat.mtime.secs, entry.stat.mtime.nsecs),
        })
    }
}

/// The extensions' signatures of a version 2 or 3 index, found by stepping over its entries;
/// `None` unless the walk ends exactly at the checksum trailer.
fn extension_signatures(data: &[u8], state: &State) -> Option<Vec<Signature>> {
    let mut offset = 12usize;
    for entry in state.entries() {
        // Git's ondisk_ce_size: the fixed part, the path and 1–8 NULs to a multiple of 8.
        let fixed = if entry.flags.contains(Flags::EXTENDED) { 64 } else { 62 };
        offset += (fixed + entry.path(state).len() + 8) & !7;
    }
    let end = data.len().checked_sub(HASH_LEN)?;
    let mut signatures = Vec::new();
    while offset < end {
        let header = data.get(offset..offset + 8)?;
        let size = u32::from_be_bytes(header[4..8].try_into().ok()?) as usize;
        signatures.push(header[..4].try_into().ok()?);
        offset = offset.checked_add(8 + size)?;
    }
    (offset == end).then_some(signatures)
}

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
    pub fn commit(mut self, update: IndexUpdate<'_>, touched: &[&str], skip_hash: bool) -> Result<(), git2::Error> {
        update.write_to(&mut self.file, touched, skip_hash)?;
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

/// The error for a file that could not be written (or read back after writing).
pub fn cannot_write(path: &Path, error: &std::io::Error) -> git2::Error {
    git2::Error::new(ErrorCode::GenericError, ErrorClass::Os, format!("cannot write {}: {error}", path.display()))
}

/// One touched path's new index entry, or its removal.
pub enum Change {
    /// The path holds the blob `id` with `mode`; its file (just written) has `stat`.
    Set { path: String, id: gix_index::hash::ObjectId, mode: Mode, stat: Stat },
    /// The path is gone.
    Remove { path: String },
}

impl Change {
    /// `path`'s new entry: the blob `id` with `mode`, and the stat of `file` as just written.
    pub fn set(path: &str, id: Oid, mode: u32, file: &Path) -> Result<Change, git2::Error> {
        let metadata = gix_index::fs::Metadata::from_path_no_follow(file).map_err(|error| cannot_write(file, &error))?;
        let stat = Stat::from_fs(&metadata).map_err(|error| git2::Error::from_str(&format!("{}: {error}", file.display())))?;
        let id = gix_index::hash::ObjectId::try_from(id.as_bytes()).map_err(|error| git2::Error::from_str(&error.to_string()))?;
        let mode = if mode == 0o100755 { Mode::FILE_EXECUTABLE } else { Mode::FILE };
        Ok(Change::Set { path: path.to_string(), id, mode, stat })
    }
}

/// Changes to a parsed index: entries set or removed, the cache tree kept right, serialised.
pub struct IndexUpdate<'s> {
    state: &'s mut State,
    /// The index file's modification time when read: entries at least as new are "racy".
    read_at: filetime::FileTime,
    /// New entries, added when serialising: appending one earlier would unsort the entries
    /// the lookups of later paths binary-search.
    added: Vec<(Stat, gix_index::hash::ObjectId, Mode, String)>,
}

impl<'s> IndexUpdate<'s> {
    /// Start from `state` (as read under the lock).
    pub fn new(state: &'s mut State) -> IndexUpdate<'s> {
        let read_at = state.timestamp();
        IndexUpdate { state, read_at, added: Vec::new() }
    }

    /// Make the index hold `change`.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::Set { path, id, mode, stat } => self.set(path, *id, *mode, *stat),
            Change::Remove { path } => self.remove(path),
        }
    }

    /// Make `path`'s entry the blob `id` with `mode` and `stat`, stage 0; any conflict stages
    /// of the path go.
    fn set(&mut self, path: &str, id: gix_index::hash::ObjectId, mode: Mode, stat: Stat) {
        let bytes = path.as_bytes().as_bstr();
        self.invalidate_tree(path);
        if self.state.entry_by_path_and_stage(bytes, Stage::Base).is_some()
            || self.state.entry_by_path_and_stage(bytes, Stage::Ours).is_some()
            || self.state.entry_by_path_and_stage(bytes, Stage::Theirs).is_some()
        {
            self.remove(path);
        }
        match self.state.entry_mut_by_path_and_stage(bytes, Stage::Unconflicted) {
            Some(entry) => {
                entry.id = id;
                entry.mode = mode;
                entry.stat = stat;
                // What `git add` leaves: no assume-valid, skip-worktree or intent-to-add.
                entry.flags = Flags::empty();
            }
            // The same new path twice (two plans of one batch adding it) is one entry, the last.
            None => match self.added.iter_mut().find(|added| added.3 == path) {
                Some(added) => *added = (stat, id, mode, path.to_string()),
                None => self.added.push((stat, id, mode, path.to_string())),
            },
        }
    }

    /// Remove every entry of `path` (all stages).
    fn remove(&mut self, path: &str) {
        self.invalidate_tree(path);
        self.added.retain(|added| added.3 != path);
        let bytes = path.as_bytes();
        self.state.remove_entries(|_, entry_path, _| entry_path.as_bytes() == bytes);
    }

    /// Invalidate the cache-tree nodes of every directory above `path` (and drop a cached
    /// subtree named `path`, for a directory a file replaces), as Git's
    /// `cache_tree_invalidate_path` does: a cached tree id left stale would make the next
    /// `git commit` commit a wrong tree.
    fn invalidate_tree(&mut self, path: &str) {
        let Some(mut node) = self.state.tree_mut() else { return };
        let mut components = path.split('/').peekable();
        while let Some(component) = components.next() {
            node.num_entries = None;
            let position = node.children.iter().position(|child| child.name.as_slice() == component.as_bytes());
            match (position, components.peek()) {
                (Some(position), None) => {
                    node.children.remove(position);
                    return;
                }
                (Some(position), Some(_)) => node = &mut node.children[position],
                (None, _) => return,
            }
        }
    }

    /// Write the new index file to `out`: entries sorted, untouched racy entries smudged, the
    /// checksum trailer a SHA-1 of the content (zero with `skip_hash`, as Git's
    /// `index.skipHash`).
    pub fn write_to(mut self, out: &mut std::fs::File, touched: &[&str], skip_hash: bool) -> Result<(), git2::Error> {
        let sorted = self.state.entries().len();
        for (stat, id, mode, path) in std::mem::take(&mut self.added) {
            self.state.dangerously_push_entry(stat, id, Flags::empty(), mode, path.as_bytes().as_bstr());
        }
        // Each new entry moved into place: a binary search and one move of the entries after
        // it, rather than sorting them all (every promotion adds at least its record).
        let (entries, paths) = self.state.entries_mut_and_pathbacking();
        for new in sorted..entries.len() {
            let (path, stage) = (entries[new].path_in(paths), entries[new].stage());
            let position = entries[..new].partition_point(|entry| {
                gix_index::Entry::cmp_filepaths(entry.path_in(paths), path).then(entry.stage().cmp(&stage)).is_lt()
            });
            entries[position..=new].rotate_right(1);
        }
        // Git's racy-git rule on writing: an entry whose file changed within the old index's
        // timestamp tick would look clean once the index is newer. Git re-reads such files
        // and smudges the changed ones; this smudges them all (size 0), so Git re-checks them.
        let read_at = self.read_at;
        for (entry, path) in self.state.entries_mut_with_paths() {
            if entry.stat.is_racy(read_at, Default::default()) && !touched.iter().any(|touched| path.as_bytes() == touched.as_bytes()) {
                entry.stat.size = 0;
            }
            entry.flags.remove(Flags::FSMONITOR_VALID);
        }
        let end_marker = self.state.had_end_of_index_marker();
        super::index_writer::write_index(self.state, out, end_marker, skip_hash)
            .map_err(|error| git2::Error::from_str(&format!("cannot write the index: {error}")))
    }
}

/// The repository settings [`writer_for`] and the writer need, for `touched` paths.
pub fn settings(git: &Repository, workdir: &Path, touched: &[&str]) -> (Situation, bool) {
    let config = git.config().ok();
    let string = |name: &str| config.as_ref().and_then(|config| config.get_string(name).ok());
    let boolean = |name: &str| config.as_ref().and_then(|config| config.get_bool(name).ok());
    let autocrlf = string("core.autocrlf").is_some_and(|value| !matches!(value.to_ascii_lowercase().as_str(), "false" | "no" | "off" | "0" | ""));
    let shared_repository =
        string("core.sharedRepository").is_some_and(|value| !matches!(value.to_ascii_lowercase().as_str(), "false" | "no" | "off" | "0" | "umask" | ""));
    // Git: feature.manyFiles turns index.skipHash on unless it is set.
    let skip_hash = boolean("index.skipHash").or_else(|| boolean("feature.manyFiles")).unwrap_or(false);
    let mut attribute_files: Vec<PathBuf> = vec![PathBuf::from("/etc/gitattributes"), git.commondir().join("info/attributes")];
    let home = std::env::var_os("HOME").map(PathBuf::from);
    attribute_files.extend(string("core.attributesFile").map(|file| match (file.strip_prefix("~/"), &home) {
        (Some(relative), Some(home)) => home.join(relative),
        _ => PathBuf::from(file),
    }));
    attribute_files.extend(std::env::var_os("XDG_CONFIG_HOME").map(|home| PathBuf::from(home).join("git/attributes")));
    attribute_files.extend(home.map(|home| home.join(".config/git/attributes")));
    for path in touched {
        let mut directory = workdir.to_path_buf();
        attribute_files.push(directory.join(".gitattributes"));
        for part in Path::new(path).parent().into_iter().flat_map(Path::components) {
            directory.push(part);
            attribute_files.push(directory.join(".gitattributes"));
        }
    }
    attribute_files.sort();
    attribute_files.dedup();
    let filters_possible = autocrlf || attribute_files.iter().any(|file| may_set_filters(file));
    let ignore_case = boolean("core.ignorecase").unwrap_or(false);
    (Situation { shared_repository, filters_possible, ignore_case, ..Situation::default() }, skip_hash)
}

/// Whether the attributes file at `file` may set an attribute that filters content on checkout
/// or add; a plain text search, so it errs towards libgit2 (a pattern or comment that merely
/// contains one of the words counts).
fn may_set_filters(file: &Path) -> bool {
    const FILTERING: [&[u8]; 6] = [b"text", b"eol", b"filter", b"ident", b"crlf", b"encoding"];
    match std::fs::read(file) {
        Ok(content) => FILTERING.iter().any(|word| content.find(word).is_some()),
        Err(error) => error.kind() != std::io::ErrorKind::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Situation {
        Situation { version: 2, extensions: vec![*b"TREE"], touched: vec![("apps/shop/values.yaml".into(), Some(0o100644))], ..Situation::default() }
    }

    #[test]
    fn plain_index_and_files_are_written_directly() {
        assert_eq!(writer_for(&plain()), Writer::Direct);
        let rebuilt = Situation { version: 3, extensions: vec![*b"link", *b"TREE", *b"UNTR", *b"FSMN", *b"IEOT", *b"EOIE"], ..plain() };
        assert_eq!(writer_for(&rebuilt), Writer::Direct);
        let removed = Situation { touched: vec![("gone.yaml".into(), None), ("run.sh".into(), Some(0o100755))], ..plain() };
        assert_eq!(writer_for(&removed), Writer::Direct);
    }

    #[test]
    fn what_direct_writing_would_lose_goes_to_libgit2() {
        let cases = [
            Situation { version: 4, ..plain() },
            Situation { extensions: vec![*b"sdir"], ..plain() },
            Situation { extensions: vec![*b"REUC"], ..plain() },
            Situation { extensions: vec![*b"ZZZZ"], ..plain() },
            Situation { shared_repository: true, ..plain() },
            Situation { ignore_case: true, ..plain() },
            Situation { filters_possible: true, ..plain() },
            Situation { touched: vec![("link".into(), Some(0o120000))], ..plain() },
            Situation { touched: vec![("apps/.gitattributes".into(), Some(0o100644))], ..plain() },
        ];
        for case in cases {
            assert!(matches!(writer_for(&case), Writer::Libgit2(_)), "{case:?}");
        }
    }

    #[test]
    fn attributes_files_naming_a_filter_are_suspect() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join(".gitattributes");
        assert!(!may_set_filters(&file), "a missing file sets nothing");
        std::fs::write(&file, "*.png binary\n*.yaml diff\n").unwrap();
        assert!(!may_set_filters(&file));
        for line in ["* text=auto\n", "*.sh eol=lf\n", "*.c filter=lfs\n", "*.x ident\n", "*.y working-tree-encoding=UTF-16\n", "* -crlf\n"] {
            std::fs::write(&file, line).unwrap();
            assert!(may_set_filters(&file), "{line}");
        }
    }
}
