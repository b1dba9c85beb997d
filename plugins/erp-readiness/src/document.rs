//! The readiness document the ERP team publishes, as a YAML file in the GitOps repository
//! or as JSON from an HTTP endpoint. Both carry the same fields:
//!
//! ```yaml
//! status: degraded                 # required: ready | not-ready | degraded
//! message: invoice sync lagging    # optional, shown next to a status that is not ready
//! maintenance:                     # optional: ERP maintenance windows
//!   - { start: 2026-01-10T20:00:00Z, end: 2026-01-11T02:00:00Z, reason: SAP kernel upgrade }
//! period_close:                    # optional: financial period closes
//!   - { start: 2026-01-29T00:00:00Z, end: 2026-01-31T18:00:00Z, reason: January close }
//! supported_contract: ">=2.3, <3"  # optional: semver range of integration contracts the ERP accepts
//! ```
//!
//! Unknown fields are errors: a misspelt `maintenence:` must not silently hide a window.

use jiff::Timestamp;
use semver::VersionReq;
use serde::{Deserialize, Deserializer};

/// The integration status the ERP team reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Integrations accept releases.
    Ready,
    /// Integrations do not accept releases.
    NotReady,
    /// Integrations run with problems; treated as not ready.
    Degraded,
}

impl Status {
    /// The spelling used in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::NotReady => "not-ready",
            Status::Degraded => "degraded",
        }
    }
}

/// A time span during which releases to the environment must wait. `start` is inclusive,
/// `end` exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// When the window opens (RFC 3339).
    #[serde(deserialize_with = "start")]
    pub start: Timestamp,
    /// When it closes (RFC 3339).
    #[serde(deserialize_with = "end")]
    pub end: Timestamp,
    /// Why, for the finding (e.g. `January close`).
    #[serde(default)]
    pub reason: Option<String>,
}

impl Window {
    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// A supported-contract range, kept with the text it was written as so findings quote it
/// exactly as the ERP team wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractRange {
    /// The range as written, e.g. `>=2.3, <3`.
    pub text: String,
    /// The parsed range.
    pub req: VersionReq,
}

impl<'de> Deserialize<'de> for ContractRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let req = VersionReq::parse(&text).map_err(|error| {
            // Named in the message: at the top level serde_yaml gives no path.
            serde::de::Error::custom(format!("supported_contract {text:?} is not a semver range such as \">=2.3, <3\" ({error})"))
        })?;
        Ok(ContractRange { text, req })
    }
}

/// The readiness document. See the module documentation for the format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// Integration status.
    pub status: Status,
    /// Free text explaining the status.
    #[serde(default)]
    pub message: Option<String>,
    /// ERP maintenance windows.
    #[serde(default)]
    pub maintenance: Vec<Window>,
    /// Financial period closes.
    #[serde(default)]
    pub period_close: Vec<Window>,
    /// Contract versions the ERP integration accepts; absent: no contract check.
    #[serde(default)]
    pub supported_contract: Option<ContractRange>,
}

// Two functions rather than one so the message names the field: serde_yaml reports a
// value's error at the enclosing mapping (`maintenance[0]`), not at the field.
fn start<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    rfc3339("start", deserializer)
}

fn end<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    rfc3339("end", deserializer)
}

fn rfc3339<'de, D: Deserializer<'de>>(field: &str, deserializer: D) -> Result<Timestamp, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse::<Timestamp>().map_err(|error| {
        serde::de::Error::custom(format!(
            "{field} {text:?} is not an RFC 3339 time such as 2026-01-31T18:00:00Z ({error})"
        ))
    })
}

impl Readiness {
    /// Parse the YAML readiness file. The error names the field and the line.
    pub fn from_yaml(text: &str) -> Result<Readiness, String> {
        let readiness: Readiness = serde_yaml::from_str(text).map_err(|error| {
            let message = error.to_string();
            match error.location() {
                // serde_yaml usually says "at line N column M" itself; when not, add it.
                Some(location) if !message.contains(" at line ") => {
                    format!("{message} at line {} column {}", location.line(), location.column())
                }
                _ => message,
            }
        })?;
        readiness.check()?;
        Ok(readiness)
    }

    /// Parse the endpoint's JSON body. The error names the field and the position.
    pub fn from_json(body: &[u8]) -> Result<Readiness, String> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let readiness: Readiness = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            // `.` is the root and `?` an unknown position (e.g. a body cut short): no field to name.
            if path.is_empty() || path == "." || path == "?" { inner.to_string() } else { format!("{path}: {inner}") }
        })?;
        // Trailing garbage after the document means the body is not what we think it is.
        deserializer.end().map_err(|error| error.to_string())?;
        readiness.check()?;
        Ok(readiness)
    }

    /// Checks serde cannot express: every window must end after it starts (a reversed
    /// window would never be "in progress" and so silently allow).
    fn check(&self) -> Result<(), String> {
        for (field, windows) in [("maintenance", &self.maintenance), ("period_close", &self.period_close)] {
            for (index, window) in windows.iter().enumerate() {
                if window.end <= window.start {
                    return Err(format!(
                        "{field}[{index}]: end {} is not after start {}",
                        window.end, window.start
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_full_format_from_yaml_and_json() {
        let yaml = "status: degraded\nmessage: invoice sync lagging\nmaintenance:\n  - { start: 2026-01-10T20:00:00Z, end: 2026-01-11T02:00:00Z }\nperiod_close:\n  - { start: 2026-01-29T00:00:00Z, end: '2026-01-31T19:00:00+01:00', reason: January close }\nsupported_contract: '>=2.3, <3'\n";
        let from_yaml = Readiness::from_yaml(yaml).unwrap();
        assert_eq!(from_yaml.status, Status::Degraded);
        assert_eq!(from_yaml.period_close[0].end.to_string(), "2026-01-31T18:00:00Z");
        assert_eq!(from_yaml.supported_contract.as_ref().unwrap().text, ">=2.3, <3");
        let json = r#"{"status": "degraded", "message": "invoice sync lagging",
            "maintenance": [{"start": "2026-01-10T20:00:00Z", "end": "2026-01-11T02:00:00Z"}],
            "period_close": [{"start": "2026-01-29T00:00:00Z", "end": "2026-01-31T19:00:00+01:00", "reason": "January close"}],
            "supported_contract": ">=2.3, <3"}"#;
        assert_eq!(Readiness::from_json(json.as_bytes()).unwrap(), from_yaml);
    }

    #[test]
    fn yaml_errors_name_the_field_and_line() {
        let error = Readiness::from_yaml("status: ready\nmaintenance:\n  - start: next tuesday\n    end: 2026-01-11T02:00:00Z\n").unwrap_err();
        // serde_yaml places errors of a field's value at the enclosing mapping, so the
        // message names the field itself.
        assert!(error.starts_with("maintenance[0]: start \"next tuesday\" is not an RFC 3339 time"), "{error}");
        assert!(error.ends_with(" at line 3 column 5"), "{error}");
        let error = Readiness::from_yaml("status: redy\n").unwrap_err();
        assert!(error.contains("unknown variant `redy`"), "{error}");
        assert!(error.contains("line 1"), "{error}");
        let error = Readiness::from_yaml("status: ready\nmaintenence: []\n").unwrap_err();
        assert!(error.contains("unknown field `maintenence`"), "{error}");
        let error = Readiness::from_yaml("status: ready\nsupported_contract: 'banana'\n").unwrap_err();
        assert!(error.starts_with("supported_contract \"banana\" is not a semver range"), "{error}");
        let error = Readiness::from_yaml("").unwrap_err();
        assert!(!error.is_empty());
    }

    #[test]
    fn json_errors_name_the_field() {
        let error = Readiness::from_json(br#"{"status": "ready", "period_close": [{"start": 5, "end": "x"}]}"#).unwrap_err();
        assert!(error.starts_with("period_close[0].start: invalid type"), "{error}");
        let error = Readiness::from_json(b"<html>oops</html>").unwrap_err();
        assert!(error.contains("expected value at line 1 column 1"), "{error}");
        let error = Readiness::from_json(br#"{"status": "ready","#).unwrap_err();
        assert_eq!(error, "EOF while parsing a value at line 1 column 19");
        let error = Readiness::from_json(br#"{"status": "ready"} trailing"#).unwrap_err();
        assert!(error.contains("trailing characters"), "{error}");
    }

    #[test]
    fn reversed_windows_are_malformed() {
        let error = Readiness::from_yaml("status: ready\nperiod_close:\n  - { start: 2026-01-31T00:00:00Z, end: 2026-01-30T00:00:00Z }\n").unwrap_err();
        assert_eq!(error, "period_close[0]: end 2026-01-30T00:00:00Z is not after start 2026-01-31T00:00:00Z");
    }
}
