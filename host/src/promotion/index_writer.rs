//! A changed index written from the one read: the touched paths' entries replaced, added or
//! removed, every other entry's bytes copied as they are (an untouched "racy" one with its
//! size zeroed), the cache tree invalidated above the touched paths, the end-of-index marker
//! kept. Long runs of untouched entries are written straight from the mapped file, the rest
//! through 256 KiB chunks; a large index's SHA-1 trailer is computed on a second thread while
//! this one writes (at 100,000 files: 9 MB, about 5 ms of hashing beside 3–4 of writing).
//! Nothing is parsed into per-entry structures or serialised again, so a promotion's cost
//! above the 100-file one is writing and hashing the file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;

use git2::{ErrorClass, ErrorCode, Oid};

use gix_index::entry::{Mode, Stat};
use gix_index::extension::{Signature, Tree};

use super::index_file::{IndexContent, word_at};

/// The length of a SHA-1 id, and of the index's checksum trailer.
const HASH_LEN: usize = 20;
/// How much is written (and hashed) at a time.
const CHUNK: usize = 256 * 1024;
/// From this many bytes of entries the index is large: hashed on a second thread, its file's
/// blocks reserved before it is written.
const LARGE_INDEX: usize = 1 << 20;

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

/// The error for a file that could not be written (or read back after writing).
pub fn cannot_write(path: &Path, error: &std::io::Error) -> git2::Error {
    git2::Error::new(ErrorCode::GenericError, ErrorClass::Os, format!("cannot write {}: {error}", path.display()))
}

/// Changes to an index as read: entries set or removed, the cache tree kept right.
pub struct IndexUpdate<'c> {
    content: &'c IndexContent,
    /// The cache tree, invalidated above each touched path.
    tree: Option<Tree>,
    /// Each touched path's new entry (its bytes), or `None` for none; the last change of a
    /// path touched twice wins.
    entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'c> IndexUpdate<'c> {
    /// Start from `content` (as read under the lock).
    pub fn new(content: &'c IndexContent) -> IndexUpdate<'c> {
        IndexUpdate { content, tree: content.tree.clone(), entries: BTreeMap::new() }
    }

    /// Make the index hold `change`: the path's entries at every stage go (a conflict is
    /// resolved by the promotion's content), and a set path gets one merged entry.
    pub fn apply(&mut self, change: &Change) {
        let (path, entry) = match change {
            Change::Set { path, id, mode, stat } => (path, Some(encode_entry(path.as_bytes(), id.as_bytes(), *mode, stat))),
            Change::Remove { path } => (path, None),
        };
        if let Some(tree) = &mut self.tree {
            invalidate_tree(tree, path);
        }
        self.entries.insert(path.as_bytes().to_vec(), entry);
    }

    /// About how long the new index is when it is large enough to be hashed on a second
    /// thread (the length read: a promotion changes a few entries), else `None`.
    pub fn large_length(&self) -> Option<usize> {
        (self.content.entries_bytes() >= LARGE_INDEX).then(|| self.content.file_len())
    }

    /// Write the new index file to `out`: entries in order, untouched racy entries smudged, the
    /// checksum trailer a SHA-1 of the content (zero with `skip_hash`, as Git's
    /// `index.skipHash`).
    pub fn write_to(self, out: &mut impl Write, skip_hash: bool) -> std::io::Result<()> {
        let content = self.content;
        // Which entries go (the touched paths' old ones), and where each new one goes.
        let mut replaced = Vec::with_capacity(self.entries.len());
        let (mut count, mut extended) = (content.len(), content.extended_count());
        for (path, entry) in &self.entries {
            let old = content.entries_of(path);
            count = count - old.len() + usize::from(entry.is_some());
            extended -= old.clone().filter(|&index| content.is_extended(index)).count();
            replaced.push((old, entry.as_deref()));
        }
        let count = u32::try_from(count).map_err(std::io::Error::other)?;
        // Version 3 only when an entry needs it, as Git writes it.
        let version: u32 = if extended > 0 { 3 } else { 2 };
        let hash_on_a_thread = !skip_hash && self.large_length().is_some();
        write_hashed(out, skip_hash, hash_on_a_thread, |sink| {
            sink.put(b"DIRC")?;
            sink.put(&version.to_be_bytes())?;
            sink.put(&count.to_be_bytes())?;
            let mut next = 0;
            for (old, entry) in replaced {
                copy_entries(content, next..old.start, sink)?;
                if let Some(entry) = entry {
                    sink.put(entry)?;
                }
                next = old.end;
            }
            copy_entries(content, next..content.len(), sink)?;
            write_extensions(self.tree.as_ref(), content.end_marker, sink)
        })
    }
}

/// One merged (stage 0) entry's bytes: what `git add` leaves, no assume-valid, skip-worktree
/// or intent-to-add.
fn encode_entry(path: &[u8], id: &[u8], mode: Mode, stat: &Stat) -> Vec<u8> {
    let mut entry = Vec::with_capacity(62 + path.len() + 8);
    for field in [stat.ctime.secs, stat.ctime.nsecs, stat.mtime.secs, stat.mtime.nsecs, stat.dev, stat.ino, mode.bits(), stat.uid, stat.gid, stat.size] {
        entry.extend_from_slice(&field.to_be_bytes());
    }
    entry.extend_from_slice(id);
    let path_len = path.len().min(0xFFF) as u16;
    entry.extend_from_slice(&path_len.to_be_bytes());
    entry.extend_from_slice(path);
    // One to eight NULs, to a multiple of eight bytes (Git's ondisk_ce_size).
    entry.resize((entry.len() + 8) & !7, 0);
    entry
}

/// Copy the entries `range` of `content` as they are, except that an entry whose file may
/// have changed within the old index's timestamp tick gets size 0: Git's racy-git rule on
/// writing (it would look clean once the index is newer). Git re-reads such files and smudges
/// the changed ones; this smudges them all, so Git re-checks them.
fn copy_entries<'d>(content: &'d IndexContent, range: std::ops::Range<usize>, sink: &mut Sink<'_, 'd, impl Write>) -> std::io::Result<()> {
    let mut unchanged_from = range.start;
    for index in range.clone() {
        let entry = content.entry_bytes(index);
        let word = |at: usize| word_at(entry, at).expect("an entry's fixed part, checked when scanned");
        let mtime = gix_index::entry::stat::Time { secs: word(8), nsecs: word(12) };
        if word(36) != 0 && (Stat { mtime, ..Stat::default() }).is_racy(content.read_at, Default::default()) {
            sink.put_borrowed(content.entries_between(unchanged_from, index))?;
            sink.put(&entry[..36])?;
            sink.put(&0u32.to_be_bytes())?;
            sink.put(&entry[40..])?;
            unchanged_from = index + 1;
        }
    }
    sink.put_borrowed(content.entries_between(unchanged_from, range.end))
}

/// The cache tree (as it stands) and the end-of-index marker when the index read had one.
fn write_extensions(tree: Option<&Tree>, end_marker: bool, sink: &mut Sink<'_, '_, impl Write>) -> std::io::Result<()> {
    let offset_to_extensions = u32::try_from(sink.written).map_err(std::io::Error::other)?;
    let mut extensions: Vec<(Signature, u32)> = Vec::new();
    if let Some(tree) = tree {
        let mut encoded = Vec::new();
        tree.write_to(&mut encoded)?;
        sink.put(&encoded)?;
        extensions.push((gix_index::extension::tree::SIGNATURE, u32::try_from(encoded.len() - 8).map_err(std::io::Error::other)?));
    }
    if end_marker && !extensions.is_empty() {
        let mut encoded = Vec::new();
        gix_index::extension::end_of_index_entry::write_to(&mut encoded, gix_index::hash::Kind::Sha1, offset_to_extensions, extensions)
            .map_err(std::io::Error::other)?;
        sink.put(&encoded)?;
    }
    Ok(())
}

/// Invalidate the cache-tree nodes of every directory above `path` (and drop a cached
/// subtree named `path`, for a directory a file replaces), as Git's
/// `cache_tree_invalidate_path` does: a cached tree id left stale would make the next
/// `git commit` commit a wrong tree.
fn invalidate_tree(mut node: &mut Tree, path: &str) {
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

/// Write what `content` puts into a [`Sink`] to `out`, then the SHA-1 trailer of it all (zero
/// with `skip_hash`), hashed on a second thread when `hash_on_a_thread` (never with
/// `skip_hash`).
fn write_hashed<'d, W: Write>(
    out: &mut W,
    skip_hash: bool,
    hash_on_a_thread: bool,
    content: impl FnOnce(&mut Sink<'_, 'd, W>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    std::thread::scope(|scope| {
        let (full, hashing) = mpsc::sync_channel::<Piece<'d>>(2);
        let (give_back, returned) = mpsc::channel::<Vec<u8>>();
        let hasher = hash_on_a_thread.then(|| {
            scope.spawn(move || {
                let mut hasher = sha1::Sha1::default();
                for piece in hashing {
                    match piece {
                        Piece::Copied(chunk) => {
                            sha1::Digest::update(&mut hasher, &chunk);
                            let _ = give_back.send(chunk);
                        }
                        Piece::Borrowed(bytes) => sha1::Digest::update(&mut hasher, bytes),
                    }
                }
                <[u8; HASH_LEN]>::from(sha1::Digest::finalize(hasher))
            })
        });
        let mut sink = Sink {
            out,
            buffer: Vec::with_capacity(CHUNK),
            inline: (!skip_hash && !hash_on_a_thread).then(sha1::Sha1::default),
            pipe: hasher.is_some().then_some((full, returned)),
            written: 0,
        };
        let written = content(&mut sink).and_then(|()| sink.flush_chunk());
        let Sink { out, inline, pipe, .. } = sink;
        // Closing the pipe ends the hashing thread's loop.
        drop(pipe);
        let hashed = hasher.map(|thread| thread.join().map_err(|_| std::io::Error::other("the index hashing thread panicked")));
        written?;
        let trailer = match (hashed, inline) {
            (Some(hashed), _) => hashed?,
            (None, Some(inline)) => sha1::Digest::finalize(inline).into(),
            (None, None) => [0; HASH_LEN],
        };
        out.write_all(&trailer)
    })
}

/// What goes to the hashing thread: a chunk of copied bytes (given back for reuse), or a run
/// of the index read, hashed where it lies.
enum Piece<'d> {
    Copied(Vec<u8>),
    Borrowed(&'d [u8]),
}

/// The way to the hashing thread and back: pieces there, hashed chunks for reuse.
type Pipe<'d> = (mpsc::SyncSender<Piece<'d>>, mpsc::Receiver<Vec<u8>>);

/// Bytes on their way to the file and the hasher: small ones copied into a chunk, long runs
/// of the index read written and hashed where they lie.
struct Sink<'o, 'd, W: Write> {
    out: &'o mut W,
    buffer: Vec<u8>,
    /// The hasher when hashing on this thread.
    inline: Option<sha1::Sha1>,
    /// Pieces to the hashing thread, and chunks it is done with.
    pipe: Option<Pipe<'d>>,
    /// Bytes written so far (flushed or in the buffer).
    written: usize,
}

/// Runs of the index read shorter than this are copied into the chunk rather than written
/// by themselves.
const WRITTEN_WHERE_THEY_LIE_FROM: usize = 16 * 1024;

impl<'d, W: Write> Sink<'_, 'd, W> {
    /// Add a copy of `bytes`.
    fn put(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            if self.buffer.len() == CHUNK {
                self.flush_chunk()?;
            }
            let (now, later) = bytes.split_at((CHUNK - self.buffer.len()).min(bytes.len()));
            self.buffer.extend_from_slice(now);
            self.written += now.len();
            bytes = later;
        }
        Ok(())
    }

    /// Add `bytes` of the index read: a long run is written and hashed without a copy.
    fn put_borrowed(&mut self, bytes: &'d [u8]) -> std::io::Result<()> {
        if bytes.len() < WRITTEN_WHERE_THEY_LIE_FROM {
            return self.put(bytes);
        }
        self.flush_chunk()?;
        // To the hashing thread first, so that it hashes while this thread writes.
        self.send(Piece::Borrowed(bytes))?;
        self.out.write_all(bytes)?;
        self.written += bytes.len();
        if let Some(hasher) = &mut self.inline {
            sha1::Digest::update(hasher, bytes);
        }
        Ok(())
    }

    /// Write the chunk to the file and pass it to the hasher.
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.out.write_all(&self.buffer)?;
        if let Some(hasher) = &mut self.inline {
            sha1::Digest::update(hasher, &self.buffer);
        }
        match &self.pipe {
            Some((_, returned)) => {
                let next = returned.try_recv().map(|mut chunk| {
                    chunk.clear();
                    chunk
                });
                let chunk = std::mem::replace(&mut self.buffer, next.unwrap_or_else(|_| Vec::with_capacity(CHUNK)));
                self.send(Piece::Copied(chunk))
            }
            None => {
                self.buffer.clear();
                Ok(())
            }
        }
    }

    /// Pass `piece` to the hashing thread, if there is one.
    fn send(&self, piece: Piece<'d>) -> std::io::Result<()> {
        match &self.pipe {
            Some((full, _)) => full.send(piece).map_err(|_| std::io::Error::other("the index hashing thread stopped")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotion::index_file::ParsedIndex;
    use bstr::ByteSlice;
    use gix_index::State;
    use gix_index::entry::{Flags, Stage};
    use gix_index::hash::ObjectId;
    use proptest::prelude::*;

    /// The index's modification time in these tests: entries at or after its second are racy.
    const READ_AT: u32 = 1_700_000_000;

    /// Paths to draw from: nested, sharing prefixes.
    fn paths() -> Vec<String> {
        ["a", "a/b", "a/b/c.yaml", "a/b.yaml", "a-b", "a0", "b/x", "b/y/z", "c.yaml", "z", "zz/é.yaml"].map(String::from).to_vec()
    }

    /// An entry of `path` as the tests describe it: stage, extended, mtime seconds relative to
    /// [`READ_AT`], size.
    type Described = (usize, u8, bool, i8, u32);

    fn entries() -> impl Strategy<Value = Vec<Described>> {
        proptest::collection::vec((0..11usize, 0..4u8, any::<bool>(), -2..2i8, 0..3u32), 0..24)
    }

    fn changes() -> impl Strategy<Value = Vec<(usize, Option<(u32, bool)>)>> {
        proptest::collection::vec((0..11usize, proptest::option::of((0..1000u32, any::<bool>()))), 0..6)
    }

    fn stat(size: u32, secs: u32) -> Stat {
        Stat { size, mtime: gix_index::entry::stat::Time { secs, nsecs: 7 }, ctime: gix_index::entry::stat::Time { secs, nsecs: 3 }, dev: 1, ino: size + 5, uid: 1000, gid: 100 }
    }

    /// `state` as gix-index writes it (no extensions), with the SHA-1 trailer.
    fn gix_written(state: &State) -> Vec<u8> {
        let mut bytes = Vec::new();
        let extensions = gix_index::write::Extensions::Given { tree_cache: false, untracked_cache: false, end_of_index_entry: false };
        state.write_to(&mut bytes, gix_index::write::Options { extensions, skip_hash: true }).unwrap();
        let trailer: [u8; HASH_LEN] = sha1::Digest::finalize(<sha1::Sha1 as sha1::Digest>::new_with_prefix(&bytes)).into();
        bytes.extend_from_slice(&trailer);
        bytes
    }

    /// An index file of the described entries (one per path and stage), as gix-index writes it,
    /// with [`READ_AT`] as its modification time.
    fn index_file(dir: &std::path::Path, described: &[Described]) -> (std::path::PathBuf, State) {
        let paths = paths();
        let mut state = State::new(gix_index::hash::Kind::Sha1);
        let mut seen = std::collections::BTreeSet::new();
        for &(path, stage, extended, age, size) in described {
            if !seen.insert((path, stage)) {
                continue;
            }
            let mut flags = Flags::from_stage(match stage {
                0 => Stage::Unconflicted,
                1 => Stage::Base,
                2 => Stage::Ours,
                _ => Stage::Theirs,
            });
            if extended {
                flags |= Flags::EXTENDED | Flags::SKIP_WORKTREE;
            }
            let id = ObjectId::from_bytes_or_panic(&[(path * 4 + stage as usize) as u8; 20]);
            state.dangerously_push_entry(stat(size, READ_AT.wrapping_add_signed(i32::from(age))), id, flags, Mode::FILE, paths[path].as_bytes().as_bstr());
        }
        state.sort_entries();
        let bytes = gix_written(&state);
        let file = dir.join("index");
        std::fs::write(&file, &bytes).unwrap();
        filetime::set_file_mtime(&file, filetime::FileTime::from_unix_time(i64::from(READ_AT), 500)).unwrap();
        let (state, _) = State::from_bytes(&bytes, filetime::FileTime::from_unix_time(i64::from(READ_AT), 500), gix_index::hash::Kind::Sha1, Default::default()).unwrap();
        (file, state)
    }

    /// The same changes made to gix-index's parsed state, as the writer before this one made
    /// them, and written by gix-index.
    fn expected(mut state: State, changes: &[Change]) -> Vec<u8> {
        let read_at = state.timestamp();
        let mut touched = Vec::new();
        for change in changes {
            let path = match change {
                Change::Set { path, .. } | Change::Remove { path } => path.clone(),
            };
            state.remove_entries(|_, entry_path, _| entry_path == path.as_bytes());
            touched.push(path);
        }
        let mut last: BTreeMap<&str, &Change> = BTreeMap::new();
        for change in changes {
            let (Change::Set { path, .. } | Change::Remove { path }) = change;
            last.insert(path, change);
        }
        for change in last.values() {
            if let Change::Set { path, id, mode, stat } = change {
                state.dangerously_push_entry(*stat, *id, Flags::empty(), *mode, path.as_bytes().as_bstr());
            }
        }
        state.sort_entries();
        for (entry, path) in state.entries_mut_with_paths() {
            if entry.stat.is_racy(read_at, Default::default()) && !touched.iter().any(|touched| path == touched.as_bytes()) {
                entry.stat.size = 0;
            }
        }
        gix_written(&state)
    }

    fn written(file: &std::path::Path, changes: &[Change], skip_hash: bool) -> Vec<u8> {
        let index = ParsedIndex::read(file).expect("a plain index reads");
        let mut update = IndexUpdate::new(index.content().unwrap());
        for change in changes {
            update.apply(change);
        }
        let mut bytes = Vec::new();
        update.write_to(&mut bytes, skip_hash).unwrap();
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Entries set, added and removed, conflicts resolved, racy entries smudged, version 2
        /// or 3: byte for byte what gix-index writes for the same changes to its parsed state,
        /// with the SHA-1 trailer of the content (zero with `index.skipHash`).
        #[test]
        fn an_update_writes_what_gix_index_writes_for_the_same_changes(described in entries(), changes in changes(), skip_hash in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let (file, state) = index_file(dir.path(), &described);
            let paths = paths();
            let changes: Vec<Change> = changes.into_iter().map(|(path, set)| match set {
                Some((size, executable)) => Change::Set {
                    path: paths[path].clone(),
                    id: ObjectId::from_bytes_or_panic(&[(size % 251) as u8; 20]),
                    mode: if executable { Mode::FILE_EXECUTABLE } else { Mode::FILE },
                    stat: stat(size, READ_AT + 10),
                },
                None => Change::Remove { path: paths[path].clone() },
            }).collect();
            let ours = written(&file, &changes, skip_hash);
            let theirs = expected(state, &changes);
            let (content, trailer) = ours.split_at(ours.len() - HASH_LEN);
            prop_assert_eq!(content, &theirs[..theirs.len() - HASH_LEN]);
            prop_assert_eq!(trailer, if skip_hash { &[0; HASH_LEN][..] } else { &theirs[theirs.len() - HASH_LEN..] });
        }
    }

    /// Long runs of unchanged entries are written and hashed where they lie, on this thread
    /// for a middling index and on a second one for a large one: still gix-index's bytes.
    #[test]
    fn a_large_index_is_written_from_where_it_lies_with_the_same_bytes() {
        for (count, threaded) in [(1_000u32, false), (30_000, true)] {
            let dir = tempfile::tempdir().unwrap();
            let described: Vec<Described> = (0..11).map(|path| (path, 0, path % 3 == 0, -1, 1)).collect();
            let (file, mut state) = index_file(dir.path(), &described);
            for index in 0..count {
                let path = format!("many/d{}/file-{index:06}.yaml", index % 13);
                state.dangerously_push_entry(stat(index, READ_AT - 5 + index % 7), ObjectId::from_bytes_or_panic(&[(index % 251) as u8; 20]), Flags::empty(), Mode::FILE, path.as_bytes().as_bstr());
            }
            state.sort_entries();
            let bytes = gix_written(&state);
            std::fs::write(&file, &bytes).unwrap();
            filetime::set_file_mtime(&file, filetime::FileTime::from_unix_time(i64::from(READ_AT), 500)).unwrap();
            let (state, _) = State::from_bytes(&bytes, filetime::FileTime::from_unix_time(i64::from(READ_AT), 500), gix_index::hash::Kind::Sha1, Default::default()).unwrap();
            let changes = [
                Change::Set { path: "many/d3/file-000003.yaml".into(), id: ObjectId::from_bytes_or_panic(&[9; 20]), mode: Mode::FILE, stat: stat(99, READ_AT + 3) },
                Change::Set { path: "many/d0/new.yaml".into(), id: ObjectId::from_bytes_or_panic(&[8; 20]), mode: Mode::FILE, stat: stat(98, READ_AT + 3) },
                Change::Remove { path: "a/b.yaml".into() },
            ];
            assert!(bytes.len() > WRITTEN_WHERE_THEY_LIE_FROM * 4);
            assert_eq!(bytes.len() > LARGE_INDEX, threaded);
            assert_eq!(written(&file, &changes, false), expected(state, &changes), "{count} entries");
        }
    }

    /// Read and written again unchanged, Git's own index (with a cache tree and the
    /// end-of-index marker) comes out as Git wrote it, trailer included.
    #[test]
    fn an_unchanged_index_is_written_as_git_wrote_it() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap().status.success());
        run(&["init", "--quiet"]);
        for path in ["a/b/c.yaml", "a/d.yaml", "e.yaml", "f/g/h/i.yaml"] {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, path).unwrap();
        }
        run(&["-c", "index.recordEndOfIndexEntries=true", "add", "-A"]);
        // A path longer than the 12 bits of an entry's length field: its end is its NUL.
        let long = format!("g/{}/end.yaml", vec!["y".repeat(200); 25].join("/"));
        let blob = "0123456789abcdef0123456789abcdef01234567";
        run(&["-c", "index.recordEndOfIndexEntries=true", "update-index", "--add", "--cacheinfo", &format!("100644,{blob},{long}")]);
        run(&["-c", "index.recordEndOfIndexEntries=true", "write-tree", "--missing-ok"]);
        let file = dir.path().join(".git/index");
        let data = std::fs::read(&file).unwrap();
        // Read as if the index were written a while after the files (none racy).
        filetime::set_file_mtime(&file, filetime::FileTime::from_unix_time(4_000_000_000, 0)).unwrap();
        let index = ParsedIndex::read(&file).unwrap();
        let content = index.content().unwrap();
        assert!(content.tree.is_some() && content.end_marker);
        assert_eq!(index.entry(&long, 0).map(|entry| entry.id.to_string()), Some(blob.to_string()));
        assert_eq!(index.entry("e.yaml", 0).map(|entry| entry.size), Some(6));
        assert_eq!(index.entry("e.yaml", 1), None);
        let mut bytes = Vec::new();
        IndexUpdate::new(content).write_to(&mut bytes, false).unwrap();
        assert_eq!(bytes, data);
    }
}
