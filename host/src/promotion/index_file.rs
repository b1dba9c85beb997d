//! Git's index file read and written directly, for the common case: a version 2 or 3 index
//! with only extensions this code keeps right, paths no checkout filter touches. Reading maps
//! the file and steps over its entries once, without parsing them into structures or
//! re-hashing the file; writing (`index_lock.rs`, `index_writer.rs`) takes `index.lock` the
//! way Git does, copies the untouched entries' bytes and hashes once with a fast SHA-1.
//! `gix-index` decodes and encodes the cache tree and joins a split index. Anything else goes
//! to libgit2 ([`writer_for`] decides), which reads and writes every index Git does.

use std::path::{Path, PathBuf};

use bstr::ByteSlice;
use git2::{Oid, Repository};
use gix_index::extension::Signature;

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

/// An index file as read: its bytes (mapped, not copied) with each entry's offset, for
/// lookups by path and for writing it again with a few entries changed and the rest copied as
/// they are (`index_writer.rs`). Nothing is parsed into per-entry structures: at 100,000 files
/// that was most of a promotion's cost.
pub struct ParsedIndex {
    /// The file's content, `None` once it has been replaced by a write of ours (read again
    /// under the next update's lock).
    content: Option<IndexContent>,
    /// Version and extension signatures (no touched paths yet).
    pub situation: Situation,
    /// The file [`ParsedIndex::content`] holds, unless it has been changed since (`None`).
    stamp: Option<FileStamp>,
}

/// The bytes of a version 2 or 3 index and what is known of them after one pass.
pub(super) struct IndexContent {
    bytes: IndexBytes,
    /// The offset of each entry, in file order (sorted by path, then stage).
    offsets: Vec<u32>,
    /// Where the entries end (and the extensions begin).
    entries_end: usize,
    /// How many entries have extended flags (the file must then be version 3).
    extended: usize,
    /// The cache tree, when the index has one.
    pub(super) tree: Option<gix_index::extension::Tree>,
    /// Whether the index had the end-of-index-entry marker.
    pub(super) end_marker: bool,
    /// The index file's modification time when read: entries at least as new are "racy".
    pub(super) read_at: filetime::FileTime,
}

/// The index's bytes: the file mapped, or a split index joined with its shared index.
enum IndexBytes {
    Mapped(memmap2::Mmap),
    Joined(Vec<u8>),
}

impl std::ops::Deref for IndexBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            IndexBytes::Mapped(map) => map,
            IndexBytes::Joined(bytes) => bytes,
        }
    }
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
    /// Read the index at `path`. The trailing checksum is not verified, as Git itself does not
    /// outside `git fsck` (a torn write cannot happen: index files are replaced by rename),
    /// which saves hashing the whole file. `None` when the file is missing, is not a version 2
    /// or 3 index, or does not parse (libgit2 then reads it and reports what is wrong).
    pub fn read(path: &Path) -> Option<ParsedIndex> {
        let file = std::fs::File::open(path).ok()?;
        let metadata = file.metadata().ok()?;
        // Mapped rather than copied (8.8 MB at 100,000 files), and kept mapped until the
        // update. SAFETY: Git and libgit2 never change an index file in place (they rename a
        // new one over it), so the mapped file stays as read; a tool that truncated it in place
        // meanwhile would stop this process with SIGBUS, and the next promotion finishes or
        // undoes this one from its journal.
        let data = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok()?;
        let read_at = filetime::FileTime::from_last_modification_time(&metadata);
        let (content, version, extensions) = IndexContent::scan(IndexBytes::Mapped(data), read_at)?;
        // A split index: the whole index is this file's entries merged into the shared one's,
        // serialised once as one plain index.
        let content = match extensions.contains(b"link") {
            true => {
                let (state, _) = gix_index::File::at(path, gix_index::hash::Kind::Sha1, true, Default::default()).ok()?.into_parts();
                let mut joined = Vec::new();
                let extensions = gix_index::write::Extensions::Given { tree_cache: true, untracked_cache: false, end_of_index_entry: content.end_marker };
                state.write_to(&mut joined, gix_index::write::Options { extensions, skip_hash: true }).ok()?;
                // gix-index leaves the trailer to its caller; it is not read.
                joined.extend_from_slice(&[0; HASH_LEN]);
                IndexContent::scan(IndexBytes::Joined(joined), read_at)?.0
            }
            false => content,
        };
        Some(ParsedIndex { content: Some(content), situation: Situation { version, extensions, ..Situation::default() }, stamp: Some(FileStamp::of(&metadata)) })
    }

    /// Read the index at `path` again unless it is the file already read (as libgit2's
    /// `git_index_read(force = false)`); on failure this no longer [`is_current`](Self::is_current).
    pub fn reread_if_replaced(&mut self, path: &Path) {
        let current = std::fs::metadata(path).ok().map(|metadata| FileStamp::of(&metadata));
        if current.is_none() || current != self.stamp || self.content.is_none() {
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

    /// Whether the content read is the index file's, unchanged.
    pub fn is_current(&self) -> bool {
        self.stamp.is_some() && self.content.is_some()
    }

    /// The content read, to write a changed index from.
    pub(super) fn content(&self) -> Option<&IndexContent> {
        self.content.as_ref()
    }

    /// A changed index was written over the file: what was read is no longer it, and the next
    /// update reads the file again under its lock.
    pub fn written(&mut self) {
        self.content = None;
        self.stamp = None;
    }

    /// The entry of `path` at `stage` (0 = merged, 1–3 = a conflict's sides); `None` also after
    /// [`ParsedIndex::written`], when the checkout's dirty check reads the
    /// file again before asking.
    pub fn entry(&self, path: &str, stage: u8) -> Option<IndexedFile> {
        let content = self.content.as_ref()?;
        let index = content.offsets.binary_search_by(|&offset| content.key(offset as usize).cmp(&(path.as_bytes(), stage))).ok()?;
        let entry = &content.bytes[content.offsets[index] as usize..];
        let word = |at: usize| word_at(entry, at);
        Some(IndexedFile { id: Oid::from_bytes(&entry[40..60]).ok()?, mode: word(24)?, size: word(36)?, mtime: (word(8)?, word(12)?) })
    }
}

impl IndexContent {
    /// One pass over `bytes`: the header, each entry's offset (checking the entries are sorted
    /// as Git keeps them), the extensions' signatures, the cache tree and end-of-index marker.
    /// `None` for anything but a well-formed version 2 or 3 index.
    fn scan(bytes: IndexBytes, read_at: filetime::FileTime) -> Option<(IndexContent, u32, Vec<Signature>)> {
        let word = |at: usize| word_at(&bytes, at);
        if bytes.get(..4)? != b"DIRC" {
            return None;
        }
        let version = word(4)?;
        if !matches!(version, 2 | 3) {
            return None;
        }
        let count = word(8)? as usize;
        let end = bytes.len().checked_sub(HASH_LEN)?;
        let (mut offsets, mut extended) = (Vec::with_capacity(count.min(end / 64)), 0);
        let mut offset = 12usize;
        let (mut sorted, mut previous) = (true, None);
        for _ in 0..count {
            let (path, stage, fixed) = key_at(&bytes, offset)?;
            let length = (fixed + path.len() + 8) & !7;
            if offset.checked_add(length)? > end {
                return None;
            }
            sorted &= previous < Some((path, stage));
            previous = Some((path, stage));
            extended += usize::from(fixed == 64);
            offsets.push(u32::try_from(offset).ok()?);
            offset += length;
        }
        let entries_end = offset;
        let (mut signatures, mut tree, mut end_marker) = (Vec::new(), None, false);
        while offset < end {
            let signature: Signature = bytes.get(offset..offset + 4)?.try_into().ok()?;
            let size = word(offset + 4)? as usize;
            let data = bytes.get(offset + 8..(offset + 8).checked_add(size)?)?;
            match &signature {
                b"TREE" => tree = Some(gix_index::extension::tree::decode(data, gix_index::hash::Kind::Sha1, None)?),
                b"EOIE" => end_marker = true,
                _ => {}
            }
            signatures.push(signature);
            offset += 8 + size;
        }
        if offset != end || (version == 2 && extended > 0) {
            return None;
        }
        // Sorted by path, then stage, as lookups need; a split index's own entries are not
        // (a replaced entry has no path: it is the shared index's), and are joined first.
        if !sorted && !signatures.contains(b"link") {
            return None;
        }
        Some((IndexContent { bytes, offsets, entries_end, extended, tree, end_marker, read_at }, version, signatures))
    }

    /// The number of entries.
    pub(super) fn len(&self) -> usize {
        self.offsets.len()
    }

    /// The bytes of entry `index` (its fixed part, path and padding).
    pub(super) fn entry_bytes(&self, index: usize) -> &[u8] {
        self.entries_between(index, index + 1)
    }

    /// The bytes of the entries `from..to`, one slice.
    pub(super) fn entries_between(&self, from: usize, to: usize) -> &[u8] {
        let start = |index: usize| self.offsets.get(index).map_or(self.entries_end, |&offset| offset as usize);
        &self.bytes[start(from)..start(to.max(from))]
    }

    /// The size of the index read, in bytes.
    pub(super) fn file_len(&self) -> usize {
        self.bytes.len()
    }

    /// The size of the index's entries, in bytes.
    pub(super) fn entries_bytes(&self) -> usize {
        self.entries_end - 12
    }

    /// Whether entry `index` has extended flags.
    pub(super) fn is_extended(&self, index: usize) -> bool {
        self.entry_bytes(index)[60] & 0x40 != 0
    }

    /// How many entries have extended flags.
    pub(super) fn extended_count(&self) -> usize {
        self.extended
    }

    /// The entries from the first whose path is not below `path` to the first above it: where
    /// `path`'s entries (all stages) are, or would be.
    pub(super) fn entries_of(&self, path: &[u8]) -> std::ops::Range<usize> {
        let path_at = |offset: &u32| self.key(*offset as usize).0;
        self.offsets.partition_point(|offset| path_at(offset) < path)..self.offsets.partition_point(|offset| path_at(offset) <= path)
    }

    /// The (path, stage) of the entry at `offset`, which [`IndexContent::scan`] checked.
    fn key(&self, offset: usize) -> (&[u8], u8) {
        let (path, stage, _) = key_at(&self.bytes, offset).expect("checked when scanned");
        (path, stage)
    }
}

/// The big-endian 32-bit number at `at` in `bytes`, as the index stores its numbers.
pub(super) fn word_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The path and stage of the entry at `offset`, and the length of its fixed part (62, or 64
/// with extended flags).
fn key_at(bytes: &[u8], offset: usize) -> Option<(&[u8], u8, usize)> {
    let flags = u16::from_be_bytes(bytes.get(offset + 60..offset + 62)?.try_into().ok()?);
    let fixed = if flags & 0x4000 != 0 { 64 } else { 62 };
    Some((path_at(bytes, offset, fixed, flags)?, ((flags >> 12) & 3) as u8, fixed))
}

/// An entry's path: as long as its flags say, or up to its NUL when it is 0xFFF bytes or longer.
fn path_at(bytes: &[u8], offset: usize, fixed: usize, flags: u16) -> Option<&[u8]> {
    let start = offset + fixed;
    let length = match usize::from(flags & 0xFFF) {
        0xFFF => bytes.get(start..)?.iter().position(|&byte| byte == 0)?,
        length => length,
    };
    bytes.get(start..start + length)
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

    /// A split index is read joined with its shared index: every entry, by path.
    #[test]
    fn a_split_index_is_read_joined_with_its_shared_index() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success(), "{args:?}");
        run(&["init", "--quiet"]);
        for path in ["a/b.yaml", "c.yaml", "d.yaml"] {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, path).unwrap();
        }
        run(&["add", "-A"]);
        run(&["update-index", "--split-index"]);
        std::fs::write(dir.path().join("c.yaml"), "changed").unwrap();
        run(&["add", "c.yaml"]);
        let index = ParsedIndex::read(&dir.path().join(".git/index")).expect("a split index reads");
        assert!(index.situation.extensions.contains(b"link"));
        assert_eq!(index.entry("a/b.yaml", 0).map(|entry| entry.size), Some(8));
        assert_eq!(index.entry("c.yaml", 0).map(|entry| entry.size), Some(7));
        assert!(index.entry("d.yaml", 0).is_some());
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
