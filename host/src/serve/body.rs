//! Request bodies and error answers. A body is JSON whose keys are named after the flags of
//! `tollgate plan`; a body that does not parse is answered 400 naming the field.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::exit::{ExitCode, Failure};

/// A request of `/v1/plan` and `/v1/promote`: the flags of `tollgate plan`, by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// Application(s), by name or glob (`--app`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub app: Vec<String>,
    /// Every configured application (`--all`).
    #[serde(default)]
    pub all: bool,
    /// Target environment(s), by name or glob (`--to`).
    #[serde(deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// Source environment (`--from`).
    #[serde(default)]
    pub from: Option<String>,
    /// Version, or NAME=VERSION per artifact (`--version`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub version: Vec<String>,
    /// Digest of a root environment's version (`--digest`).
    #[serde(default)]
    pub digest: Option<String>,
    /// Clear a root environment's digest (`--no-digest`).
    #[serde(default)]
    pub no_digest: bool,
    /// Take the newest version from the application's registry (`--latest`).
    #[serde(default)]
    pub latest: bool,
    /// Who requests it (`--actor`).
    #[serde(default)]
    pub actor: Option<String>,
    /// Approvals, each as `--approval` takes it: NAME, NAME@VERSION or NAME@VERSION:GROUP.
    #[serde(default)]
    pub approvals: Vec<String>,
    /// Labels (`--label KEY=VALUE`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Decide as if at this time, RFC 3339 (`--at`; a promotion only where the configuration
    /// allows a requester-chosen time).
    #[serde(default)]
    pub at: Option<String>,
}

impl PlanBody {
    /// Parse a body; the error names the field (`approvals[1]: invalid type …`).
    pub fn parse(bytes: &[u8]) -> Result<PlanBody, ApiError> {
        let body: PlanBody = parse_json(bytes)?;
        if body.app.is_empty() && !body.all {
            return Err(ApiError::bad_request("app: missing; name an application (or a list, or set all: true)".to_string()));
        }
        if body.to.is_empty() {
            return Err(ApiError::bad_request("to: give at least one environment".to_string()));
        }
        Ok(body)
    }
}

/// Parse JSON `bytes` as `T`, naming the field that does not fit.
pub fn parse_json<T: de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = match path.as_str() {
            "." | "" => format!("request body: {inner}"),
            _ => format!("{path}: {inner}"),
        };
        ApiError::bad_request(message)
    })?;
    deserializer.end().map_err(|error| ApiError::bad_request(format!("request body: {error}")))?;
    Ok(value)
}

/// A string, or a list of strings.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;
        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(vec![value.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut values = Vec::new();
            while let Some(value) = seq.next_element::<String>()? {
                values.push(value);
            }
            Ok(values)
        }
    }
    deserializer.deserialize_any(OneOrMany)
}

/// An answer that is not a document: its status, the message, and (for the decision
/// endpoints) `decision: error`, so a caller that branches on `decision` never reads an
/// error as a verdict.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong and what to do.
    pub message: String,
    /// The exit code the command would have ended with.
    pub exit_code: Option<ExitCode>,
    /// Seconds after which to try again (503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// 400, with the message.
    pub fn bad_request(message: String) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, message, exit_code: Some(ExitCode::BadInput), retry_after: None }
    }

    /// A status of its own.
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), exit_code: None, retry_after: None }
    }

    /// 503, try again after `seconds`.
    pub fn busy(message: impl Into<String>, seconds: u64) -> Self {
        ApiError { retry_after: Some(seconds), ..ApiError::with_status(StatusCode::SERVICE_UNAVAILABLE, message) }
    }
}

impl From<Failure> for ApiError {
    /// A command's failure: bad input 400, a conflict 409, anything that failed to run 500.
    fn from(failure: Failure) -> Self {
        let status = match failure.code {
            ExitCode::BadInput => StatusCode::BAD_REQUEST,
            ExitCode::Conflict => StatusCode::CONFLICT,
            ExitCode::Success | ExitCode::Denied | ExitCode::PolicyFailed => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError { status, message: failure.message, exit_code: Some(failure.code), retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut document = serde_json::json!({ "decision": "error", "error": self.message, "summary": self.message });
        if let Some(code) = self.exit_code {
            document["exit_code"] = code.code().into();
        }
        let mut response = (self.status, json_response(&document)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON document as an answer body (pretty, newline-terminated, as the CLI prints it).
pub fn json_response(document: &serde_json::Value) -> Response {
    json_text(format!("{}\n", serde_json::to_string_pretty(document).expect("JSON values serialize")))
}

/// JSON text the report module rendered, as an answer body.
pub fn json_text(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_names_the_field_that_does_not_fit() {
        let error = PlanBody::parse(br#"{"app": "shop-api", "to": "prod", "approvals": ["bob", 7]}"#).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(error.message.starts_with("approvals[1]: invalid type: integer `7`"), "{}", error.message);
        let error = PlanBody::parse(br#"{"app": "shop-api", "to": "prod", "aprovals": []}"#).unwrap_err();
        assert!(error.message.contains("unknown field `aprovals`"), "{}", error.message);
        let error = PlanBody::parse(br#"{"app": "shop-api", "to": {"env": "prod"}}"#).unwrap_err();
        assert!(error.message.starts_with("to: invalid type: map, expected a string or a list of strings"), "{}", error.message);
        let error = PlanBody::parse(br#"{"to": "prod"}"#).unwrap_err();
        assert!(error.message.starts_with("app: missing"), "{}", error.message);
        let error = PlanBody::parse(br#"{"app": "shop-api", "to": "prod"} trailing"#).unwrap_err();
        assert!(error.message.starts_with("request body: trailing characters"), "{}", error.message);
    }

    #[test]
    fn to_and_app_take_a_string_or_a_list() {
        let body = PlanBody::parse(br#"{"app": "shop-api", "to": "prod"}"#).unwrap();
        assert_eq!((body.app, body.to), (vec!["shop-api".to_string()], vec!["prod".to_string()]));
        let body = PlanBody::parse(br#"{"app": ["shop-*"], "to": ["test", "prod"], "labels": {"ticket": "INC-1"}}"#).unwrap();
        assert_eq!(body.to, vec!["test", "prod"]);
        assert_eq!(body.labels["ticket"], "INC-1");
    }
}
