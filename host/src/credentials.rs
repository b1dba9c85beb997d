//! Host-held credentials per granted HTTP origin: a policy's entry in tollgate.yaml names
//! *where* the host reads a secret (an environment variable or a file), never the secret.
//!
//! ```yaml
//! policies:
//!   - plugin: builtin:deployment-health
//!     http_origins: [https://argocd.example.com, https://alertmanager.example.com]
//!     credentials:
//!       https://argocd.example.com: { bearer: { env: ARGOCD_TOKEN } }
//!       https://alertmanager.example.com:
//!         basic: { username: tollgate, password: { file: /run/secrets/alertmanager-password } }
//! ```
//!
//! The host reads the secret when the policy runs and adds `Authorization` to requests to that
//! origin only, after the sandbox's origin check ([`CredentialedFetcher`]). The plugin must
//! never see the secret: a request of its own carrying `Authorization` to that origin is
//! refused, and redirects are never followed (so the header cannot be carried elsewhere).
//! A server that reflects its request could still hand the secret back in some encoding,
//! so [`scan::SecretScan`] looks for the common encodings of every secret in each response
//! from an origin that received one (before the plugin reads it), in everything the policy
//! sends to any origin (URL and headers), and in its findings, logs and output. A hit stops
//! the policy: it fails closed with a cause naming the origin, never the secret, and nothing
//! it produced is kept. Secrets shorter than [`scan::MIN_SECRET_CHARS`] are refused at load.
//! Reports and decision records hold only [`describe`]'s "bearer token from environment
//! variable ARGOCD_TOKEN".

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::runtime::{FetchError, HttpFetcher, HttpResponse, origin_of};

/// What the host sends to one origin: exactly one of `bearer` or `basic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginCredential {
    /// `Authorization: Bearer <token>`, the token read from this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<SecretSource>,
    /// `Authorization: Basic …` with this user name and a password read from a source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicCredential>,
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicCredential {
    /// The user name (not secret; stored in records like the rest of the configuration).
    pub username: String,
    /// Where the host reads the password.
    pub password: SecretSource,
}

/// Where the host reads a secret: exactly one of `env` or `file`. Never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable of the tollgate process, e.g. `ARGOCD_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Absolute path of a file holding the secret (one trailing newline is ignored), e.g.
    /// `/run/secrets/argocd-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Checks that need no environment: the origin is granted, each credential has exactly one
/// kind and each source exactly one place. `Err` is (sub-field, message).
pub fn check(origin: &str, credential: &OriginCredential, granted: &[String]) -> Result<(), (&'static str, String)> {
    let normalised = origin_of(origin).map_err(|error| ("", error))?;
    if normalised != origin.trim_end_matches('/') {
        return Err(("", format!("{origin:?} is not a bare origin; write it as {normalised:?}")));
    }
    if !granted.iter().any(|granted| granted.trim_end_matches('/') == normalised) {
        return Err((
            "",
            format!("{origin} is not in http_origins; credentials are only sent to a granted origin, so grant it or remove them"),
        ));
    }
    match (&credential.bearer, &credential.basic) {
        (Some(source), None) => check_source(source).map_err(|message| ("bearer", message)),
        (None, Some(basic)) => {
            if basic.username.is_empty() || basic.username.contains(':') || basic.username.chars().any(char::is_control) {
                return Err(("basic", "username must be non-empty, without `:` or control characters".into()));
            }
            check_source(&basic.password).map_err(|message| ("basic", message))
        }
        _ => Err(("", "give exactly one of bearer: { env: NAME } or basic: { username: …, password: { env: NAME } }".into())),
    }
}

fn check_source(source: &SecretSource) -> Result<(), String> {
    match (&source.env, &source.file) {
        (Some(name), None) if !name.is_empty() && !name.contains(['=', '\0']) => Ok(()),
        (Some(name), None) => Err(format!("{name:?} is not an environment variable name")),
        (None, Some(path)) if Path::new(path).is_absolute() => Ok(()),
        (None, Some(path)) => Err(format!(
            "{path} is not an absolute path; give the secret file's absolute path (never a file in the repository)"
        )),
        _ => Err("give exactly one of env: NAME or file: /absolute/path, never the secret itself".into()),
    }
}

/// For reports and records: the kind and the source, never the secret.
pub fn describe(credential: &OriginCredential) -> String {
    let source = |source: &SecretSource| match (&source.env, &source.file) {
        (Some(name), _) => format!("environment variable {name}"),
        (_, Some(path)) => format!("file {path}"),
        _ => "nowhere".to_string(),
    };
    match (&credential.bearer, &credential.basic) {
        (Some(bearer), _) => format!("bearer token from {}", source(bearer)),
        (_, Some(basic)) => format!("basic auth as {} with the password from {}", basic.username, source(&basic.password)),
        _ => "none".to_string(),
    }
}

/// Text that must never be shown: `Debug` prints `[redacted]`, and it is not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

pub mod scan;

/// A credential read and ready to send.
#[derive(Debug, Clone)]
pub struct ResolvedCredential {
    /// The origin it is for, as the sandbox compares origins.
    pub origin: String,
    /// The `Authorization` header value.
    header: Secret,
    /// The forms of the secret that must never reach the plugin or leave through it.
    scan: scan::SecretScan,
}

/// Read every credential of a policy from its source. `Err` names the origin and the source
/// (never a value) and says what to do: the policy fails closed.
pub fn resolve(credentials: &BTreeMap<String, OriginCredential>) -> Result<Vec<ResolvedCredential>, String> {
    resolve_with(credentials, &|name| std::env::var_os(name))
}

/// [`resolve`] with environment variables looked up by `env` (tests give their own).
pub fn resolve_with(
    credentials: &BTreeMap<String, OriginCredential>,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Vec<ResolvedCredential>, String> {
    credentials
        .iter()
        .map(|(origin, credential)| {
            let fail = |message: String| format!("credentials for {origin}: {message}");
            let origin = origin_of(origin).map_err(fail)?;
            let (header, scan) = match (&credential.bearer, &credential.basic) {
                (Some(bearer), _) => {
                    let token = read_secret(bearer, env).map_err(fail)?;
                    (format!("Bearer {token}"), scan::SecretScan::new(&[&token]))
                }
                (_, Some(basic)) => {
                    let password = read_secret(&basic.password, env).map_err(fail)?;
                    let pair = format!("{}:{password}", basic.username);
                    let encoded = base64::engine::general_purpose::STANDARD.encode(&pair);
                    // The pair's base64 forms cover the header value in any alignment.
                    (format!("Basic {encoded}"), scan::SecretScan::new(&[&password, &pair]))
                }
                _ => return Err(fail("no bearer or basic credential".into())),
            };
            Ok(ResolvedCredential { origin, header: Secret(header), scan })
        })
        .collect()
}

fn read_secret(source: &SecretSource, env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Result<String, String> {
    let value = match (&source.env, &source.file) {
        (Some(name), _) => match env(name).map(std::ffi::OsString::into_string) {
            Some(Ok(value)) => value,
            None => return Err(format!("environment variable {name} is not set; set it in the environment tollgate runs in")),
            Some(Err(_)) => return Err(format!("environment variable {name} is not UTF-8 text")),
        },
        (_, Some(path)) => read_secret_file(Path::new(path))?,
        _ => return Err("no secret source".into()),
    };
    let value = value.strip_suffix('\n').map(|value| value.strip_suffix('\r').unwrap_or(value)).unwrap_or(value.as_str()).to_string();
    let place = match (&source.env, &source.file) {
        (Some(name), _) => format!("environment variable {name}"),
        (_, Some(path)) => format!("file {path}"),
        _ => String::new(),
    };
    if value.is_empty() {
        return Err(format!("{place} is empty"));
    }
    // Shorter secrets could turn up by chance in what a server answers, where the host
    // looks for them (see `scan`).
    if value.chars().count() < scan::MIN_SECRET_CHARS {
        return Err(format!(
            "{place} holds a secret of {} characters; tollgate needs at least {} (use a longer token or password)",
            value.chars().count(),
            scan::MIN_SECRET_CHARS
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{place} holds control characters (a line break inside?); it must be one line"));
    }
    Ok(value)
}

fn read_secret_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read file {} ({error})", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("file {} is not UTF-8 text", path.display()))
}

/// Adds a policy's credentials to requests to their origins; used under the sandbox, whose
/// origin check has already passed when `get` is called. Every request of the policy (to any
/// origin) goes through it, so it also screens what the policy sends, and what credentialed
/// origins answer, for the secrets' forms; after a hit it refuses every further request and
/// [`HttpFetcher::leak`] reports it, which fails the policy.
pub struct CredentialedFetcher {
    /// Who performs the request.
    inner: Arc<dyn HttpFetcher>,
    /// The credentials by origin.
    credentials: Vec<ResolvedCredential>,
    /// Why the policy was stopped, once a secret's form turned up.
    tripped: Mutex<Option<String>>,
}

impl CredentialedFetcher {
    /// Requests through `inner`, with `credentials` attached to their origins.
    pub fn new(inner: Arc<dyn HttpFetcher>, credentials: Vec<ResolvedCredential>) -> Self {
        CredentialedFetcher { inner, credentials, tripped: Mutex::new(None) }
    }

    fn trip(&self, cause: String) -> FetchError {
        let mut tripped = self.tripped.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tripped.get_or_insert(cause.clone());
        FetchError::Failed(format!("refused: {cause}"))
    }

    fn tripped(&self) -> Option<String> {
        self.tripped.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The origin of the first credential a form of which is in `text`.
    fn holder_found_in(&self, text: &[u8]) -> Option<&str> {
        self.credentials.iter().find(|credential| credential.scan.found_in(text)).map(|credential| credential.origin.as_str())
    }
}

impl HttpFetcher for CredentialedFetcher {
    fn get(&self, url: &str, headers: &[(String, String)], timeout: Duration, max_body_bytes: u64) -> Result<HttpResponse, FetchError> {
        if let Some(cause) = self.tripped() {
            return Err(FetchError::Failed(format!("refused: {cause}")));
        }
        let origin = origin_of(url).map_err(FetchError::Failed)?;
        let request: Vec<u8> = std::iter::once(url.to_string())
            .chain(headers.iter().map(|(name, value)| format!("{name}: {value}")))
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
        if let Some(holder) = self.holder_found_in(&request) {
            return Err(self.trip(format!("the policy tried to send a form of the credential for {holder} to {origin}; the policy was stopped")));
        }
        let Some(credential) = self.credentials.iter().find(|credential| credential.origin == origin) else {
            return self.inner.get(url, headers, timeout, max_body_bytes);
        };
        if headers.iter().any(|(name, _)| name.trim().eq_ignore_ascii_case("authorization")) {
            return Err(FetchError::Failed(format!(
                "refused: tollgate sends the credentials for {origin} itself; a policy may not set an Authorization header for it"
            )));
        }
        let mut headers = headers.to_vec();
        headers.push(("authorization".to_string(), credential.header.0.clone()));
        let response = self.inner.get(url, &headers, timeout, max_body_bytes)?;
        let answer: Vec<u8> = response
            .headers
            .iter()
            .flat_map(|(name, value)| format!("{name}: {value}\n").into_bytes())
            .chain(response.body.iter().copied())
            .collect();
        if let Some(holder) = self.holder_found_in(&answer) {
            return Err(self.trip(format!(
                "the answer from {origin} carried a form of the credential for {holder} (a server that echoes credentials \
                 must not be given them); the policy was stopped before reading it"
            )));
        }
        Ok(response)
    }

    fn leak(&self, texts: &[&str]) -> Option<String> {
        if let Some(cause) = self.tripped() {
            return Some(cause);
        }
        let holder = texts.iter().find_map(|text| self.holder_found_in(text.as_bytes()))?;
        Some(format!("the policy's findings, logs or output carried a form of the credential for {holder}; nothing it produced is kept"))
    }
}

#[cfg(test)]
mod tests;
