//! Discovery: where an application's new versions come from (Kargo's Warehouse). The image's
//! registry is asked for its tags; the ones this rule admits are the candidates, newest first,
//! each with the manifest digest the registry holds for it (see `promotion::discover`). A
//! multi-artifact application has a rule per artifact (`artifacts.NAME.discover`), as a
//! Warehouse subscribes to several artifacts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::transition::ArtifactKind;

/// At most this many bytes of a `tag_regex` (the regex crate bounds what it compiles, too).
const MAX_PATTERN_BYTES: usize = 1024;

/// An application's `discover:` rule: which of its image's tags are versions, and which of
/// them is newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// The tags that are semantic versions satisfying this requirement, e.g. `>=1.2, <2`
    /// (a leading `v` in a tag is allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// The tags this regular expression matches in full, e.g. `main-[0-9a-f]{7}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_regex: Option<String>,
    /// Which candidate is newest: `semver` (the default when `semver` is given) or `created`
    /// (the image configuration's `created` time; the default with `tag_regex` alone, since
    /// the registry API records no push time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_by: Option<NewestBy>,
    /// Whether pre-release versions (`1.3.0-rc.1`) are candidates (with `semver`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prereleases: bool,
}

/// How candidates are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NewestBy {
    /// By semantic version.
    Semver,
    /// By the image configuration's `created` time.
    Created,
}

/// A [`Discovery`] checked and compiled.
#[derive(Debug, Clone)]
pub struct TagFilter {
    requirement: Option<semver::VersionReq>,
    pattern: Option<regex::Regex>,
    prereleases: bool,
    /// The order of the candidates.
    pub newest_by: NewestBy,
}

impl Discovery {
    /// Compile the rule; the error says which key is wrong and how (the caller adds where).
    pub fn compile(&self) -> Result<TagFilter, (&'static str, String)> {
        if self.semver.is_none() && self.tag_regex.is_none() {
            return Err(("semver", "give `semver: REQUIREMENT` (e.g. \">=1.0, <2\"), `tag_regex: PATTERN`, or both".into()));
        }
        let requirement = self
            .semver
            .as_deref()
            .map(|text| semver::VersionReq::parse(text).map_err(|error| ("semver", format!("{text:?} is not a semver requirement: {error}"))))
            .transpose()?;
        let pattern = match &self.tag_regex {
            Some(text) if text.len() > MAX_PATTERN_BYTES => return Err(("tag_regex", format!("longer than {MAX_PATTERN_BYTES} bytes"))),
            Some(text) => Some(
                regex::RegexBuilder::new(&format!("^(?:{text})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|error| ("tag_regex", format!("{text:?} is not a regular expression: {error}")))?,
            ),
            None => None,
        };
        let newest_by = self.newest_by.unwrap_or(if requirement.is_some() { NewestBy::Semver } else { NewestBy::Created });
        if newest_by == NewestBy::Semver && requirement.is_none() {
            return Err(("newest_by", "`newest_by: semver` needs a `semver:` requirement (use \"*\" for any version)".into()));
        }
        Ok(TagFilter { requirement, pattern, prereleases: self.prereleases, newest_by })
    }

    /// Compile the rule for an artifact of `kind`: a chart's or Git revision's versions are
    /// ordered by semantic version only (no creation time is read for them).
    pub fn compile_for(&self, kind: ArtifactKind) -> Result<TagFilter, (&'static str, String)> {
        let filter = self.compile()?;
        if !kind.is_image() && filter.newest_by != NewestBy::Semver {
            let key = if self.newest_by.is_some() { "newest_by" } else { "semver" };
            return Err((key, format!("a {}'s versions are ordered by semantic version (no creation time is read): give `semver:` (\"*\" for any)", kind.word())));
        }
        Ok(filter)
    }
}

impl TagFilter {
    /// Whether `tag` is a candidate; with a semver requirement, its version.
    pub fn admits(&self, tag: &str) -> Option<Option<semver::Version>> {
        if self.pattern.as_ref().is_some_and(|pattern| !pattern.is_match(tag)) {
            return None;
        }
        let Some(requirement) = &self.requirement else { return Some(None) };
        let version = semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()?;
        if !version.pre.is_empty() && !self.prereleases {
            return None;
        }
        // A requirement admits a pre-release only when it names one itself; with
        // `prereleases: true` compare the release it leads to.
        let release = semver::Version::new(version.major, version.minor, version.patch);
        let admitted = requirement.matches(&version) || (self.prereleases && !version.pre.is_empty() && requirement.matches(&release));
        admitted.then_some(Some(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(semver: Option<&str>, tag_regex: Option<&str>) -> Discovery {
        Discovery { semver: semver.map(Into::into), tag_regex: tag_regex.map(Into::into), newest_by: None, prereleases: false }
    }

    #[test]
    fn a_semver_requirement_admits_matching_releases_with_or_without_v_and_no_prereleases() {
        let filter = rule(Some(">=1.0, <2"), None).compile().unwrap();
        assert!(filter.admits("1.2.0").is_some());
        assert!(filter.admits("v1.10.3").is_some());
        assert!(filter.admits("2.0.0").is_none());
        assert!(filter.admits("1.3.0-rc.1").is_none());
        assert!(filter.admits("latest").is_none());
        let with_pre = Discovery { prereleases: true, ..rule(Some(">=1.0, <2"), None) }.compile().unwrap();
        assert!(with_pre.admits("1.3.0-rc.1").is_some());
    }

    #[test]
    fn a_tag_regex_must_match_the_whole_tag_and_orders_by_creation() {
        let filter = rule(None, Some("main-[0-9a-f]{7}")).compile().unwrap();
        assert_eq!(filter.newest_by, NewestBy::Created);
        assert!(filter.admits("main-abc1234").is_some());
        assert!(filter.admits("xmain-abc1234").is_none());
        assert!(filter.admits("main-abc12345").is_none());
    }

    #[test]
    fn a_rule_that_admits_nothing_checkable_is_an_error_naming_the_key() {
        assert_eq!(rule(None, None).compile().unwrap_err().0, "semver");
        assert_eq!(rule(Some("not a requirement"), None).compile().unwrap_err().0, "semver");
        assert_eq!(rule(None, Some("(")).compile().unwrap_err().0, "tag_regex");
        let ordered = Discovery { newest_by: Some(NewestBy::Semver), ..rule(None, Some("x")) };
        assert_eq!(ordered.compile().unwrap_err().0, "newest_by");
    }
}
