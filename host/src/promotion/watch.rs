//! `tollgate watch APP --env ENV`: after a promotion landed, wait (within a deadline) until
//! Argo CD reports the application synced at the promotion's commit, `Healthy`, and running the
//! promoted image; then, for the soak period, that no matching alert fires in Alertmanager and
//! the application stays healthy. The outcome — healthy, or failed with the reason — is
//! committed as a health record ([`super::health`]) on the branch the environment's file is on
//! (after the promotion it reports on); "could not tell" (the deadline passed, a source could
//! not be read) commits nothing.
//!
//! Argo CD and Alertmanager are read by the host (no plugin is involved) through the same
//! bounded HTTP client and host-held credentials as policies' `http-get`: no redirects, every
//! answer bounded in bytes and time, and the answers screened for the secrets' encodings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Signature};
use serde_json::Value;

use super::commit::{Landing, land_commit, signature};
use super::health::{HealthOutcome, HealthRecord, check_health_commit};
use super::journal::{CommitError, PromotionLock};
use super::publish::Pushed;
use super::workspace::{MAX_ATTEMPTS, Workspace, commit_failure};
use super::worktree::{TouchedPaths, checked_out_branch};
use crate::config::health::HealthTarget;
use crate::credentials::CredentialedFetcher;
use crate::exit::Failure;
use crate::input::{Actor, escape_untrusted};
use crate::runtime::{FetchError, HttpFetcher, NetworkFetcher};

/// The most one answer of Argo CD or Alertmanager may hold.
const MAX_ANSWER_BYTES: u64 = 4 << 20;
/// The longest one request may take.
const MAX_REQUEST_TIME: Duration = Duration::from_secs(10);
/// How much of a text from Argo CD or Alertmanager goes into a reason.
const MAX_QUOTED_CHARS: usize = 200;

/// How `watch` waits.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long to wait for Argo CD to report the promotion synced and healthy.
    pub deadline: Duration,
    /// How long no matching alert may fire (and the application must stay healthy) after that.
    pub soak: Duration,
    /// How long to wait between two looks.
    pub interval: Duration,
    /// Who watches (`--actor`): the health record's author and `checked_by`.
    pub actor: Option<Actor>,
    /// Push the health record to this remote (`--push`).
    pub push: Option<String>,
}

/// How a watch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEnd {
    /// Healthy for the whole soak period.
    Healthy,
    /// Failed its health check, with the reason.
    Failed(String),
    /// Could not tell, with the reason (nothing recorded).
    Unknown(String),
}

/// What `watch` found and did.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Application.
    pub app: String,
    /// Environment.
    pub env: String,
    /// The promotion commit watched.
    pub promotion: String,
    /// The version it promoted.
    pub version: String,
    /// The Argo CD application asked.
    pub argocd_application: String,
    /// How it ended.
    pub end: WatchEnd,
    /// The health record's commit, when one was made.
    pub recorded: Option<String>,
    /// Where it was pushed, with `--push`.
    pub pushed: Option<Pushed>,
    /// What was seen on the way, one line a look (escaped).
    pub progress: Vec<String>,
}

/// What Argo CD says of the application.
struct ArgoState {
    revision: String,
    sync: String,
    health: String,
    images: Vec<String>,
}

/// Reads the configured sources for one application in one environment.
struct Sources {
    target: HealthTarget,
    fetcher: CredentialedFetcher,
}

impl Sources {
    fn get(&self, url: &str, what: &str) -> Result<Value, String> {
        let headers = [("accept".to_string(), "application/json".to_string())];
        let response = self.fetcher.get(url, &headers, MAX_REQUEST_TIME, MAX_ANSWER_BYTES).map_err(|error| match error {
            FetchError::TimedOut => format!("{what} did not answer within {} s ({url})", MAX_REQUEST_TIME.as_secs()),
            FetchError::Failed(message) => format!("{what} could not be read ({url}): {}", escape_untrusted(&message, MAX_QUOTED_CHARS)),
        })?;
        if !(200..300).contains(&response.status) {
            return Err(format!("{what} answered HTTP {} ({url})", response.status));
        }
        serde_json::from_slice(&response.body).map_err(|error| format!("{what} answered something other than JSON ({url}): {error}"))
    }

    fn argocd(&self) -> Result<ArgoState, String> {
        let url = format!("{}/api/v1/applications/{}", self.target.argocd_url, self.target.application);
        let answer = self.get(&url, "Argo CD")?;
        let text = |pointer: &str| escape_untrusted(answer.pointer(pointer).and_then(Value::as_str).unwrap_or(""), MAX_QUOTED_CHARS);
        let images = answer.pointer("/status/summary/images").and_then(Value::as_array).map(|images| {
            images.iter().filter_map(Value::as_str).map(|image| escape_untrusted(image, MAX_QUOTED_CHARS)).collect()
        });
        Ok(ArgoState {
            revision: text("/status/sync/revision"),
            sync: text("/status/sync/status"),
            health: text("/status/health/status"),
            images: images.unwrap_or_default(),
        })
    }

    /// The names of the active, unsilenced, uninhibited alerts matching the matchers.
    fn firing_alerts(&self) -> Result<Vec<String>, String> {
        let Some((base, matchers)) = &self.target.alertmanager else { return Ok(Vec::new()) };
        let mut url = format!("{base}/api/v2/alerts?active=true&silenced=false&inhibited=false");
        for matcher in matchers {
            url.push_str("&filter=");
            url.push_str(&url::form_urlencoded::byte_serialize(matcher.as_bytes()).collect::<String>());
        }
        let answer = self.get(&url, "Alertmanager")?;
        let alerts = answer.as_array().ok_or_else(|| format!("Alertmanager answered something other than a list of alerts ({url})"))?;
        // The state is checked here too: only an active alert counts, whatever the filtering did.
        let firing = alerts.iter().filter(|alert| {
            let status = &alert["status"];
            let empty = |key: &str| status[key].as_array().is_none_or(Vec::is_empty);
            status["state"].as_str() == Some("active") && empty("silencedBy") && empty("inhibitedBy")
        });
        Ok(firing.map(|alert| escape_untrusted(alert["labels"]["alertname"].as_str().unwrap_or("(unnamed)"), MAX_QUOTED_CHARS)).collect())
    }
}

/// Whether Argo CD's `images` hold the promoted image (by tag, or by digest when one was promoted).
fn runs_image(images: &[String], repository: &str, version: &str, digest: Option<&str>) -> bool {
    images.iter().any(|image| {
        let Some(rest) = image.strip_prefix(repository) else { return false };
        let (tag, pinned) = match rest.split_once('@') {
            Some((tag, pinned)) => (tag, Some(pinned)),
            None => (rest, None),
        };
        let tag = tag.strip_prefix(':');
        match (digest, pinned) {
            (Some(digest), Some(pinned)) => pinned == digest,
            _ => tag == Some(version),
        }
    })
}

impl Workspace {
    /// Watch the newest promotion of `app` into `env` and record the outcome; see the module
    /// documentation. `progress` is told each look as it happens.
    pub fn watch(&self, app: &str, env: &str, options: &WatchOptions, progress: &mut dyn FnMut(&str)) -> Result<Watched, Failure> {
        let bad = |error: crate::input::InputError| Failure::bad_input(error.to_string());
        crate::input::identifier("application", app).map_err(bad)?;
        crate::input::identifier("--env", env).map_err(bad)?;
        let health = self.config.health.as_ref().ok_or_else(|| {
            Failure::bad_input("tollgate.yaml on the protected branch has no health: section; add health: { argocd: { url: … } } (README, Verifying after deploying)")
        })?;
        let application = self.config.applications.get(app).ok_or_else(|| Failure::bad_input(format!("unknown application {app} (tollgate.yaml)")))?;
        if !application.environments.contains_key(env) {
            return Err(Failure::bad_input(format!("{app} does not run in {env} (tollgate.yaml)")));
        }
        // Before watching: a health record the rules would not accept is never made.
        let author = signature(&self.repo, options.actor.as_ref()).map_err(commit_failure)?;
        crate::trust::commit_signature::require_signing(&self.repo, &self.config, env, &watcher(options, &author)).map_err(Failure::bad_input)?;
        // The promotion is read, and its health record later committed, on the branch the
        // environment's file is on: a health record must descend from the promotion it reports on.
        let promotion = {
            let mut histories = self.histories()?;
            let history = histories.of_location(app, env).map_err(Failure::bad_input)?;
            let found = history.find(|record| record.counts && record.app == app && record.to == env);
            found.map_err(|error| Failure::bad_input(error.message().to_string()))?.cloned()
        };
        let promotion = promotion.ok_or_else(|| Failure::bad_input(format!("no promotion of {app} into {env} that counts; nothing to watch")))?;
        let target = health.target(app, env);
        let credentials = crate::credentials::resolve(&health.credentials).map_err(|message| Failure::policy_failed(format!("health.credentials: {message}")))?;
        let sources = Sources { target: target.clone(), fetcher: CredentialedFetcher::new(Arc::new(NetworkFetcher), credentials) };
        let mut watched = Watched {
            app: app.to_string(),
            env: env.to_string(),
            promotion: promotion.commit.clone(),
            version: promotion.version.clone(),
            argocd_application: target.application.clone(),
            end: WatchEnd::Unknown(String::new()),
            recorded: None,
            pushed: None,
            progress: Vec::new(),
        };
        let mut say = |line: String| {
            progress(&line);
            watched.progress.push(line);
        };
        // Every file of the environment (each artifact's), not the primary's alone.
        let files: Vec<&str> = application.locations_in(env).into_iter().map(|(_, _, location)| location.file.as_str()).collect();
        let promoted = |state: &ArgoState| self.is_promotion_or_unchanged_since(&promotion.commit, &state.revision, &files);
        // Every image of a multi-artifact application, else the one image. A Helm chart or Git
        // revision is no image Argo CD lists: its file, synced at the promotion, is its check.
        let expected: Vec<(&str, &str, Option<&str>)> = match promotion.artifacts.is_empty() {
            true if application.source.kind().is_image() => vec![(application.image.as_str(), promotion.version.as_str(), promotion.digest.as_deref())],
            true => Vec::new(),
            false => promotion
                .artifacts
                .iter()
                .filter(|artifact| artifact.kind.is_image())
                .map(|artifact| (artifact.image.as_str(), artifact.version.as_str(), artifact.digest.as_deref()))
                .collect(),
        };
        let missing = |state: &ArgoState| -> Vec<String> {
            let absent = expected.iter().filter(|(image, version, digest)| !runs_image(&state.images, image, version, *digest));
            absent.map(|(image, version, _)| format!("{image}:{version}")).collect()
        };
        let image_ok = |state: &ArgoState| missing(state).is_empty();

        // Until synced at the promotion and healthy, within the deadline.
        let started = Instant::now();
        let mut last_seen;
        let healthy_since = loop {
            match sources.argocd() {
                Ok(state) if promoted(&state) && state.health == "Degraded" => {
                    let end = WatchEnd::Failed(format!("Argo CD reports {} Degraded at {}", target.application, short(&state.revision)));
                    return self.finish(watched, end, &promotion, &target, None, 0, options);
                }
                Ok(state) if promoted(&state) && state.health == "Healthy" && state.sync == "Synced" => {
                    if !image_ok(&state) {
                        let end = WatchEnd::Failed(format!(
                            "Argo CD reports {} running {}, not the promoted {}",
                            target.application,
                            if state.images.is_empty() { "no image".to_string() } else { state.images.join(", ") },
                            missing(&state).join(", ")
                        ));
                        return self.finish(watched, end, &promotion, &target, None, 0, options);
                    }
                    say(format!("{}: Synced and Healthy at {}, running {}", target.application, short(&state.revision), promotion.version));
                    break jiff::Timestamp::now().as_second();
                }
                Ok(state) => {
                    last_seen = format!("{} {} at {}", state.sync, state.health, short(&state.revision));
                    say(format!("{}: {last_seen}; waiting for {} to be synced and healthy", target.application, short(&promotion.commit)));
                }
                Err(problem) => {
                    say(problem.clone());
                    last_seen = problem;
                }
            }
            if started.elapsed() >= options.deadline {
                let end = WatchEnd::Unknown(format!("the deadline ({} s) passed before Argo CD reported {} synced and healthy at {} (last: {last_seen})", options.deadline.as_secs(), target.application, short(&promotion.commit)));
                watched.end = end;
                return Ok(watched);
            }
            std::thread::sleep(options.interval.min(options.deadline.saturating_sub(started.elapsed())));
        };

        // The soak: no matching alert, still healthy.
        let soak_started = Instant::now();
        loop {
            let soaked = soak_started.elapsed().as_secs();
            match sources.firing_alerts() {
                Ok(firing) if !firing.is_empty() => {
                    let end = WatchEnd::Failed(format!("alert {} fires in Alertmanager for {app} in {env}", firing.join(", ")));
                    return self.finish(watched, end, &promotion, &target, Some(healthy_since), soaked, options);
                }
                Ok(_) => {}
                Err(problem) => return Ok(Watched { end: WatchEnd::Unknown(problem), ..watched }),
            }
            match sources.argocd() {
                Ok(state) if state.health == "Degraded" || (promoted(&state) && !image_ok(&state)) => {
                    let end = WatchEnd::Failed(format!("{} became {} {} during the soak", target.application, state.sync, state.health));
                    return self.finish(watched, end, &promotion, &target, Some(healthy_since), soaked, options);
                }
                Ok(_) => {}
                Err(problem) => return Ok(Watched { end: WatchEnd::Unknown(problem), ..watched }),
            }
            if soak_started.elapsed() >= options.soak {
                let soaked = soak_started.elapsed().as_secs();
                say(format!("no matching alert for {soaked} s"));
                return self.finish(watched, WatchEnd::Healthy, &promotion, &target, Some(healthy_since), soaked, options);
            }
            std::thread::sleep(options.interval.min(options.soak.saturating_sub(soak_started.elapsed())).max(Duration::from_millis(10)));
        }
    }

    /// Whether Argo CD's `revision` is the promotion, or a later commit of the branch on which
    /// every file of the environment (each artifact's) is still as the promotion left it.
    fn is_promotion_or_unchanged_since(&self, promotion: &str, revision: &str, files: &[&str]) -> bool {
        if revision == promotion {
            return true;
        }
        let git = self.repo.git();
        let (Ok(promotion), Ok(revision)) = (promotion.parse::<Oid>(), revision.parse::<Oid>()) else { return false };
        let blob = |commit: Oid, file: &str| git.find_commit(commit).ok()?.tree().ok()?.get_path(std::path::Path::new(file)).ok().map(|entry| entry.id());
        git.graph_descendant_of(revision, promotion).unwrap_or(false)
            && files.iter().all(|file| {
                let at_revision = blob(revision, file);
                at_revision.is_some() && at_revision == blob(promotion, file)
            })
    }

    /// Record a healthy or failed outcome as a health record commit.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        mut watched: Watched,
        end: WatchEnd,
        promotion: &super::history::PromotionRecord,
        target: &HealthTarget,
        healthy_since: Option<i64>,
        soaked_seconds: u64,
        options: &WatchOptions,
    ) -> Result<Watched, Failure> {
        let author = signature(&self.repo, options.actor.as_ref()).map_err(commit_failure)?;
        let (outcome, reason) = match &end {
            WatchEnd::Healthy => (HealthOutcome::Healthy, None),
            WatchEnd::Failed(reason) => (HealthOutcome::Failed, Some(reason.clone())),
            WatchEnd::Unknown(_) => unreachable!("could-not-tell is never recorded"),
        };
        let checked_by = watcher(options, &author);
        let record = HealthRecord {
            schema_version: super::health::HEALTH_SCHEMA_VERSION,
            tollgate_version: env!("CARGO_PKG_VERSION").to_string(),
            application: watched.app.clone(),
            environment: watched.env.clone(),
            promotion: promotion.commit.clone(),
            version: promotion.version.clone(),
            digest: promotion.digest.clone(),
            outcome,
            reason,
            checked_by: escape_untrusted(&checked_by, MAX_QUOTED_CHARS),
            healthy_since,
            soaked_seconds,
            finished_at: jiff::Timestamp::now().as_second(),
            argocd_application: target.application.clone(),
        };
        let branch = self.config.applications[&watched.app].environments[&watched.env].branch.as_str();
        let (commit, pushed) = match options.push.as_deref() {
            None => {
                let mut lock = PromotionLock::acquire(&self.repo).map_err(commit_failure)?;
                (self.commit_health(&mut lock, branch, &record, &author, false)?, None)
            }
            Some(remote) => self.publish(branch, None, remote, |lock| {
                let commit = self.commit_health(lock, branch, &record, &author, true)?;
                let base = self.repo.git().find_commit(commit).and_then(|made| made.parent_id(0)).map_err(|error| Failure::bad_input(error.message().to_string()))?;
                Ok((commit, Some((commit.to_string(), base.to_string()))))
            })?,
        };
        watched.recorded = Some(commit.to_string());
        watched.pushed = pushed;
        watched.end = end;
        Ok(watched)
    }

    /// Commit `record` onto `branch` (the environment's: the protected branch, or an
    /// environment branch of its own), holding `lock`, re-reading the tip when it moved.
    fn commit_health(&self, lock: &mut PromotionLock, branch: &str, record: &HealthRecord, author: &Signature<'_>, publish: bool) -> Result<Oid, Failure> {
        let mut last_conflict = String::new();
        for _ in 0..MAX_ATTEMPTS {
            match self.try_commit_health(lock, branch, record, author, publish) {
                Err(CommitError::Conflict(message)) => last_conflict = message,
                other => return other.map_err(commit_failure),
            }
        }
        Err(Failure::conflict(format!("{last_conflict}; gave up after {MAX_ATTEMPTS} attempts. Try again.")))
    }

    fn try_commit_health(&self, lock: &mut PromotionLock, branch: &str, record: &HealthRecord, author: &Signature<'_>, publish: bool) -> Result<Oid, CommitError> {
        let git = self.repo.git();
        // An environment branch of a fresh clone is read from origin's tip; the commit starts
        // the local branch (see `land_commit`).
        let tip = match branch == self.config.branch {
            true => self.repo.tip(branch),
            false => self.repo.tip_or_origin(branch),
        };
        let base = tip.map_err(|error| CommitError::State(error.0))?.commit;
        let path = record.path();
        let paths = [path.as_str()];
        let mut worktree = match checked_out_branch(&self.repo).as_deref() == Some(branch) {
            true => Some(TouchedPaths::open(git)?),
            false => None,
        };
        let base_commit = git.find_commit(base)?;
        let base_tree = base_commit.tree()?;
        if let Some(worktree) = &mut worktree
            && let Some(path) = worktree.first_changed(&base_tree, &paths)?
        {
            return Err(CommitError::State(format!("{path} has uncommitted changes in the working tree; commit or stash them first")));
        }
        let mut update = TreeUpdateBuilder::new();
        update.upsert(&path, git.blob(record.to_text().as_bytes())?, FileMode::Blob);
        let tree = git.find_tree(update.create_updated(git, &base_tree)?)?;
        let message = record.commit_message();
        let commit = crate::trust::commit_signature::create_commit(git, author, &message, &tree, &[&base_commit]).map_err(CommitError::State)?;
        // Checked exactly as history will check it: one that would not count is never made.
        let checked = check_health_commit(git, &git.find_commit(commit)?)?;
        if let Some(problems) = checked.map(|checked| checked.problems).filter(|problems| !problems.is_empty()) {
            return Err(CommitError::State(format!("the health record commit did not pass its own checks ({}); nothing was committed", problems.join("; "))));
        }
        land_commit(&self.repo, lock, Landing { publish, branch, new_branch: None, base, commit, paths: &paths }, worktree.as_mut())
    }
}

/// Who watches, as recorded and as the signing rules compare it: `--actor`, else the commit
/// author's e-mail address.
fn watcher(options: &WatchOptions, author: &Signature<'_>) -> String {
    match &options.actor {
        Some(actor) => actor.identity().to_string(),
        None => String::from_utf8_lossy(author.email_bytes()).to_string(),
    }
}

/// The first 12 characters of a commit id (or all of a shorter text).
fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

#[cfg(test)]
mod tests {
    use super::runs_image;

    #[test]
    fn the_promoted_image_is_found_by_tag_or_by_digest_and_never_by_a_prefix() {
        let images = |list: &[&str]| list.iter().map(|image| image.to_string()).collect::<Vec<_>>();
        assert!(runs_image(&images(&["r.example.com/shop/api:1.4.2"]), "r.example.com/shop/api", "1.4.2", None));
        assert!(!runs_image(&images(&["r.example.com/shop/api:1.4.1"]), "r.example.com/shop/api", "1.4.2", None));
        assert!(!runs_image(&images(&["r.example.com/shop/api-v2:1.4.2"]), "r.example.com/shop/api", "1.4.2", None));
        let pinned = "sha256:".to_string() + &"a".repeat(64);
        assert!(runs_image(&images(&[&format!("r.example.com/shop/api:1.4.2@{pinned}")]), "r.example.com/shop/api", "1.4.2", Some(&pinned)));
        let other = "sha256:".to_string() + &"b".repeat(64);
        assert!(!runs_image(&images(&[&format!("r.example.com/shop/api:1.4.2@{other}")]), "r.example.com/shop/api", "1.4.2", Some(&pinned)));
    }
}
