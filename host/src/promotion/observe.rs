//! What a policy saw through the host, kept in its decision record so that `verify` can
//! replay the decision offline instead of asking a world that has changed since.
//!
//! - Every `http-get`: the URL, the status (or the error), the digest of the body, and the
//!   body itself when it is small and came from an origin that received no credential
//!   (credentials, and what a credentialed origin answers, never go into Git);
//! - every `read-file`: the path and the digest of what the policy read (the tree is
//!   rebuilt from the record's base commit and changes, so it needs no copy).
//!
//! A policy whose answers were all kept is *replayable offline*; one with an answer that was
//! not kept can only be re-run live (`verify --live`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::runtime::{FetchError, FileSource, HttpFetcher, HttpResponse};

/// A response body is kept in the record only up to this size.
pub const MAX_KEPT_BODY_BYTES: usize = 32 * 1024;
/// At most this many body bytes are kept per policy and decision (the rest are digests only).
pub const MAX_KEPT_BYTES_PER_POLICY: usize = 128 * 1024;
/// At most this many host calls are recorded per policy and decision.
pub const MAX_OBSERVATIONS: usize = 256;

/// One host call a policy made, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Observation {
    /// `http-get`.
    HttpGet {
        /// The URL (an origin the configuration granted).
        url: String,
        /// The status, when there was a response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// Why there was no response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// `sha256:` of the body the policy read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body_sha256: Option<String>,
        /// The response itself, when kept (see the module documentation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kept: Option<KeptResponse>,
        /// Why the response was not kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_kept: Option<String>,
    },
    /// `read-file`.
    ReadFile {
        /// The path asked for.
        path: String,
        /// `sha256:` of the content read; none when the file did not exist or was refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
}

impl Observation {
    /// Whether `verify` can answer this call again from the record.
    pub fn replayable(&self) -> bool {
        match self {
            Observation::HttpGet { status, kept, .. } => status.is_none() || kept.is_some(),
            Observation::ReadFile { .. } => true,
        }
    }
}

/// A response kept in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeptResponse {
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as text, when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The body in base64, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The host calls of one policy run, as they happen.
#[derive(Clone, Default)]
pub struct Observed {
    calls: Arc<Mutex<(Vec<Observation>, usize)>>,
}

impl Observed {
    fn push(&self, observation: Observation, kept_bytes: usize) {
        let mut calls = self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if calls.0.len() < MAX_OBSERVATIONS {
            calls.0.push(observation);
            calls.1 += kept_bytes;
        }
    }

    fn kept_bytes(&self) -> usize {
        self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1
    }

    /// What was recorded, in call order.
    pub fn take(&self) -> Vec<Observation> {
        std::mem::take(&mut self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).0)
    }
}

/// An [`HttpFetcher`] that records every answer the policy gets.
pub struct RecordingFetcher {
    /// What does the fetching (the network, with the host's credentials).
    pub inner: Arc<dyn HttpFetcher>,
    /// Origins that receive a credential: their answers are never kept.
    pub credentialed: Vec<String>,
    /// Where the calls go.
    pub observed: Observed,
}

impl HttpFetcher for RecordingFetcher {
    fn get(&self, url: &str, headers: &[(String, String)], timeout: Duration, max_body_bytes: u64) -> Result<HttpResponse, FetchError> {
        let result = self.inner.get(url, headers, timeout, max_body_bytes);
        let observation = match &result {
            Err(error) => {
                let error = match error {
                    FetchError::TimedOut => "timed out".to_string(),
                    FetchError::Failed(message) => message.clone(),
                };
                Observation::HttpGet { url: url.to_string(), status: None, error: Some(error), body_sha256: None, kept: None, not_kept: None }
            }
            Ok(response) => {
                let credentialed = crate::runtime::origin_of(url).is_ok_and(|origin| self.credentialed.contains(&origin));
                let (kept, not_kept) = if credentialed {
                    (None, Some("the origin received a credential".to_string()))
                } else if response.body.len() > MAX_KEPT_BODY_BYTES {
                    (None, Some(format!("the body is {} bytes, more than {MAX_KEPT_BODY_BYTES}", response.body.len())))
                } else if self.observed.kept_bytes() + response.body.len() > MAX_KEPT_BYTES_PER_POLICY {
                    (None, Some(format!("the policy's kept answers would exceed {MAX_KEPT_BYTES_PER_POLICY} bytes")))
                } else {
                    let (text, base64) = match String::from_utf8(response.body.clone()) {
                        Ok(text) => (Some(text), None),
                        Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(&response.body))),
                    };
                    (Some(KeptResponse { headers: response.headers.clone(), text, base64 }), None)
                };
                Observation::HttpGet {
                    url: url.to_string(),
                    status: Some(response.status),
                    error: None,
                    body_sha256: Some(sha256(&response.body)),
                    kept,
                    not_kept,
                }
            }
        };
        let kept_bytes = match &observation {
            Observation::HttpGet { kept: Some(_), .. } => result.as_ref().map_or(0, |response| response.body.len()),
            _ => 0,
        };
        self.observed.push(observation, kept_bytes);
        result
    }

    /// Recording changes nothing of what the fetcher it wraps screens for.
    fn leak(&self, texts: &[&str]) -> Option<String> {
        self.inner.leak(texts)
    }
}

/// A [`FileSource`] that records every read.
pub struct RecordingFiles {
    /// The proposed tree.
    pub inner: Arc<dyn FileSource>,
    /// Where the calls go.
    pub observed: Observed,
}

impl FileSource for RecordingFiles {
    fn read(&self, path: &str) -> Result<Option<String>, String> {
        let result = self.inner.read(path);
        let digest = result.as_ref().ok().and_then(|content| content.as_ref()).map(|content| sha256(content.as_bytes()));
        self.observed.push(Observation::ReadFile { path: path.to_string(), sha256: digest }, 0);
        result
    }
}

/// Answers recorded `http-get` calls again, in the order they were made: what `verify`
/// gives a policy instead of the network. A call the record does not hold, or holds without
/// its response, gets an error.
pub struct ReplayFetcher {
    answers: Mutex<Vec<Observation>>,
}

impl ReplayFetcher {
    /// Replay the `http-get` calls among `observations`.
    pub fn new(observations: &[Observation]) -> ReplayFetcher {
        let answers = observations.iter().filter(|observation| matches!(observation, Observation::HttpGet { .. })).cloned().collect();
        ReplayFetcher { answers: Mutex::new(answers) }
    }
}

impl HttpFetcher for ReplayFetcher {
    fn get(&self, url: &str, _headers: &[(String, String)], _timeout: Duration, _max_body_bytes: u64) -> Result<HttpResponse, FetchError> {
        let mut answers = self.answers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(index) = answers.iter().position(|answer| matches!(answer, Observation::HttpGet { url: recorded, .. } if recorded == url)) else {
            return Err(FetchError::Failed(format!("verify: the record holds no answer for {url}")));
        };
        let Observation::HttpGet { status, error, kept, not_kept, .. } = answers.remove(index) else { unreachable!("only http-get answers are kept") };
        match (status, kept) {
            (None, _) => Err(FetchError::Failed(error.unwrap_or_default())),
            (Some(status), Some(kept)) => {
                let body = match (kept.text, kept.base64) {
                    (Some(text), _) => text.into_bytes(),
                    (None, Some(encoded)) => base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| FetchError::Failed("verify: a recorded body is not base64".into()))?,
                    (None, None) => Vec::new(),
                };
                Ok(HttpResponse { status, headers: kept.headers, body })
            }
            (Some(_), None) => Err(FetchError::Failed(format!("verify: the answer of {url} was not kept ({})", not_kept.unwrap_or_default()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::CannedFetcher;

    fn canned(url: &str, body: &str) -> Arc<dyn HttpFetcher> {
        let response = HttpResponse { status: 200, headers: vec![("content-type".into(), "application/json".into())], body: body.as_bytes().to_vec() };
        Arc::new(CannedFetcher { responses: [(url.to_string(), Ok(response))].into() })
    }

    #[test]
    fn answers_are_kept_replayed_in_order_and_never_kept_from_a_credentialed_origin() {
        let observed = Observed::default();
        let fetcher = RecordingFetcher { inner: canned("https://erp.example.com/ready", "{\"ready\":true}"), credentialed: Vec::new(), observed: observed.clone() };
        let first = fetcher.get("https://erp.example.com/ready", &[], Duration::from_secs(1), 1024).unwrap();
        assert!(fetcher.get("https://erp.example.com/other", &[], Duration::from_secs(1), 1024).is_err());
        let recorded = observed.take();
        assert_eq!(recorded.len(), 2);
        assert!(recorded.iter().all(Observation::replayable));
        let replay = ReplayFetcher::new(&recorded);
        assert_eq!(replay.get("https://erp.example.com/ready", &[], Duration::from_secs(1), 1024).unwrap(), first);
        assert!(replay.get("https://erp.example.com/ready", &[], Duration::from_secs(1), 1024).is_err(), "each answer is given once");
        assert!(matches!(replay.get("https://erp.example.com/other", &[], Duration::from_secs(1), 1024), Err(FetchError::Failed(_))));

        let observed = Observed::default();
        let secret = RecordingFetcher { inner: canned("https://argocd.example.com/x", "token-echo"), credentialed: vec!["https://argocd.example.com".into()], observed: observed.clone() };
        secret.get("https://argocd.example.com/x", &[], Duration::from_secs(1), 1024).unwrap();
        let recorded = observed.take();
        assert!(!recorded[0].replayable());
        let text = serde_json::to_string(&recorded).unwrap();
        assert!(!text.contains("token-echo"), "{text}");
        assert!(text.contains("the origin received a credential"), "{text}");
    }
}
