//! `tollgate status`: what version of every application runs in every environment, who put
//! it there, and whether it arrived by a promotion that counts (for a multi-artifact
//! application, every artifact's version too).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::health::{HealthEntry, HealthOutcome};
use super::history::{Arrivals, PromotionRecord};
use super::plan::location_tip;
use super::verified::Trust;
use super::workspace::Workspace;
use crate::config::Application;
use crate::exit::Failure;
use crate::manifest::read_deployed;
use crate::transition::ArtifactKind;

impl Workspace {
    /// What is deployed where.
    pub fn status(&self) -> Result<Vec<AppStatus>, Failure> {
        // Each location's history is its branch's, read whole once.
        let mut histories = self.histories()?;
        let mut unreadable = BTreeMap::new();
        for branch in self.config.location_branches() {
            if let Err(message) = histories.of_branch(branch).and_then(|reader| reader.all().map(drop)) {
                unreadable.insert(branch, message);
            }
        }
        if let Some(message) = unreadable.get(self.config.branch.as_str()) {
            return Err(Failure::bad_input(message.clone()));
        }
        // Health records live beside the promotions they report on, on each location's branch.
        let health: Vec<&HealthEntry> =
            self.config.location_branches().into_iter().filter_map(|branch| histories.opened(branch)).flat_map(|reader| reader.health()).filter(|entry| entry.counts).collect();
        // The tip of each branch that holds a location: the configured one, and environment
        // branches of their own.
        let mut tips = BTreeMap::new();
        let mut apps = Vec::new();
        for (name, application) in &self.config.applications {
            let mut environments = BTreeMap::new();
            for env in &self.config.environments {
                let Some(location) = application.environments.get(env) else { continue };
                let tip = match tips.entry(location.branch.clone()).or_insert_with(|| location_tip(&self.repo, location)) {
                    Ok(tip) => *tip,
                    Err(message) => {
                        environments.insert(env.clone(), EnvStatus::error(message.clone()));
                        continue;
                    }
                };
                let history = match (histories.opened(&location.branch), unreadable.get(location.branch.as_str())) {
                    (Some(reader), None) => reader.records(),
                    (_, message) => {
                        environments.insert(env.clone(), EnvStatus::error(message.cloned().unwrap_or_default()));
                        continue;
                    }
                };
                let text = self.repo.read_file(tip.tree, &location.file).map_err(|error| Failure::bad_input(error.0))?;
                let cell = match text {
                    None => EnvStatus::error(format!("{} does not exist on {}", location.file, location.branch)),
                    Some(text) => match read_deployed(&location.file, &text, &location.layout(&application.image)) {
                        Ok(deployed) => {
                            let into_env = |record: &&PromotionRecord| record.app == *name && record.to == *env;
                            // The newest promotion claimed into the environment that checks out (counting or
                            // not); the file is as it left it, or it was changed another way since (or only
                            // ever by commits that are no promotion: hand edits, forged records).
                            let newest = history.iter().filter(into_env).find(|record| !matches!(record.trust, Trust::Unrecorded { .. }));
                            // Every file of the environment counts: a hand edit of another
                            // artifact's file (or an artifact's second file) is one too.
                            let files: Vec<&str> = application.locations_in(env).into_iter().map(|(_, _, location)| location.file.as_str()).collect();
                            let tip_commit = tip.commit.to_string();
                            let as_at_tip = |commit: &str| files.iter().all(|file| self.blob_at(commit, file) == self.blob_at(&tip_commit, file));
                            let attributed = newest.filter(|record| as_at_tip(&record.commit));
                            let unrecorded = attributed.is_none()
                                && (newest.is_some() || history.iter().any(|record| !record.counts && files.iter().any(|file| self.touches(&record.commit, file))));
                            let mut cell = EnvStatus::of(attributed, unrecorded, deployed.version, deployed.digest);
                            cell.health = attributed.and_then(|promotion| HealthStatus::of(&health, &promotion.commit));
                            cell.artifacts = self.artifact_cells(application, env, tip.tree);
                            cell
                        }
                        Err(_) if location.inserts_missing() && crate::manifest::insert::lacks_target(&text, &location.layout(&application.image)) => {
                            EnvStatus::error(format!("not set in {} yet; the first promotion adds it (insert: true)", location.file))
                        }
                        Err(error) => EnvStatus::error(error.0),
                    },
                };
                environments.insert(env.clone(), cell);
            }
            apps.push(AppStatus { app: name.clone(), environments });
        }
        Ok(apps)
    }

    /// What each artifact of a multi-artifact application runs in `env` (its first file's,
    /// read from `tree`: the files of one artifact in one environment hold one version); empty
    /// for an application of one artifact.
    fn artifact_cells(&self, application: &Application, env: &str, tree: git2::Oid) -> Vec<ArtifactStatus> {
        let mut cells = Vec::new();
        for artifact in application.artifact_list() {
            let Some(location) = artifact.environments.get(env).and_then(|locations| locations.first()) else { continue };
            let read = self
                .repo
                .read_file(tree, &location.file)
                .map_err(|error| error.0)
                .and_then(|text| text.ok_or_else(|| format!("{} does not exist on {}", location.file, location.branch)))
                .and_then(|text| read_deployed(&location.file, &text, &location.layout(artifact.image)).map_err(|error| error.0));
            let (version, digest, error) = match read {
                Ok(deployed) => (Some(deployed.version), deployed.digest, None),
                Err(message) => (None, None, Some(message)),
            };
            cells.push(ArtifactStatus { name: artifact.name.to_string(), kind: artifact.kind, version, digest, error });
        }
        cells
    }

    /// Whether `commit` changed `path` relative to its first parent.
    fn touches(&self, commit: &str, path: &str) -> bool {
        let parent = commit.parse().ok().and_then(|oid| self.repo.git().find_commit(oid).ok()).and_then(|commit| commit.parent_id(0).ok());
        parent.is_some_and(|parent| self.blob_at(commit, path) != self.blob_at(&parent.to_string(), path))
    }

    /// The blob of `path` in `commit`, if any.
    fn blob_at(&self, commit: &str, path: &str) -> Option<git2::Oid> {
        let commit = self.repo.git().find_commit(commit.parse().ok()?).ok()?;
        commit.tree().ok()?.get_path(Path::new(path)).ok().map(|entry| entry.id())
    }

}

/// One application's state across environments.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    /// Application.
    pub app: String,
    /// Per environment.
    pub environments: BTreeMap<String, EnvStatus>,
}

/// What is in one environment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvStatus {
    /// Version.
    pub version: Option<String>,
    /// Digest.
    pub digest: Option<String>,
    /// When it got there (Unix seconds), from the promotion history.
    pub since: Option<i64>,
    /// Who promoted it.
    pub by: Option<String>,
    /// The promotion commit.
    pub commit: Option<String>,
    /// The decision time, when the requester chose it (`--at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<i64>,
    /// The promotion's labels (a break-glass label shows here).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// What the promotion that brought it is worth: verified, unsigned (a claim) or untrusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
    /// What the newest health record of the promotion that brought it says (`tollgate watch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// Whether the version in the file did not arrive by a tollgate promotion although
    /// promotions, hand edits or claims of them exist for this environment: a hand edit, a
    /// forged trailer block or a transplanted record.
    pub unrecorded_change: bool,
    /// Why the version could not be read.
    pub error: Option<String>,
    /// For a multi-artifact application, what each artifact runs (`version` and `digest`
    /// above are the primary artifact's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactStatus>,
}

/// What one artifact of a multi-artifact application runs in one environment.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactStatus {
    /// Artifact name.
    pub name: String,
    /// Image, Helm chart or Git revision.
    pub kind: ArtifactKind,
    /// Its version, when readable.
    pub version: Option<String>,
    /// Its digest, if the file holds one.
    pub digest: Option<String>,
    /// Why its version could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl EnvStatus {
    fn error(message: String) -> Self {
        EnvStatus { error: Some(message), ..EnvStatus::default() }
    }

    /// The cell for `version`: attributed to the verified promotion that left the file as it
    /// is, or marked as an unrecorded change.
    fn of(attributed: Option<&PromotionRecord>, unrecorded_change: bool, version: String, digest: Option<String>) -> Self {
        EnvStatus {
            since: attributed.map(|record| record.time),
            by: attributed.map(|record| record.requested_by.clone()),
            commit: attributed.map(|record| record.commit.clone()),
            requested_at: attributed.and_then(|record| record.requested_at),
            labels: attributed.map(|record| record.labels.clone()).unwrap_or_default(),
            trust: attributed.map(|record| record.trust.clone()),
            unrecorded_change,
            health: None,
            version: Some(version),
            digest,
            error: None,
            artifacts: Vec::new(),
        }
    }
}

/// The newest health record that counts of one promotion, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct HealthStatus {
    /// `healthy` or `failed`.
    pub outcome: HealthOutcome,
    /// Healthy: since when Argo CD reported it synced and healthy; failed: when the check ended.
    pub since: i64,
    /// How long no matching alert fired, in seconds.
    pub soaked_seconds: u64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The health record's commit.
    pub commit: String,
}

impl HealthStatus {
    /// From the newest of `health` (newest first, counting ones) about `promotion`.
    fn of(health: &[&HealthEntry], promotion: &str) -> Option<HealthStatus> {
        let (entry, record) = health.iter().find_map(|entry| entry.record.as_ref().filter(|record| record.promotion == promotion).map(|record| (entry, record)))?;
        Some(HealthStatus {
            outcome: record.outcome,
            since: record.healthy_since.filter(|_| record.outcome == HealthOutcome::Healthy).unwrap_or(record.finished_at),
            soaked_seconds: record.soaked_seconds,
            reason: record.reason.clone(),
            commit: entry.commit.clone(),
        })
    }
}
