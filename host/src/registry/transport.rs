//! HTTP to one OCI registry (ureq, blocking): the Docker/OCI token flow, one overall deadline
//! per operation, and every response body read up to a bound, whatever it is (manifest,
//! blob, error, token). Registries are not trusted: an endless body or a dripping server ends
//! the operation with an error naming the limit, never an unbounded read or a hang.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::credentials::{Credentials, RegistryAuth};
use crate::input::escape_untrusted;

/// The environment variable that sets the overall deadline of one registry operation.
pub const TIMEOUT_VARIABLE: &str = "TOLLGATE_REGISTRY_TIMEOUT";
/// The deadline of one registry operation (a pull: manifest, layer and signature) by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long to wait for a registry to accept a connection (within the deadline).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A token answer larger than this is refused (real ones are a few KiB).
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;
/// An error body is read up to this size for its message; the rest is never read.
pub const MAX_ERROR_BYTES: u64 = 16 * 1024;
/// Redirects followed for one blob download (each to a fresh, unauthenticated request
/// when it leaves the registry).
const MAX_REDIRECTS: usize = 5;

/// The overall deadline of one registry operation: `TOLLGATE_REGISTRY_TIMEOUT` (whole
/// seconds, at least 1), else [`DEFAULT_TIMEOUT`].
pub fn operation_timeout() -> Result<Duration, String> {
    match std::env::var(TIMEOUT_VARIABLE) {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_TIMEOUT),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(seconds) if (1..=86_400).contains(&seconds) => Ok(Duration::from_secs(seconds)),
            _ => Err(format!("{TIMEOUT_VARIABLE}={text:?} is not a number of seconds between 1 and 86400")),
        },
        Err(_) => Err(format!("{TIMEOUT_VARIABLE} is not UTF-8 text; give a number of seconds")),
    }
}

/// A request's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST (empty body)
    Post,
    /// PUT with a body
    Put,
}

/// Why a request produced no usable response.
#[derive(Debug)]
pub enum TransportError {
    /// The registry could not be reached (connection, DNS, TLS, an I/O error).
    Unreachable(String),
    /// The operation's deadline passed.
    TimedOut(Duration),
    /// Anything else, as a message naming the cause.
    Other(String),
}

/// HTTP to one registry, with its credentials and one deadline for everything it does.
pub struct Transport {
    agent: ureq::Agent,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host[:port]` of the registry.
    pub registry: String,
    /// Registries named with `--insecure-registry`.
    insecure: Vec<String>,
    /// The credentials used for this registry.
    pub credentials: Credentials,
    deadline: Instant,
    timeout: Duration,
    /// `Authorization` values obtained per scope (bearer tokens, or basic when asked for).
    authorizations: Mutex<BTreeMap<String, String>>,
}

impl Transport {
    /// A transport whose deadline starts now.
    pub fn new(registry: &str, plain_http: bool, insecure: &[String], credentials: Credentials, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Transport {
            agent,
            scheme: if plain_http { "http" } else { "https" },
            registry: registry.to_string(),
            insecure: insecure.to_vec(),
            credentials,
            deadline: Instant::now() + timeout,
            timeout,
            authorizations: Mutex::new(BTreeMap::new()),
        }
    }

    /// `scheme://registry/v2/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}/v2/{path}", self.scheme, self.registry)
    }

    fn remaining(&self) -> Result<Duration, TransportError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() { Err(TransportError::TimedOut(self.timeout)) } else { Ok(left) }
    }

    /// One request without the auth flow: `authorization` as given, the deadline applied to
    /// the whole exchange (body reading included).
    fn raw(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        let left = self.remaining()?;
        // The two builder types (with and without a body) take the same settings.
        macro_rules! prepare {
            ($request:expr) => {{
                let mut request = $request.config().timeout_global(Some(left)).timeout_connect(Some(left.min(CONNECT_TIMEOUT))).build();
                for (name, value) in headers {
                    request = request.header(*name, value);
                }
                if let Some(authorization) = authorization {
                    request = request.header("Authorization", authorization);
                }
                request
            }};
        }
        let result = match method {
            Method::Get => prepare!(self.agent.get(url)).call(),
            Method::Head => prepare!(self.agent.head(url)).call(),
            Method::Post if body.is_empty() => prepare!(self.agent.post(url)).send_empty(),
            Method::Post => prepare!(self.agent.post(url)).send(body),
            Method::Put => prepare!(self.agent.put(url)).send(body),
        };
        result.map_err(|error| self.transport_error(error))
    }

    fn transport_error(&self, error: ureq::Error) -> TransportError {
        match error {
            ureq::Error::Timeout(_) => TransportError::TimedOut(self.timeout),
            ureq::Error::Io(_) | ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
                TransportError::Unreachable(error.to_string())
            }
            other => TransportError::Other(other.to_string()),
        }
    }

    /// A request to the registry with the auth flow: the authorization known for `scope` is
    /// sent; a 401 with a challenge gets one (a bearer token from the realm, or basic
    /// credentials) and the request is sent once more. A 401 after that is returned.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        let known = self.authorizations.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(scope).cloned();
        let response = self.raw(method, url, headers, known.as_deref(), body)?;
        if response.status().as_u16() != 401 || known.is_some() {
            return Ok(response);
        }
        let challenge = response.headers().get("www-authenticate").and_then(|value| value.to_str().ok()).map(Challenge::parse);
        let Some(Some(challenge)) = challenge else { return Ok(response) };
        let Some(authorization) = self.authorize(&challenge, scope)? else { return Ok(response) };
        self.authorizations.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(scope.to_string(), authorization.clone());
        self.raw(method, url, headers, Some(&authorization), body)
    }

    /// The `Authorization` value that answers `challenge`, or `None` when there is nothing
    /// to answer it with (the 401 then stands).
    fn authorize(&self, challenge: &Challenge, scope: &str) -> Result<Option<String>, TransportError> {
        match challenge.scheme.as_str() {
            "basic" => Ok(self.basic()),
            "bearer" => {
                let Some(realm) = challenge.params.get("realm") else {
                    return Err(TransportError::Other("the registry asked for a bearer token without naming a realm".into()));
                };
                let scope = challenge.params.get("scope").cloned().unwrap_or_else(|| scope.to_string());
                self.token(realm, challenge.params.get("service").map(String::as_str), &scope).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn basic(&self) -> Option<String> {
        match &self.credentials.auth {
            RegistryAuth::Basic(username, password) => {
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))))
            }
            RegistryAuth::Anonymous => None,
        }
    }

    /// A bearer token from `realm` (Docker's token protocol), sending the credentials only
    /// where [`realm_may_receive_credentials`] allows, and reading at most [`MAX_TOKEN_BYTES`].
    fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String, TransportError> {
        let mut url = url::Url::parse(realm)
            .map_err(|_| TransportError::Other(format!("the registry named the token realm {:?}, which is not a URL", escape_untrusted(realm, 200))))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(TransportError::Other(format!("the token realm {url} is not an http(s) URL")));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        let basic = self.basic();
        if basic.is_some() && !realm_may_receive_credentials(&url, &self.registry, self.scheme == "http", &self.insecure) {
            return Err(TransportError::Other(format!(
                "refusing to send the credentials for {} to the token realm {} over plain HTTP: plain HTTP is used only \
                 for the registry itself (loopback, or named with --insecure-registry), never for another host or port; \
                 serve the realm over HTTPS or name it with --insecure-registry {}",
                self.registry,
                origin(&url),
                authority(&url)
            )));
        }
        let mut response = self.raw(Method::Get, url.as_str(), &[], basic.as_deref(), &[])?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(TransportError::Other(format!("the token realm {} answered HTTP {status}", origin(&url))));
        }
        let body = read_bounded(&mut response, MAX_TOKEN_BYTES).map_err(|error| match error {
            BodyError::TooLarge => TransportError::Other(format!(
                "the token realm {} answered more than {MAX_TOKEN_BYTES} bytes; refusing it",
                origin(&url)
            )),
            BodyError::Failed(error) => self.io_error(error),
        })?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| TransportError::Other(format!("the token realm {} answered something that is not a token", origin(&url))))?;
        let token = answer.token.or(answer.access_token).unwrap_or_default();
        if token.is_empty() || !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(TransportError::Other(format!("the token realm {} answered no usable token", origin(&url))));
        }
        Ok(format!("Bearer {token}"))
    }

    /// A read error of a body, as a transport error (a deadline hit while reading is a timeout).
    pub fn io_error(&self, error: std::io::Error) -> TransportError {
        if error.kind() == std::io::ErrorKind::TimedOut || Instant::now() >= self.deadline {
            TransportError::TimedOut(self.timeout)
        } else {
            TransportError::Unreachable(error.to_string())
        }
    }

    /// GET a blob: the registry answers it or redirects (to storage, often another host).
    /// A redirect is followed without credentials when it leaves the registry, and never
    /// from HTTPS to plain HTTP.
    pub fn get_blob(&self, url: &str, scope: &str) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        let mut response = self.send(Method::Get, url, scope, &[], &[])?;
        let mut current = url::Url::parse(url).map_err(|error| TransportError::Other(error.to_string()))?;
        for _ in 0..MAX_REDIRECTS {
            if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(response);
            }
            let location = response.headers().get("location").and_then(|value| value.to_str().ok()).unwrap_or_default().to_string();
            let next = current
                .join(&location)
                .map_err(|_| TransportError::Other(format!("the registry redirected to {:?}, which is not a URL", escape_untrusted(&location, 200))))?;
            if current.scheme() == "https" && next.scheme() != "https" {
                return Err(TransportError::Other(format!("the registry redirected from HTTPS to {}; refusing it", origin(&next))));
            }
            response = if authority(&next) == self.registry && next.scheme() == self.scheme {
                self.send(Method::Get, next.as_str(), scope, &[], &[])?
            } else {
                self.raw(Method::Get, next.as_str(), &[], None, &[])?
            };
            current = next;
        }
        Err(TransportError::Other(format!("the registry redirected more than {MAX_REDIRECTS} times")))
    }
}

/// Why a bounded body read failed.
#[derive(Debug)]
pub enum BodyError {
    /// The body ran past the limit (the rest was not read).
    TooLarge,
    /// Reading broke off.
    Failed(std::io::Error),
}

/// Read a response body up to `limit` bytes: one byte more is [`BodyError::TooLarge`], with
/// or without a Content-Length.
pub fn read_bounded(response: &mut ureq::http::Response<ureq::Body>, limit: u64) -> Result<Vec<u8>, BodyError> {
    if let Some(length) = response.headers().get("content-length").and_then(|value| value.to_str().ok()).and_then(|text| text.parse::<u64>().ok())
        && length > limit
    {
        return Err(BodyError::TooLarge);
    }
    let mut bytes = Vec::new();
    response.body_mut().as_reader().take(limit + 1).read_to_end(&mut bytes).map_err(BodyError::Failed)?;
    if bytes.len() as u64 > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(bytes)
}

/// What an error answer said, for a message: the OCI error codes and messages of its body
/// (at most [`MAX_ERROR_BYTES`] read), escaped. Empty when it said nothing readable.
pub fn error_codes(response: &mut ureq::http::Response<ureq::Body>) -> (Vec<String>, String) {
    let mut bytes = Vec::new();
    let _ = response.body_mut().as_reader().take(MAX_ERROR_BYTES).read_to_end(&mut bytes);
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Envelope>(&bytes) {
        Ok(envelope) => {
            let codes = envelope.errors.iter().map(|entry| entry.code.to_ascii_uppercase()).collect();
            let said = envelope
                .errors
                .iter()
                .take(4)
                .map(|entry| format!("{}: {}", escape_untrusted(&entry.code, 64), escape_untrusted(&entry.message, 200)))
                .collect::<Vec<_>>()
                .join("; ");
            (codes, said)
        }
        Err(_) => (Vec::new(), String::new()),
    }
}

/// Plain HTTP may carry a registry's credentials only to the registry itself (which the
/// loopback / `--insecure-registry` rule already let use plain HTTP) or to a realm that is
/// itself named with `--insecure-registry`; HTTPS realms may receive them.
pub fn realm_may_receive_credentials(realm: &url::Url, registry: &str, registry_plain: bool, insecure: &[String]) -> bool {
    match realm.scheme() {
        "https" => true,
        "http" => {
            let realm_authority = authority(realm);
            (registry_plain && realm_authority.eq_ignore_ascii_case(registry)) || insecure.iter().any(|named| named.eq_ignore_ascii_case(&realm_authority))
        }
        _ => false,
    }
}

/// `host[:port]` of a URL as registries are named (the port only when the URL gives one).
pub fn authority(url: &url::Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// One `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    /// Lower-cased.
    scheme: String,
    params: BTreeMap<String, String>,
}

impl Challenge {
    fn parse(text: &str) -> Option<Challenge> {
        let text = text.trim();
        let (scheme, mut rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let mut params = BTreeMap::new();
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            let Some((name, after)) = rest.split_once('=') else { break };
            let name = name.trim().to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((index, c)) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next().map(|(_, c)| c)),
                        '"' => {
                            end = index + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.entry(name).or_insert(value);
            rest = remaining;
        }
        Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_quoted_and_bare_values() {
        let challenge = Challenge::parse(r#"Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a/b:pull,push""#).unwrap();
        assert_eq!(challenge.scheme, "bearer");
        assert_eq!(challenge.params["realm"], "https://auth.example.com/token");
        assert_eq!(challenge.params["scope"], "repository:a/b:pull,push");
        let basic = Challenge::parse("Basic realm=registry").unwrap();
        assert_eq!((basic.scheme.as_str(), basic.params["realm"].as_str()), ("basic", "registry"));
    }

    #[test]
    fn credentials_over_plain_http_go_only_to_the_registry_itself_or_a_named_realm() {
        let url = |text: &str| url::Url::parse(text).unwrap();
        assert!(realm_may_receive_credentials(&url("https://auth.example.com/token"), "registry.example.com", false, &[]));
        assert!(realm_may_receive_credentials(&url("http://127.0.0.1:5000/token"), "127.0.0.1:5000", true, &[]));
        assert!(!realm_may_receive_credentials(&url("http://127.0.0.1:5001/token"), "127.0.0.1:5000", true, &[]), "another port");
        assert!(!realm_may_receive_credentials(&url("http://auth.example.com/token"), "registry.example.com", false, &[]));
        assert!(!realm_may_receive_credentials(&url("http://registry.example.com/token"), "registry.example.com", false, &[]), "https registry");
        let named = vec!["127.0.0.1:5001".to_string()];
        assert!(realm_may_receive_credentials(&url("http://127.0.0.1:5001/token"), "127.0.0.1:5000", true, &named));
    }
}
