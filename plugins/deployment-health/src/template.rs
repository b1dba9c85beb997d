//! URL encoding and the base URLs of the systems asked (placeholders: [`tollgate_sdk::placeholders`]).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in a URL path segment or query value (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `text` percent-encoded for a URL path segment or query value.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// A base URL: `http(s)://host[:port][/path]`, no credentials, query or fragment. Returned
/// without a trailing `/`, ready for an API path to be appended.
pub fn base_url(url: &str, example: &str) -> Result<String, String> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) else {
        return Err(format!("{url:?} is not an http:// or https:// URL, e.g. {example}"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if authority.contains('@') {
        return Err(format!(
            "{url:?} contains credentials; tollgate attaches them to the origin instead (credentials: in the policy's tollgate.yaml entry)"
        ));
    }
    if url.contains(['?', '#']) {
        return Err(format!("{url:?} has a query or fragment; give the base URL only, e.g. {example}"));
    }
    if url.contains(char::is_whitespace) || url.contains('{') {
        return Err(format!("{url:?} contains whitespace or a brace; give the base URL only, e.g. {example}"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_percent_encoded() {
        use tollgate_sdk::placeholders::fill;
        assert_eq!(fill("{app}-{env}", "shop api", "staging", encode), "shop%20api-staging");
        assert_eq!(fill("x{y", "a", "e", |v| v.to_string()), "x{y");
    }

    #[test]
    fn base_urls_lose_the_trailing_slash_and_refuse_extras() {
        assert_eq!(base_url("https://argocd.example.com/", "e").unwrap(), "https://argocd.example.com");
        assert_eq!(base_url("http://127.0.0.1:9093/am", "e").unwrap(), "http://127.0.0.1:9093/am");
        assert!(base_url("ftp://x", "e").unwrap_err().contains("not an http"));
        assert!(base_url("https://user:pw@argocd.example.com", "e").unwrap_err().contains("credentials"));
        assert!(base_url("https://argocd.example.com?x=1", "e").unwrap_err().contains("query"));
        assert!(base_url("https://", "e").unwrap_err().contains("no host"));
    }
}
