//! Multi-artifact applications: several named images (an API, its worker, its migration
//! job) promoted together as one unit: one transition, one decision, one commit.
//!
//! ```yaml
//! applications:
//!   shop:
//!     artifacts:
//!       api:
//!         image: registry.example.com/shop/api
//!         environments:
//!           qa:   { file: envs/qa/shop/values.yaml, helm: { tag_path: api.image.tag } }
//!           prod:                                  # a version may live in several files
//!             - { file: envs/prod/shop/values.yaml, helm: { tag_path: api.image.tag } }
//!             - { file: envs/prod/shop/cronjob.yaml, manifest: { container: api } }
//!       worker:
//!         image: registry.example.com/shop/worker
//!         discover: { semver: "^1" }     # where its versions come from (see `discover`)
//!         environments: { … }
//!     primary: api          # optional: the artifact 0.1 plugins see as `artifact` (default: the first by name)
//! ```
//!
//! The single `image:` + `environments:` form stays valid and means one artifact. Every
//! artifact must be configured in the same environments. Parsing fills the application's
//! `image` and `environments` with the primary artifact's (its first location per
//! environment), so code that knows one image per application keeps working on it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kinds::ArtifactSource;
use super::{Application, Config, ConfigProblem, Location};

/// One named artifact of a multi-artifact application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactConfig {
    /// Image repository, e.g. `registry.example.com/shop/worker` (or `chart:` or `git:`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// A Helm chart, instead of an image. See [`super::kinds`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<super::kinds::ChartSource>,
    /// A Git repository's revisions, instead of an image. See [`super::kinds`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<super::kinds::GitSource>,
    /// Where its version lives, per environment: one location, or a list of them (every
    /// one holds the same version and is edited together).
    pub environments: BTreeMap<String, Locations>,
    /// Where its new versions come from, as an application's `discover:` (Kargo: one of a
    /// Warehouse's subscriptions). See [`super::discover`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discover: Option<super::discover::Discovery>,
    /// What it promotes (set when loading).
    #[serde(skip)]
    pub source: ArtifactSource,
}

/// One location, or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // read once per configuration; a box would buy nothing
pub enum Locations {
    /// One file.
    One(Location),
    /// Several files, all holding the artifact's version.
    Several(Vec<Location>),
}

impl Locations {
    /// Every location.
    pub fn all(&self) -> &[Location] {
        match self {
            Locations::One(location) => std::slice::from_ref(location),
            Locations::Several(locations) => locations,
        }
    }

    /// Every location, to fill in at load.
    pub(super) fn all_mut(&mut self) -> &mut [Location] {
        match self {
            Locations::One(location) => std::slice::from_mut(location),
            Locations::Several(locations) => locations,
        }
    }
}

/// One artifact of an application as planning sees it: its name (the application's name
/// for the single-image form), image and locations per environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedArtifactConfig<'a> {
    /// Artifact name.
    pub name: &'a str,
    /// Image repository (for a chart or Git artifact, its identifier; see [`super::kinds`]).
    pub image: &'a str,
    /// Image, Helm chart or Git revision.
    pub kind: crate::transition::ArtifactKind,
    /// Locations per environment.
    pub environments: BTreeMap<&'a str, &'a [Location]>,
}

impl Application {
    /// Whether the application lists several named artifacts (`artifacts:`).
    pub fn is_multi_artifact(&self) -> bool {
        !self.artifacts.is_empty()
    }

    /// The artifact 0.1 plugins see as the transition's `artifact`: `primary`, else the
    /// first by name.
    pub fn primary_artifact(&self) -> Option<&str> {
        self.primary.as_deref().or_else(|| self.artifacts.keys().next().map(String::as_str))
    }

    /// Every location of the application in `env`, with the artifact it holds (`None` for
    /// the single-image form) and that artifact's image: every file a promotion into `env`
    /// may edit.
    pub fn locations_in(&self, env: &str) -> Vec<(Option<&str>, &str, &Location)> {
        if !self.is_multi_artifact() {
            return self.environments.get(env).map(|location| vec![(None, self.image.as_str(), location)]).unwrap_or_default();
        }
        self.artifacts
            .iter()
            .filter_map(|(name, artifact)| Some((name.as_str(), artifact.image.as_str(), artifact.environments.get(env)?)))
            .flat_map(|(name, image, locations)| locations.all().iter().map(move |location| (Some(name), image, location)))
            .collect()
    }

    /// Its artifacts in name order.
    pub fn artifact_list(&self) -> Vec<NamedArtifactConfig<'_>> {
        self.artifacts
            .iter()
            .map(|(name, artifact)| NamedArtifactConfig {
                name,
                image: &artifact.image,
                kind: artifact.source.kind(),
                environments: artifact.environments.iter().map(|(env, locations)| (env.as_str(), locations.all())).collect(),
            })
            .collect()
    }
}

impl Config {
    /// Check the `artifacts:` of every application (each artifact as if it were an
    /// application of its own, so every location rule applies with the same messages),
    /// then fill each multi-artifact application's `image` and `environments` from its
    /// primary artifact.
    pub(super) fn check_and_fill_artifacts(&mut self, at: &dyn Fn(&[&str], String) -> ConfigProblem) -> Result<(), ConfigProblem> {
        self.fill_sources(at)?;
        for (name, application) in &self.applications {
            if !application.is_multi_artifact() {
                if application.primary.is_some() {
                    return Err(at(&["applications", name, "primary"], "primary: names one of artifacts:; this application has a single image".into()));
                }
                continue;
            }
            if !application.image.is_empty() || application.chart.is_some() || application.git.is_some() || !application.environments.is_empty() {
                return Err(at(
                    &["applications", name],
                    "give either image: and environments: (one artifact; or chart: or git: instead of image:) or artifacts: (several), not both".into(),
                ));
            }
            if let Some(primary) = &application.primary
                && !application.artifacts.contains_key(primary) {
                    let names: Vec<&str> = application.artifacts.keys().map(String::as_str).collect();
                    return Err(at(&["applications", name, "primary"], format!("{primary} is not one of its artifacts ({})", names.join(", "))));
                }
            let envs = |artifact: &ArtifactConfig| artifact.environments.keys().cloned().collect::<Vec<_>>();
            let (first_name, first) = application.artifacts.iter().next().expect("not empty");
            for (artifact_name, artifact) in &application.artifacts {
                crate::input::identifier("artifacts", artifact_name)
                    .map_err(|error| at(&["applications", name, "artifacts", artifact_name], error.message))?;
                if let Some(discovery) = &artifact.discover {
                    discovery
                        .compile_for(artifact.source.kind())
                        .map_err(|(key, message)| at(&["applications", name, "artifacts", artifact_name, "discover", key], message))?;
                }
                if envs(artifact) != envs(first) {
                    return Err(at(
                        &["applications", name, "artifacts", artifact_name, "environments"],
                        format!(
                            "the artifacts of one application are promoted together: configure {artifact_name} in the same environments as {first_name} ({})",
                            envs(first).join(", ")
                        ),
                    ));
                }
                for (env, locations) in &artifact.environments {
                    if locations.all().is_empty() {
                        return Err(at(&["applications", name, "artifacts", artifact_name, "environments", env], "list at least one location".into()));
                    }
                    for (index, location) in locations.all().iter().enumerate() {
                        let index = index.to_string();
                        let mut file_path = vec!["applications", name.as_str(), "artifacts", artifact_name.as_str(), "environments", env.as_str()];
                        if matches!(locations, Locations::Several(_)) {
                            file_path.push(&index);
                        }
                        file_path.push("file");
                        super::templates::check_path(&location.file).map_err(|message| at(&file_path, format!("{:?} {message}", location.file)))?;
                        // The artifact's location checked as a one-location application.
                        let mut alone = self.clone();
                        alone.applications = BTreeMap::from([(
                            name.clone(),
                            Application {
                                image: artifact.image.clone(),
                                chart: None,
                                git: None,
                                source: artifact.source.clone(),
                                environments: BTreeMap::from([(env.clone(), location.clone())]),
                                artifacts: BTreeMap::new(),
                                primary: None,
                                discover: None,
                                defaults: None,
                                skip: Vec::new(),
                            },
                        )]);
                        alone.check(&|path, message| {
                            let mut place: Vec<&str> = Vec::new();
                            match path {
                                ["applications", app, rest @ ..] => {
                                    place.extend(["applications", app, "artifacts", artifact_name.as_str()]);
                                    place.extend(rest.iter().take(2));
                                    if matches!(locations, Locations::Several(_)) && rest.len() >= 2 {
                                        place.push(&index);
                                    }
                                    place.extend(rest.iter().skip(2));
                                }
                                other => place.extend(other.iter()),
                            }
                            at(&place, message)
                        })?;
                    }
                }
            }
        }
        for (name, application) in self.applications.iter().filter(|(_, application)| application.is_multi_artifact()) {
            one_branch_per_environment(name, application, &self.branch, at)?;
        }
        for application in self.applications.values_mut().filter(|application| application.is_multi_artifact()) {
            let primary = application.primary_artifact().expect("not empty").to_string();
            let artifact = &application.artifacts[&primary];
            application.image = artifact.image.clone();
            application.source = artifact.source.clone();
            application.environments = artifact.environments.iter().map(|(env, locations)| (env.clone(), locations.all()[0].clone())).collect();
        }
        Ok(())
    }

    /// Work out every application's and artifact's source (exactly one of `image:`, `chart:`,
    /// `git:`), keep a chart's or Git repository's identifier in `image`, and tell each
    /// location whose version it holds.
    fn fill_sources(&mut self, at: &dyn Fn(&[&str], String) -> ConfigProblem) -> Result<(), ConfigProblem> {
        for (name, application) in &mut self.applications {
            if !application.is_multi_artifact() {
                if application.chart.is_some() || application.git.is_some() {
                    let source = ArtifactSource::from_fields(&application.image, application.chart.as_ref(), application.git.as_ref())
                        .map_err(|(key, message)| at(&["applications", name, key], message))?;
                    application.image = source.identifier().unwrap_or_else(|| application.image.clone());
                    application.source = source;
                }
                let source = application.source.clone();
                application.environments.values_mut().for_each(|location| location.source = source.clone());
                continue;
            }
            for (artifact_name, artifact) in &mut application.artifacts {
                let source = ArtifactSource::from_fields(&artifact.image, artifact.chart.as_ref(), artifact.git.as_ref())
                    .map_err(|(key, message)| at(&["applications", name, "artifacts", artifact_name, key], message))?;
                if let Some(identifier) = source.identifier() {
                    artifact.image = identifier;
                }
                for (env, locations) in artifact.environments.iter_mut() {
                    let several = matches!(locations, Locations::Several(_));
                    for (index, location) in locations.all_mut().iter_mut().enumerate() {
                        location.source = source.clone();
                        if !location.branch.is_empty() {
                            // Where the branch was written, for this and later errors about it.
                            let index = index.to_string();
                            let mut field = vec!["applications", name.as_str(), "artifacts", artifact_name.as_str(), "environments", env.as_str()];
                            field.extend(several.then_some(index.as_str()));
                            field.push("branch");
                            location.branch = super::templates::fill_branch(&location.branch, Some((name, env))).map_err(|message| at(&field, message))?;
                            location.origin.branch = field.iter().map(|segment| segment.to_string()).collect();
                        }
                    }
                }
                artifact.source = source;
            }
        }
        Ok(())
    }
}

/// Every file of a multi-artifact application in one environment lives on one branch (the
/// top-level one unless a location names its own), since one commit changes them together.
fn one_branch_per_environment(name: &str, application: &Application, top: &str, at: &dyn Fn(&[&str], String) -> ConfigProblem) -> Result<(), ConfigProblem> {
    let branch_of = |location: &Location| if location.branch.is_empty() { top.to_string() } else { location.branch.clone() };
    for env in application.artifacts.values().flat_map(|artifact| artifact.environments.keys()) {
        let mut first: Option<(String, &str)> = None;
        for (artifact_name, artifact) in &application.artifacts {
            for (index, location) in artifact.environments.get(env).map(Locations::all).unwrap_or_default().iter().enumerate() {
                let branch = branch_of(location);
                match &first {
                    None => first = Some((branch, artifact_name)),
                    Some((first_branch, first_artifact)) if *first_branch != branch => {
                        let index = index.to_string();
                        let mut field = vec!["applications", name, "artifacts", artifact_name.as_str(), "environments", env.as_str()];
                        if let Some(Locations::Several(_)) = artifact.environments.get(env) {
                            field.push(&index);
                        }
                        return Err(at(
                            &field,
                            format!(
                                "the files of {name} in {env} are changed by one commit: keep them on one branch ({first_artifact}'s are on {first_branch}, this one is on {branch})"
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = "environments: [qa, prod]
applications:
  shop:
    artifacts:
      api:
        image: registry.example.com/shop/api
        environments:
          qa: { file: envs/qa/shop/values.yaml, helm: { tag_path: api.tag } }
          prod:
            - { file: envs/prod/shop/values.yaml, helm: { tag_path: api.tag } }
            - { file: envs/prod/shop/cronjob.yaml, manifest: { container: api } }
      worker:
        image: registry.example.com/shop/worker
        environments:
          qa: { file: envs/qa/shop/values.yaml, helm: { tag_path: worker.tag } }
          prod: { file: envs/prod/shop/values.yaml, helm: { tag_path: worker.tag } }
  web:
    image: registry.example.com/shop/web
    environments:
      qa: { file: envs/qa/web/kustomization.yaml, kustomize: {} }
";

    #[test]
    fn artifacts_parse_and_the_primary_fills_the_single_image_fields() {
        let config = Config::parse("tollgate.yaml", SHOP).unwrap();
        let shop = &config.applications["shop"];
        assert!(shop.is_multi_artifact());
        assert_eq!(shop.primary_artifact(), Some("api"));
        assert_eq!(shop.image, "registry.example.com/shop/api");
        assert_eq!(shop.environments["prod"].file, "envs/prod/shop/values.yaml");
        let list = shop.artifact_list();
        assert_eq!(list.iter().map(|artifact| artifact.name).collect::<Vec<_>>(), ["api", "worker"]);
        assert_eq!(list[0].environments["prod"].len(), 2);
        assert!(!config.applications["web"].is_multi_artifact());
    }

    #[test]
    fn artifact_errors_name_line_column_and_field() {
        let text = SHOP.replace("          qa: { file: envs/qa/shop/values.yaml, helm: { tag_path: worker.tag } }\n", "");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.starts_with("tollgate.yaml:14:9: applications.shop.artifacts.worker.environments: the artifacts of one application are promoted together"), "{error}");
        let text = SHOP.replace("{ file: envs/prod/shop/cronjob.yaml, manifest: { container: api } }", "{ file: /etc/cronjob.yaml, manifest: { container: api } }");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.contains("applications.shop.artifacts.api.environments.prod.1.file: \"/etc/cronjob.yaml\" must be a path relative"), "{error}");
        let text = SHOP.replace("image: registry.example.com/shop/worker", "image: 'registry.example.com/shop/worker:1.0'");
        assert!(Config::parse("tollgate.yaml", &text).is_ok(), "a port-like colon is allowed as in image:");
        let text = SHOP.replace("  shop:\n", "  shop:\n    image: registry.example.com/shop/api\n");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.starts_with("tollgate.yaml:3:3: applications.shop: give either image: and environments:"), "{error}");
        let text = SHOP.replace("  shop:\n", "  shop:\n    primary: db\n");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.contains("applications.shop.primary: db is not one of its artifacts (api, worker)"), "{error}");
        let text = SHOP.replace("        image: registry.example.com/shop/worker\n", "        image: registry.example.com/shop/worker\n        discover: { semver: 'newest' }\n");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.contains("applications.shop.artifacts.worker.discover.semver: \"newest\" is not a semver requirement"), "{error}");
        let text = SHOP.replace("  shop:\n", "  shop:\n    discover: { semver: '*' }\n");
        let error = Config::parse("tollgate.yaml", &text).unwrap_err().0;
        assert!(error.contains("applications.shop.discover: an application of several artifacts discovers each one's versions on its own"), "{error}");
        let text = SHOP.replace("  shop:\n", "  shop:\n    primary: worker\n");
        let config = Config::parse("tollgate.yaml", &text).unwrap();
        assert_eq!(config.applications["shop"].image, "registry.example.com/shop/worker");
    }
}
