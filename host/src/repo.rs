//! The GitOps repository, read through git2 from a branch tip: no working copy needed,
//! so it works the same in a bare repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use git2::{ObjectType, Oid, Repository};

pub(crate) mod memo;


/// A repository problem: bad input (exit 2) unless said otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoError(pub String);

impl std::fmt::Display for RepoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<git2::Error> for RepoError {
    fn from(error: git2::Error) -> Self {
        RepoError(error.message().to_string())
    }
}

/// An open repository.
pub struct GitRepo {
    repo: Repository,
    path: PathBuf,
    /// A second handle for policies' `read-file` (which runs on other threads), opened once
    /// and shared by every proposed tree, so that its object cache serves a whole batch.
    file_reader: OnceLock<Arc<Mutex<Repository>>>,
}

/// A commit at a branch tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// The commit.
    pub commit: Oid,
    /// Its tree.
    pub tree: Oid,
}

/// The read-only repository view behind `host.read-file`.
pub trait FileSource: Send + Sync {
    /// The file's text, `Ok(None)` if it does not exist, `Err` with a message otherwise.
    fn read(&self, path: &str) -> Result<Option<String>, String>;
}

/// Canned files (for cases files and tests).
impl FileSource for BTreeMap<String, String> {
    fn read(&self, path: &str) -> Result<Option<String>, String> {
        Ok(self.get(path).cloned())
    }
}

/// In a pre-receive hook the pushed objects are still quarantined: git names their directory
/// in `GIT_OBJECT_DIRECTORY` (and the repository's own in `GIT_ALTERNATE_OBJECT_DIRECTORIES`),
/// as it does for every git command the hook runs. Read them as git would.
fn add_quarantined_objects(repo: &Repository) -> Result<(), RepoError> {
    let directories = std::env::var_os("GIT_OBJECT_DIRECTORY").into_iter().chain(
        std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES").map(|list| std::env::split_paths(&list).map(|path| path.into_os_string()).collect::<Vec<_>>()).unwrap_or_default(),
    );
    let odb = repo.odb().map_err(|error| RepoError(error.message().to_string()))?;
    for directory in directories.filter(|directory| !directory.is_empty()) {
        let directory = Path::new(&directory);
        let directory = if directory.is_relative() { std::env::current_dir().unwrap_or_default().join(directory) } else { directory.to_path_buf() };
        if directory.is_dir() {
            odb.add_disk_alternate(&directory.to_string_lossy()).map_err(|error| RepoError(format!("{}: {}", directory.display(), error.message())))?;
        }
    }
    Ok(())
}

impl GitRepo {
    /// Open the repository at or above `path` (bare or not), with objects a pre-receive hook's
    /// quarantine holds.
    pub fn open(path: &Path) -> Result<GitRepo, RepoError> {
        cache_large_trees();
        let repo = Repository::discover(path)
            .map_err(|error| RepoError(format!("{}: not a Git repository ({}); use --repo DIR", path.display(), error.message())))?;
        add_quarantined_objects(&repo)?;
        Ok(GitRepo { path: path.to_path_buf(), repo, file_reader: OnceLock::new() })
    }

    /// The underlying git2 repository.
    pub fn git(&self) -> &Repository {
        &self.repo
    }

    /// Where the repository was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The working directory, for a non-bare repository.
    pub fn workdir(&self) -> Option<&Path> {
        self.repo.workdir()
    }

    /// The tip of `branch`.
    pub fn tip(&self, branch: &str) -> Result<Tip, RepoError> {
        let reference = self.repo.find_reference(&format!("refs/heads/{branch}")).map_err(|_| {
            RepoError(format!("branch {branch} does not exist in {}; set `branch:` in tollgate.yaml", self.path.display()))
        })?;
        let commit = reference.peel_to_commit()?;
        Ok(Tip { commit: commit.id(), tree: commit.tree_id() })
    }

    /// The tip of `branch`, or, when there is no local branch of that name (a fresh clone has
    /// only its default branch), of `origin`'s: what reading an environment branch needs.
    pub fn tip_or_origin(&self, branch: &str) -> Result<Tip, RepoError> {
        self.tip(branch).or_else(|error| {
            let remote = self.repo.find_reference(&format!("refs/remotes/origin/{branch}")).map_err(|_| error)?;
            let commit = remote.peel_to_commit()?;
            Ok(Tip { commit: commit.id(), tree: commit.tree_id() })
        })
    }

    /// The text of `path` in `tree`, `None` if there is no such file.
    pub fn read_file(&self, tree: Oid, path: &str) -> Result<Option<String>, RepoError> {
        read_text(&self.repo, tree, path, None)
    }

    /// A read-only view of `tree` with `overlay` applied (path → new content, `None` for
    /// deleted): the proposed post-change tree policies see through `read-file`.
    pub fn proposed_tree(&self, tree: Oid, overlay: BTreeMap<String, Option<String>>) -> Result<ProposedTree, RepoError> {
        let repo = match self.file_reader.get() {
            Some(repo) => repo.clone(),
            None => {
                let opened = Arc::new(Mutex::new(Repository::open(self.repo.path())?));
                self.file_reader.get_or_init(|| opened).clone()
            }
        };
        Ok(ProposedTree { repo, tree, overlay })
    }
}

/// Let libgit2 keep trees of any size and small blobs in its object cache (called by the
/// binary before it starts any thread, and by [`GitRepo::open`] for library users). By default it
/// caches no blob and no tree over 4 KiB, so an environment directory of a thousand
/// applications (a 40 KB tree) was inflated and hashed again for every file read below it.
pub fn cache_large_trees() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: set once per process. libgit2 reads these limits as plain integers when it
        // decides whether to cache an object it has just read, so a thread reading objects
        // meanwhile at worst does not cache one.
        unsafe {
            let _ = git2::opts::set_cache_object_limit(ObjectType::Tree, 16 * 1024 * 1024);
            let _ = git2::opts::set_cache_object_limit(ObjectType::Blob, 64 * 1024);
        }
    });
}

/// How many blob sizes a process remembers.
const REMEMBERED_SIZES: usize = 1024;

/// The size of object `id` from its header, read before the object so that one over a limit is
/// refused unread. Remembered per repository: a size never changes under its id, and libgit2
/// reads a header from disk every time, even of an object in its cache (a loose object's file
/// opened and inflated again for every request of a server).
pub(crate) fn blob_size(repo: &Repository, id: Oid) -> Result<usize, git2::Error> {
    static SIZES: memo::Memo<(Oid, PathBuf), usize> = memo::Memo::new(REMEMBERED_SIZES);
    let key = (id, repo.path().to_path_buf());
    if let Some(size) = SIZES.get(&key) {
        return Ok(size);
    }
    let (size, _) = repo.odb()?.read_header(id)?;
    SIZES.put(key, size);
    Ok(size)
}

/// The text of the blob at `path` in `tree`; with `limit`, a blob over it is refused from its
/// object header, before any of it is read.
fn read_text(repo: &Repository, tree: Oid, path: &str, limit: Option<usize>) -> Result<Option<String>, RepoError> {
    let tree = repo.find_tree(tree)?;
    let entry = match tree.get_path(Path::new(path)) {
        Ok(entry) => entry,
        Err(error) if error.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    if entry.kind() != Some(ObjectType::Blob) {
        return Ok(None);
    }
    if let Some(limit) = limit {
        let size = blob_size(repo, entry.id())?;
        if size > limit {
            return Err(RepoError(format!(
                "{path} is {size} bytes, over the {} limit for read-file",
                crate::platform::describe_bytes(limit)
            )));
        }
    }
    let blob = repo.find_blob(entry.id())?;
    String::from_utf8(blob.content().to_vec())
        .map(Some)
        .map_err(|_| RepoError(format!("{path} is not UTF-8 text")))
}

/// The proposed post-change tree, for `host.read-file`.
pub struct ProposedTree {
    repo: Arc<Mutex<Repository>>,
    tree: Oid,
    overlay: BTreeMap<String, Option<String>>,
}

impl FileSource for ProposedTree {
    fn read(&self, path: &str) -> Result<Option<String>, String> {
        if let Some(content) = self.overlay.get(path) {
            return Ok(content.clone());
        }
        let repo = self.repo.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        read_text(&repo, self.tree, path, Some(crate::platform::MAX_FILE_BYTES)).map_err(|error| error.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository whose one commit holds `files`; returns it and the commit's tree.
    fn repo_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, GitRepo, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let tree = {
            let mut builder = repo.treebuilder(None).unwrap();
            for (name, content) in files {
                let blob = repo.blob(content).unwrap();
                builder.insert(name, blob, 0o100644).unwrap();
            }
            builder.write().unwrap()
        };
        drop(repo);
        let repo = GitRepo::open(dir.path()).unwrap();
        (dir, repo, tree)
    }

    #[test]
    fn read_file_refuses_a_blob_over_the_limit_from_its_header() {
        let big = vec![b'x'; crate::platform::MAX_FILE_BYTES + 1];
        let (_dir, repo, tree) = repo_with(&[("big.yaml", &big), ("small.yaml", b"a: 1\n")]);
        let view = repo.proposed_tree(tree, BTreeMap::new()).unwrap();
        assert_eq!(view.read("small.yaml"), Ok(Some("a: 1\n".to_string())));
        assert_eq!(view.read("big.yaml"), Err(format!("big.yaml is {} bytes, over the 4 MiB limit for read-file", big.len())));
        // The configuration's own reads are not capped by the plugin limit.
        assert_eq!(repo.read_file(tree, "big.yaml").unwrap().map(|text| text.len()), Some(big.len()));
    }
}
