//! Artifact kinds: what an application (or one of its `artifacts:`) promotes, and the layouts
//! each kind's version may live in.
//!
//! ```yaml
//! applications:
//!   shop:
//!     artifacts:
//!       api:   { image: registry.example.com/shop/api, environments: { … } }       # helm, kustomize, manifest
//!       chart:                                                                       # chart_dependency, argocd, helm_release
//!         chart: { repository: oci://registry.example.com/charts, name: shop }
//!         environments:
//!           prod: { file: envs/prod/shop/Chart.yaml, chart_dependency: { name: shop } }
//!       base:                                                                        # kustomize_remote, argocd
//!         git: { url: https://github.com/example/shop-base }
//!         environments:
//!           prod: { file: envs/prod/shop/kustomization.yaml, kustomize_remote: { url: https://github.com/example/shop-base } }
//! ```
//!
//! A chart or Git artifact has no digest. Once loaded, every location knows its artifact's
//! source ([`Location::source`]), so the layout can check the file names the same chart or
//! repository, and the application's (or artifact's) `image` holds the artifact's identifier:
//! a chart's `REPOSITORY/NAME` (for an OCI repository, the reference Helm itself uses), a Git
//! repository's URL.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Location;
use crate::manifest::Layout;
use crate::transition::ArtifactKind;

/// A Helm chart: the repository it is published to and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartSource {
    /// `oci://REGISTRY/PATH` (an OCI chart repository) or `https://HOST/PATH` (a repository
    /// with an `index.yaml`); `http://` only on the loopback interface.
    pub repository: String,
    /// The chart's name, e.g. `shop`.
    pub name: String,
}

/// A Git repository whose revisions (tags or commits) are promoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitSource {
    /// The repository URL, e.g. `https://github.com/example/shop-base`.
    pub url: String,
}

/// An artifact's source as its locations know it (set when loading).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ArtifactSource {
    /// A container image (its repository is the application's or artifact's `image`).
    #[default]
    Image,
    /// A Helm chart.
    Chart(ChartSource),
    /// A Git repository.
    Git(GitSource),
}

impl ArtifactSource {
    /// The kind policies and records name.
    pub fn kind(&self) -> ArtifactKind {
        match self {
            ArtifactSource::Image => ArtifactKind::Image,
            ArtifactSource::Chart(_) => ArtifactKind::HelmChart,
            ArtifactSource::Git(_) => ArtifactKind::GitRevision,
        }
    }

    /// The identifier kept in `image` for a chart or Git artifact (see the module docs).
    pub fn identifier(&self) -> Option<String> {
        match self {
            ArtifactSource::Image => None,
            ArtifactSource::Chart(chart) => Some(format!("{}/{}", chart.repository.trim_end_matches('/'), chart.name)),
            ArtifactSource::Git(git) => Some(git.url.clone()),
        }
    }

    /// From the `image:`, `chart:` and `git:` an application or artifact gives: exactly one.
    /// The error names the key to fix and says what is wrong.
    pub fn from_fields(image: &str, chart: Option<&ChartSource>, git: Option<&GitSource>) -> Result<ArtifactSource, (&'static str, String)> {
        let given = [!image.is_empty(), chart.is_some(), git.is_some()];
        if given.iter().filter(|given| **given).count() > 1 {
            let key = if chart.is_some() { "chart" } else if git.is_some() { "git" } else { "image" };
            return Err((key, "give exactly one of image: REPOSITORY, chart: { repository: …, name: … } or git: { url: … }".into()));
        }
        if let Some(chart) = chart {
            check_repository(&chart.repository).map_err(|message| ("chart", format!("repository: {message}")))?;
            crate::input::identifier("name", &chart.name).map_err(|error| ("chart", format!("name: {}", error.message)))?;
            return Ok(ArtifactSource::Chart(chart.clone()));
        }
        if let Some(git) = git {
            check_git_url(&git.url).map_err(|message| ("git", format!("url: {message}")))?;
            return Ok(ArtifactSource::Git(git.clone()));
        }
        Ok(ArtifactSource::Image)
    }
}

/// Text of a URL: no spaces, controls or invisible characters, bounded.
fn check_url_text(url: &str) -> Result<(), String> {
    crate::input::text("url", url, 500).map_err(|error| error.message)?;
    if url.chars().any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '"' | '\'' | '\\')) {
        return Err(format!("{url:?} has a space, quote, backslash, `?` or `#`; write the address alone"));
    }
    Ok(())
}

/// A chart repository: `oci://…`, `https://…`, or `http://` on the loopback interface.
fn check_repository(repository: &str) -> Result<(), String> {
    check_url_text(repository)?;
    let rest = repository.strip_prefix("oci://").or_else(|| repository.strip_prefix("https://")).or_else(|| {
        let rest = repository.strip_prefix("http://")?;
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        matches!(host, "127.0.0.1" | "localhost" | "[::1]").then_some(rest)
    });
    match rest {
        Some(rest) if !rest.trim_matches('/').is_empty() => Ok(()),
        _ => Err(format!("{repository:?} is not a chart repository: write oci://REGISTRY/PATH or https://HOST/PATH (http:// only on 127.0.0.1)")),
    }
}

/// A Git URL: `https://`, `http://`, `ssh://`, `file://` or scp-like `git@host:path`.
fn check_git_url(url: &str) -> Result<(), String> {
    check_url_text(url)?;
    let schemes = ["https://", "http://", "ssh://", "file://", "git@"];
    match schemes.iter().find_map(|scheme| url.strip_prefix(scheme)) {
        Some(rest) if !rest.trim_matches('/').is_empty() => Ok(()),
        _ => Err(format!("{url:?} is not a Git URL: write https://HOST/PATH (or ssh://, file://, git@HOST:PATH)")),
    }
}

/// The layout keys of a location, by kind: `(key, set, kinds it is for)`.
pub(super) fn layout_keys(location: &Location) -> [(&'static str, bool, &'static [ArtifactKind]); 7] {
    use ArtifactKind::{GitRevision, HelmChart, Image};
    [
        ("helm", location.helm.is_some(), &[Image]),
        ("kustomize", location.kustomize.is_some(), &[Image]),
        ("manifest", location.manifest.is_some(), &[Image]),
        ("chart_dependency", location.chart_dependency.is_some(), &[HelmChart]),
        ("argocd", location.argocd.is_some(), &[HelmChart, GitRevision]),
        ("helm_release", location.helm_release.is_some(), &[HelmChart]),
        ("kustomize_remote", location.kustomize_remote.is_some(), &[GitRevision]),
    ]
}

/// The schema of a location: at most one layout key (a `defaults` may leave it to another level).
pub(super) fn at_most_one_layout(schema: &mut schemars::Schema) {
    let keys: Vec<&str> = layout_keys(&Location::default()).into_iter().map(|(key, ..)| key).collect();
    let mut pairs = Vec::new();
    for (index, first) in keys.iter().enumerate() {
        for second in &keys[index + 1..] {
            pairs.push(serde_json::json!({ "required": [first, second] }));
        }
    }
    schema.insert("not".into(), serde_json::json!({ "anyOf": pairs }));
}

/// The one layout key a location sets, when it sets exactly one.
pub fn layout_key(location: &Location) -> Option<&'static str> {
    let set: Vec<&'static str> = layout_keys(location).into_iter().filter(|(_, set, _)| *set).map(|(key, ..)| key).collect();
    (set.len() == 1).then(|| set[0])
}

/// Whether a location sets any layout.
pub(super) fn has_layout(location: &Location) -> bool {
    layout_keys(location).iter().any(|(_, set, _)| *set)
}

/// Take `from`'s layout (every layout key) into `into`.
pub(super) fn copy_layout(into: &mut Location, from: &Location) {
    into.helm = from.helm.clone();
    into.kustomize = from.kustomize.clone();
    into.manifest = from.manifest.clone();
    into.chart_dependency = from.chart_dependency.clone();
    into.argocd = from.argocd.clone();
    into.helm_release = from.helm_release.clone();
    into.kustomize_remote = from.kustomize_remote.clone();
}

/// What to write for "exactly one layout" errors.
pub(super) const ONE_LAYOUT: &str = "give exactly one of the layouts: helm: {tag_path: …}, kustomize: {…} or manifest: {container: …} for an image; \
chart_dependency: {name: …}, argocd: {} or helm_release: {} for a chart; kustomize_remote: {url: …} or argocd: {} for a Git revision";

/// Check a location's one layout suits `kind`; the error names the layout key.
pub(super) fn check_layout_kind(location: &Location, kind: ArtifactKind) -> Result<(), (&'static str, String)> {
    for (key, set, kinds) in layout_keys(location) {
        if set && !kinds.contains(&kind) {
            let suits: Vec<&str> = layout_keys(location).into_iter().filter(|(_, _, kinds)| kinds.contains(&kind)).map(|(key, ..)| key).collect();
            return Err((key, format!("{key} holds no version of this artifact's kind ({}); use {}", kind.word(), suits.join(", "))));
        }
    }
    if let Some(remote) = &location.kustomize_remote {
        check_url_text(&remote.url).map_err(|message| ("kustomize_remote", format!("url: {message}")))?;
    }
    if let Some(dependency) = &location.chart_dependency {
        crate::input::identifier("name", &dependency.name).map_err(|error| ("chart_dependency", format!("name: {}", error.message)))?;
    }
    Ok(())
}

/// A Chart.yaml `dependencies:` entry's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartDependencyLocation {
    /// The `name` of the entry under `dependencies:`.
    pub name: String,
}

/// An Argo CD `Application`'s `spec.source.targetRevision` (its `repoURL`, and for a chart its
/// `chart`, must name the artifact's).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgoCdLocation {}

/// A Flux `HelmRelease`'s `spec.chart.spec.version` (its `spec.chart.spec.chart` must be the
/// chart's name).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelmReleaseLocation {}

/// A kustomization's remote `resources:` entry and its `?ref=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KustomizeRemoteLocation {
    /// The entry's address before `?`: equal to this, or this followed by `/` or `//` and a
    /// path inside the repository.
    pub url: String,
}

impl Location {
    /// The layout of a chart's or Git revision's location, with what the file must name.
    pub(super) fn source_layout(&self) -> Option<Layout> {
        let (repository, chart) = match &self.source {
            ArtifactSource::Image => (String::new(), None),
            ArtifactSource::Chart(chart) => (chart.repository.clone(), Some(chart.name.clone())),
            ArtifactSource::Git(git) => (git.url.clone(), None),
        };
        if let Some(dependency) = &self.chart_dependency {
            return Some(Layout::ChartDependency { name: dependency.name.clone(), repository: Some(repository).filter(|r| !r.is_empty()) });
        }
        if self.argocd.is_some() {
            return Some(Layout::ArgoCd { repository, chart });
        }
        if self.helm_release.is_some() {
            return Some(Layout::HelmRelease { chart: chart.unwrap_or_default() });
        }
        self.kustomize_remote.as_ref().map(|remote| Layout::KustomizeRemote { url: remote.url.clone() })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::manifest::Layout;
    use crate::transition::ArtifactKind;

    const FREIGHT: &str = "environments: [qa, prod]
applications:
  shop:
    artifacts:
      api:
        image: registry.example.com/shop/api
        environments:
          qa: { file: envs/qa/shop/values.yaml, helm: { tag_path: api.tag } }
          prod: { file: envs/prod/shop/values.yaml, helm: { tag_path: api.tag } }
      chart:
        chart: { repository: oci://registry.example.com/charts, name: shop }
        environments:
          qa: { file: envs/qa/shop/app.yaml, argocd: {} }
          prod: { file: envs/prod/shop/Chart.yaml, chart_dependency: { name: shop } }
  base:
    git: { url: https://github.com/example/shop-base }
    environments:
      qa: { file: envs/qa/base/kustomization.yaml, kustomize_remote: { url: https://github.com/example/shop-base } }
      prod: { file: envs/prod/base/app.yaml, argocd: {} }
";

    #[test]
    fn charts_and_git_revisions_parse_with_their_layouts_and_identifiers() {
        let config = Config::parse("tollgate.yaml", FREIGHT).unwrap();
        let shop = &config.applications["shop"];
        let list = shop.artifact_list();
        assert_eq!(list.iter().map(|artifact| (artifact.name, artifact.kind)).collect::<Vec<_>>(), [("api", ArtifactKind::Image), ("chart", ArtifactKind::HelmChart)]);
        assert_eq!(list[1].image, "oci://registry.example.com/charts/shop");
        assert_eq!(
            list[1].environments["qa"][0].layout(list[1].image),
            Layout::ArgoCd { repository: "oci://registry.example.com/charts".into(), chart: Some("shop".into()) }
        );
        assert_eq!(
            list[1].environments["prod"][0].layout(list[1].image),
            Layout::ChartDependency { name: "shop".into(), repository: Some("oci://registry.example.com/charts".into()) }
        );
        let base = &config.applications["base"];
        assert_eq!((base.image.as_str(), base.source.kind()), ("https://github.com/example/shop-base", ArtifactKind::GitRevision));
        assert_eq!(base.environments["prod"].layout(&base.image), Layout::ArgoCd { repository: "https://github.com/example/shop-base".into(), chart: None });
    }

    #[test]
    fn a_layout_for_another_kind_or_two_kinds_at_once_is_an_error_naming_the_field() {
        let text = FREIGHT.replace("prod: { file: envs/prod/shop/Chart.yaml, chart_dependency: { name: shop } }", "prod: { file: envs/prod/shop/values.yaml, helm: { tag_path: chart.version } }");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.starts_with("tollgate.yaml:14:"), "{error}");
        assert!(error.contains("applications.shop.artifacts.chart.environments.prod.helm: helm holds no version of this artifact's kind (helm-chart); use chart_dependency, argocd, helm_release"), "{error}");
        let text = FREIGHT.replace("qa: { file: envs/qa/base/kustomization.yaml, kustomize_remote", "qa: { file: envs/qa/base/kustomization.yaml, helm_release: {}, kustomize_remote");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.contains("applications.base.environments.qa: give exactly one of the layouts"), "{error}");
        let text = FREIGHT.replace("    git: { url: https://github.com/example/shop-base }\n", "    git: { url: https://github.com/example/shop-base }\n    image: registry.example.com/base\n");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.starts_with("tollgate.yaml:16:5: applications.base.git: give exactly one of image: REPOSITORY, chart:"), "{error}");
        let text = FREIGHT.replace("  base:\n", "      web:\n        image: r/web\n        environments:\n          qa: { file: w.yaml, argocd: {} }\n          prod: { file: w.yaml, argocd: {} }\n  base:\n");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.contains("tollgate.yaml:19:33: applications.shop.artifacts.web.environments.prod.argocd: argocd holds no version of this artifact's kind (image); use helm, kustomize, manifest"), "{error}");
    }

    #[test]
    fn a_chart_repository_or_git_url_that_is_not_one_is_an_error() {
        for (from, to, expected) in [
            ("oci://registry.example.com/charts", "ftp://registry.example.com/charts", "applications.shop.artifacts.chart.chart: repository: \"ftp://registry.example.com/charts\" is not a chart repository"),
            ("oci://registry.example.com/charts", "http://charts.example.com", "is not a chart repository"),
            ("name: shop }", "name: 'shop chart' }", "applications.shop.artifacts.chart.chart: name: \"shop chart\" is not a valid name"),
            ("git: { url: https://github.com/example/shop-base }", "git: { url: 'https://github.com/example/shop-base?x=1' }", "applications.base.git: url:"),
            ("git: { url: https://github.com/example/shop-base }", "git: { url: github.com/example/shop-base }", "is not a Git URL"),
        ] {
            let error = Config::parse("tollgate.yaml", &FREIGHT.replace(from, to)).unwrap_err().0;
            assert!(error.contains(expected), "{to}: {error}");
        }
        let loopback = FREIGHT.replace("oci://registry.example.com/charts", "http://127.0.0.1:8080/charts");
        assert!(Config::parse("tollgate.yaml", &loopback).is_ok());
        let text = FREIGHT.replace("  base:\n", "  base:\n    discover: { semver: '*' }\n");
        assert!(Config::parse("tollgate.yaml", &text).is_ok());
        let text = FREIGHT.replace("  base:\n", "  base:\n    discover: { tag_regex: 'v.*' }\n");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.contains("applications.base.discover.semver: a git-revision's versions are ordered by semantic version"), "{error}");
    }

    #[test]
    fn versions_are_checked_for_their_kind() {
        assert!(ArtifactKind::HelmChart.check_version("1.4.0").is_ok());
        assert!(ArtifactKind::HelmChart.check_version("v1.4.0-rc.1").is_ok());
        assert!(ArtifactKind::HelmChart.check_version("latest").unwrap_err().contains("is not a chart version"));
        assert!(ArtifactKind::GitRevision.check_version("v1.4.0").is_ok());
        assert!(ArtifactKind::GitRevision.check_version("0123456789abcdef0123456789abcdef01234567").is_ok());
        assert!(ArtifactKind::GitRevision.check_version("v1..4").unwrap_err().contains("is not a Git revision"));
        assert!(ArtifactKind::GitRevision.check_version("v1.lock").is_err());
        assert!(ArtifactKind::Image.check_version("main-abc1234").is_ok());
        assert!(ArtifactKind::HelmChart.check_version("1.0 0").is_err());
        assert!(ArtifactKind::HelmChart.check_version("1.2.3+build.1").is_ok());
        assert!(ArtifactKind::Image.check_version("1.2.3+build.1").unwrap_err().contains("only a Helm chart's version takes +BUILD metadata"));
        assert!(ArtifactKind::GitRevision.check_version("v1.2.3+build.1").is_err());
    }
}
