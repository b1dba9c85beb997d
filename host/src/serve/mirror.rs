//! A remote `--repo`: a bare clone in `--mirror-dir`, made and fetched with the user's own
//! `git` (their credentials, helpers and agents, as `--push` uses), every `--fetch-interval`
//! and on `POST /v1/refresh`. Each git run has a deadline; the mirror's branches follow the
//! remote's (the server never commits there without pushing in the same promotion).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::exit::Failure;

/// How long one clone or fetch may take.
pub const GIT_DEADLINE: Duration = Duration::from_secs(120);
/// Most bytes of git's error output kept for a message.
const MAX_GIT_MESSAGE: usize = 2000;

/// Where the repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoSource {
    /// A repository on disk, served as it is.
    Local(PathBuf),
    /// A remote one, mirrored into `dir`.
    Remote {
        /// The URL as given.
        url: String,
        /// The bare clone.
        dir: PathBuf,
    },
}

impl RepoSource {
    /// `--repo` as given: a URL (`scheme://…` or scp-like `user@host:path`) needs
    /// `--mirror-dir`; a path does not take one.
    pub fn parse(repo: &str, mirror_dir: Option<&Path>) -> Result<RepoSource, Failure> {
        let remote = repo.contains("://") || repo.split_once(':').is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
        match (remote, mirror_dir) {
            (true, Some(dir)) => {
                crate::input::text("--repo", repo, 2000).map_err(|error| Failure::bad_input(error.to_string()))?;
                if repo.starts_with('-') {
                    return Err(Failure::bad_input(format!("--repo {repo:?}: not a repository URL")));
                }
                Ok(RepoSource::Remote { url: repo.to_string(), dir: dir.to_path_buf() })
            }
            (true, None) => Err(Failure::bad_input(format!("--repo {repo}: a remote repository needs --mirror-dir DIR to mirror it into"))),
            (false, Some(_)) => Err(Failure::bad_input("--mirror-dir is for a remote --repo URL; this --repo is a path")),
            (false, None) => Ok(RepoSource::Local(PathBuf::from(repo))),
        }
    }

    /// The repository each request opens.
    pub fn path(&self) -> &Path {
        match self {
            RepoSource::Local(path) => path,
            RepoSource::Remote { dir, .. } => dir,
        }
    }
}

/// Make the mirror when `dir` does not hold one yet (a bare clone whose branches and
/// `refs/tollgate/*` follow the remote's), or check that it mirrors `url`.
pub async fn prepare(url: &str, dir: &Path) -> Result<(), Failure> {
    let existing = dir.join("HEAD").is_file();
    if existing {
        let origin = git(dir, &["config", "--get", "remote.origin.url"]).await?;
        if origin.trim() != url {
            return Err(Failure::bad_input(format!(
                "--mirror-dir {}: mirrors {}, not {url}; give an empty directory",
                dir.display(),
                origin.trim()
            )));
        }
        return fetch(dir).await;
    }
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Failure::bad_input(format!("--mirror-dir {}: not empty and not a mirror; give an empty or new directory", dir.display())));
    }
    let parent = dir.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir_text = dir.to_string_lossy();
    git(parent, &["clone", "--bare", "--quiet", "--", url, &dir_text]).await?;
    git(dir, &["config", "--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"]).await?;
    git(dir, &["config", "--add", "remote.origin.fetch", "+refs/tollgate/*:refs/tollgate/*"]).await?;
    fetch(dir).await
}

/// Fetch the remote's branches and tollgate refs into the mirror.
pub async fn fetch(dir: &Path) -> Result<(), Failure> {
    git(dir, &["fetch", "--quiet", "--prune", "origin"]).await.map(|_| ())
}

/// Run `git -C dir ARGS` with the deadline; stdout, or git's error.
async fn git(dir: &Path, args: &[&str]) -> Result<String, Failure> {
    let child = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| Failure::bad_input(format!("cannot run git ({error}); install git to serve a remote --repo")))?;
    let output = tokio::time::timeout(GIT_DEADLINE, child.wait_with_output())
        .await
        .map_err(|_| Failure::bad_input(format!("git {} took longer than {} s; stopped it", args[0], GIT_DEADLINE.as_secs())))?
        .map_err(|error| Failure::bad_input(format!("git {}: {error}", args[0])))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message: String = stderr.trim().chars().take(MAX_GIT_MESSAGE).collect();
    Err(Failure::bad_input(format!("git {} failed: {}", args[0], crate::input::escape_untrusted(&message, MAX_GIT_MESSAGE))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_mirror_dir_and_paths_refuse_one() {
        let dir = Path::new("/var/lib/tollgate/mirror");
        assert!(matches!(RepoSource::parse("https://git.example.com/gitops.git", Some(dir)), Ok(RepoSource::Remote { .. })));
        assert!(matches!(RepoSource::parse("git@git.example.com:org/gitops.git", Some(dir)), Ok(RepoSource::Remote { .. })));
        assert!(RepoSource::parse("https://git.example.com/gitops.git", None).unwrap_err().message.contains("needs --mirror-dir"));
        assert_eq!(RepoSource::parse("gitops", None), Ok(RepoSource::Local(PathBuf::from("gitops"))));
        assert!(RepoSource::parse("gitops", Some(dir)).unwrap_err().message.contains("is a path"));
    }
}
