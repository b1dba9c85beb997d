//! A Git repository's tags, for discovery of Git revisions: the user's own `git ls-remote
//! --tags` (their credentials and transport configuration apply), bounded in output bytes
//! and in time by the registry operation deadline. The remote is not trusted: names outside
//! the ref grammar and ids that are not 40 hex digits are dropped.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::registry::transport::operation_timeout;

/// At most this many bytes of `git ls-remote` output are read.
pub const MAX_LS_REMOTE_BYTES: u64 = 8 * 1024 * 1024;

/// One tag and the commit it names (an annotated tag's peeled commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitTag {
    /// The tag name, without `refs/tags/`.
    pub name: String,
    /// The commit id.
    pub commit: String,
}

/// The tags of the repository at `url`.
pub fn remote_tags(url: &str) -> Result<Vec<GitTag>, String> {
    if url.starts_with('-') {
        return Err(format!("{url:?} is not a Git URL"));
    }
    let timeout = operation_timeout()?;
    let mut child = Command::new("git")
        .args(["-c", "protocol.ext.allow=never", "ls-remote", "--tags", "--", url])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run git ls-remote ({error}); is git installed?"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let overflowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let overflow = overflowed.clone();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let read = (&mut stdout).take(MAX_LS_REMOTE_BYTES + 1).read_to_end(&mut bytes);
        overflow.store(bytes.len() as u64 > MAX_LS_REMOTE_BYTES, std::sync::atomic::Ordering::SeqCst);
        read.map(|_| bytes)
    });
    let errors = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = (&mut stderr).take(16 * 1024).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).trim().to_string()
    });
    let deadline = Instant::now() + timeout;
    let too_much = || format!("git ls-remote {url}: more than {MAX_LS_REMOTE_BYTES} bytes of tags; refusing them");
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|error| format!("git ls-remote {url}: {error}"))? {
            break status;
        }
        // The reader stops at the bound; git, unread, would wait on a full pipe until the deadline.
        let over = overflowed.load(std::sync::atomic::Ordering::SeqCst);
        if over || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            if over {
                return Err(too_much());
            }
            return Err(format!("git ls-remote {url}: no answer within {} s (TOLLGATE_REGISTRY_TIMEOUT)", timeout.as_secs()));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let bytes = reader.join().map_err(|_| "git ls-remote: reading its output failed".to_string())?.map_err(|error| format!("git ls-remote {url}: {error}"))?;
    let said = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("git ls-remote {url} failed: {}", crate::input::escape_untrusted(&said, 400)));
    }
    if bytes.len() as u64 > MAX_LS_REMOTE_BYTES {
        return Err(too_much());
    }
    Ok(parse_ls_remote(&String::from_utf8_lossy(&bytes)))
}

/// The tags in `git ls-remote --tags` output; an annotated tag's `^{}` line gives its commit.
fn parse_ls_remote(output: &str) -> Vec<GitTag> {
    let mut tags: Vec<GitTag> = Vec::new();
    for line in output.lines() {
        let Some((id, name)) = line.split_once('\t') else { continue };
        let Some(name) = name.strip_prefix("refs/tags/") else { continue };
        if !crate::transition::is_commit_id(id) {
            continue;
        }
        let (name, peeled) = match name.strip_suffix("^{}") {
            Some(name) => (name, true),
            None => (name, false),
        };
        if crate::input::version("tag", name).is_err() || crate::transition::ArtifactKind::GitRevision.check_version(name).is_err() {
            continue;
        }
        match tags.iter_mut().find(|tag| tag.name == name) {
            Some(tag) if peeled => tag.commit = id.to_string(),
            Some(_) => {}
            None => tags.push(GitTag { name: name.to_string(), commit: id.to_string() }),
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotated_tags_name_their_commit_and_odd_names_are_dropped() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let c = "c".repeat(40);
        let output = format!("{a}\trefs/tags/v1.0.0\n{b}\trefs/tags/v1.0.0^{{}}\n{c}\trefs/tags/v1.1.0\n{c}\trefs/tags/bad..name\n{c}\trefs/heads/main\nzz\trefs/tags/v2\n");
        assert_eq!(parse_ls_remote(&output), vec![GitTag { name: "v1.0.0".into(), commit: b }, GitTag { name: "v1.1.0".into(), commit: c }]);
    }
}
