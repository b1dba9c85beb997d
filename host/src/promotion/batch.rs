//! Several transitions in one call: `--to prod-us --to prod-eu`, `--to 'prod-*'`, and
//! release trains (`--app 'shop-*'`, `--all`).
//!
//! Every transition is planned on the same branch tip and judged by the policies on its
//! own, exactly as a single promotion would be (so `verify` re-runs each record alone).
//! All or nothing: only when every transition is allowed do they land, in one commit with
//! one decision record per transition. One denied (or failed) transition commits nothing.

use serde::Serialize;

use super::commit::{CommitError, commit_plans, signature};
use super::engine::{Decided, MAX_ATTEMPTS, Pushed, Workspace};
use super::journal::PromotionLock;
use git2::Signature;
use super::gate::GateOutcome;
use super::plan::PlanRequest;
use super::record::DecisionRecord;
use crate::config::Config;
use crate::exit::Failure;

/// Which applications and target environments a call names: plain names or glob patterns
/// (`*`, `?`, `[…]`), matched against the names `tollgate.yaml` configures.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Application names or patterns (empty with `all`).
    pub apps: Vec<String>,
    /// Every configured application (`--all`).
    pub all: bool,
    /// Target environment names or patterns.
    pub targets: Vec<String>,
}

/// One (application, target environment) pair a selection resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Application.
    pub app: String,
    /// Target environment.
    pub env: String,
}

impl Selection {
    /// Whether the call names exactly one application and one environment, without
    /// patterns: a single promotion.
    pub fn is_single(&self) -> bool {
        !self.all && self.apps.len() == 1 && self.targets.len() == 1 && !is_pattern(&self.apps[0]) && !is_pattern(&self.targets[0])
    }

    /// Whether the call is a release train: applications chosen by pattern or `--all`.
    /// A train promotes only applications whose upstream has a newer artifact, and lists
    /// the others as nothing to do.
    pub fn is_train(&self) -> bool {
        self.all || self.apps.len() > 1 || self.apps.iter().any(|app| is_pattern(app))
    }

    /// The pairs to plan, in configuration order (applications by name, environments in
    /// promotion order), and the pairs skipped because the application has no location in
    /// that environment (only when a pattern or `--all` chose one of them; a pair named
    /// outright is planned, so its error is precise).
    pub fn resolve(&self, config: &Config) -> Result<(Vec<Pair>, Vec<Skipped>), String> {
        let environments = matching("--to", &self.targets, config.environments.iter(), "environments")?;
        let apps = if self.all {
            config.applications.keys().cloned().collect()
        } else {
            matching("--app", &self.apps, config.applications.keys(), "applications")?
        };
        let chosen_by_pattern = self.all || self.apps.iter().chain(&self.targets).any(|name| is_pattern(name));
        let mut pairs = Vec::new();
        let mut skipped = Vec::new();
        for app in &apps {
            for env in &environments {
                let configured = config.applications.get(app).is_some_and(|application| application.environments.contains_key(env));
                if chosen_by_pattern && !configured {
                    skipped.push(Skipped { app: app.clone(), env: env.clone(), reason: format!("{app} is not configured in {env}") });
                } else {
                    pairs.push(Pair { app: app.clone(), env: env.clone() });
                }
            }
        }
        Ok((pairs, skipped))
    }
}

/// Whether `name` is a glob pattern rather than a name (names never hold these characters).
pub fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// The configured names matching `patterns` (each a name or a glob), in `known` order; a
/// plain name that is not configured, or a pattern that matches none, is an error.
fn matching<'a>(flag: &str, patterns: &[String], known: impl Iterator<Item = &'a String> + Clone, what: &str) -> Result<Vec<String>, String> {
    let list = || known.clone().cloned().collect::<Vec<_>>().join(", ");
    let mut matchers = Vec::new();
    for pattern in patterns {
        crate::input::text(flag, pattern, 200).map_err(|error| error.to_string())?;
        let matcher = glob::Pattern::new(pattern).map_err(|error| format!("{flag} {pattern:?}: not a valid pattern ({error})"))?;
        if !known.clone().any(|name| matcher.matches(name)) {
            return Err(if is_pattern(pattern) {
                format!("{flag} {pattern} matches none of the configured {what} ({})", list())
            } else {
                format!("unknown {} {pattern}; tollgate.yaml configures {}", what.trim_end_matches('s'), list())
            });
        }
        matchers.push(matcher);
    }
    Ok(known.filter(|name| matchers.iter().any(|matcher| matcher.matches(name))).cloned().collect())
}

/// A pair that is not promoted, and why: not configured there, or nothing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Application.
    pub app: String,
    /// Target environment.
    #[serde(rename = "to_env")]
    pub env: String,
    /// Why, e.g. `shop-api already runs 1.4.2 in prod-eu; nothing to do`.
    pub reason: String,
}

/// The transitions of one call, judged together.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Every transition that would change something, with its verdicts.
    pub decided: Vec<Decided>,
    /// Pairs with nothing to do, or not configured.
    pub skipped: Vec<Skipped>,
    /// The one commit holding every transition, when all were allowed and committed.
    pub commit: Option<String>,
    /// Where it was published, with `--push`.
    pub pushed: Option<Pushed>,
}

impl Batch {
    /// Failed when any enforce-mode policy failed to run, else denied when any denied,
    /// else allowed (also when there is nothing to do).
    pub fn outcome(&self) -> GateOutcome {
        let outcomes = self.decided.iter().map(|decided| decided.gate.outcome);
        if outcomes.clone().any(|outcome| outcome == GateOutcome::Failed) {
            GateOutcome::Failed
        } else if outcomes.clone().any(|outcome| outcome == GateOutcome::Denied) {
            GateOutcome::Denied
        } else {
            GateOutcome::Allowed
        }
    }
}

impl Workspace {
    /// Plan every request on the branch tip and run the policies on each. A release train
    /// (`train`) leaves out an application whose target already runs a newer version than
    /// its upstream (both semantic versions). No-ops become "nothing to do".
    pub fn decide_batch(&self, requests: &[PlanRequest], train: bool) -> Result<Batch, Failure> {
        let history = self.history()?;
        let mut batch = Batch { decided: Vec::new(), skipped: Vec::new(), commit: None, pushed: None };
        for request in requests {
            let decided = self.decide_in(request, history.clone()).map_err(|failure| Failure {
                message: format!("{} to {}: {}", request.app, request.to_env, failure.message),
                ..failure
            })?;
            let t = &decided.plan.transition;
            let skip = |reason: String| Skipped { app: t.application.clone(), env: t.to_env.clone(), reason };
            if decided.plan.no_op {
                batch.skipped.push(skip(format!("{} already runs {} in {}; nothing to do", t.application, t.artifact.version, t.to_env)));
                continue;
            }
            if let (true, Some(from), Some(previous)) = (train, &t.from_env, &t.previous_artifact)
                && newer(&previous.version, &t.artifact.version) {
                    batch.skipped.push(skip(format!(
                        "{} runs {} in {}, newer than {} in {from}; nothing to do",
                        t.application, previous.version, t.to_env, t.artifact.version
                    )));
                    continue;
                }
            batch.decided.push(decided);
        }
        // One commit cannot hold two independent edits of one file.
        for (index, decided) in batch.decided.iter().enumerate() {
            for file in decided.plan.files() {
                if let Some(other) = batch.decided[..index].iter().find(|other| other.plan.files().any(|path| path == file)) {
                    return Err(Failure::bad_input(format!(
                        "{file} holds both {} in {} and {} in {}; promote them in separate calls",
                        other.plan.transition.application, other.plan.transition.to_env, decided.plan.transition.application, decided.plan.transition.to_env
                    )));
                }
            }
        }
        if let Some(first) = batch.decided.first()
            && batch.decided.iter().any(|decided| decided.plan.base.commit != first.plan.base.commit) {
                return Err(Failure::conflict(format!("{} moved while the transitions were being planned; try again", self.config.branch)));
            }
        Ok(batch)
    }

    /// Decide every request and, when all are allowed, commit them as one commit with one
    /// decision record each; re-plan on the new tip if the branch moved.
    pub fn promote_batch(&self, requests: &[PlanRequest], train: bool, new_branch: Option<&str>) -> Result<Batch, Failure> {
        let author = self.check_batch(requests, new_branch)?;
        let mut lock = PromotionLock::acquire(&self.repo).map_err(|error| match error {
            CommitError::State(message) => Failure::bad_input(message),
            CommitError::Conflict(message) => Failure::conflict(message),
        })?;
        self.promote_batch_locked(&mut lock, requests, train, new_branch, &author, false)
    }

    /// What a batch checks before it takes the promotion lock; returns the commit's author
    /// (`None` for an empty batch).
    fn check_batch(&self, requests: &[PlanRequest], new_branch: Option<&str>) -> Result<Option<Signature<'static>>, Failure> {
        let Some(first) = requests.first() else { return Ok(None) };
        self.check_requested_at(first)?;
        if let Some(name) = new_branch {
            crate::input::branch("--branch", name).map_err(|error| Failure::bad_input(error.to_string()))?;
        }
        for request in requests {
            request.validate().map_err(|error| Failure::bad_input(error.to_string()))?;
        }
        let author = signature(&self.repo, first.actor_given.then_some(&first.actor)).map_err(|error| match error {
            CommitError::State(message) | CommitError::Conflict(message) => Failure::bad_input(message),
        })?;
        for request in requests {
            crate::trust::commit_signature::require_signing(&self.repo, &self.config, &request.to_env, request.actor.identity())
                .map_err(Failure::bad_input)?;
        }
        Ok(Some(author))
    }

    /// The batch promotion loop, holding the promotion lock; `publish` as for
    /// [`super::commit::commit_plans`].
    fn promote_batch_locked(
        &self,
        lock: &mut PromotionLock,
        requests: &[PlanRequest],
        train: bool,
        new_branch: Option<&str>,
        author: &Option<Signature<'static>>,
        publish: bool,
    ) -> Result<Batch, Failure> {
        let Some(author) = author else {
            return Ok(Batch { decided: Vec::new(), skipped: Vec::new(), commit: None, pushed: None });
        };
        let mut last_conflict = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let mut batch = match self.decide_batch(requests, train) {
                // The branch moved between two plans: plan them all again.
                Err(failure) if failure.code == crate::exit::ExitCode::Conflict => {
                    last_conflict = failure.message;
                    continue;
                }
                other => other?,
            };
            if batch.decided.is_empty() || batch.outcome() != GateOutcome::Allowed {
                return Ok(batch);
            }
            let records: Vec<DecisionRecord> = batch.decided.iter().map(|decided| DecisionRecord::new(&decided.plan, &decided.gate)).collect();
            let plans: Vec<_> = batch.decided.iter().zip(&records).map(|(decided, record)| (&decided.plan, record)).collect();
            match commit_plans(&self.repo, lock, publish, &self.config.branch, new_branch, &plans, author) {
                Ok(commit) => {
                    batch.commit = Some(commit.to_string());
                    return Ok(batch);
                }
                Err(CommitError::Conflict(message)) => last_conflict = message,
                Err(CommitError::State(message)) => return Err(Failure::bad_input(message)),
            }
        }
        Err(Failure::conflict(format!(
            "{last_conflict}; gave up after {MAX_ATTEMPTS} attempts (re-planned and re-ran the policies each time). Try again."
        )))
    }

    /// [`Workspace::promote_batch`] based on `remote`'s tip, then push the one commit; see
    /// [`Workspace::promote_and_push`].
    pub fn promote_batch_and_push(&self, requests: &[PlanRequest], train: bool, new_branch: Option<&str>, remote: &str) -> Result<Batch, Failure> {
        let author = self.check_batch(requests, new_branch)?;
        let (mut batch, pushed) = self.publish(new_branch, remote, |lock| {
            let batch = self.promote_batch_locked(lock, requests, train, new_branch, &author, true)?;
            let made = batch.commit.clone().zip(batch.decided.first().map(|decided| decided.plan.base.commit.to_string()));
            Ok((batch, made))
        })?;
        batch.pushed = pushed;
        Ok(batch)
    }
}

/// Whether `current` is a later semantic version than `incoming` (a leading `v` allowed);
/// versions that are not semantic versions are never called newer.
fn newer(current: &str, incoming: &str) -> bool {
    let parse = |text: &str| semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).ok();
    matches!((parse(current), parse(incoming)), (Some(current), Some(incoming)) if current > incoming)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "environments: [qa, prod-us, prod-eu, load]\napplications:\n  shop-api:\n    image: r/shop/api\n    environments:\n      qa: { file: a, kustomize: {} }\n      prod-us: { file: b, kustomize: {} }\n      prod-eu: { file: c, kustomize: {} }\n  shop-web:\n    image: r/shop/web\n    environments:\n      qa: { file: d, kustomize: {} }\n      prod-eu: { file: e, kustomize: {} }\n  billing:\n    image: r/billing\n    environments:\n      prod-us: { file: f, kustomize: {} }\n";

    fn selection(apps: &[&str], all: bool, targets: &[&str]) -> Selection {
        Selection { apps: apps.iter().map(|s| s.to_string()).collect(), all, targets: targets.iter().map(|s| s.to_string()).collect() }
    }

    fn pairs(found: &[Pair]) -> Vec<String> {
        found.iter().map(|pair| format!("{}@{}", pair.app, pair.env)).collect()
    }

    #[test]
    fn target_globs_match_environments_in_promotion_order() {
        let config = Config::parse("tollgate.yaml", CONFIG).unwrap();
        let (found, skipped) = selection(&["shop-api"], false, &["prod-*"]).resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["shop-api@prod-us", "shop-api@prod-eu"]);
        assert!(skipped.is_empty());
        // Named twice, or by a name and a pattern: once.
        let (found, _) = selection(&["shop-api"], false, &["prod-eu", "prod-*"]).resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["shop-api@prod-us", "shop-api@prod-eu"]);
        // A pattern skips applications not configured there; a plain pair is planned (and fails precisely).
        let (found, skipped) = selection(&["shop-web"], false, &["prod-*"]).resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["shop-web@prod-eu"]);
        assert_eq!(skipped[0].reason, "shop-web is not configured in prod-us");
        let (found, _) = selection(&["shop-web"], false, &["prod-us"]).resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["shop-web@prod-us"]);
    }

    #[test]
    fn app_globs_and_all_make_a_train() {
        let config = Config::parse("tollgate.yaml", CONFIG).unwrap();
        let train = selection(&["shop-*"], false, &["prod-eu"]);
        assert!(train.is_train() && !train.is_single());
        assert_eq!(pairs(&train.resolve(&config).unwrap().0), ["shop-api@prod-eu", "shop-web@prod-eu"]);
        let all = selection(&[], true, &["prod-us"]);
        let (found, skipped) = all.resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["billing@prod-us", "shop-api@prod-us"]);
        assert_eq!(skipped.len(), 1);
        assert!(selection(&["shop-api"], false, &["prod-eu"]).is_single());
        assert!(!selection(&["shop-api"], false, &["prod-eu", "prod-us"]).is_train());
    }

    #[test]
    fn names_and_patterns_that_match_nothing_are_errors() {
        let config = Config::parse("tollgate.yaml", CONFIG).unwrap();
        let error = selection(&["shop-api"], false, &["staging-*"]).resolve(&config).unwrap_err();
        assert_eq!(error, "--to staging-* matches none of the configured environments (qa, prod-us, prod-eu, load)");
        let error = selection(&["shop-api"], false, &["staging"]).resolve(&config).unwrap_err();
        assert!(error.starts_with("unknown environment staging; tollgate.yaml configures qa"), "{error}");
        let error = selection(&["crm-*"], false, &["qa"]).resolve(&config).unwrap_err();
        assert!(error.starts_with("--app crm-* matches none of the configured applications"), "{error}");
        let error = selection(&["shop-api"], false, &["prod-[us"]).resolve(&config).unwrap_err();
        assert!(error.contains("not a valid pattern"), "{error}");
    }

    #[test]
    fn only_a_later_semantic_version_counts_as_newer() {
        assert!(newer("2.0.1", "2.0.0"));
        assert!(newer("v1.10.0", "1.9.0"));
        assert!(!newer("1.9.0", "1.10.0"));
        assert!(!newer("1.0.0", "1.0.0"));
        assert!(!newer("build-7", "build-6"));
    }
}
