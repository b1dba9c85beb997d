//! Registry credentials as container tools find them: `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`), a credential helper for the host (`credHelpers`, then
//! `credsStore`), then an `auths` entry, else anonymous. Each result says where it came
//! from, so a refusal (401/403) can name the credentials that were tried.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

/// What is sent to a registry (and its token realm, which exchanges it for a bearer token).
#[derive(Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Nothing: anonymous pulls, or tokens a realm grants to anyone.
    Anonymous,
    /// A user name and a password (or an access token used as one).
    Basic(String, String),
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryAuth::Anonymous => f.write_str("Anonymous"),
            RegistryAuth::Basic(username, _) => write!(f, "Basic({username:?}, [redacted])"),
        }
    }
}

/// Credentials for one registry and where they came from.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// What is sent (the bearer-token flow exchanges basic credentials for a token).
    pub auth: RegistryAuth,
    /// For messages: "anonymous", "user bob from /home/me/.docker/config.json (auths)", ….
    pub described: String,
}

impl Credentials {
    fn anonymous(note: &str) -> Self {
        Credentials { auth: RegistryAuth::Anonymous, described: format!("anonymous{note}") }
    }
}

/// The parts of a Docker config file this reads.
#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// What a `docker-credential-*` helper prints for `get`.
#[derive(Debug, Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The Docker config file to read: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").filter(|home| !home.is_empty()).map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// Credentials for `registry` (`host[:port]`). A config file that exists but cannot be read
/// or parsed is an error (silently going anonymous would hide the mistake).
pub fn for_registry(registry: &str) -> Result<Credentials, String> {
    let Some(path) = docker_config_path() else { return Ok(Credentials::anonymous(" (no HOME or DOCKER_CONFIG)")) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Credentials::anonymous(&format!(" ({} does not exist)", path.display())));
        }
        Err(error) => return Err(format!("{}: cannot read it ({error})", path.display())),
    };
    let config: DockerConfig =
        serde_json::from_str(&text).map_err(|error| format!("{}: not a Docker config file ({error})", path.display()))?;
    let helper = config.cred_helpers.iter().find(|(key, _)| same_registry(server_host(key), registry)).map(|(_, helper)| helper).or(config.creds_store.as_ref());
    if let Some(helper) = helper
        && let Some(credentials) = from_helper(helper, registry)?
    {
        return Ok(credentials);
    }
    let entry = config.auths.iter().find(|(key, _)| same_registry(server_host(key), registry)).map(|(_, entry)| entry);
    match entry {
        Some(entry) => {
            let (username, password) = decode_entry(entry)
                .ok_or_else(|| format!("{}: auths entry for {registry} has no usable auth or username/password", path.display()))?;
            Ok(Credentials {
                described: format!("user {username:?} from {} (auths)", path.display()),
                auth: RegistryAuth::Basic(username, password),
            })
        }
        None => Ok(Credentials::anonymous(&format!(" ({} has no entry for {registry})", path.display()))),
    }
}

/// Whether a config key's host names `registry`: Docker Hub is one registry under the names
/// `docker login` writes (`index.docker.io`) and the host its API answers on.
fn same_registry(host: &str, registry: &str) -> bool {
    const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    host == registry || (DOCKER_HUB.contains(&host) && DOCKER_HUB.contains(&registry))
}

/// The host of a config key, which may be `host`, `https://host` or `https://host/v1/`.
fn server_host(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn decode_entry(entry: &AuthEntry) -> Option<(String, String)> {
    if let Some(auth) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (username, password) = decoded.split_once(':')?;
        return Some((username.to_string(), password.to_string()));
    }
    Some((entry.username.clone()?, entry.password.clone()?))
}

/// Ask `docker-credential-HELPER get` for the host. `Ok(None)` when the helper has nothing
/// for it (then `auths` is tried).
fn from_helper(helper: &str, registry: &str) -> Result<Option<Credentials>, String> {
    if helper.is_empty() || !helper.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(format!("credential helper name {helper:?} in the Docker config is not a plain name"));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("credential helper {program} (configured for {registry}) cannot be run: {error}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let output = child.wait_with_output().map_err(|error| format!("credential helper {program}: {error}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("credential helper {program} failed for {registry}: {said}"));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("credential helper {program} answered something that is not credentials ({error})"))?;
    Ok(Some(Credentials {
        described: format!("user {:?} from credential helper {program}", answer.username),
        auth: RegistryAuth::Basic(answer.username, answer.secret),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_match_by_host() {
        assert_eq!(server_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(server_host("127.0.0.1:5000"), "127.0.0.1:5000");
        let entry = AuthEntry { auth: Some(base64::engine::general_purpose::STANDARD.encode("bob:s3:cret")), ..AuthEntry::default() };
        assert_eq!(decode_entry(&entry), Some(("bob".to_string(), "s3:cret".to_string())));
    }

    #[test]
    fn docker_logins_to_docker_hub_are_found_for_the_host_its_api_answers_on() {
        assert!(same_registry(server_host("https://index.docker.io/v1/"), "registry-1.docker.io"));
        assert!(!same_registry("index.docker.io", "ghcr.io"));
        assert!(!same_registry("127.0.0.1:5000", "127.0.0.1:5001"));
    }
}
