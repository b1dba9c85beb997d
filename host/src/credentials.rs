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
//! origin only, after the sandbox's origin check ([`CredentialedFetcher`]). The plugin never
//! sees the secret: a request of its own carrying `Authorization` to that origin is refused,
//! redirects are never followed (so the header cannot be carried elsewhere), and the secret is
//! cut out of the response before the plugin reads it (so a server echoing the request cannot
//! hand it back). Reports and decision records hold only [`describe`]'s "bearer token from
//! environment variable ARGOCD_TOKEN".

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
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

/// A credential read and ready to send.
#[derive(Debug, Clone)]
pub struct ResolvedCredential {
    /// The origin it is for, as the sandbox compares origins.
    pub origin: String,
    /// The `Authorization` header value.
    header: Secret,
    /// Every form of the secret that is cut out of responses.
    redact: Vec<Secret>,
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
            let (header, redact) = match (&credential.bearer, &credential.basic) {
                (Some(bearer), _) => {
                    let token = read_secret(bearer, env).map_err(fail)?;
                    (format!("Bearer {token}"), vec![token])
                }
                (_, Some(basic)) => {
                    let password = read_secret(&basic.password, env).map_err(fail)?;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", basic.username));
                    (format!("Basic {encoded}"), vec![encoded, password])
                }
                _ => return Err(fail("no bearer or basic credential".into())),
            };
            let mut redact: Vec<Secret> = redact.into_iter().filter(|text| !text.is_empty()).map(Secret).collect();
            // Longest first, so a secret containing another is cut whole.
            redact.sort_by_key(|secret| std::cmp::Reverse(secret.0.len()));
            Ok(ResolvedCredential { origin, header: Secret(header), redact })
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
/// origin check has already passed when `get` is called.
pub struct CredentialedFetcher {
    /// Who performs the request.
    pub inner: Arc<dyn HttpFetcher>,
    /// The credentials by origin.
    pub credentials: Vec<ResolvedCredential>,
}

impl HttpFetcher for CredentialedFetcher {
    fn get(&self, url: &str, headers: &[(String, String)], timeout: Duration, max_body_bytes: u64) -> Result<HttpResponse, FetchError> {
        let origin = origin_of(url).map_err(FetchError::Failed)?;
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
        let mut response = self.inner.get(url, &headers, timeout, max_body_bytes)?;
        for secret in &credential.redact {
            response.body = replace_bytes(&response.body, secret.0.as_bytes(), b"[redacted]");
            for (_, value) in &mut response.headers {
                *value = value.replace(&secret.0, "[redacted]");
            }
        }
        Ok(response)
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut index = 0;
    while index < haystack.len() {
        if haystack[index..].starts_with(needle) {
            out.extend_from_slice(with);
            index += needle.len();
        } else {
            out.push(haystack[index]);
            index += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests;
