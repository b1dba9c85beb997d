//! Helpers: run the binary, find the built plugins, write fixture files, serve HTTP.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The built component of a plugin package (e.g. `image-policy`).
pub fn plugin(package: &str) -> PathBuf {
    tollgate_test_plugins::component(package)
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A compile cache shared by all tests of this run (Cranelift in a debug build is slow).
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

/// Finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().expect("tollgate exited normally"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }
}

/// Run `tollgate ARGS` with the shared compile cache.
pub fn tollgate(args: &[&str]) -> Run {
    tollgate_with_cache(&shared_cache(), args)
}

/// Run `tollgate ARGS` with a given compile cache directory.
pub fn tollgate_with_cache(cache: &Path, args: &[&str]) -> Run {
    tollgate_env(cache, args, &[])
}

/// Run `tollgate ARGS` with a compile cache directory and extra environment variables.
pub fn tollgate_env(cache: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .current_dir(workspace())
        .env_remove("TOLLGATE_CACHE_DIR")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .expect("run tollgate");
    Run::from(output)
}

/// The published SARIF 2.1.0 JSON Schema (OASIS), kept in `tests/fixtures/sarif/` (with its
/// origin, hash and licence) so that no test needs the network.
pub fn published_sarif_schema() -> serde_json::Value {
    let path = workspace().join("tests/fixtures/sarif/sarif-schema-2.1.0.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        "af47e7b67f24efe74076621fd3a5fbe7398add9e84fe820c971219a385895cea",
        "{} is not the published schema its README names",
        path.display()
    );
    let schema: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(schema["title"], "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema");
    schema
}

/// Every file under `dir` (none when it does not exist), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() { stack.push(path) } else { found.push(path) }
        }
    }
    found.sort();
    found
}

/// Clone `remote` into `clone` (bare or with a work tree), as a promoter's repository: a bare
/// clone gets the fetch refspec it lacks by default, so it has remote-tracking refs.
pub fn clone_remote(remote: &str, clone: &str, bare: bool) {
    let mut args = vec!["clone", "--quiet"];
    if bare {
        args.push("--bare");
    }
    args.extend([remote, clone]);
    let output = Command::new("git").args(&args).output().expect("run git");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    if bare {
        git(clone, &["config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"]);
    }
}

/// Write `content` to `name` in `dir` and return the path as a string.
pub fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

/// A cases file for the hostile plugin with one case.
pub fn hostile_case(dir: &Path, behaviour: &str, extra: &str, expect: &str) -> String {
    write(
        dir,
        &format!("{behaviour}.yaml"),
        &format!("config: {{ behaviour: {behaviour} }}\n{extra}\ncases:\n  - name: {behaviour}\n    expect: {expect}\n"),
    )
}

/// A one-shot-per-connection HTTP server on 127.0.0.1 that answers every request with
/// `status` and `body` after `delay`. Returns its origin; it serves until the test ends.
pub fn http_server(status: u16, body: &'static str, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                    line.clear();
                }
                std::thread::sleep(delay);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    origin
}

/// A fresh copy of the demo's GitOps repository (non-bare, branch main checked out):
/// shop-api (Helm) and shop-web (Kustomize) at 1.4.1 / 2.0.0 in dev, test and prod.
pub fn gitops_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    tollgate::cli::demo::create_repository(&repo, tollgate::cli::demo::SECRET_SCOPE_CONFIG).unwrap();
    dir
}

/// A checked-out repository (branch main) whose one commit holds `files` (path, content).
/// Returns the temporary directory and the repository path.
pub fn committed_repo(files: &[(String, String)]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    for (path, content) in files {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let repo = repo.to_str().unwrap().to_string();
    init_and_commit(&repo);
    (dir, repo)
}

/// Make the directory `repo` a Git repository (branch main) whose one commit holds its files.
pub fn init_and_commit(repo: &str) {
    git(repo, &["init", "--quiet", "--initial-branch", "main"]);
    git(repo, &["config", "user.name", "platform team"]);
    git(repo, &["config", "user.email", "platform@example.com"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", "initial desired state"]);
}

/// Promote shop-api 1.4.2 into dev and test of a [`gitops_repo`], as every prod test needs.
pub fn promote_to_test(repo: &str) {
    let run = tollgate_in(repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", &format!("sha256:{}", "ab".repeat(32)), "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(repo, &["promote", "shop-api", "--to", "test", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// The repository inside a [`gitops_repo`] directory.
pub fn repo_path(dir: &tempfile::TempDir) -> String {
    dir.path().join("repo").to_str().unwrap().to_string()
}

/// Run `git ARGS` in `repo` and return stdout.
pub fn git(repo: &str, args: &[&str]) -> String {
    let output = Command::new("git").arg("-C").arg(repo).args(args).output().expect("run git");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Run `tollgate --repo REPO ARGS`.
pub fn tollgate_in(repo: &str, args: &[&str]) -> Run {
    let mut all = vec!["--repo", repo];
    all.extend_from_slice(args);
    tollgate(&all)
}

/// Everything that identifies a repository's state: refs (with notes) and the worktree status.
pub fn snapshot(repo: &str) -> String {
    let refs = git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"]);
    let status = if Path::new(repo).join(".git").exists() { git_read_only(repo, &["status", "--porcelain", "--ignored"]) } else { String::new() };
    format!("{refs}\n{status}")
}

/// Run `git ARGS` in `repo` without the index refresh git otherwise writes opportunistically
/// (`GIT_OPTIONAL_LOCKS=0`), so that looking never changes what is looked at.
pub fn git_read_only(repo: &str, args: &[&str]) -> String {
    let output = Command::new("git").arg("-C").arg(repo).args(args).env("GIT_OPTIONAL_LOCKS", "0").output().expect("run git");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The git directory of `repo` byte for byte: every file under it (objects loose and packed,
/// the index, refs, logs, config) with the SHA-256 of its content, one per line, plus the
/// ids of every object the repository holds.
pub fn git_dir_bytes(repo: &str) -> String {
    use sha2::Digest;
    let git_dir = PathBuf::from(git_read_only(repo, &["rev-parse", "--absolute-git-dir"]).trim());
    let mut lines: Vec<String> = files_under(&git_dir)
        .into_iter()
        .map(|file| {
            let content = std::fs::read(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
            format!("{} {}", hex::encode(sha2::Sha256::digest(&content)), file.strip_prefix(&git_dir).unwrap().display())
        })
        .collect();
    lines.push(git_read_only(repo, &["cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)"]));
    lines.join("\n")
}

/// The decision record that commit `rev` of `repo` adds, parsed.
pub fn record_at(repo: &str, rev: &str) -> serde_json::Value {
    let files = git(repo, &["show", "--name-only", "--format=", rev]);
    let path = files.lines().find(|line| line.starts_with(".tollgate/decisions/") && line.ends_with(".decision")).unwrap_or_else(|| panic!("{rev} adds no record: {files}"));
    serde_json::from_str(&git(repo, &["show", &format!("{rev}:{path}")])).unwrap()
}

/// A loopback port that refuses connections for as long as this is held: a TCP socket bound
/// to it that never listens. Unlike a port bound and released, no other test's server can
/// take it meanwhile (the socket has no SO_REUSEADDR, so every other bind to it fails).
pub struct ClosedPort {
    _socket: std::os::fd::OwnedFd,
    /// The port.
    pub port: u16,
}

/// See [`ClosedPort`].
pub fn closed_port() -> ClosedPort {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns; the address structures
    // are zero-initialised C structs of the sizes passed.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let socket = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut address: libc::sockaddr_in = std::mem::zeroed();
        address.sin_family = libc::AF_INET as libc::sa_family_t;
        address.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&raw const address).cast(), size), 0, "bind: {}", std::io::Error::last_os_error());
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut length = size;
        assert_eq!(libc::getsockname(fd, (&raw mut bound).cast(), &mut length), 0, "getsockname: {}", std::io::Error::last_os_error());
        ClosedPort { _socket: socket, port: u16::from_be(bound.sin_port) }
    }
}

/// Start a server that must bind a port it is told, on a free port: `start(port)` returns
/// the server once it answers there as itself, or `None` when the port was taken between
/// choosing it and the server binding it (then another port is tried; only this set-up is
/// retried, never what a test asserts).
pub fn start_on_a_free_port<T>(what: &str, mut start: impl FnMut(u16) -> Option<T>) -> T {
    for _ in 0..10 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if let Some(server) = start(port) {
            return server;
        }
    }
    panic!("{what}: 10 free ports were each taken before it could bind them");
}
