//! Helpers: run the binary, find the built plugins, write fixture files, serve HTTP.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The built component of a plugin package (e.g. `image-policy`).
pub fn plugin(package: &str) -> PathBuf {
    PathBuf::from(env!("TOLLGATE_PLUGIN_DIR")).join(format!("{}.wasm", package.replace('-', "_")))
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

/// The published SARIF 2.1.0 JSON Schema (OASIS), as shipped in the `serde-sarif` crate on
/// crates.io: fetched with cargo into a scratch project, not copied into this repository.
pub fn published_sarif_schema() -> serde_json::Value {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("published-sarif-schema");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"sarif-schema-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nserde-sarif = \"=0.8.0\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let manifest = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|package| package["name"] == "serde-sarif")
        .and_then(|package| package["manifest_path"].as_str())
        .expect("serde-sarif in the metadata")
        .to_string();
    let schema = Path::new(&manifest).parent().unwrap().join("src/schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&schema).unwrap()).unwrap();
    assert_eq!(schema["title"], "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema");
    schema
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
    let status = if Path::new(repo).join(".git").exists() { git(repo, &["status", "--porcelain", "--ignored"]) } else { String::new() };
    format!("{refs}\n{status}")
}

/// The decision record that commit `rev` of `repo` adds, parsed.
pub fn record_at(repo: &str, rev: &str) -> serde_json::Value {
    let files = git(repo, &["show", "--name-only", "--format=", rev]);
    let path = files.lines().find(|line| line.starts_with(".tollgate/decisions/") && line.ends_with(".decision")).unwrap_or_else(|| panic!("{rev} adds no record: {files}"));
    serde_json::from_str(&git(repo, &["show", &format!("{rev}:{path}")])).unwrap()
}
