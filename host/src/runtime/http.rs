//! `host.http-get` for plugins: origin grants, the deadline, and a bounded response size.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

/// A response handed to the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body, at most the configured maximum.
    pub body: Vec<u8>,
}

/// Why a GET produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No complete response within the time given.
    TimedOut,
    /// Anything else, as a message for the plugin ("connection refused", …).
    Failed(String),
}

/// Performs a GET the host has already allowed.
pub trait HttpFetcher: Send + Sync {
    /// Fetch `url`, giving up after `timeout` and refusing bodies over `max_body_bytes`.
    fn get(&self, url: &str, headers: &[(String, String)], timeout: Duration, max_body_bytes: u64) -> Result<HttpResponse, FetchError>;

    /// For a fetcher that holds secrets: why the policy must fail, when `texts` (what it
    /// produced: findings, logs, output) or anything it fetched carried a form of one.
    /// The cause names an origin, never the secret.
    fn leak(&self, _texts: &[&str]) -> Option<String> {
        None
    }
}

/// The real client (ureq): no redirects (a redirect could leave the granted origin),
/// every status returned as a response, the user's proxy environment respected.
pub struct NetworkFetcher;

impl HttpFetcher for NetworkFetcher {
    fn get(&self, url: &str, headers: &[(String, String)], timeout: Duration, max_body_bytes: u64) -> Result<HttpResponse, FetchError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.get(url);
        for (name, value) in headers {
            // The origin was checked against the URL; a plugin must not re-aim the request.
            if name.eq_ignore_ascii_case("host") {
                continue;
            }
            request = request.header(name, value);
        }
        let mut response = request.call().map_err(|error| match error {
            ureq::Error::Timeout(_) => FetchError::TimedOut,
            other => FetchError::Failed(other.to_string()),
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_ascii_lowercase(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        let mut reader = response.body_mut().as_reader().take(max_body_bytes + 1);
        reader.read_to_end(&mut body).map_err(|error| match error.kind() {
            std::io::ErrorKind::TimedOut => FetchError::TimedOut,
            _ => FetchError::Failed(format!("reading the body failed: {error}")),
        })?;
        if body.len() as u64 > max_body_bytes {
            return Err(FetchError::Failed(format!("response body exceeds the limit of {max_body_bytes} bytes")));
        }
        Ok(HttpResponse { status, headers, body })
    }
}

/// Canned responses by exact URL, for `tollgate plugin test` cases files.
#[derive(Debug, Clone, Default)]
pub struct CannedFetcher {
    /// URL → response, or the error message the plugin gets.
    pub responses: BTreeMap<String, Result<HttpResponse, String>>,
}

impl HttpFetcher for CannedFetcher {
    fn get(&self, url: &str, _headers: &[(String, String)], _timeout: Duration, max_body_bytes: u64) -> Result<HttpResponse, FetchError> {
        match self.responses.get(url) {
            Some(Ok(response)) if response.body.len() as u64 > max_body_bytes => {
                Err(FetchError::Failed(format!("response body exceeds the limit of {max_body_bytes} bytes")))
            }
            Some(result) => result.clone().map_err(FetchError::Failed),
            None => Err(FetchError::Failed(format!("no canned response for {url} in the cases file"))),
        }
    }
}

/// The origin (`scheme://host:port`) of an http(s) URL, in the form grants are compared in.
pub fn origin_of(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|error| format!("{url:?} is not a valid URL ({error})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?}: only http and https URLs can be fetched"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url:?}: credentials in URLs are not allowed"));
    }
    Ok(parsed.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins_normalise_default_ports_and_case() {
        assert_eq!(origin_of("https://ERP.example.com:443/ready?x=1").unwrap(), "https://erp.example.com");
        assert_eq!(origin_of("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert!(origin_of("file:///etc/passwd").unwrap_err().contains("only http and https"));
        assert!(origin_of("https://user:pw@erp.example.com/").unwrap_err().contains("credentials"));
    }
}
