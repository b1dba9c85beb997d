//! Who may ask and how much: bearer tokens (compared in constant time), GitHub's
//! HMAC-SHA256 webhook signatures, the in-flight limit (503 with `Retry-After`) and each
//! request's deadline (504).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::body::ApiError;
use crate::exit::Failure;

/// Longest token accepted in a token file (and compared).
const MAX_TOKEN_BYTES: usize = 4096;
/// Largest token or secret file read.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;
/// Seconds a refused request is told to wait.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Read a file of tokens, one a line; blank lines and `# comments` are skipped. An empty
/// file is an error (it would let no one in, or, worse, be mistaken for no file).
pub fn read_tokens(path: &Path) -> Result<Vec<String>, Failure> {
    let text = read_small(path)?;
    let mut tokens = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() || token.starts_with('#') {
            continue;
        }
        if token.len() < 16 || token.len() > MAX_TOKEN_BYTES || !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(Failure::bad_input(format!(
                "{}:{}: a token is 16 to {MAX_TOKEN_BYTES} printable ASCII characters without spaces (e.g. `openssl rand -hex 32`)",
                path.display(),
                number + 1
            )));
        }
        tokens.push(token.to_string());
    }
    if tokens.is_empty() {
        return Err(Failure::bad_input(format!("{}: holds no token; put one per line", path.display())));
    }
    Ok(tokens)
}

/// Read a webhook secret (the file's content, without a final newline).
pub fn read_secret(path: &Path) -> Result<Vec<u8>, Failure> {
    let text = read_small(path)?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(Failure::bad_input(format!("{}: the webhook secret is empty", path.display())));
    }
    Ok(secret.as_bytes().to_vec())
}

fn read_small(path: &Path) -> Result<String, Failure> {
    let unreadable = |error: std::io::Error| Failure::bad_input(format!("{}: cannot read it ({error})", path.display()));
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_file() || metadata.len() > MAX_SECRET_FILE_BYTES {
        return Err(Failure::bad_input(format!("{}: not a regular file of at most {MAX_SECRET_FILE_BYTES} bytes", path.display())));
    }
    std::fs::read_to_string(path).map_err(unreadable)
}

/// Whether `headers` carry `Authorization: Bearer T` for one of `tokens` (`None`: no token
/// is needed). Every token is compared, each in constant time.
pub fn bearer_allowed(tokens: Option<&[String]>, headers: &HeaderMap) -> bool {
    let Some(tokens) = tokens else { return true };
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(|value| value.strip_prefix("Bearer ")) else {
        return false;
    };
    token_matches(tokens, given.trim())
}

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "tollgate_session";

/// The session value a token logs in as: a digest of it, so the cookie never holds the token
/// and its characters never need quoting.
pub fn session_value(token: &str) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(format!("tollgate-dashboard-session:{token}").as_bytes()))
}

/// Whether `headers` carry the session cookie of one of `tokens` (`None`: no token is needed).
pub fn session_allowed(tokens: Option<&[String]>, headers: &HeaderMap) -> bool {
    let Some(tokens) = tokens else { return true };
    let sessions = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='));
    sessions.into_iter().any(|given| tokens.iter().fold(false, |found, token| found | bool::from(session_value(token).as_bytes().ct_eq(given.as_bytes()))))
}

/// Whether `given` is one of `tokens`, compared in constant time.
pub fn token_matches(tokens: &[String], given: &str) -> bool {
    tokens.iter().fold(false, |found, token| found | bool::from(token.as_bytes().ct_eq(given.as_bytes())))
}

/// 401 with the scheme to use.
pub fn unauthorized() -> ApiError {
    ApiError::with_status(StatusCode::UNAUTHORIZED, "send Authorization: Bearer TOKEN with a token from the server's --token-file")
}

/// Whether `signature` (`sha256=HEX`, GitHub's `X-Hub-Signature-256`) is the HMAC-SHA256 of
/// `body` with `secret`; compared in constant time.
pub fn webhook_signature_valid(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(expected) = signature.strip_prefix("sha256=").and_then(|hex_text| hex::decode(hex_text).ok()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The in-flight limit and the deadline every evaluating request runs under.
pub struct Limits {
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    deadline: Duration,
}

impl Limits {
    /// At most `max_in_flight` at once, each answered within `deadline`.
    pub fn new(max_in_flight: usize, deadline: Duration) -> Self {
        Limits { in_flight: Arc::new(Semaphore::new(max_in_flight)), max_in_flight, deadline }
    }

    /// Requests holding a place now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.in_flight.available_permits()
    }

    /// Run `work` on a blocking thread when a place is free (else 503 with `Retry-After`),
    /// answering 504 when it takes longer than the deadline. The place is held until the
    /// work ends, even past the deadline: a promotion under way finishes (all or nothing)
    /// and still counts against the limit. The work's last policy instances end just after
    /// its answer is handed over (`runtime::defer_instance_drops`).
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
        let permit = Arc::clone(&self.in_flight).try_acquire_owned().map_err(|_| {
            ApiError::busy("too many requests under way (--max-in-flight); try again shortly", RETRY_AFTER_SECONDS)
        })?;
        // The answer is handed over before the work's instances end (`runtime::deferred`): their
        // pool slots are reset while the answer is written.
        let (answer, answered) = tokio::sync::oneshot::channel();
        let task = tokio::task::spawn_blocking(move || {
            let instances = crate::runtime::defer_instance_drops();
            let result = work();
            // The place is free before the answer goes out: a client that sends its next
            // request as soon as it has one finds it free, as before the stores were kept.
            drop(permit);
            let _ = answer.send(result);
            drop(instances);
        });
        let answered = async {
            match answered.await {
                Ok(result) => Ok(result),
                // No answer: the work panicked; the task says how.
                Err(_) => task.await.map(|()| Err(ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, "the request ended without an answer".to_string()))),
            }
        };
        match tokio::time::timeout(self.deadline, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => Err(ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, format!("the request failed: {error}"))),
            Err(_) => Err(ApiError::with_status(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "no answer within --request-timeout ({} s); a promotion under way still finishes, all or nothing: check the branch before retrying",
                    self.deadline.as_secs_f64()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_must_match_one_of_the_file_exactly() {
        let tokens = vec!["0123456789abcdef0123".to_string(), "fedcba9876543210fedc".to_string()];
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            bearer_allowed(Some(&tokens), &headers)
        };
        assert!(with("Bearer fedcba9876543210fedc"));
        assert!(!with("Bearer fedcba9876543210fed"));
        assert!(!with("Bearer fedcba9876543210fedcX"));
        assert!(!with("Basic fedcba9876543210fedc"));
        assert!(!bearer_allowed(Some(&tokens), &HeaderMap::new()));
        assert!(bearer_allowed(None, &HeaderMap::new()));
    }

    #[test]
    fn a_session_cookie_is_a_digest_of_a_token_not_the_token() {
        let tokens = vec!["0123456789abcdef0123".to_string()];
        let with = |cookie: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, cookie.parse().unwrap());
            session_allowed(Some(&tokens), &headers)
        };
        assert!(with(&format!("theme=dark; {SESSION_COOKIE}={}", session_value(&tokens[0]))));
        assert!(!with(&format!("{SESSION_COOKIE}={}", tokens[0])));
        assert!(!with(&format!("{SESSION_COOKIE}={}", session_value("another-token-0123456"))));
        assert!(!session_allowed(Some(&tokens), &HeaderMap::new()));
    }

    #[test]
    fn webhook_signatures_are_githubs_hmac_sha256() {
        // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(webhook_signature_valid(b"It's a Secret to Everybody", b"Hello, World!", signature));
        assert!(!webhook_signature_valid(b"It's a Secret to Everybody", b"Hello, World?", signature));
        assert!(!webhook_signature_valid(b"another secret", b"Hello, World!", signature));
        assert!(!webhook_signature_valid(b"It's a Secret to Everybody", b"Hello, World!", "sha1=757107ea"));
    }

    #[test]
    fn token_files_refuse_short_tokens_and_emptiness() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "# ci\n0123456789abcdef0123\n\nfedcba9876543210fedc\n").unwrap();
        assert_eq!(read_tokens(&path).unwrap().len(), 2);
        std::fs::write(&path, "# none\n\n").unwrap();
        assert!(read_tokens(&path).unwrap_err().message.contains("holds no token"));
        std::fs::write(&path, "short\n").unwrap();
        assert!(read_tokens(&path).unwrap_err().message.contains(":1: a token is 16 to"));
    }
}
