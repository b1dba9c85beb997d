//! `tollgate versions`: the candidate versions of an application, newest first.

use std::fmt::Write;

use serde::Serialize;

use super::escape::line;
use super::{JSON_SCHEMA_VERSION, OutputFormat, to_json};
use crate::promotion::discover::Candidate;

#[derive(Serialize)]
struct VersionsDocument<'a> {
    schema_version: u32,
    application: &'a str,
    /// Newest first.
    versions: &'a [Candidate],
}

/// Render the candidates of `app` (text: one line each, version, digest and creation time).
pub fn render(app: &str, candidates: &[Candidate], format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        return to_json(&VersionsDocument { schema_version: JSON_SCHEMA_VERSION, application: app, versions: candidates });
    }
    if candidates.is_empty() {
        return format!("{}: the registry has no tag its discover: rule admits\n", line(app));
    }
    let width = candidates.iter().map(|candidate| candidate.version.len()).max().unwrap_or(0);
    let mut out = String::new();
    for candidate in candidates {
        let created = candidate.created.map(|time| format!("  created {time}")).unwrap_or_default();
        let pinned = candidate.digest.as_deref().or(candidate.commit.as_deref()).unwrap_or("-");
        let _ = writeln!(out, "{:width$}  {}{created}", line(&candidate.version), line(pinned));
    }
    out
}
