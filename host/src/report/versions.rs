//! `tollgate versions`: the candidate versions of an application, newest first.

use std::fmt::Write;

use serde::Serialize;

use super::escape::line;
use super::{JSON_SCHEMA_VERSION, OutputFormat, to_json};
use crate::promotion::discover::{ArtifactOffer, Candidate, Offered};

#[derive(Serialize)]
struct VersionsDocument<'a> {
    schema_version: u32,
    application: &'a str,
    /// Newest first.
    versions: &'a [Candidate],
}

/// The document of a multi-artifact application: its candidates keyed by artifact name.
#[derive(Serialize)]
struct ArtifactVersionsDocument<'a> {
    schema_version: u32,
    application: &'a str,
    artifacts: std::collections::BTreeMap<&'a str, &'a ArtifactOffer>,
}

/// Render what `app`'s repositories offer (text: one line per version, its digest and
/// creation time; a section per artifact of a multi-artifact application).
pub fn render(app: &str, offered: &Offered, format: OutputFormat) -> String {
    match (offered, format) {
        (Offered::Application(candidates), OutputFormat::Json) => {
            to_json(&VersionsDocument { schema_version: JSON_SCHEMA_VERSION, application: app, versions: candidates })
        }
        (Offered::Application(candidates), _) if candidates.is_empty() => format!("{}: the registry has no tag its discover: rule admits\n", line(app)),
        (Offered::Application(candidates), _) => lines(candidates, ""),
        (Offered::Artifacts(offers), OutputFormat::Json) => to_json(&ArtifactVersionsDocument {
            schema_version: JSON_SCHEMA_VERSION,
            application: app,
            artifacts: offers.iter().map(|offer| (offer.name.as_str(), offer)).collect(),
        }),
        (Offered::Artifacts(offers), _) => {
            let mut out = String::new();
            for offer in offers {
                let _ = writeln!(out, "{} ({} {})", line(&offer.name), offer.kind.word(), line(&offer.image));
                match offer.versions.is_empty() {
                    true => out.push_str("  the registry has no version its discover: rule admits\n"),
                    false => out.push_str(&lines(&offer.versions, "  ")),
                }
            }
            out
        }
    }
}

/// One line per candidate, versions aligned.
fn lines(candidates: &[Candidate], indent: &str) -> String {
    let width = candidates.iter().map(|candidate| candidate.version.len()).max().unwrap_or(0);
    let mut out = String::new();
    for candidate in candidates {
        let created = candidate.created.map(|time| format!("  created {time}")).unwrap_or_default();
        let pinned = candidate.digest.as_deref().or(candidate.commit.as_deref()).unwrap_or("-");
        let _ = writeln!(out, "{indent}{:width$}  {}{created}", line(&candidate.version), line(pinned));
    }
    out
}
